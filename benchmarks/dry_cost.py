"""The DRY penalty's cost per sampled pass (engine option `dry_multiplier`):

    python -m benchmarks.dry_cost [--cases 2/1000,4/1000,4/4000,8/2000] [--repeats 20]

Each of W workers' penalties against all W transcripts of N tokens (a shared layout), computed
twice in this process: from the transcripts as Python lists, converted on every call (the
engine before each worker kept its transcript as an array: W x W conversions per pass), and from
the arrays each worker keeps (`Worker.transcript_array`, as the engine does now). Random tokens
of a 2000-word vocabulary: real text repeats more, so the matching part is a lower bound."""

import argparse
import random
import time

import numpy as np

from hogwild_core.sampling import repeat_penalties


def pass_ms(texts: list, repeats: int) -> float:
    """Best of 5 of the mean over `repeats` of one pass's penalties (every worker against every text)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            for own in texts:
                repeat_penalties(own, texts, 0.8, 1.75, 2)
        best = min(best, (time.perf_counter() - start) / repeats * 1e3)
    return best


def measure(num_workers: int, length: int, repeats: int, seed: int = 0) -> tuple[float, float]:
    """-> (ms per pass from lists, ms per pass from arrays)"""
    rng = random.Random(seed)
    lists = [[rng.randrange(2000) for _ in range(length)] for _ in range(num_workers)]
    arrays = [np.asarray(ids, dtype=np.int64) for ids in lists]
    return pass_ms(lists, repeats), pass_ms(arrays, repeats)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="2/1000,4/1000,4/4000,8/2000", help="W/tokens, comma-separated")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    print(" W  tokens | lists ms  arrays ms  lists/arrays")
    for case in args.cases.split(","):
        W, N = (int(x) for x in case.split("/"))
        lists_ms, arrays_ms = measure(W, N, args.repeats)
        print(f"{W:2d} {N:7d} | {lists_ms:8.2f} {arrays_ms:10.2f} {lists_ms / arrays_ms:13.1f}x")


if __name__ == "__main__":
    main()
