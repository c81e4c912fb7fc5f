"""Fused int8 siblings against one call per layer, in one process: python -m benchmarks.fusion
    [--model qwen2.5-coder-1.5b] [--workers 1,2,4] [--context 300] [--rounds 6] [--threads 2]

`hogwild_core.weights` runs a decoder layer's q/k/v projections as one fbgemm call and its gate/up
projections as another (Int8Group). This loads the model once in int8 (fused, as load_model gives
it), makes a copy with every group split back into one Int8Linear per layer (the same integers and
scales, so the same outputs: checked here on a forward pass before timing), and times both in ABBA
order: the linear-layer floor at batch W and a forced Hogwild! pass at W (combined layout). Prints
medians and the fused / unfused ratio."""

import argparse
import copy
import gc
import random
import statistics
import sys

import torch

from .baselines import LinearFloor, timed
from .passes import Case, abba_order

VARIANTS = ("fused", "unfused")


def unfused_copy(model):
    """A deep copy of an int8 model with every Int8Group split into one Int8Linear per layer."""
    from hogwild_core.weights import Int8Linear, Int8Slice

    copied = copy.deepcopy(model)
    for parent in list(copied.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Int8Slice):
                setattr(parent, child_name, _own_layer(child, Int8Linear))
    return copied


def _own_layer(piece, int8_linear):
    group = piece._group
    start = sum(group.sizes[:piece.index])
    rows = slice(start, start + group.sizes[piece.index])
    weight = torch.ops.quantized.linear_unpack(group.fused._packed)[0]        # [sum out, in + pins]
    ints = weight.int_repr()[rows, :group.fused.in_features]
    bias = None if group.fused.bias is None else group.fused.bias[rows]
    return int8_linear.from_rows(ints.contiguous(), weight.q_per_channel_scales()[rows].contiguous(), bias)


def same_outputs(a, b, tokenizer) -> bool:
    ids = torch.tensor([tokenizer.encode("Natalia sold clips to 48 of her friends in April.")])
    with torch.no_grad():
        return bool(torch.equal(a(ids).logits, b(ids).logits))


def measure(models: dict, tokenizer, workers: list[int], context: int, rounds: int, rng) -> list[dict]:
    rows = []
    for W in workers:
        cases = {name: Case(model, tokenizer, W, context, "combined", warmup=2) for name, model in models.items()}
        floors = {name: LinearFloor(model, W) for name, model in models.items()}
        jobs = {f"{kind} {name}": (lambda c=cases[name], f=floors[name], k=kind:
                                   c.hogwild() if k == "pass" else timed(c.device, f))
                for name in models for kind in ("pass", "floor")}
        for job in jobs.values():       # warm-up
            job()
        seconds = {label: [] for label in jobs}
        for label in abba_order(tuple(jobs), rounds, rng):
            gc.collect()
            seconds[label].append(jobs[label]())
        ms = {label: round(statistics.median(s) * 1000, 1) for label, s in seconds.items()}
        row = {"workers": W, "view_tokens": cases["fused"].view_length(), **ms,
               "pass ratio": round(ms["pass fused"] / ms["pass unfused"], 3),
               "floor ratio": round(ms["floor fused"] / ms["floor unfused"], 3)}
        print("  ".join(f"{k} {v}" for k, v in row.items()), flush=True)
        rows.append(row)
        del cases, floors
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fusion", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="qwen2.5-coder-1.5b")
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--context", type=int, default=300)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from hogwild_core import load_model
    from hogwild_core.machine import machine_description

    load = open("/proc/loadavg").read().split()[:3] if sys.platform.startswith("linux") else []
    print(f"machine: {machine_description()}, torch threads {torch.get_num_threads()}, load {' '.join(load)}")
    fused, tokenizer = load_model(args.model, weights="int8")
    models = {"fused": fused, "unfused": unfused_copy(fused)}
    if not same_outputs(fused, models["unfused"], tokenizer):
        print("fused and unfused logits differ: the comparison would not be fair", file=sys.stderr)
        return 1
    print("fused and unfused logits: bit-identical")
    measure(models, tokenizer, [int(w) for w in args.workers.split(",")], args.context, args.rounds,
            random.Random(args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
