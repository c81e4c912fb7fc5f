"""The prompt cache: a run that reuses a cached prompt prefix is the run that computes it."""

import pytest
import torch

from hogwild_core import EngineConfig, HogwildEngine, PromptCache
from tests.drive import run_lockstep, script_ids

PROBLEM = "Alice has 3 apples and Bob has 2. How many apples do they have together?"
OTHER = "A train goes 60 km in 1.5 hours. What is its speed?"


def config(W, layout, **kw):
    return EngineConfig(num_workers=W, layout=layout, max_new_tokens=10, max_answer_tokens=3,
                        collect_logits=True, collect_attention=True, prefill_chunk=kw.pop("chunk", 512), **kw)


@pytest.mark.parametrize("arch, layout, W, chunk", [("llama", "combined", 3, 512), ("qwen2", "contiguous", 2, 7),
                                                     ("qwen3", "independent", 2, 512), ("mistral", "interleaved", 1, 64)])
def test_a_cached_prefix_gives_the_same_run(arch, layout, W, chunk, tiny_models, tokenizer):
    model = tiny_models(arch, 2)
    cache = PromptCache()
    plain = HogwildEngine(model, tokenizer, config(W, layout, chunk=chunk))
    first = HogwildEngine(model, tokenizer, config(W, layout, chunk=chunk), prompt_cache=cache)   # fills it
    for events in run_lockstep([plain, first], OTHER, script_ids(tokenizer)):
        assert torch.equal(events[0].logits.nan_to_num(), events[1].logits.nan_to_num())
    assert len(cache) == 1 and cache.misses == 1
    again = HogwildEngine(model, tokenizer, config(W, layout, chunk=chunk), prompt_cache=cache)   # reuses it
    fresh = HogwildEngine(model, tokenizer, config(W, layout, chunk=chunk))
    for ev_cached, ev_fresh in run_lockstep([again, fresh], PROBLEM, script_ids(tokenizer)):
        assert torch.equal(ev_cached.logits.nan_to_num(), ev_fresh.logits.nan_to_num()), ev_cached.pass_number
        assert torch.equal(ev_cached.attention, ev_fresh.attention)
    assert cache.hits == 1 and len(cache) == 1
    assert again.prompt_tokens() == fresh.prompt_tokens()
    assert [again.transcript(w) for w in range(W)] == [fresh.transcript(w) for w in range(W)]


def test_prefixes_differ_by_rules_and_the_oldest_is_evicted(tiny_models, tokenizer):
    model = tiny_models("llama", 1)
    cache = PromptCache(max_entries=2)
    for W, layout in ((2, "combined"), (3, "combined"), (2, "interleaved")):
        HogwildEngine(model, tokenizer, config(W, layout), prompt_cache=cache).start(PROBLEM)
    assert len(cache) == 2 and cache.misses == 3 and cache.nbytes() > 0
    HogwildEngine(model, tokenizer, config(2, "interleaved"), prompt_cache=cache).start(OTHER)
    assert cache.hits == 1
    HogwildEngine(model, tokenizer, config(2, "combined"), prompt_cache=cache).start(OTHER)   # evicted: computed
    assert cache.misses == 4


def test_a_fork_shares_the_cache_and_stored_prefixes_are_never_written(tiny_models, tokenizer):
    model = tiny_models("qwen2", 1)
    cache = PromptCache()
    engine = HogwildEngine(model, tokenizer, config(2, "combined"), prompt_cache=cache)
    engine.start(PROBLEM)
    (prefix, stored), = cache._entries.items()
    before = [k.clone() for k, _ in stored]
    assert engine.fork().prompt_cache is cache
    for _ in range(4):
        engine.run_pass()
    assert all(torch.equal(a, k) for a, (k, _) in zip(before, stored))
    with pytest.raises(ValueError):
        PromptCache(max_entries=0)
