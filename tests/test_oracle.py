"""The engine against oracles that share no code with it (tests/oracle.py).

* The naive Hogwild! oracle: both paths must give its logits at every pass, for multi-layer
  tiny models of every architecture, every layout, W from 1 to 8, across reasoning-step ends,
  history moves, inserted prompts, chunked prefill (1, 5, longer than the prompt) and the
  answer phase. The cases spread W, layouts and paths over the architectures instead of taking
  the whole cross product (CI time).
* The layout oracle: every worker's view token ids rebuilt from transcripts and history order.
* Both, with an external worker (a visitor) whose text arrives mid-run, in every layout.
* Two reasoning-step ends before one move into the history; storage identity.
"""

import pytest
import torch

from hogwild_core import EngineConfig, HogwildEngine, prompts
from hogwild_core.cache import SharedCache
from tests.drive import SCRIPT_TEXT, VISITOR_TEXTS
from tests.oracle import NaiveHogwild

PROBLEM = "Alice has 3 apples and Bob has 2. How many apples do they have together?"


def encode(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False)


def oracle_for(engine, model, tokenizer):
    """model None: the layout oracle."""
    cfg = engine.config
    headers = (encode(tokenizer, prompts.HEADER_OTHERS_TEXT), encode(tokenizer, prompts.HEADER_OWN_TEXT))
    return NaiveHogwild(model, cfg.layout, cfg.num_workers, list(engine.prompt_tokens()), headers, cfg.prefill_chunk,
                        external=tuple(range(cfg.num_model_workers, cfg.num_workers)), tokenizer=tokenizer)


def scripted_run(engine, script, max_passes=120, writes=None):
    """Start, then run passes with each worker taking the script's tokens in turn (offset per worker so
    that steps end at different passes); yields events. writes: pass -> text for the external
    workers, given before that pass while the run is in its work phase."""
    engine.start(PROBLEM)
    W = engine.config.num_workers
    taken = [2 * w for w in range(W)]
    passes = 0
    while not engine.done and max_passes:
        if writes and passes in writes and engine.phase == "work":
            for w in range(engine.config.num_model_workers, W):
                engine.write(w, writes[passes])
        passes += 1
        event = engine.run_pass(force=[script[taken[w] % len(script)] for w in range(W)])
        for w in range(W):
            taken[w] += event.tokens[w] is not None
        max_passes -= 1
        yield event
    assert engine.done


def ids_of(tokenizer, pieces):
    ids = [encode(tokenizer, piece) for piece in pieces]
    assert all(len(i) == 1 for i in ids), ids
    return [i[0] for i in ids]


def check_against_oracle(engine, model, tokenizer, script, writes=None):
    oracle, moved, phases = None, 0, set()
    for event in scripted_run(engine, script, writes=writes):
        oracle = oracle or oracle_for(engine, model, tokenizer)
        expected = oracle.follow(event)
        assert sorted(expected) == event.writers, event.pass_number
        for w, logits in expected.items():
            assert float((event.logits[w] - logits).abs().max()) < 1e-3, (event.pass_number, w)
            assert engine.view_token_ids(w) == oracle.view_ids(w), (event.pass_number, w)
        moved += len(event.flushed)
        phases.add(event.phase)
    assert phases == {"work", "answer"}
    return moved


CASES = [  # arch, layout, W, path, prefill_chunk
    ("llama", "combined", 8, "fast", 512),
    ("llama", "interleaved", 2, "reference", 1),
    ("qwen2", "interleaved", 5, "fast", 5),
    ("qwen2", "contiguous", 2, "reference", 512),
    ("qwen3", "combined", 3, "reference", 5),
    ("qwen3", "independent", 3, "fast", 1),
    ("mistral", "contiguous", 5, "fast", 5),
    ("mistral", "combined", 1, "fast", 512),
]


@pytest.mark.parametrize("arch, layout, W, path, chunk", CASES)
def test_engine_equals_the_naive_oracle(arch, layout, W, path, chunk, tiny_models, tokenizer):
    model = tiny_models(arch, 2)
    config = EngineConfig(num_workers=W, layout=layout, attention=path, prefill_chunk=chunk, max_new_tokens=14 + 24 // chunk,
                          max_answer_tokens=3, check_interval=5, collect_logits=True)
    moved = check_against_oracle(HogwildEngine(model, tokenizer, config), model, tokenizer,
                                 ids_of(tokenizer, SCRIPT_TEXT))
    if layout in ("interleaved", "combined"):
        assert moved >= W, "the script must move every worker's reasoning steps into the history"


# an external worker whose text arrives mid-run, in every layout: arch, layout, W, path, prefill_chunk
VISITOR_CASES = [
    ("qwen2", "combined", 3, "fast", 4),
    ("llama", "interleaved", 2, "reference", 512),
    ("mistral", "contiguous", 4, "fast", 512),
    ("qwen3", "independent", 2, "reference", 3),
    ("llama", "combined", 8, "reference", 512),
]


@pytest.mark.parametrize("arch, layout, W, path, chunk", VISITOR_CASES)
def test_an_external_worker_equals_the_naive_oracle(arch, layout, W, path, chunk, tiny_models, tokenizer):
    """The visitor's text is written at the next pass (in chunks), ends steps by the oracle's own
    reading of the paragraph rule, moves into the history and is read by the model workers."""
    model = tiny_models(arch, 2)
    config = EngineConfig(num_workers=W, layout=layout, attention=path, prefill_chunk=chunk, max_new_tokens=22,
                          max_answer_tokens=3, check_interval=5, collect_logits=True, external_workers=("You",))
    engine = HogwildEngine(model, tokenizer, config)
    check_against_oracle(engine, model, tokenizer, ids_of(tokenizer, SCRIPT_TEXT), writes=VISITOR_TEXTS)
    you = W - 1
    mine = [b for b in engine.blocks if b.owner == you]
    texts = [engine.decode(engine.block_tokens(b.id)) for b in mine]
    assert "".join(texts) == engine.worker_text(you)
    assert engine.worker_text(you).startswith("**You [1]:** I take part (c).\n\n")
    if layout in ("interleaved", "combined"):
        assert [b.kind for b in mine] == ["step", "step", "step", "current"], texts
        assert texts[1] == "**You [2]:** Alice, check Bob's (b).\n\n"
        assert texts[2].startswith("**You [3]:** hi there\n\nDone:")


@pytest.mark.parametrize("path", ["fast", "reference"])
def test_two_step_ends_before_one_move(path, tiny_models, tokenizer, monkeypatch):
    """A label that ends a sentence lets the very next token ("\\n\\n") end another step before
    the first one has moved into the history: each must move on its own, in order."""
    monkeypatch.setattr(prompts, "step_prefix", lambda name, k: f"{name}, step {k}.")
    model = tiny_models("llama", 2)
    config = EngineConfig(num_workers=2, layout="combined", attention=path, max_new_tokens=16,
                          max_answer_tokens=2, collect_logits=True)
    engine = HogwildEngine(model, tokenizer, config)
    script = ids_of(tokenizer, SCRIPT_TEXT + ["\n\n"])
    assert check_against_oracle(engine, model, tokenizer, script) >= 4
    history = [b for b in engine.blocks if b.kind == "step"]
    texts = [engine.decode(engine.block_tokens(b.id)) for b in history]
    assert any(text.endswith("step 2.\n\n") for text in texts), texts


@pytest.mark.parametrize("layout", ["contiguous", "interleaved", "combined", "independent"])
def test_views_equal_the_layout_oracle(layout, tiny_models, tokenizer):
    """Each writer's view token ids, rebuilt from transcripts and the history's order, at every
    pass, for W = 1..8 (bookkeeping only: no oracle forward)."""
    model = tiny_models("llama", 1)
    script = ids_of(tokenizer, SCRIPT_TEXT)
    cases = [(W, ()) for W in range(1, 9)] + [(W, ("You",)) for W in range(2, 9)]
    for W, external in cases:
        config = EngineConfig(num_workers=W, layout=layout, max_new_tokens=12, max_answer_tokens=2,
                              check_interval=4, prefill_chunk=3 if W % 2 else 512, external_workers=external)
        engine, oracle = HogwildEngine(model, tokenizer, config), None
        for event in scripted_run(engine, script, writes=VISITOR_TEXTS if external else None):
            oracle = oracle or oracle_for(engine, None, tokenizer)
            for w in oracle.follow(event):
                assert engine.view_token_ids(w) == oracle.view_ids(w), (W, event.pass_number, w)
            assert [engine.transcript(w).tokens for w in range(W)] == [tuple(t) for t in oracle.transcripts]


@pytest.mark.parametrize("path", ["fast", "reference"])
def test_every_reader_of_a_segment_reads_the_same_memory(path, tiny_models, tokenizer, monkeypatch):
    """Storage identity: within a pass, every read of a segment (whichever worker) is a view of
    one tensor, never a copy."""
    reads: dict[tuple[int, str], list] = {}
    real_read = SharedCache.read

    def read(self, layer, segment, length):
        k, v = real_read(self, layer, segment, length)
        reads.setdefault((layer, segment), []).append((k.untyped_storage().data_ptr(),
                                                      v.untyped_storage().data_ptr()))
        return k, v

    monkeypatch.setattr(SharedCache, "read", read)
    engine = HogwildEngine(tiny_models("qwen2", 2), tokenizer,
                           EngineConfig(num_workers=3, layout="combined", attention=path, max_new_tokens=4))
    engine.start(PROBLEM)
    for _ in range(3):
        reads.clear()
        engine.run_pass()
        assert reads and all(len(set(pointers)) == 1 for pointers in reads.values())
        expected_readers = 3 if path == "reference" else 1     # the fast path reads once for all
        assert len(reads[(0, "prompt")]) == expected_readers
