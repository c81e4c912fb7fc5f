"""benchmarks/cpu_time.py on a tiny model: both clocks, every method, ABBA; no timed assertions."""

import random

import torch

from benchmarks.cpu_time import METHODS, line, measure
from benchmarks.passes import Case


def test_both_clocks_time_every_method(tiny_models, tokenizer):
    model = tiny_models("llama", 2)
    before = (model.config._attn_implementation, torch.get_num_threads())
    torch.set_num_threads(1)
    try:
        case = Case(model, tokenizer, 2, 48)
        medians = measure(case, 1, random.Random(0))
    finally:
        model.set_attn_implementation(before[0])
        torch.set_num_threads(before[1])
    assert set(medians) == {"wall", "cpu"}
    for clock in medians.values():
        assert set(clock) == set(METHODS) and all(ms > 0 for ms in clock.values())
    text = line(2, 48, case.view_length(), medians)
    assert text.startswith("W=2 ctx=48") and text.count("/dyn") == 2
