"""Benchmarks of Hogwild! Inference, outside the core package: they use its public API only.

    python -m benchmarks                 # forced-pass grid, whole runs, profile of the worst miss
    python -m benchmarks --quick         # a smoke run in about a minute

Modules: baselines (plain decoders and the floor), passes (forced one-token passes, ABBA order,
cache memory), runs (whole runs and peak process memory), profiling, report, cli."""
