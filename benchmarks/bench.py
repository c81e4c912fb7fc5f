"""Benchmark: one Hogwild! step against one step of plain transformers batched decoding.

    python -m benchmarks [--workers 1,2,4,8] [--contexts 256,1024,4096] [--repeats 15]
        [--warmup 3] [--layout combined] [--device cpu|cuda] [--dtype float32|bfloat16]
        [--threads N] [--model PATH] [--profile] [--json out.json] [--quick]

Method. For each W and context length L, one engine is started on a problem sized so that each
worker's view holds about L tokens after the warm-up. Then, alternately, one timed Hogwild! step
(all W workers, one batched forward) and one timed step of the baseline a user would otherwise
run: the same model with stock sdpa attention decoding a [W, 1] batch against a transformers
DynamicCache holding W copies of worker 0's view as it stood in that same Hogwild! step, so both
attend to the same number of positions. Timed: `engine.step()` as a whole (bookkeeping included)
and the baseline's forward + greedy pick; never the setup. Hogwild! tokens are forced (one
ordinary word), so every timed step is a one-token decode, never a step end or inserted prompt.

Contract: the benchmark drives the engine only through its public API (`step`, `view`, `view_kv`,
`view_token_ids`, `cache_stats`) and changes nothing in `hogwild_core`; the baseline switches the
model to stock sdpa only around its own forward calls.
"""

import argparse
import cProfile
import gc
import json
import platform
import pstats
import statistics
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import transformers
from transformers import DynamicCache

from hogwild_core import BASELINE_LAYOUTS, LAYOUTS, MAX_WORKERS, ConfigError, EngineConfig, HogwildEngine
from hogwild_core.config import MAX_NEW_TOKENS

TASK = "Add up the marbles in all the boxes listed below and say whether the total is even."
FORCED_WORD = " the"
LATENCY_TARGET = 1.10      # Hogwild! step / plain batched step
TOKENS_PER_STEP_TARGET = 3.5  # W=4 against one worker
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}

ATTENTION = "attention: kernel, RoPE, cache writes"
LINEAR = "linear layers, MLP, lm_head"
NORMS = "norms, embedding"
GLUE = "model glue: masks, RoPE tables, residuals"
OUTSIDE = "outside the forward: engine Python, sampling"
PARTS = (ATTENTION, LINEAR, NORMS, GLUE, OUTSIDE)


@dataclass(frozen=True)
class BenchSettings:
    workers: tuple[int, ...] = (1, 2, 4, 8)
    contexts: tuple[int, ...] = (256, 1024, 4096)
    repeats: int = 15
    warmup: int = 3
    layout: str = "combined"
    device: str = "cpu"
    dtype: str = "float32"
    threads: int | None = None         # torch threads for both paths; None = torch's default
    profile: bool = False

    def __post_init__(self):
        if not self.workers or any(not 1 <= w <= MAX_WORKERS for w in self.workers):
            raise ConfigError(f"workers must be between 1 and {MAX_WORKERS}; got {self.workers}")
        if not self.contexts or any(c < 1 for c in self.contexts):
            raise ConfigError(f"contexts must be positive token counts; got {self.contexts}")
        if self.repeats < 1 or self.warmup < 0:
            raise ConfigError("repeats must be at least 1 and warmup at least 0")
        if self.layout not in LAYOUTS + BASELINE_LAYOUTS:
            raise ConfigError(f"layout must be one of {', '.join(LAYOUTS + BASELINE_LAYOUTS)}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"device must be cpu or cuda; got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for, but torch sees no CUDA device")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1; got {self.threads}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")


@dataclass
class Timing:
    median_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> "Timing":
        ms = [1000 * s for s in seconds]
        return cls(statistics.median(ms), min(ms), max(ms))


@dataclass
class CaseResult:
    num_workers: int
    context: int                    # asked for
    view_tokens: int                # positions each worker attends to in the first timed step
    hogwild: Timing                 # engine.step() wall time
    baseline: Timing                # plain forward + greedy pick
    forward_ms: float               # median of the engine's own StepEvent.seconds (forward + sampling)
    tokens_per_step: float          # tokens sampled per sequential Hogwild! step
    cache_bytes: int                # the shared cache (used positions)
    cache_allocated_bytes: int      # the shared cache as allocated (segments grow by doubling)
    independent_bytes: int          # W independent caches of the same views
    shared_part_bytes: int          # segments read by more than one worker, stored once
    shared_part_independent_bytes: int  # the same segments, once per worker that reads them

    @property
    def ratio(self) -> float:
        return self.hogwild.median_ms / self.baseline.median_ms

    @property
    def hogwild_tok_s(self) -> float:
        return 1000 * self.tokens_per_step / self.hogwild.median_ms

    @property
    def baseline_tok_s(self) -> float:
        return 1000 * self.num_workers / self.baseline.median_ms

    @property
    def shared_part_ratio(self) -> float:
        return self.shared_part_bytes / max(self.shared_part_independent_bytes, 1)


@dataclass
class Profile:
    reason: str                     # why this case was profiled
    num_workers: int
    context: int
    view_tokens: int
    hogwild: dict[str, float]       # part -> ms, one step
    baseline: dict[str, float]
    hogwild_ops: list[tuple[str, float, int]] = field(default_factory=list)   # op, self ms, calls
    baseline_ops: list[tuple[str, float, int]] = field(default_factory=list)
    python: list[tuple[str, float, int]] = field(default_factory=list)        # function, own ms, calls


# ---- building a case ----------------------------------------------------------------------
def make_problem(tokenizer, num_tokens: int) -> str:
    """TASK and numbered facts, about `num_tokens` tokens in all (at least TASK)."""
    lines, count, i = [TASK], len(_encode(tokenizer, TASK)), 0
    while count < num_tokens:
        line = f"Box {i + 1} holds {(37 * i + 11) % 997} marbles."
        count += len(_encode(tokenizer, "\n" + line))
        lines.append(line)
        i += 1
    return "\n".join(lines)


def view_kv(engine: HogwildEngine, w: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Worker w's view as one ordinary cache: per layer keys, values [Hkv, n, D] in view order,
    keys at view positions (what a plain decoder would hold)."""
    return engine.view_kv(w)


def plain_decode_step(model, cache: DynamicCache, tokens: torch.Tensor, position: int) -> torch.Tensor:
    """One step of ordinary batched greedy decoding. tokens: [W, 1] -> next tokens [W]."""
    W = tokens.shape[0]
    mask = torch.ones(W, position + 1, dtype=torch.long, device=tokens.device)
    positions = torch.full((W, 1), position, dtype=torch.long, device=tokens.device)
    with torch.no_grad():
        out = model(input_ids=tokens, attention_mask=mask, position_ids=positions, cache=cache,
                    use_cache=True, logits_to_keep=1)
    return out.logits[:, -1].argmax(-1)


@contextmanager
def plain_attention(model):
    """The model with transformers' stock sdpa attention, for the baseline."""
    before = model.config._attn_implementation
    model.set_attn_implementation("sdpa")
    try:
        yield model
    finally:
        model.set_attn_implementation(before)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Case:
    """One engine at one (W, context), ready to take timed Hogwild! and baseline steps."""

    def __init__(self, model, tokenizer, num_workers: int, context: int, layout: str, warmup: int):
        self.model, self.num_workers, self.context, self.layout = model, num_workers, context, layout
        config = EngineConfig(num_workers=num_workers, layout=layout, max_new_tokens=MAX_NEW_TOKENS,
                              temperature=0.0, collect_attention=False)
        self.engine = HogwildEngine(model, tokenizer, config)
        self.device = self.engine.device
        self.force = [_encode(tokenizer, FORCED_WORD)[0]] * num_workers
        # A bare TASK shows how much the prompt template and the openers add to a view.
        self._start(TASK)
        overhead = self.view_length() - len(_encode(tokenizer, TASK))
        self._start(make_problem(tokenizer, context - overhead - warmup * num_workers))

    def _start(self, problem: str) -> None:
        self.engine.start(problem)
        self.engine.step(force=self.force)  # writes the openers: a short prefill, not a decode step

    def view_length(self, w: int = 0) -> int:
        return self.engine.view(w).length

    def hogwild_step(self):
        """Returns (seconds, StepEvent)."""
        synchronize(self.device)
        began = time.perf_counter()
        event = self.engine.step(force=self.force)
        synchronize(self.device)
        return time.perf_counter() - began, event

    def prepare_baseline(self):
        """W copies of worker 0's current view, all but its last token, in a DynamicCache."""
        W, view = self.num_workers, view_kv(self.engine, 0)
        n = view[0][0].shape[1]
        past = [(k[None, :, :n - 1].expand(W, -1, -1, -1), v[None, :, :n - 1].expand(W, -1, -1, -1))
                for k, v in view]
        cache = DynamicCache(ddp_cache_data=past)   # concatenation makes W real copies
        last = self.engine.view_token_ids(0)[-1]
        return cache, torch.full((W, 1), last, dtype=torch.long, device=self.device), n - 1

    def baseline_step(self, prepared=None) -> float:
        cache, tokens, position = prepared or self.prepare_baseline()
        with plain_attention(self.model):
            synchronize(self.device)
            began = time.perf_counter()
            plain_decode_step(self.model, cache, tokens, position)
            synchronize(self.device)
            return time.perf_counter() - began

    def measure(self, repeats: int, warmup: int) -> CaseResult:
        hogwild, baseline, forward, tokens, views = [], [], [], [], []
        for i in range(warmup + repeats):
            seconds, event = self.hogwild_step()
            plain = self.baseline_step()
            if i >= warmup:
                hogwild.append(seconds)
                baseline.append(plain)
                forward.append(event.seconds)
                tokens.append(sum(t is not None for t in event.tokens))
                views.append(self.view_length())
        return CaseResult(self.num_workers, self.context, views[0], Timing.of(hogwild),
                          Timing.of(baseline), 1000 * statistics.median(forward),
                          statistics.mean(tokens), **self.memory())

    def memory(self) -> dict[str, int]:
        stats, W = self.engine.cache_stats(), self.num_workers
        per_token = stats["bytes"] // max(stats["tokens"], 1)
        views = [[part.segment for part in self.engine.view(w).parts] for w in range(W)]
        readers = Counter(name for view in views for name in view)
        shared = [name for name, count in readers.items() if count > 1]
        lengths, sizes = stats["segment_lengths"], stats["segment_bytes"]
        return dict(
            cache_bytes=stats["bytes"], cache_allocated_bytes=stats["allocated_bytes"],
            independent_bytes=per_token * sum(lengths[n] for view in views for n in view),
            shared_part_bytes=sum(sizes[n] for n in shared),
            shared_part_independent_bytes=sum(readers[n] * sizes[n] for n in shared))


# ---- where time goes ----------------------------------------------------------------------
def module_part(name: str) -> str | None:
    """Which part of the breakdown a module's own (exclusive) time belongs to."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "self_attn":
        return ATTENTION
    if leaf in ("q_proj", "k_proj", "v_proj", "o_proj", "mlp", "lm_head"):
        return LINEAR
    if "norm" in leaf or leaf == "embed_tokens":
        return NORMS
    if name in ("", "model") or leaf == "rotary_emb" or (leaf.isdigit() and name.endswith(f"layers.{leaf}")):
        return GLUE
    return None


class ModuleTimer:
    """Forward hooks that add each module's exclusive wall time to its part (syncing on CUDA)."""

    def __init__(self, model, device: torch.device):
        self.model, self.device = model, device
        self.parts: dict[str, float] = dict.fromkeys(PARTS, 0.0)
        self.forward_seconds = 0.0
        self._stack: list[list] = []
        self._handles = []

    def __enter__(self):
        for name, module in self.model.named_modules():
            part = module_part(name)
            if part is not None:
                self._handles.append(module.register_forward_pre_hook(self._enter(part)))
                self._handles.append(module.register_forward_hook(self._leave))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()

    def _enter(self, part: str):
        def hook(module, args):
            synchronize(self.device)
            self._stack.append([part, time.perf_counter(), 0.0])
        return hook

    def _leave(self, module, args, output):
        synchronize(self.device)
        part, began, children = self._stack.pop()
        inclusive = time.perf_counter() - began
        self.parts[part] += inclusive - children
        if self._stack:
            self._stack[-1][2] += inclusive
        else:
            self.forward_seconds += inclusive


def breakdown(case: Case, run_step) -> dict[str, float]:
    """ms per part of one step; `run_step()` returns the step's wall seconds."""
    with ModuleTimer(case.model, case.device) as timer:
        total = run_step()
    parts = {part: 1000 * s for part, s in timer.parts.items()}
    parts[OUTSIDE] = 1000 * (total - timer.forward_seconds)
    parts["step (with hooks)"] = 1000 * total
    return parts


def top_ops(run_step, device: torch.device, limit: int = 10) -> list[tuple[str, float, int]]:
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        run_step()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    rows = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)[:limit]
    return [(e.key, getattr(e, key) / 1000, e.count) for e in rows]


def top_python(run_step, limit: int = 12) -> list[tuple[str, float, int]]:
    profiler = cProfile.Profile()
    profiler.runcall(run_step)
    stats = pstats.Stats(profiler).stats  # (file, line, function) -> (calls, ncalls, own, cumulative, ...)
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    return [(f"{file.rsplit('/', 1)[-1]}:{line}({fn})", 1000 * own, ncalls)
            for (file, line, fn), (_, ncalls, own, _, _) in rows]


def profile_case(case: Case, reason: str, repeats: int = 3) -> Profile:
    """Where one step's time goes, Hogwild! against the baseline (median-total step of `repeats`)."""
    hogwild_step = lambda: case.hogwild_step()[0]

    def baseline_runner():
        prepared = case.prepare_baseline()
        return lambda: case.baseline_step(prepared)

    def median_step(parts_list):
        return sorted(parts_list, key=lambda p: p["step (with hooks)"])[len(parts_list) // 2]

    hogwild = median_step([breakdown(case, hogwild_step) for _ in range(repeats)])
    baseline = median_step([breakdown(case, baseline_runner()) for _ in range(repeats)])
    return Profile(reason, case.num_workers, case.context, case.view_length(), hogwild, baseline,
                   hogwild_ops=top_ops(hogwild_step, case.device),
                   baseline_ops=top_ops(baseline_runner(), case.device),
                   python=top_python(hogwild_step))


# ---- running and reporting ----------------------------------------------------------------
def run_benchmark(model, tokenizer, settings: BenchSettings, log=None) -> tuple[list[CaseResult], list[Profile]]:
    """Every (W, context) case, contexts in increasing order. With settings.profile, profiles of
    the largest W at the longest context and of the worst case that misses the latency target."""
    results, profiles = [], []
    longest = (max(settings.workers), max(settings.contexts))
    original = model.config._attn_implementation
    try:
        for context in sorted(settings.contexts):
            for W in settings.workers:
                case = Case(model, tokenizer, W, context, settings.layout, settings.warmup)
                results.append(case.measure(settings.repeats, settings.warmup))
                if log:
                    log(format_row(results[-1]))
                if settings.profile and (W, context) == longest:
                    profiles.append(profile_case(case, "largest W at the longest context"))
                del case
                gc.collect()
        missed = [r for r in results if r.ratio > LATENCY_TARGET]
        worst = max(missed, key=lambda r: r.ratio) if missed else None
        if settings.profile and worst and (worst.num_workers, worst.context) != longest:
            case = Case(model, tokenizer, worst.num_workers, worst.context, settings.layout, settings.warmup)
            case.measure(1, settings.warmup)
            profiles.append(profile_case(case, f"worst latency miss ({worst.ratio:.2f}x)"))
    finally:
        model.set_attn_implementation(original)
    return results, profiles


HEADER = (f"{'W':>2} {'ctx':>5} {'view':>5} | {'hogwild ms med [min-max]':>24} | "
          f"{'plain ms med [min-max]':>24} | {'ratio':>5} | {'tok/s hw':>8} {'plain':>6} | "
          f"{'tok/step':>8} | {'KV MB shared':>12} {'W x indep':>9} {'ratio':>6}")


def format_row(r: CaseResult) -> str:
    def t(x: Timing) -> str:
        return f"{x.median_ms:8.1f} [{x.min_ms:6.1f}-{x.max_ms:6.1f}]"
    mb = 1 / 2**20
    return (f"{r.num_workers:>2} {r.context:>5} {r.view_tokens:>5} | {t(r.hogwild):>24} | "
            f"{t(r.baseline):>24} | {r.ratio:5.2f} | {r.hogwild_tok_s:8.1f} {r.baseline_tok_s:6.1f} | "
            f"{r.tokens_per_step:8.1f} | {r.cache_bytes * mb:12.1f} {r.independent_bytes * mb:9.1f} "
            f"{r.cache_bytes / max(r.independent_bytes, 1):6.3f}")


def format_table(results: list[CaseResult]) -> str:
    return "\n".join([HEADER, "-" * len(HEADER)] + [format_row(r) for r in results])


def format_profile(p: Profile) -> str:
    lines = [f"profile, {p.reason}: W={p.num_workers}, context {p.context} (view {p.view_tokens} tokens), "
             "one step each",
             f"  {'part':<46} {'hogwild ms':>10} {'plain ms':>9}"]
    for part in PARTS + ("step (with hooks)",):
        lines.append(f"  {part:<46} {p.hogwild[part]:10.2f} {p.baseline[part]:9.2f}")
    for title, rows in (("top ops, hogwild step (torch.profiler, self time)", p.hogwild_ops),
                        ("top ops, plain step (torch.profiler, self time)", p.baseline_ops),
                        ("top Python functions, hogwild step (cProfile, own time)", p.python)):
        lines.append(f"  {title}:")
        lines.extend(f"    {ms:9.2f} ms {calls:6d}x  {name}" for name, ms, calls in rows)
    return "\n".join(lines)


def summarize(results: list[CaseResult], settings: BenchSettings) -> str:
    """One line: each target, met or missed and by how much."""
    parts = []
    misses = [r for r in results if r.ratio > LATENCY_TARGET]
    if misses:
        worst = max(misses, key=lambda r: r.ratio)
        listed = ", ".join(f"W={r.num_workers}/{r.context}: {r.ratio:.2f}x" for r in misses)
        parts.append(f"latency <= {LATENCY_TARGET:.2f}x plain: MISSED in {len(misses)}/{len(results)} "
                     f"(worst {worst.ratio:.2f}x, {100 * (worst.ratio / LATENCY_TARGET - 1):.0f}% over; {listed})")
    else:
        parts.append(f"latency <= {LATENCY_TARGET:.2f}x plain: met in all {len(results)} "
                     f"(worst {max(r.ratio for r in results):.2f}x)")
    shared = [r for r in results if r.num_workers > 1]
    if shared:
        worst = max(shared, key=lambda r: r.shared_part_ratio * r.num_workers)
        excess = worst.shared_part_ratio * worst.num_workers
        verdict = "met" if excess <= 1 + 1e-9 else f"MISSED by {100 * (excess - 1):.1f}%"
        parts.append(f"KV of shared part <= 1/W of W copies: {verdict} "
                     f"(worst {worst.shared_part_ratio:.3f} at W={worst.num_workers})")
    parts.append(_tokens_per_step_verdict(results))
    parts.append(f"device: {settings.device}" + ("" if settings.device == "cuda" else " (--device cuda not run here)"))
    return "targets: " + "; ".join(parts)


def _tokens_per_step_verdict(results: list[CaseResult]) -> str:
    fours = [r for r in results if r.num_workers == 4]
    if not fours:
        return "W=4 tokens/step: not measured (no W=4)"
    singles = {r.context: r for r in results if r.num_workers == 1}
    gains, speedups = [], []
    for r in fours:
        single = singles.get(r.context)
        gains.append(r.tokens_per_step / (single.tokens_per_step if single else 1.0))
        if single:
            speedups.append(r.hogwild_tok_s / single.hogwild_tok_s)
    gain = min(gains)
    verdict = "met" if gain >= TOKENS_PER_STEP_TARGET else f"MISSED by {TOKENS_PER_STEP_TARGET - gain:.2f}"
    wall = f"; wall-clock tok/s W=4 vs W=1: {min(speedups):.2f}-{max(speedups):.2f}x" if speedups else ""
    return f"W=4 tokens/step >= {TOKENS_PER_STEP_TARGET}x one worker: {verdict} ({gain:.1f}x{wall})"


def describe_machine(settings: BenchSettings) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "device": settings.device, "dtype": settings.dtype}
    if settings.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def parse_args(argv=None) -> tuple[BenchSettings, argparse.Namespace]:
    ints = lambda text: tuple(int(x) for x in text.split(",") if x.strip())
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=ints, default=None, help="comma list, default 1,2,4,8")
    parser.add_argument("--contexts", type=ints, default=None, help="comma list, default 256,1024,4096")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per case (default 15)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per case (default 3)")
    parser.add_argument("--layout", default="combined")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--model", default=None, help="model path or hub id (default: the embedded SmolLM2-135M)")
    parser.add_argument("--profile", action="store_true", help="profile one step at the largest W and context")
    parser.add_argument("--json", default=None, help="write results to this file")
    parser.add_argument("--quick", action="store_true", help="small smoke run: context 256, 3 repeats")
    args = parser.parse_args(argv)
    quick = dict(workers=(1, 2, 4, 8), contexts=(256,), repeats=3, warmup=1) if args.quick else {}
    chosen = {k: v for k, v in dict(workers=args.workers, contexts=args.contexts, repeats=args.repeats,
                                     warmup=args.warmup).items() if v is not None}
    settings = BenchSettings(**{**quick, **chosen}, layout=args.layout, device=args.device,
                             dtype=args.dtype, threads=args.threads, profile=args.profile)
    return settings, args


def main(argv=None) -> int:
    from hogwild_core import load_model

    try:
        settings, args = parse_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.threads:
        torch.set_num_threads(settings.threads)
    model, tokenizer = load_model(args.model, dtype=DTYPES[settings.dtype], device=settings.device)
    machine = describe_machine(settings)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()))
    print(f"layout {settings.layout}, {settings.repeats} timed steps after {settings.warmup} warm-up per case")
    print(HEADER)
    results, profiles = run_benchmark(model, tokenizer, settings, log=print)
    summary = summarize(results, settings)
    print("\n" + format_table(results))
    for profile in profiles:
        print("\n" + format_profile(profile))
    print("\n" + summary)
    if args.json:
        rows = [dict(asdict(r), ratio=r.ratio, hogwild_tok_s=r.hogwild_tok_s, baseline_tok_s=r.baseline_tok_s)
                for r in results]
        with open(args.json, "w") as f:
            json.dump({"settings": asdict(settings), "machine": machine, "results": rows,
                       "profiles": [asdict(p) for p in profiles], "summary": summary}, f, indent=1)
    return 0


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


if __name__ == "__main__":
    sys.exit(main())
