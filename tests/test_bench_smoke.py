"""The benchmark's measurement functions, at tiny sizes on tiny random models.

Structure and correctness of what is timed (the baselines are real decoders of the same cache,
the order is ABBA, the memory figures come from real caches, verdicts follow the numbers); no
timed assertions."""

import random
from contextlib import contextmanager

import pytest
import torch
from transformers import DynamicCache

from benchmarks import report
from benchmarks.baselines import LinearFloor, decode_pass, dynamic_copies, refill, static_copies, stock_attention
from benchmarks.cli import BenchSettings, benchmark, parse_args
from benchmarks.profiling import PARTS
from benchmarks.runs import sample_top_p
from benchmarks.passes import (METHODS, Case, PassResult, Timing, abba_order, cache_tensor_bytes,
                              independent_decoders)
from hogwild_core import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")


@contextmanager
def attention_kept(model):
    """The engine switches the shared session model to "hogwild"; switch it back afterwards."""
    before = model.config._attn_implementation
    try:
        yield model
    finally:
        model.set_attn_implementation(before)


def test_abba_order_reverses_each_random_round():
    order = abba_order(METHODS, 5, random.Random(1))
    assert len(order) == 5 * 2 * len(METHODS)
    k = len(METHODS)
    rounds = [order[i:i + 2 * k] for i in range(0, len(order), 2 * k)]
    for r in rounds:
        assert r[:k] == r[k:][::-1] and sorted(r[:k]) == sorted(METHODS)
    assert len({tuple(r[:k]) for r in rounds}) > 1          # drawn, not fixed
    assert abba_order(METHODS, 5, random.Random(1)) == order  # seeded


def test_whole_benchmark_has_the_right_structure(tiny_models, tokenizer):
    model = tiny_models("llama", 2)
    before = model.config._attn_implementation
    settings = BenchSettings(workers=(1, 4), contexts=(48,), rounds=1, warmup=1, run_budget=6, profile=True)
    passes, runs, profiles, verdicts = benchmark(model, tokenizer, settings, log=None)
    assert model.config._attn_implementation == before
    assert [r.num_workers for r in passes] == [1, 4] and [r.num_workers for r in runs] == [1, 4]
    for r in passes:
        assert sorted(r.order) == sorted(METHODS * 2)
        for method in METHODS:
            t = r.timings[method]
            assert t.n == 2 and 0 < t.min_ms <= t.median_ms <= t.max_ms
        assert r.view_tokens > 0 and r.cache_used_bytes <= r.cache_allocated_bytes
        assert r.independent_bytes > 0 and r.same_prompt_bytes > 0
    for r in runs:
        assert r.work_passes >= 2 and r.ttft_ms > 0 and r.mean_pass_ms > 0 and r.wall_s > 0
        assert set(r.plain) == {"dynamic", "static"}
        assert all(p.mean_pass_ms > 0 for p in r.plain.values())
    profile, = profiles
    for parts in (profile.hogwild, profile.baseline):
        assert set(PARTS) <= set(parts) and parts["pass (with hooks)"] > 0
    text = report.pass_table(passes) + report.run_table(runs) + report.profile_text(profile)
    assert "hogwild ms" in text and len(verdicts) == 7


def test_dynamic_baseline_holds_w_real_copies_of_the_view(tiny_models, tokenizer):
    with attention_kept(tiny_models("llama", 2)) as model:
        case = Case(model, tokenizer, num_workers=3, context=40, layout="combined", warmup=0)
        case.hogwild()
        n = case.view_length()
        kv = case.engine.view_kv(0)
        cache = dynamic_copies([(k[:, :n - 1], v[:, :n - 1]) for k, v in kv], 3)
    assert cache.get_seq_length() == n - 1
    keys = cache.layers[0].keys                       # [W, Hkv, n, D]: W real copies, not a broadcast view
    assert keys.shape[0] == 3 and keys.stride(0) > 0 and torch.equal(keys[0], keys[2])


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_static_and_dynamic_baselines_decode_the_same(tiny_models, tokenizer, arch):
    """Both baselines are real decoders: from the same past they produce the same logits as a
    from-scratch forward over the whole sequence."""
    model = tiny_models(arch, 2)
    ids = torch.randint(0, 200, (1, 12))
    with torch.no_grad(), stock_attention(model):
        full = model(input_ids=ids).logits[0, -1]
        past = model(input_ids=ids[:, :-1], use_cache=True).past_key_values
        kv = [(layer.keys[0], layer.values[0]) for layer in past.layers]
        token = ids[:, -1:].expand(2, 1)
        for cache in (dynamic_copies(kv, 2), static_copies(model, kv, 2)):
            out = model(input_ids=token, position_ids=torch.full((2, 1), 11), cache=cache, use_cache=True,
                        attention_mask=None if not isinstance(cache, DynamicCache) else torch.ones(2, 12,
                                                                                                 dtype=torch.long))
            assert torch.allclose(out.logits[0, -1], full, atol=1e-4)
            assert torch.allclose(out.logits[1, -1], full, atol=1e-4)
        for build in (lambda: dynamic_copies(kv, 2), lambda: static_copies(model, kv, 2)):
            assert torch.equal(decode_pass(model, build(), token, 11), full.argmax().expand(2))
        # a StaticCache with room to spare, used, then refilled in place, decodes the same again
        roomy = static_copies(model, kv, 2, free=6)
        for _ in range(3):
            out = model(input_ids=token, position_ids=torch.full((2, 1), 11), cache=roomy, use_cache=True)
            assert torch.allclose(out.logits[1, -1], full, atol=1e-4)
            refill(roomy, kv)


def test_view_kv_is_what_plain_decoding_computes_with_one_layer(tiny_models, tokenizer):
    """With one layer a token's keys/values ignore its context, so the re-rotated view equals the
    cache a plain forward over the view's tokens writes."""
    with attention_kept(tiny_models("llama", 1)) as model:
        case = Case(model, tokenizer, num_workers=2, context=40, layout="combined", warmup=0)
        case.hogwild()
        ids = case.engine.view_token_ids(0)
        plain = DynamicCache()
        with torch.no_grad():
            model(input_ids=torch.tensor([ids]), cache=plain, use_cache=True)
        (k, v), = case.engine.view_kv(0)
        next_tokens = case.prepare("static")()
    assert torch.allclose(k, plain.layers[0].keys[0], atol=1e-4)
    assert torch.allclose(v, plain.layers[0].values[0], atol=1e-5)
    assert next_tokens.shape == (2,)


def test_independent_decoders_hold_prompt_and_own_tokens(tiny_models):
    model = tiny_models("llama", 2)
    cache = independent_decoders(model, list(range(5, 25)), num_rows=3, own_tokens=4, token=7)
    assert cache.get_seq_length() == 24
    keys = cache.layers[0].keys
    assert keys.shape[0] == 3 and keys.shape[2] == 24
    per_layer = 2 * keys.numel() * keys.element_size()
    assert cache_tensor_bytes(cache) == per_layer * len(cache.layers)


def test_linear_floor_runs_every_linear_once(tiny_models):
    model = tiny_models("llama", 2)
    floor = LinearFloor(model, 4)
    calls = []
    handles = [layer.register_forward_hook(lambda m, a, o: calls.append((m, o.shape))) for layer in floor.layers]
    try:
        floor()
    finally:
        for h in handles:
            h.remove()
    assert len(calls) == len(floor.layers) == 2 * 7 + 1      # q k v o gate up down per layer, lm_head
    assert all(shape[:2] == (4, 1) for _, shape in calls)


def test_top_p_sampling_keeps_the_nucleus():
    logits = torch.tensor([[5.0, 4.0, -5.0, -6.0]] * 3)
    g = torch.Generator().manual_seed(0)
    picks = {int(t) for _ in range(40) for t in sample_top_p(logits, 1.0, 0.9, g)}
    assert picks <= {0, 1} and 0 in picks
    assert set(sample_top_p(logits, 1.0, 1e-6, g).tolist()) == {0}


def _result(W, context, hogwild, dynamic, static, floor, alloc=1, indep=2, same=2) -> PassResult:
    t = lambda ms: Timing(ms, ms, ms, 1)
    return PassResult(W, context, context, {"hogwild": t(hogwild), "dynamic": t(dynamic), "static": t(static),
                                            "floor": t(floor)}, [], alloc, alloc, indep, 0, same, 0)


def test_verdicts_follow_the_numbers():
    good = [_result(8, 256, 100, 110, 95, 80), _result(4, 4096, 100, 200, 130, 50)]
    lines = [v.line() for v in report.verdicts(good, [])]
    assert all(line.startswith("met") for line in lines), lines
    bad = [_result(8, 256, 100, 90, 80, 70, alloc=3), _result(4, 4096, 100, 200, 110, 50)]
    verdicts = {v.target.split(" <=")[0] + v.target[-12:]: v for v in report.verdicts(bad, [])}
    missed = [v for v in verdicts.values() if not v.met]
    assert len(missed) == 6
    forced = next(v for v in missed if v.target.startswith("forced pass <= 1.00x"))
    assert "W=8/256 1.11x" in forced.detail and "11% over" in forced.detail
    assert any("saving W=8/256 -50%" in v.detail for v in missed)


def test_cli_settings():
    settings, _ = parse_args(["--quick", "--workers", "2,4"])
    assert settings.workers == (2, 4) and settings.contexts == (256,) and settings.rounds == 2
    settings, args = parse_args(["--contexts", "64", "--json", "x.json", "--profile", "--no-runs"])
    assert settings.workers == (1, 2, 4, 8) and settings.contexts == (64,) and settings.profile
    assert settings.run_budget == 0 and args.json == "x.json"
    with pytest.raises(ConfigError):
        BenchSettings(workers=(0,))
    with pytest.raises(ConfigError):
        BenchSettings(rounds=0)
