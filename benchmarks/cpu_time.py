"""Forced passes timed twice, by the wall clock and by this thread's CPU time, for a shared machine:

    python -m benchmarks.cpu_time [--cases 1/256,2/256,8/1024] [--rounds 8] [--model NAME]

The same cases and ABBA order as the forced-pass grid (`passes.Case`, `passes.abba_order`), three
methods (the Hogwild! pass, the DynamicCache and StaticCache decoders), one torch thread. On a
machine other work shares, the wall clock also counts the time a pass waited for a core; a
thread's CPU time (`time.thread_time`) does not, though it still grows with the cache and memory
traffic of the other work, so each of the two clocks is only compared within its own run."""

import argparse
import gc
import random
import statistics
import time

import torch

from .baselines import stock_attention
from .passes import Case, abba_order

METHODS = ("hogwild", "dynamic", "static")


def timed_both(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - wall, time.thread_time() - cpu


def pass_times(case: Case, method: str) -> tuple[float, float]:
    gc.collect()
    if method == "hogwild":
        return timed_both(lambda: case.engine.run_pass(force=case.force))
    decode = case.prepare(method)
    with stock_attention(case.model):
        return timed_both(decode)


def measure(case: Case, rounds: int, rng: random.Random) -> dict[str, dict[str, float]]:
    """clock -> method -> median ms."""
    case.static_room = 2 + 2 * rounds + 4
    for method in METHODS:
        pass_times(case, method)
        pass_times(case, method)
    wall, cpu = {m: [] for m in METHODS}, {m: [] for m in METHODS}
    for method in abba_order(METHODS, rounds, rng):
        w, c = pass_times(case, method)
        wall[method].append(w)
        cpu[method].append(c)
    return {clock: {m: 1000 * statistics.median(v) for m, v in times.items()}
            for clock, times in (("wall", wall), ("cpu", cpu))}


def line(W: int, context: int, view: int, medians) -> str:
    parts = [f"W={W} ctx={context} view={view}"]
    for clock, ms in medians.items():
        parts.append(f"{clock} ms " + " ".join(f"{m} {v:.1f}" for m, v in ms.items())
                     + f" /dyn {ms['hogwild'] / ms['dynamic']:.2f} /stat {ms['hogwild'] / ms['static']:.2f}")
    return " | ".join(parts)


def main(argv=None) -> int:
    from hogwild_core import load_model

    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_time", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="1/256,2/256,4/256,8/256,1/1024,2/1024,4/1024,8/1024", help="W/context list")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--model", default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cases = [tuple(int(x) for x in case.split("/")) for case in args.cases.split(",")]
    torch.set_num_threads(1)
    model, tokenizer = load_model(args.model)
    print(f"model {args.model or 'default'}, load {open('/proc/loadavg').read().strip()}", flush=True)
    rng = random.Random(args.seed)
    for W, context in cases:
        case = Case(model, tokenizer, W, context, "combined", 2)
        print(line(W, context, case.view_length(), measure(case, args.rounds, rng)), flush=True)
        del case
        gc.collect()
    print(f"load {open('/proc/loadavg').read().strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
