"""Exactness, as the engine contract defines it.

1. The fast path (query rotation over stored segments) equals the reference path (stock
   attention over a DynamicCache assembled in view order): logits within 1e-3, attention mass
   per block within 1e-4, for every layout, W = 1..8 and architecture, across step ends,
   history flushes, inserted prompts and the answer phase.
2. Where the semantics coincide, both equal a plain from-scratch forward over the worker's
   view: with a one-layer model always, and with W=1 in the contiguous layout for any model.

Against a naive oracle that shares no code with the engine, see test_oracle.py. To keep CI
short, W takes a spread of values across the (architecture, layout) cases rather than every
value in every case."""

import copy

import pytest
import torch

from hogwild_core import EngineConfig, HogwildEngine
from tests.conftest import ARCHITECTURES
from tests.drive import VISITOR_TEXTS, max_abs_diff, run_lockstep, script_ids

PROBLEM = "Alice has 3 apples and Bob has 2. How many apples do they have together?"
LAYOUTS = ("contiguous", "interleaved", "combined", "independent")
SPREAD = (1, 2, 3, 5, 8)
FAST_VS_REFERENCE = [(arch, layout, SPREAD[(i + j) % len(SPREAD)], SPREAD[(i + j + 2) % len(SPREAD)])
                     for i, arch in enumerate(ARCHITECTURES) for j, layout in enumerate(LAYOUTS)]
ONE_LAYER = [(ARCHITECTURES[(i + j) % 4], layout, attention, SPREAD[(2 * i + j) % len(SPREAD)])
             for i, layout in enumerate(LAYOUTS) for j, attention in enumerate(("fast", "reference"))]


def make_config(W, layout, attention, **overrides):
    settings = dict(num_workers=W, layout=layout, attention=attention, max_new_tokens=18,
                    max_answer_tokens=3, check_interval=7, collect_attention=True,
                    collect_logits=True)
    settings.update(overrides)
    return EngineConfig(**settings)


def plain_eager(model):
    """The same weights with transformers' stock eager attention, outside the engine."""
    plain = copy.deepcopy(model)
    plain.set_attn_implementation("eager")
    return plain


def plain_last(plain, ids):
    """Last-position logits [V] and head-mean attention probabilities per layer [L, n]."""
    with torch.no_grad():
        out = plain(input_ids=torch.tensor([ids]), output_attentions=True, logits_to_keep=1)
    probs = torch.stack([a[0, :, -1, :].mean(0) for a in out.attentions])
    return out.logits[0, -1].float(), probs


def per_block(probs, spans, num_blocks):
    """[L, n] probabilities -> [L, num_blocks] summed over each block's span of the view."""
    mass = torch.zeros(probs.shape[0], num_blocks)
    for block_id, start, length in spans:
        mass[:, block_id] = probs[:, start:start + length].sum(-1)
    return mass


@pytest.mark.parametrize("arch, layout, W1, W2", FAST_VS_REFERENCE)
def test_fast_path_equals_reference(arch, layout, W1, W2, tiny_models, tokenizer):
    model = tiny_models(arch, 2)
    script = script_ids(tokenizer)
    for W in (W1, W2):
        fast = HogwildEngine(model, tokenizer, make_config(W, layout, "fast"))
        ref = HogwildEngine(model, tokenizer, make_config(W, layout, "reference"))
        flushes = 0
        for ev_fast, ev_ref in run_lockstep([fast, ref], PROBLEM, script):
            assert max_abs_diff(ev_fast.logits, ev_ref.logits) < 1e-3, (W, ev_fast.pass_number)
            assert ev_fast.attention.shape == ev_ref.attention.shape
            assert float((ev_fast.attention_by_layer - ev_ref.attention_by_layer).abs().max()) < 1e-4
            assert ev_fast.flushed == ev_ref.flushed
            flushes += len(ev_fast.flushed)
            for w in range(W):
                assert fast.view_token_ids(w) == ref.view_token_ids(w)
                assert fast.view_blocks(w) == ref.view_blocks(w)
        assert fast.transcript(0) == ref.transcript(0)
        if layout in ("interleaved", "combined"):
            assert flushes >= W, "the script must drive every worker's step into the history"


# an external worker (the last one) whose text arrives mid-run: (arch, layout, W, prefill chunk)
WITH_VISITOR = [("qwen2", "contiguous", 2, 512), ("llama", "interleaved", 3, 5), ("mistral", "combined", 5, 3),
                ("qwen3", "independent", 4, 512), ("llama", "combined", 8, 1)]


@pytest.mark.parametrize("arch, layout, W, chunk", WITH_VISITOR)
def test_fast_path_equals_reference_with_an_external_worker(arch, layout, W, chunk, tiny_models, tokenizer):
    model = tiny_models(arch, 2)
    settings = dict(external_workers=("You",), prefill_chunk=chunk, max_new_tokens=24)
    fast = HogwildEngine(model, tokenizer, make_config(W, layout, "fast", **settings))
    ref = HogwildEngine(model, tokenizer, make_config(W, layout, "reference", **settings))
    you, wrote, moved = W - 1, 0, []
    for ev_fast, ev_ref in run_lockstep([fast, ref], PROBLEM, script_ids(tokenizer), writes=VISITOR_TEXTS):
        assert max_abs_diff(ev_fast.logits, ev_ref.logits) < 1e-3, ev_fast.pass_number
        assert float((ev_fast.attention_by_layer - ev_ref.attention_by_layer).abs().max()) < 1e-4
        assert ev_fast.flushed == ev_ref.flushed and ev_fast.writers == ev_ref.writers
        assert ev_fast.tokens[you] is None
        wrote += you in ev_fast.writers
        moved += [b for b in ev_fast.flushed if ev_fast.blocks[b].owner == you]
        for w in range(W):
            assert fast.view_token_ids(w) == ref.view_token_ids(w)
            assert fast.view_blocks(w) == ref.view_blocks(w)
    assert fast.transcript(you) == ref.transcript(you) and fast.transcript(you).external
    assert wrote >= 3, "the visitor's text must be written in several passes"
    if layout in ("interleaved", "combined"):
        assert len(moved) >= 2, "the visitor's finished steps must move into the history"


@pytest.mark.parametrize("arch, layout, attention, W", ONE_LAYER)
def test_one_layer_equals_plain_forward(arch, layout, attention, W, tiny_models, tokenizer):
    """With one layer a token's keys/values do not depend on its context, so every pass's logits
    and attention must be those of a plain forward over the worker's view."""
    model = tiny_models(arch, 1)
    plain = plain_eager(model)
    script = script_ids(tokenizer)
    engine = HogwildEngine(model, tokenizer, make_config(W, layout, attention))
    for (ev,) in run_lockstep([engine], PROBLEM, script):
        assert ev.writers, "every pass runs at least one worker"
        assert ev.writers == [w for w in range(W) if not torch.isnan(ev.logits[w]).any()]
        for w in ev.writers:
            logits, probs = plain_last(plain, engine.view_token_ids(w))
            assert float((ev.logits[w] - logits).abs().max()) < 1e-3, (W, ev.pass_number, w)
            expected = per_block(probs, engine.view_blocks(w), ev.attention.shape[-1])
            assert float((ev.attention_by_layer[:, w] - expected).abs().max()) < 1e-4
            assert abs(float(ev.attention[w].sum()) - 1.0) < 1e-4


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("attention", ("fast", "reference"))
def test_single_worker_contiguous_is_plain_decoding(arch, attention, tiny_models, tokenizer):
    """W=1, contiguous: the view is the whole sequence, so any depth must match a plain forward."""
    model = tiny_models(arch, 3)
    plain = plain_eager(model)
    engine = HogwildEngine(model, tokenizer, make_config(1, "contiguous", attention, max_new_tokens=24))
    for (ev,) in run_lockstep([engine], PROBLEM, script_ids(tokenizer)):
        logits, probs = plain_last(plain, engine.view_token_ids(0))
        assert float((ev.logits[0] - logits).abs().max()) < 1e-3, ev.pass_number
        expected = per_block(probs, engine.view_blocks(0), ev.attention.shape[-1])
        assert float((ev.attention_by_layer[:, 0] - expected).abs().max()) < 1e-4


def test_wrong_rotation_is_detected(tiny_models, tokenizer, monkeypatch):
    """The comparison above can fail: shifting the fast path's rotations by one position breaks it
    (in both of its kernels, segments and fused)."""
    import hogwild_core.attention as attention
    import hogwild_core.fused as fused

    model = tiny_models("llama", 1)
    plain = plain_eager(model)
    real_rotation = attention.rotation
    for module in (attention, fused):
        monkeypatch.setattr(module, "rotation", lambda deltas, inv: real_rotation(deltas + 1, inv))
    engine = HogwildEngine(model, tokenizer, make_config(2, "combined", "fast"))
    worst = 0.0
    for (ev,) in run_lockstep([engine], PROBLEM, script_ids(tokenizer)):
        logits, _ = plain_last(plain, engine.view_token_ids(1))
        if not torch.isnan(ev.logits[1]).any():
            worst = max(worst, float((ev.logits[1] - logits).abs().max()))
    assert worst > 1e-2
