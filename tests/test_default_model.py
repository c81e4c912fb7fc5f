"""The same exactness contract on the real embedded model (SmolLM2-135M-Instruct, 30 layers)."""

import subprocess
import sys

import pytest
import torch

from hogwild_core import EngineConfig, HogwildEngine
from tests.drive import max_abs_diff, run_lockstep, script_ids
from tests.test_exactness import PROBLEM, per_block, plain_eager, plain_last

pytestmark = pytest.mark.slow


# The full layout x W matrix runs on tiny models (test_exactness); here one W per layout.
@pytest.mark.parametrize("layout, W", [("contiguous", 3), ("interleaved", 2), ("combined", 4)])
def test_fast_equals_reference_on_the_default_model(layout, W, default_model):
    model, tokenizer = default_model
    config = dict(num_workers=W, layout=layout, max_new_tokens=14, max_answer_tokens=2,
                  check_interval=9, collect_attention=True, collect_logits=True)
    fast = HogwildEngine(model, tokenizer, EngineConfig(attention="fast", **config))
    ref = HogwildEngine(model, tokenizer, EngineConfig(attention="reference", **config))
    for ev_fast, ev_ref in run_lockstep([fast, ref], PROBLEM, script_ids(tokenizer)):
        assert max_abs_diff(ev_fast.logits, ev_ref.logits) < 1e-3, ev_fast.pass_number
        assert float((ev_fast.attention_by_layer - ev_ref.attention_by_layer).abs().max()) < 1e-4


@pytest.mark.parametrize("attention", ["fast", "reference"])
def test_single_worker_contiguous_equals_plain_forward(attention, default_model):
    model, tokenizer = default_model
    plain = plain_eager(model)
    engine = HogwildEngine(model, tokenizer, EngineConfig(num_workers=1, layout="contiguous",
                                                          attention=attention, max_new_tokens=12,
                                                          max_answer_tokens=2, collect_attention=True,
                                                          collect_logits=True))
    engine.start(PROBLEM)
    while not engine.done:
        ev = engine.run_pass()   # the model's own greedy tokens
        logits, probs = plain_last(plain, engine.view_token_ids(0))
        assert float((ev.logits[0] - logits).abs().max()) < 1e-3, ev.pass_number
        assert int(ev.logits[0].argmax()) == int(logits.argmax())
        expected = per_block(probs, engine.view_blocks(0), ev.attention.shape[-1])
        assert float((ev.attention_by_layer[:, 0] - expected).abs().max()) < 1e-4


def test_cli_streams_workers_and_prints_the_answer():
    result = subprocess.run(
        [sys.executable, "-m", "hogwild_core", "What is 2 + 3?", "--workers", "2", "--max-new-tokens", "12"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Alice |" in result.stdout and "Bob |" in result.stdout
    assert "Final answer:" in result.stdout
    assert "\033[" not in result.stdout  # no colour codes when not on a terminal


@pytest.mark.parametrize("args, message", [
    (["x", "--workers", "100"], "num_workers"),
    (["  ", "--workers", "2"], "empty"),
    (["x", "--model", "/no/such/dir"], "does not exist"),
])
def test_cli_bad_input_exits_nonzero_with_a_message(args, message):
    result = subprocess.run([sys.executable, "-m", "hogwild_core", *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
