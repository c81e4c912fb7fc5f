"""The benchmark's measurement functions, at tiny sizes on a tiny random model.

Structure only: timings are positive, the shared cache is smaller than W independent ones, the
baseline really holds W copies of a worker's view. No timed assertions."""

from contextlib import contextmanager

import pytest
import torch
from transformers import DynamicCache

from benchmarks.bench import (PARTS, BenchSettings, Case, format_profile, format_table, parse_args,
                                plain_decode_step, run_benchmark, summarize, view_kv)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models are dispatch-bound; with more threads than free cores every op can wait out an
    OpenMP barrier (20x slower on a busy machine). One thread keeps this file fast anywhere."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@contextmanager
def attention_kept(model):
    """The engine switches the shared session model to "hogwild"; switch it back afterwards."""
    before = model.config._attn_implementation
    try:
        yield model
    finally:
        model.set_attn_implementation(before)


def test_measurements_have_the_right_structure(tiny_models, tokenizer):
    model = tiny_models("llama", 2)
    before = model.config._attn_implementation
    settings = BenchSettings(workers=(1, 4), contexts=(48,), repeats=2, warmup=1, profile=True)
    results, profiles = run_benchmark(model, tokenizer, settings)
    assert model.config._attn_implementation == before
    assert [r.num_workers for r in results] == [1, 4]
    for r in results:
        for timing in (r.hogwild, r.baseline):
            assert 0 < timing.min_ms <= timing.median_ms <= timing.max_ms
        assert r.forward_ms > 0 and r.ratio > 0 and r.view_tokens > 0
        assert r.tokens_per_step == r.num_workers
        assert r.cache_bytes <= r.cache_allocated_bytes
        if r.num_workers > 1:
            assert r.cache_bytes < r.independent_bytes
            assert r.shared_part_bytes * r.num_workers <= r.shared_part_independent_bytes
    assert profiles and profiles[0].num_workers == 4
    profile = profiles[0]
    for parts in (profile.hogwild, profile.baseline):
        assert set(PARTS) <= set(parts) and parts["step (with hooks)"] > 0
    assert profile.hogwild_ops and profile.baseline_ops and profile.python
    text = format_table(results) + format_profile(profile) + summarize(results, settings)
    assert "targets:" in text and "W=4 tokens/step" in text


def test_baseline_cache_is_w_copies_of_the_view(tiny_models, tokenizer):
    with attention_kept(tiny_models("llama", 2)) as model:
        case = Case(model, tokenizer, num_workers=3, context=40, layout="combined", warmup=0)
        case.hogwild_step()
        n = case.view_length()
        cache, tokens, position = case.prepare_baseline()
        assert case.baseline_step((cache, tokens, position)) > 0
    assert position == n - 1 and tokens.shape == (3, 1)
    assert cache.get_seq_length() == n
    keys = cache.layers[0].keys                       # [W, Hkv, n, D]: W real copies, not a broadcast view
    assert keys.shape[0] == 3 and keys.stride(0) > 0 and torch.equal(keys[0], keys[2])


def test_view_kv_is_what_plain_decoding_computes_with_one_layer(tiny_models, tokenizer):
    """With one layer a token's keys/values ignore its context, so the re-rotated view equals the
    cache a plain forward over the view's tokens writes, and the baseline step sees that cache."""
    with attention_kept(tiny_models("llama", 1)) as model:
        case = Case(model, tokenizer, num_workers=2, context=40, layout="combined", warmup=0)
        case.hogwild_step()
        ids = case.engine.view_token_ids(0)
        plain = DynamicCache()
        with torch.no_grad():
            model(input_ids=torch.tensor([ids]), cache=plain, use_cache=True)
        (k, v), = view_kv(case.engine, 0)
        next_tokens = plain_decode_step(model, *case.prepare_baseline())
    assert torch.allclose(k, plain.layers[0].keys[0], atol=1e-4)
    assert torch.allclose(v, plain.layers[0].values[0], atol=1e-5)
    assert next_tokens.shape == (2,)


def test_cli_settings():
    settings, _ = parse_args(["--quick", "--workers", "2,4"])
    assert settings.workers == (2, 4) and settings.contexts == (256,) and settings.repeats == 3
    settings, args = parse_args(["--contexts", "64", "--json", "x.json", "--profile"])
    assert settings.workers == (1, 2, 4, 8) and settings.contexts == (64,) and settings.profile
    assert args.json == "x.json"
