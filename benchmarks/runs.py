"""Whole runs, as the app runs them, against plain decoding of W samples of the same problem.

Hogwild!: `engine.start(problem)` then `engine.run_pass()` until done, sampling at the engine's
defaults, attention statistics on (as in the app), so every kind of pass is timed: ordinary
decode passes, passes that end steps and move blocks to the history, inserted prompts (openers,
labels, redundancy checks) and the final-answer phase. Reported: time to first token (start + the first
pass, which prefills the prompt), mean work-pass time (passes after the first), and wall time
from start to the final answer.

Plain: the same prompt tokens the Hogwild! run started from, W rows, prefilled in one batch, then
as many decode passes as the Hogwild! run had work passes, with top-p sampling at the same
temperature (a full sort, as transformers' top-p warper does), once with a DynamicCache (what
`generate` uses) and once with a StaticCache preallocated for the run. Each plain row holds the
prompt and its own tokens only (what W separate runs of that prompt hold); the Hogwild! views also
hold the other workers' tokens, so they attend to more positions than the plain rows (both
reported).

Peak memory (optional, `peak_memory`): one child process per (method, W) loads the model, resets
the kernel's peak-RSS counter (/proc/self/clear_refs), does one whole run (Hogwild!, or `generate`
of W samples) and reports its VmHWM, so model loading is not counted."""

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache, StaticCache

from hogwild_core import EngineConfig, HogwildEngine

from .baselines import decode_logits, stock_attention, synchronize

PROBLEM = ("Compute three things and add them up: (a) 17 × 24, (b) the sum of the whole numbers from 1 to 30, "
           "(c) 2 to the power 10. What is (a) + (b) + (c)?")


@dataclass
class PlainRun:
    ttft_ms: float                   # prefill of W rows + the first sampled token
    mean_pass_ms: float
    wall_s: float
    mean_positions: float            # positions each row attends to, mean over the decode passes


@dataclass
class RunResult:
    num_workers: int
    budget: int
    work_passes: int
    answer_passes: int
    ttft_ms: float
    mean_pass_ms: float              # work passes after the first
    median_pass_ms: float
    wall_s: float                    # start to the final answer
    mean_view: float                 # mean positions a worker attends to, over work passes
    prompt_ids: list[int] = field(repr=False)
    step_ends: int                   # blocks moved to the history
    inserted_passes: int             # work passes in which the engine inserted text for some worker
    plain: dict[str, PlainRun] = field(default_factory=dict)      # "dynamic" / "static"
    peak_mb: dict[str, float] = field(default_factory=dict)       # "hogwild" / "generate" -> MB over the loaded model

    def ratio(self, baseline: str) -> float:
        return self.mean_pass_ms / self.plain[baseline].mean_pass_ms


def hogwild_run(model, tokenizer, num_workers: int, budget: int, layout: str = "combined", seed: int = 0,
                problem: str = PROBLEM) -> RunResult:
    config = EngineConfig(num_workers=num_workers, layout=layout, max_new_tokens=budget, seed=seed,
                          collect_attention=True)
    engine = HogwildEngine(model, tokenizer, config)
    device = engine.device
    work, answer, views, step_ends, inserted = [], 0, [], 0, 0
    synchronize(device)
    began = time.perf_counter()
    engine.start(problem)
    ttft = None
    while not engine.done:
        t0 = time.perf_counter()
        event = engine.run_pass()
        synchronize(device)
        seconds = time.perf_counter() - t0
        if ttft is None:
            ttft = time.perf_counter() - began
            continue
        if event.phase == "work":
            work.append(seconds)
            views.append(statistics.mean(engine.view(w).length for w in event.writers) if event.writers else 0)
            step_ends += len(event.flushed)
            inserted += any(p.inserted for pieces in event.pieces for p in pieces)
        else:
            answer += 1
    wall = time.perf_counter() - began
    return RunResult(num_workers, budget, len(work) + 1, answer, 1000 * ttft, 1000 * statistics.mean(work),
                     1000 * statistics.median(work), wall, statistics.mean(views), list(engine.prompt_tokens()),
                     step_ends, inserted)


def sample_top_p(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    """[W, V] -> [W]: what `generate` does with temperature and top-p warpers."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    keep = sorted_probs.cumsum(-1) - sorted_probs < top_p
    sorted_probs = sorted_probs * keep
    choice = torch.multinomial(sorted_probs, 1, generator=generator)
    return order.gather(-1, choice).squeeze(-1)


def plain_run(model, prompt: list[int], num_workers: int, passes: int, cache_kind: str, temperature: float,
              top_p: float, seed: int = 0) -> PlainRun:
    """Prefill W rows of `prompt`, then `passes` sampled decode passes."""
    device = next(model.parameters()).device
    P, W = len(prompt), num_workers
    generator = torch.Generator(device=device).manual_seed(seed)
    cache = (DynamicCache() if cache_kind == "dynamic"
             else StaticCache(config=model.config, max_cache_len=P + passes + 1))
    ids = torch.tensor([prompt] * W, device=device)
    times = []
    with torch.no_grad(), stock_attention(model):
        synchronize(device)
        began = time.perf_counter()
        mask = torch.ones(W, P, dtype=torch.long, device=device) if cache_kind == "dynamic" else None
        out = model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True, logits_to_keep=1)
        tokens = sample_top_p(out.logits[:, -1], temperature, top_p, generator)
        synchronize(device)
        ttft = time.perf_counter() - began
        for i in range(1, passes):
            t0 = time.perf_counter()
            logits = decode_logits(model, cache, tokens[:, None], P + i - 1)
            tokens = sample_top_p(logits, temperature, top_p, generator)
            synchronize(device)
            times.append(time.perf_counter() - t0)
        wall = time.perf_counter() - began
    return PlainRun(1000 * ttft, 1000 * statistics.mean(times) if times else float("nan"), wall,
                    P + passes / 2 if passes > 1 else float(P))


def run_whole(model, tokenizer, workers, budget: int, layout: str = "combined", seed: int = 0,
              log=None) -> list[RunResult]:
    results = []
    defaults = EngineConfig()
    for W in workers:
        result = hogwild_run(model, tokenizer, W, budget, layout, seed)
        for kind in ("dynamic", "static"):
            result.plain[kind] = plain_run(model, result.prompt_ids, W, result.work_passes, kind,
                                           defaults.temperature, defaults.top_p, seed)
        results.append(result)
        if log:
            log(result)
    return results


# ---- peak memory, one child process per (method, W) -------------------------------------------
def _status_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise OSError(f"{field_name} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")         # resets VmHWM (peak resident set) to the current RSS


def child(method: str, num_workers: int, budget: int, model_name: str | None, threads: int | None,
          weights: str = "auto") -> dict:
    from hogwild_core import load_model

    if threads:
        torch.set_num_threads(threads)
    model, tokenizer = load_model(model_name, weights=weights)
    gc.collect()
    loaded = _status_kb("VmRSS")
    _reset_peak()
    if method == "hogwild":
        hogwild_run(model, tokenizer, num_workers, budget)
    else:                        # W independent samples, as `generate` runs them
        defaults = EngineConfig()
        config = EngineConfig(num_workers=num_workers)
        engine = HogwildEngine(model, tokenizer, config)
        engine.start(PROBLEM)                      # only for its prompt tokens; nothing is decoded
        ids = torch.tensor([list(engine.prompt_tokens())] * num_workers)
        del engine
        with torch.no_grad(), stock_attention(model):
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                           temperature=defaults.temperature, top_p=defaults.top_p, max_new_tokens=budget,
                           min_new_tokens=budget, pad_token_id=tokenizer.eos_token_id)
    peak = _status_kb("VmHWM")
    return {"method": method, "W": num_workers, "loaded_kb": loaded, "peak_kb": peak}


def peak_memory(workers, budget: int, model_name: str | None, threads: int | None,
                weights: str = "auto") -> dict[tuple[str, int], float]:
    """MB of peak RSS above the loaded model, per (method, W), each in a fresh process."""
    out = {}
    for W in workers:
        for method in ("hogwild", "generate"):
            command = [sys.executable, "-m", "benchmarks.runs", method, str(W), str(budget), model_name or "",
                       str(threads or 0), weights]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
            if done.returncode != 0:
                raise RuntimeError(f"memory child {method} W={W} failed: {done.stderr[-2000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            out[(method, W)] = (row["peak_kb"] - row["loaded_kb"]) / 1024
    return out


if __name__ == "__main__":
    method, W, budget, name, threads, weights = sys.argv[1:7]
    print(json.dumps(child(method, int(W), int(budget), name or None, int(threads) or None, weights)))
