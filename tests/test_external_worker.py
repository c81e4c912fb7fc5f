"""An external worker (a person, a script) on tiny random models: it is one of the W workers,
its text joins at the next pass in chunks, it is idle and absent from passes when it has nothing
to write, never sampled, never the final answer's writer, its paragraphs end steps by the model
workers' rule and move into the history, and the model workers read it. Bad calls fail with a
typed error. (Exactness against the reference path and the oracle: test_exactness.py, test_oracle.py.)"""

import pytest

from hogwild_core import ConfigError, EngineConfig, EngineStateError, HogwildEngine, PromptError, prompts
from tests.drive import forced_tokens, script_ids

PROBLEM = "Compute (a) 2 + 3, (b) 4 + 5 and (c) 6 + 7."
YOU = ("You",)


def engine_for(tiny_models, tokenizer, **settings):
    base = dict(num_workers=3, layout="combined", max_new_tokens=30, max_answer_tokens=3, external_workers=YOU,
                collect_attention=True)
    return HogwildEngine(tiny_models("llama", 2), tokenizer, EngineConfig(**{**base, **settings}))


def run_scripted(engine, tokenizer, passes: int):
    script, events = script_ids(tokenizer), []
    for _ in range(passes):
        if engine.done:
            break
        events.append(engine.run_pass(force=forced_tokens(script, engine.num_passes, engine.config.num_workers)))
    return events


def test_an_idle_external_worker_is_in_no_pass_and_is_never_sampled(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer)
    engine.start(PROBLEM)
    assert engine.worker_names == ("Alice", "Bob", "You")
    assert engine.transcript(2).tokens == () and engine.transcript(2).external
    events = run_scripted(engine, tokenizer, 6)
    for event in events:
        assert event.writers == [0, 1] and event.tokens[2] is None and event.pieces[2] == []
        assert not any(event.attention[2]), "an idle worker runs no forward"
    blocks = [b for b in engine.blocks if b.owner == 2]
    assert [(b.kind, b.length) for b in blocks] == [("current", 0)]


def test_text_is_written_at_the_next_pass_in_chunks_and_ends_steps(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer, prefill_chunk=4)
    engine.start(PROBLEM)
    run_scripted(engine, tokenizer, 2)
    engine.write(2, "I take part (c).\n\n\nAlice, check Bob's (b).")
    pending = len(engine.transcript(2).tokens)
    first = engine.run_pass()
    assert 2 in first.writers and first.tokens[2] is None
    assert first.text(2) == "**You [1]:** I take part (c).\n\n**You [2]:** Alice, check Bob's (b).\n\n"
    assert [p.inserted for p in first.pieces[2]] == [True, False, True, False]
    passes = 1 + sum(2 in e.writers for e in run_scripted(engine, tokenizer, 20))
    assert passes == -(-pending // 4), "several tokens per pass, as the prefill chunk allows"
    steps = [b for b in engine.blocks if b.owner == 2 and b.kind == "step"]
    assert [engine.decode(engine.block_tokens(b.id)) for b in steps] == [
        "**You [1]:** I take part (c).\n\n", "**You [2]:** Alice, check Bob's (b).\n\n"]
    history = engine.view_blocks(0)
    assert all(any(block_id == b.id for block_id, _, _ in history) for b in steps), "Alice's view holds them"


def test_model_workers_attend_to_the_visitors_block(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer)
    engine.start(PROBLEM)
    run_scripted(engine, tokenizer, 2)
    engine.write(2, "The sum of part (c) is 13.")
    events = run_scripted(engine, tokenizer, 3)
    block = next(b.id for b in engine.blocks if b.owner == 2 and b.length)
    later = events[-1]
    assert later.writers[:2] == [0, 1] and all(later.attention[w][block] > 0 for w in (0, 1))


def test_a_paragraph_without_a_sentence_end_stays_in_the_step(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer, layout="interleaved")
    engine.start(PROBLEM)
    engine.write(2, "hi there")
    run_scripted(engine, tokenizer, 3)
    assert [b.kind for b in engine.blocks if b.owner == 2] == ["current"]
    engine.write(2, "It is 13.")
    run_scripted(engine, tokenizer, 3)
    mine = [b for b in engine.blocks if b.owner == 2]
    assert [b.kind for b in mine] == ["step", "current"]
    assert engine.decode(engine.block_tokens(mine[0].id)) == "**You [1]:** hi there\n\nIt is 13.\n\n"


def test_contiguous_text_has_one_label_and_no_history(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer, layout="contiguous", num_workers=2)
    engine.start(PROBLEM)
    engine.write(1, "First.\n\nSecond.")
    run_scripted(engine, tokenizer, 2)
    assert engine.worker_text(1) == "**You [1]:** First.\n\nSecond.\n\n"
    owners = [engine.blocks[block_id].owner for block_id, _, _ in engine.view_blocks(0)]
    assert owners == [None, 1, 0], "Alice reads the prompt, the visitor's text, then her own"
    assert [b.kind for b in engine.blocks if b.owner == 1] == ["current"]


def test_the_visitor_never_writes_the_final_answer(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer, max_new_tokens=6)
    engine.start(PROBLEM)
    engine.write(2, "The answer is \\boxed{99}.")
    events = run_scripted(engine, tokenizer, 40)
    assert engine.done and engine.answer_from.keys() == {0}
    assert engine.answers[2] is None and "99" not in (engine.answer or "")
    assert all(e.tokens[2] is None for e in events)
    with pytest.raises(EngineStateError):
        engine.write(2, "too late")


def test_bad_calls_fail_with_a_reason(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer, max_new_tokens=3)
    with pytest.raises(EngineStateError, match="start"):
        engine.write(2, "hello.")
    engine.start(PROBLEM)
    with pytest.raises(ConfigError, match="model worker"):
        engine.write(0, "hello.")
    for w in (3, -1, True, "2"):
        with pytest.raises(ConfigError, match="index"):
            engine.write(w, "hello.")
    for text in ("", "  \n\n \t", None, 3):
        with pytest.raises(PromptError, match="empty"):
            engine.write(2, text)
    with pytest.raises(PromptError, match="fit"):
        engine.write(2, "word " * 5000)
    with pytest.raises(ConfigError, match="external"):
        engine.finish([2])
    run_scripted(engine, tokenizer, 4)
    assert engine.phase == "answer"
    with pytest.raises(EngineStateError, match="final answer"):
        engine.write(2, "hello.")


@pytest.mark.parametrize("names, W, match", [
    (("You", "Me", "Them"), 3, "model worker"), (["You"], 3, "tuple"), (("Alice",), 3, "own name"),
    (("**You",), 3, "letters"), (("",), 2, "letters"), ((" You",), 2, "letters"), (("x" * 25,), 2, "letters"),
    (("You", "You"), 4, "own name"), (("You",), 1, "model worker")])
def test_bad_external_names_are_refused(names, W, match):
    with pytest.raises(ConfigError, match=match):
        EngineConfig(num_workers=W, external_workers=names)


def test_the_prompt_tells_the_model_workers_and_splits_the_work_among_them(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer)
    engine.start(PROBLEM)
    prompt = engine.decode(engine.prompt_tokens())
    assert prompts.external_worker_note(YOU, "combined").strip() in prompt
    assert "You are Alice and Bob: 2 assistants" in prompt
    assert [engine.worker_text(w) for w in range(3)] == [prompts.worker_opener(0, 2), prompts.worker_opener(1, 2), ""]
    planned = engine_for(tiny_models, tokenizer, split="planned")     # our split: among the model workers
    planned.start(PROBLEM)
    assert "Alice: part (a) and part (c). Bob: part (b)." in planned.decode(planned.prompt_tokens())
    assert planned.worker_text(0).startswith("**Alice [1]:** For part (a),")
    assert planned.worker_text(1).startswith("**Bob [1]:** For part (b),")
    plain = HogwildEngine(engine.model, tokenizer, EngineConfig(num_workers=2, layout="combined"))
    plain.start(PROBLEM)
    assert "A person may join" not in plain.decode(plain.prompt_tokens())
    assert prompts.external_worker_note(YOU, "independent") == ""


def test_model_workers_may_not_write_the_visitors_label(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer)
    engine.start(PROBLEM)
    bold = tokenizer.encode(" **", add_special_tokens=False)
    you = tokenizer.encode(" **You", add_special_tokens=False)[len(bold):]
    worker = engine.workers[0]
    worker.transcript.extend(bold)
    assert you[0] in engine._banned(worker)


def test_a_fork_keeps_the_visitor(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer)
    engine.start(PROBLEM)
    engine.write(2, "It is 13.")
    branch = engine.fork()
    run_scripted(branch, tokenizer, 2)
    assert branch.worker_text(2) == engine.worker_text(2) == "**You [1]:** It is 13.\n\n"
    assert engine.workers[2].num_written == 0 and branch.workers[2].num_written > 0


def test_model_workers_may_not_copy_the_visitors_line_word_for_word(tiny_models, tokenizer):
    engine = engine_for(tiny_models, tokenizer, repeat_ngram=4)
    engine.start(PROBLEM)
    engine.write(2, "Part (c) is six plus seven, thirteen.")
    line = list(engine.transcript(2).tokens)
    worker = engine.workers[0]
    worker.transcript.extend(line[-5:-2])            # Alice has written three tokens of the line
    assert line[-2] in engine._banned(worker)
