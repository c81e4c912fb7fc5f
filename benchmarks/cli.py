"""Command line: python -m benchmarks [--workers 1,2,4,8] [--contexts 256,1024,4096] [--rounds 8]
    [--warmup 2] [--run-budget 96] [--no-runs] [--peak-memory] [--profile] [--threads N]
    [--device cpu|cuda] [--weights auto|int8|bfloat16|float16|float32] [--model NAME] [--seed 0]
    [--json out.json] [--quick]"""

import argparse
import json
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass

import torch
import transformers

from hogwild_core import BASELINE_LAYOUTS, LAYOUTS, MAX_WORKERS, ConfigError, HogwildError
from machine import machine_description
from hogwild_core.weights import WEIGHT_FORMATS, format_of

from . import report
from .profiling import profile_case
from .runs import peak_memory, run_whole
from .passes import Case, run_passes

@dataclass(frozen=True)
class BenchSettings:
    workers: tuple[int, ...] = (1, 2, 4, 8)
    contexts: tuple[int, ...] = (256, 1024, 4096)
    rounds: int = 8                    # ABBA rounds: 2 timed passes of each method per round
    warmup: int = 2
    layout: str = "combined"
    run_budget: int = 96               # work passes of each whole run (0: no whole runs)
    peak_memory: bool = False
    profile: bool = False
    device: str = "cpu"
    weights: str = "auto"
    threads: int | None = None
    seed: int = 0

    def __post_init__(self):
        if not self.workers or any(not 1 <= w <= MAX_WORKERS for w in self.workers):
            raise ConfigError(f"workers must be between 1 and {MAX_WORKERS}; got {self.workers}")
        if not self.contexts or any(c < 1 for c in self.contexts):
            raise ConfigError(f"contexts must be positive token counts; got {self.contexts}")
        if self.rounds < 1 or self.warmup < 0 or self.run_budget < 0:
            raise ConfigError("rounds must be at least 1; warmup and run budget at least 0")
        if self.layout not in LAYOUTS + BASELINE_LAYOUTS:
            raise ConfigError(f"layout must be one of {', '.join(LAYOUTS + BASELINE_LAYOUTS)}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"device must be cpu or cuda; got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for, but torch sees no CUDA device")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1; got {self.threads}")
        if self.weights not in WEIGHT_FORMATS:
            raise ConfigError(f"weights must be one of {', '.join(WEIGHT_FORMATS)}; got {self.weights!r}")


def describe_machine(settings: BenchSettings, model) -> dict:
    try:
        load = " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        load = "unknown"
    info = {"cpu": machine_description(), "load average at start": load,
            "torch threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "device": settings.device, "weights": format_of(model)}
    if settings.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def parse_args(argv=None) -> tuple[BenchSettings, argparse.Namespace]:
    ints = lambda text: tuple(int(x) for x in text.split(",") if x.strip())
    p = argparse.ArgumentParser(prog="python -m benchmarks", description="Hogwild! passes and runs against "
                                "plain transformers decoding (DynamicCache, StaticCache) and the linear-layer floor")
    p.add_argument("--workers", type=ints, default=None, help="comma list, default 1,2,4,8")
    p.add_argument("--contexts", type=ints, default=None, help="comma list, default 256,1024,4096")
    p.add_argument("--rounds", type=int, default=None, help="ABBA rounds per case (default 8: 16 timed passes each)")
    p.add_argument("--warmup", type=int, default=None, help="untimed passes of each method per case (default 2)")
    p.add_argument("--run-budget", type=int, default=None, help="work passes per whole run (default 96)")
    p.add_argument("--no-runs", action="store_true", help="skip the whole-run benchmark")
    p.add_argument("--peak-memory", action="store_true",
                   help="peak RSS of whole runs, one child process each (loads the model 2 x len(workers) times)")
    p.add_argument("--layout", default="combined")
    p.add_argument("--device", default="cpu")
    p.add_argument("--weights", default="auto", help="weight format, as load_model's weights= (default auto: "
                   "int8 for the capable model on a CPU, float32 for the embedded one)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for everything (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="seeds the ABBA order and the runs' sampling")
    p.add_argument("--model", default=None, help="a catalog model (e.g. qwen2.5-coder-1.5b), a path or a hub id "
                   "(default: the embedded SmolLM2-135M)")
    p.add_argument("--profile", action="store_true", help="profile the worst DynamicCache miss (or the largest case)")
    p.add_argument("--json", default=None, help="write every figure to this file")
    p.add_argument("--quick", action="store_true", help="smoke run: context 256, 2 rounds, budget 24")
    args = p.parse_args(argv)
    quick = dict(contexts=(256,), rounds=2, warmup=1, run_budget=24) if args.quick else {}
    chosen = {k: v for k, v in dict(workers=args.workers, contexts=args.contexts, rounds=args.rounds,
                                     warmup=args.warmup, run_budget=args.run_budget).items() if v is not None}
    if args.no_runs:
        chosen["run_budget"] = 0
    settings = BenchSettings(**{**quick, **chosen}, layout=args.layout, device=args.device, weights=args.weights,
                             threads=args.threads, seed=args.seed, profile=args.profile,
                             peak_memory=args.peak_memory)
    return settings, args


def benchmark(model, tokenizer, settings: BenchSettings, model_name=None, log=print):
    """Every section the settings ask for; returns (passes, runs, profiles, verdicts)."""
    original = model.config._attn_implementation
    try:
        if log:
            log(report.PASS_HEADER)
        passes = run_passes(model, tokenizer, settings.workers, settings.contexts, settings.rounds, settings.warmup,
                            settings.layout, settings.seed, log=(lambda r: log(report.pass_row(r))) if log else None)
        runs = []
        if settings.run_budget:
            if log:
                log("\n" + report.RUN_HEADER)
            runs = run_whole(model, tokenizer, settings.workers, settings.run_budget, settings.layout,
                             settings.seed, log=(lambda r: log(report.run_row(r))) if log else None)
        if settings.peak_memory and runs:
            peaks = peak_memory(settings.workers, settings.run_budget, model_name, settings.threads,
                                settings.weights)
            for r in runs:
                r.peak_mb = {"hogwild": peaks[("hogwild", r.num_workers)],
                             "generate": peaks[("generate", r.num_workers)]}
        profiles = []
        if settings.profile and passes:
            worst = max(passes, key=lambda r: r.ratio("dynamic"))
            reason = (f"worst DynamicCache ratio ({worst.ratio('dynamic'):.2f}x)")
            case = Case(model, tokenizer, worst.num_workers, worst.context, settings.layout, settings.warmup)
            case.measure(1, settings.warmup, random.Random(settings.seed))
            profiles.append(profile_case(case, reason))
    finally:
        model.set_attn_implementation(original)
    return passes, runs, profiles, report.verdicts(passes, runs)


def main(argv=None) -> int:
    from hogwild_core import load_model

    try:
        settings, args = parse_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.threads:
        torch.set_num_threads(settings.threads)
    began = time.perf_counter()
    try:
        model, tokenizer = load_model(args.model, weights=settings.weights, device=settings.device)
    except HogwildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    machine = describe_machine(settings, model)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()))
    print(f"layout {settings.layout}; forced passes: {settings.rounds} ABBA rounds after {settings.warmup} warm-up "
          f"passes per case; whole runs: {settings.run_budget} work passes"
          + ("" if settings.device == "cuda" else "; --device cuda has not been run here"))
    passes, runs, profiles, verdicts = benchmark(model, tokenizer, settings, args.model)
    print("\nforced one-token passes (median [min-max] ms; ratios are Hogwild! / baseline):")
    print(report.pass_table(passes))
    if runs:
        print("\nwhole runs (mean pass time over the work passes after the first; TTFT includes the prefill):")
        print(report.run_table(runs))
    for profile in profiles:
        print("\n" + report.profile_text(profile))
    print("\ntargets:")
    print("\n".join(report.Verdict.line(v) for v in verdicts))
    print(f"\n({time.perf_counter() - began:.0f} s in all)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": asdict(settings), "machine": machine,
                       "passes": [dict(asdict(r), ratios={b: r.ratio(b) for b in ("dynamic", "static", "floor")})
                                  for r in passes],
                       "runs": [dict(asdict(r), ratios={b: r.ratio(b) for b in ("dynamic", "static")}) for r in runs],
                       "profiles": [asdict(p) for p in profiles],
                       "verdicts": [asdict(v) for v in verdicts]}, f, indent=1)
    return 0
