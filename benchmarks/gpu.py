"""The prepared GPU check, one command, nothing downloaded:

    python -m benchmarks.gpu                       # on a GPU: writes docs/benchmarks-gpu.md
    python -m benchmarks.gpu --dry-run --out r.md  # tiny shapes on the CPU (the test suite runs it)

Random-weight models of real shapes (Qwen2.5-1.5B, Qwen3-8B, QwQ-32B), bfloat16, built from
transformers' config classes with their weights drawn on the GPU; the embedded model's tokenizer.
For W = 1, 2, 4, 8 and views of about 1k, 4k and 16k tokens (the combined layout):

* Table 1 shape, tokens per second: a Hogwild! pass (`engine.run_pass`, forced tokens: W new tokens)
  against transformers' sdpa decode with a StaticCache of one sequence of the same length (the
  paper's baseline), of W sequences (batch W), and FlashAttention-2 on one sequence when
  `flash_attn` is importable. Medians of timed passes, each bracketed by cuda synchronize.
* Table 2 shape, one attention call at the longest view (microseconds, CUDA events): the fused
  call replayed on layer 0's inputs captured from a real pass, against sdpa (and flash_attn) on
  one sequence of that length.
* Device paths: a model loaded with device_map="auto", one split between the GPU and the CPU,
  both checked fast = reference; demo/gpu.py's ZeroGPU wrapper.
* The tests marked `cuda` (tests/test_fused.py, tests/test_devices.py), in a subprocess.

`--budget` bounds the measuring time (default 400 s, for an 8-minute check on one H200 with the
tests); cases past it are listed as skipped. `--dry-run` swaps in tiny shapes in float32 on the
CPU, one context, two passes and no tests: its numbers mean nothing, it only keeps the check from
rotting."""

import argparse
import gc
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import torch

from .baselines import decode_logits, static_copies, stock_attention, synchronize
from .gpu_report import CallResult, CaseResult, flash_attn_available, machine, report
from .passes import Case

SHAPES = {   # name -> (architecture, config fields), from the models' published configs
    "qwen2.5-1.5b": ("qwen2", dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                                   num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
                                   max_position_embeddings=32768, tie_word_embeddings=True, rms_norm_eps=1e-6)),
    "qwen3-8b": ("qwen3", dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                               num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=151936,
                               max_position_embeddings=40960, tie_word_embeddings=False, rms_norm_eps=1e-6)),
    "qwq-32b": ("qwen2", dict(hidden_size=5120, intermediate_size=27648, num_hidden_layers=64,
                              num_attention_heads=40, num_key_value_heads=8, vocab_size=152064,
                              max_position_embeddings=40960, tie_word_embeddings=False, rms_norm_eps=1e-5)),
}
TINY_SHAPES = {
    "tiny-qwen2": ("qwen2", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, vocab_size=49152, max_position_embeddings=4096)),
    "tiny-qwen3": ("qwen3", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, head_dim=16, vocab_size=49152, max_position_embeddings=4096)),
}
TEST_FILES = ("tests/test_fused.py", "tests/test_devices.py")
TEST_TIMEOUT_S = 180


@dataclass(frozen=True)
class CheckSettings:
    shapes: tuple[str, ...] = tuple(SHAPES)
    workers: tuple[int, ...] = (1, 2, 4, 8)
    contexts: tuple[int, ...] = (1024, 4096, 16384)
    passes: int = 8
    warmup: int = 2
    budget_s: float = 400.0
    run_tests: bool = True
    dry_run: bool = False
    device: str = "cuda"
    dtype: torch.dtype = torch.bfloat16


# ---- models -------------------------------------------------------------------------------------
def build_config(name: str):
    from transformers import Qwen2Config, Qwen3Config

    arch, fields = {**SHAPES, **TINY_SHAPES}[name]
    cls = {"qwen2": Qwen2Config, "qwen3": Qwen3Config}[arch]
    return cls(**fields, rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
               use_sliding_window=False, attn_implementation="sdpa")


def random_model(name: str, device: str, dtype: torch.dtype):
    """A model of the named shape with random weights, created on `device` (never on the host)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(build_config(name), dtype=dtype)
    return model.eval()


def embedded_tokenizer():
    from transformers import AutoTokenizer

    from hogwild_core import default_model_file

    gguf = default_model_file()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)


# ---- measurements -------------------------------------------------------------------------------
def plain_pass_ms(model, kv, num_rows: int, passes: int, warmup: int, implementation: str) -> float:
    """Median ms of plain batched decode passes after `kv` (per layer [Hkv, n, D]) copied to
    `num_rows` rows of a StaticCache preallocated for the passes."""
    device = kv[0][0].device
    cache = static_copies(model, kv, num_rows, free=passes + warmup + 1)
    n = kv[0][0].shape[1]
    tokens = torch.full((num_rows, 1), 11, dtype=torch.long, device=device)
    seconds = []
    with stock_attention(model, implementation):
        for i in range(warmup + passes):
            synchronize(device)
            began = time.perf_counter()
            decode_logits(model, cache, tokens, n + i)
            synchronize(device)
            seconds.append(time.perf_counter() - began)
    del cache
    return 1000 * statistics.median(seconds[warmup:])


def event_us(fn, repeats: int, device) -> float:
    """Median microseconds of fn() between CUDA events (wall time on the CPU)."""
    times = []
    for _ in range(repeats + 2):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(1000 * start.elapsed_time(end))
        else:
            began = time.perf_counter()
            fn()
            times.append(1e6 * (time.perf_counter() - began))
    return statistics.median(times[2:])


def kernel_us(fn, repeats: int) -> float | None:
    """CUDA: microseconds of GPU kernel time per fn() call (torch.profiler, the sum over all its
    kernels, without the gaps between launches); None elsewhere."""
    if not torch.cuda.is_available():
        return None
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(repeats):
            fn()
        torch.cuda.synchronize()
    total = sum(e.self_device_time_total for e in prof.key_averages())
    return total / repeats


def measure_call(result: CallResult, label: str, fn, repeats: int, device) -> None:
    result.microseconds[label] = event_us(fn, repeats, device)
    kernels = kernel_us(fn, repeats) if device.type == "cuda" else None
    if kernels is not None:
        result.kernel_microseconds[label] = kernels


def captured_layer0_call(case):
    """One real pass with layer 0's attention inputs kept: (module, query, key, value, scaling, plan)."""
    from hogwild_core.fused import FusedPlan

    kept = {}
    original = FusedPlan.attend

    def attend(plan, module, query, key, value, scaling):
        if module.layer_idx == 0 and not kept:
            kept["call"] = (module, query.clone(), key.clone(), value.clone(), scaling, plan)
        return original(plan, module, query, key, value, scaling)

    FusedPlan.attend = attend
    try:
        case.hogwild()
    finally:
        FusedPlan.attend = original
    return kept.get("call")


def attention_calls(shape: str, case_by_w: dict, repeats: int) -> CallResult:
    """Table 2: one attention call at this context, Hogwild! for each W against one sequence."""
    from hogwild_core.fused import fused_attention

    first = case_by_w[min(case_by_w)]
    device, model = first.device, first.model
    n = first.view_length()
    config = model.config
    H, Hkv = config.num_attention_heads, config.num_key_value_heads
    D = getattr(config, "head_dim", None) or config.hidden_size // H
    dtype = next(model.parameters()).dtype
    result = CallResult(shape, n, {})
    q = torch.randn(1, H, 1, D, device=device, dtype=dtype)
    k, v = (torch.randn(1, Hkv, n, D, device=device, dtype=dtype) for _ in range(2))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    measure_call(result, "sdpa, 1 sequence", lambda: sdpa(q, k, v, enable_gqa=True), repeats, device)
    if flash_attn_available():
        try:
            from flash_attn import flash_attn_with_kvcache

            qf, kf, vf = q.transpose(1, 2), k.transpose(1, 2).contiguous(), v.transpose(1, 2).contiguous()
            measure_call(result, "flash_attn, 1 sequence", lambda: flash_attn_with_kvcache(qf, kf, vf), repeats, device)
        except Exception as exc:  # a broken install is reported, not fatal
            result.errors["flash_attn, 1 sequence"] = f"{type(exc).__name__}: {exc}"
    for W, case in sorted(case_by_w.items()):
        try:
            call = captured_layer0_call(case)
            module, query, key, value, scaling, plan = call
            measure_call(result, f"Hogwild! W={W}", lambda: fused_attention(module, query, key, value, scaling, plan),
                           repeats, device)
        except Exception as exc:
            result.errors[f"Hogwild! W={W}"] = f"{type(exc).__name__}: {exc}"
    return result


def measure_shape(shape: str, settings: CheckSettings, tokenizer, deadline: float, log) -> tuple[list, list, list]:
    """Every (context, W) case of one model shape: Table 1 rows, Table 2 rows, skipped cases."""
    model = random_model(shape, settings.device, settings.dtype)
    rows, calls, skipped = [], [], []
    for context in settings.contexts:
        cases, single = {}, None
        for W in settings.workers:
            if time.perf_counter() > deadline:
                skipped.append(f"{shape} W={W} context {context}")
                continue
            try:
                case = Case(model, tokenizer, W, context, "combined", settings.warmup)
                hog = [case.hogwild() for _ in range(settings.warmup + settings.passes)][settings.warmup:]
                result = CaseResult(shape, W, context, case.view_length(), 1000 * statistics.median(hog))
            except Exception as exc:      # out of memory included: the next case starts clean
                skipped.append(f"{shape} W={W} context {context}: {type(exc).__name__}: {exc}")
                case = None
                _free(settings.device)
                continue
            kv = case.engine.view_kv(0)
            methods = [(f"sdpa, {W} sequences", W, "sdpa")] if W > 1 else []
            if single is None:
                methods.append(("sdpa, 1 sequence", 1, "sdpa"))
                if flash_attn_available():
                    methods.append(("FA2, 1 sequence", 1, "flash_attention_2"))
            for label, num_rows, implementation in methods:
                try:
                    result.plain_ms[label] = plain_pass_ms(model, kv, num_rows, settings.passes, settings.warmup,
                                                           implementation)
                except Exception as exc:
                    result.errors[label] = f"{type(exc).__name__}: {exc}"
            if single is None:
                single = {m: result.plain_ms[m] for m in ("sdpa, 1 sequence", "FA2, 1 sequence") if m in result.plain_ms}
            else:
                result.plain_ms.update(single)
            del kv
            rows.append(result)
            log(f"  {shape} W={W} context {context} view {result.view}: hogwild {result.hogwild_ms:.1f} ms, "
                + ", ".join(f"{m} {ms:.1f} ms" for m, ms in result.plain_ms.items()))
            cases[W] = case
            _free(settings.device)
        if context == max(settings.contexts) and cases:
            calls.append(attention_calls(shape, cases, repeats=20 if not settings.dry_run else 2))
        cases.clear()
        _free(settings.device)
    del model
    _free(settings.device)
    return rows, calls, skipped


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


# ---- device paths -------------------------------------------------------------------------------
def device_paths(tokenizer, device: str) -> list[str]:
    """demo/gpu.py, device_map="auto", and (with a GPU) a model split between the GPU and the CPU:
    fast = reference over a few forced passes on a tiny float32 model loaded through load_model."""
    lines = []
    from demo.gpu import on_gpu

    has_spaces = importlib.util.find_spec("spaces") is not None
    wrapped = on_gpu(lambda: "ran")
    lines.append(f"ZeroGPU (demo/gpu.py): `spaces` {'is' if has_spaces else 'is not'} installed; "
                 f"the wrapped function {'was wrapped and' if wrapped.__name__ != '<lambda>' else 'came back unchanged and'}"
                 f" returned {wrapped()!r}")
    maps = {'device_map="auto"': "auto"}
    if device == "cuda":
        maps["split: embedding and layer 0 on cuda:0, layer 1, norm and lm_head on the CPU"] = {
            "model.embed_tokens": 0, "model.rotary_emb": 0, "model.layers.0": 0, "model.layers.1": "cpu",
            "model.norm": "cpu", "lm_head": "cpu"}
    with tempfile.TemporaryDirectory(prefix="hogwild-gpu-check-") as folder:
        model = random_model("tiny-qwen2", "cpu", torch.float32)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        for label, device_map in maps.items():
            try:
                lines.append(f"{label}: " + _fast_against_reference(folder, device_map, tokenizer))
            except Exception as exc:
                lines.append(f"{label}: FAILED {type(exc).__name__}: {exc}")
    return lines


def _fast_against_reference(folder: str, device_map, tokenizer) -> str:
    from hogwild_core import EngineConfig, HogwildEngine, load_model

    model, _ = load_model(folder, weights="float32", device_map=device_map)
    devices = sorted({str(p.device) for p in model.parameters()})
    engines = [HogwildEngine(model, tokenizer, EngineConfig(num_workers=3, attention=path, collect_logits=True,
                                                            collect_attention=True, max_new_tokens=12))
               for path in ("fast", "reference")]
    token = tokenizer.encode(" the", add_special_tokens=False)[0]
    worst = 0.0
    for engine in engines:
        engine.start("Add 2 and 3.")
    for _ in range(6):
        fast, reference = (engine.run_pass(force=[token] * 3) for engine in engines)
        finite = ~torch.isnan(reference.logits)
        worst = max(worst, float((fast.logits[finite] - reference.logits[finite]).abs().max()))
    verdict = "ok" if worst < 1e-3 else "MISMATCH"
    return (f"{verdict}, parameters on {', '.join(devices)}, fast kernel {engines[0].runner.kernel}; "
            f"largest fast - reference logit difference over 6 passes {worst:.1e}")


def cuda_tests() -> str:
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-n", "0", "-q", "-p", "no:cacheprovider", *TEST_FILES]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TEST_TIMEOUT_S,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    except subprocess.TimeoutExpired:
        return f"`{' '.join(command[1:])}`: did not finish in {TEST_TIMEOUT_S} s"
    tail = [line for line in done.stdout.splitlines() if line.strip()][-12:]
    return f"`{' '.join(command[2:])}` exited {done.returncode}:\n\n```\n" + "\n".join(tail) + "\n```"


# ---- the command ---------------------------------------------------------------------------------
def parse_args(argv=None) -> tuple[CheckSettings, str]:
    ints = lambda text: tuple(int(x) for x in text.split(",") if x.strip())
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU, no tests (what CI runs)")
    p.add_argument("--out", default=None, help="markdown report (default docs/benchmarks-gpu.md; dry run: stdout)")
    p.add_argument("--shapes", default=None, help=f"comma list of {', '.join(SHAPES)}")
    p.add_argument("--workers", type=ints, default=None)
    p.add_argument("--contexts", type=ints, default=None)
    p.add_argument("--passes", type=int, default=None)
    p.add_argument("--budget", type=float, default=None, help="seconds of measuring before cases are skipped")
    p.add_argument("--no-tests", action="store_true")
    args = p.parse_args(argv)
    if args.dry_run:
        base = CheckSettings(shapes=tuple(TINY_SHAPES), workers=(1, 2), contexts=(48,), passes=2, warmup=1,
                             budget_s=120.0, run_tests=False, dry_run=True, device="cpu", dtype=torch.float32)
    else:
        base = CheckSettings()
    chosen = dict(shapes=tuple(args.shapes.split(",")) if args.shapes else None, workers=args.workers,
                  contexts=args.contexts, passes=args.passes, budget_s=args.budget)
    settings = CheckSettings(**{**base.__dict__, **{k: v for k, v in chosen.items() if v is not None}})
    if args.no_tests:
        settings = CheckSettings(**{**settings.__dict__, "run_tests": False})
    unknown = [s for s in settings.shapes if s not in SHAPES and s not in TINY_SHAPES]
    if unknown:
        p.error(f"unknown shapes {unknown}; choose from {', '.join(SHAPES)}")
    out = args.out or (None if args.dry_run else "docs/benchmarks-gpu.md")
    return settings, out


def main(argv=None, log=print, tokenizer=None) -> int:
    """tokenizer: the embedded model's, if the caller has it loaded already (the tests do)."""
    settings, out = parse_args(argv)
    if settings.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device; use --dry-run for the CPU smoke run", file=sys.stderr)
        return 2
    began = time.perf_counter()
    deadline = began + settings.budget_s
    tokenizer = tokenizer or embedded_tokenizer()
    rows, calls, skipped = [], [], []
    log(f"machine: {machine(settings.device)}")
    for shape in settings.shapes:
        log(f"{shape}:")
        got = measure_shape(shape, settings, tokenizer, deadline, log)
        rows += got[0]
        calls += got[1]
        skipped += got[2]
    paths = device_paths(tokenizer, settings.device)
    for line in paths:
        log(f"  {line}")
    tests = cuda_tests() if settings.run_tests else "Not run" + (" (dry run)." if settings.dry_run else ".")
    text = report(settings, rows, calls, skipped, paths, tests, time.perf_counter() - began)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        log(f"wrote {out}")
    else:
        log(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
