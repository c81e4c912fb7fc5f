"""Benchmarks of Hogwild! Inference, outside the core package: they use its public API only.

    python -m benchmarks --quick --threads 1
"""
