"""Config validation, layouts, prompt text rules and sampling: small pure pieces."""

import dataclasses

import pytest
import torch
from hypothesis import given, settings, strategies as st

from hogwild_core import ATTENTION_PATHS, BASELINE_LAYOUTS, LAYOUTS, MAX_WORKERS, ConfigError, EngineConfig
from hogwild_core import prompts, view
from hogwild_core.sampling import nucleus_mask, nucleus_mask_sorted, sample, worker_generators


@pytest.mark.parametrize("field, value", [
    ("num_workers", 0), ("num_workers", 9), ("num_workers", 100), ("num_workers", 2.5), ("num_workers", True),
    ("layout", "diagonal"), ("attention", "flash"), ("max_new_tokens", 0), ("max_new_tokens", 10**9),
    ("temperature", -0.1), ("temperature", float("nan")), ("temperature", 1e6), ("top_p", 0.0),
    ("top_p", 1.5), ("check_interval", -1), ("seed", -3), ("max_context", 10), ("collect_attention", "yes"),
])
def test_bad_config_is_rejected_with_a_message(field, value):
    with pytest.raises(ConfigError, match=field.split("_")[0]):
        EngineConfig(**{field: value})


def test_config_is_frozen():
    config = EngineConfig()
    with pytest.raises(Exception):
        config.num_workers = 3


@given(W=st.integers(1, 8), layout=st.sampled_from(["contiguous", "interleaved", "combined", "independent"]))
def test_views_end_with_own_segment_and_never_repeat(W, layout):
    for w in range(W):
        order = view.view_segments(layout, w, W)
        assert order[0] == view.PROMPT and order[-1] == view.worker_segment(w)
        assert len(order) == len(set(order))
        assert set(order) <= set(view.segment_names(layout, W))


def test_layout_visibility_matches_the_paper():
    others = {view.worker_segment(j) for j in (1, 2)}
    assert others <= set(view.view_segments("contiguous", 0, 3))
    assert others <= set(view.view_segments("combined", 0, 3))
    assert not others & set(view.view_segments("interleaved", 0, 3))
    assert not others & set(view.view_segments("independent", 0, 3))
    combined = view.view_segments("combined", 0, 3)
    assert combined.index(view.HISTORY) < combined.index(view.HEADER_OTHERS) < combined.index(view.HEADER_OWN)


@pytest.mark.parametrize("text, ends", [
    ("We add 3 and 2.\n\n", True),
    ("Is it 5?\n\n", True),
    ("So **x = 5**.\n\n", True),
    ("Done!\n\n", True),
    ("We add 3 and 2.\n", False),               # one newline is not a paragraph break
    ("Let's list the cases:\n\n", False),       # not sentence-ending
    ("Code:\n```python\nx = 1.\n\n", False),    # inside an open code block
    ("```python\nx = 1\n```\nThat runs.\n\n", True),
    ("$$x = 1.\n\n", False),                    # inside display math
    ("**Bob [2]:**\n\n", False),
    ("We add 3 and 2.\n\n  ", True),
])
def test_step_end_rule(text, ends):
    assert prompts.is_step_end(text) is ends


def test_step_end_detected_on_decoded_text_of_two_newline_tokens(tokenizer):
    """SmolLM2 writes a paragraph break as two "\\n" tokens: neither token alone is "\\n\\n"."""
    newline = tokenizer.encode("\n", add_special_tokens=False)
    assert len(newline) == 1
    ids = tokenizer.encode("We add 3 and 2.", add_special_tokens=False) + newline * 2
    assert not prompts.is_step_end(tokenizer.decode(ids[:-1]))
    assert prompts.is_step_end(tokenizer.decode(ids))


def test_boxed_answers():
    assert prompts.boxed_close("42} and more") == 2
    assert prompts.boxed_close("\\frac{1}{2}} done") == 11
    assert prompts.boxed_close("still open") is None
    assert prompts.last_boxed("first \\boxed{1}, then \\boxed{\\frac{3}{4}}.") == "\\frac{3}{4}"
    assert prompts.last_boxed("\\boxed{7} then \\boxed{unclosed") == "7"
    assert prompts.last_boxed("nothing") is None


def test_prompts_name_every_worker_and_the_rules():
    text = prompts.system_prompt(4, "combined")
    for name in ("Alice", "Bob", "Carol", "Dave"):
        assert name in text
    assert "redo" in text and "as yourself" in text
    # Nothing a model can copy as its answer: no literal \boxed{...} in the work phase.
    for W, layout in ((1, "contiguous"), (3, "combined"), (2, "independent")):
        assert "boxed" not in prompts.system_prompt(W, layout)
    assert prompts.worker_opener(1, 4).startswith("**Bob [1]:**")
    assert "redundant work? (yes/no)" in prompts.CHECK_TEXT
    assert prompts.FINAL_ANSWER_TEXT.endswith("\\boxed{")


def test_the_listed_answer_prompt_restates_a_multi_question_format():
    listed = prompts.final_answer_text("listed", 5)
    assert "the final answers to the 5 questions, in order, separated by commas, are \\boxed{" in listed
    assert prompts.final_answer_text("listed", 1) == prompts.final_answer_text("plain", 5) == prompts.FINAL_ANSWER_TEXT
    assert all(prompts.is_final_answer_text(prompts.final_answer_text(s, 3)) for s in prompts.ANSWER_PROMPTS)
    assert not prompts.is_final_answer_text("\n\n**Alice [2]:**")
    with pytest.raises(ValueError, match="answer prompt must be one of plain, listed"):
        prompts.final_answer_text("terse", 5)
    with pytest.raises(ConfigError, match="answer_prompt must be one of plain, listed"):
        EngineConfig(answer_prompt="terse")


@pytest.mark.parametrize("problem, parts", [
    ("Compute (a) 17 x 24, (b) the sum 1..30, (c) 2^10. What is (a) + (b) + (c)?",
     ["17 x 24,", "the sum 1..30,", "2^10. What is"]),
    ("Answer both.\n1. How old is Ann?\n2. How tall is Bob?", ["How old is Ann?", "How tall is Bob?"]),
    ("What is (b) alone? Or (a)?", []),
    ("No parts here (a single question).", []),
])
def test_problem_parts(problem, parts):
    assert prompts.problem_parts(problem) == parts


def test_by_default_the_workers_choose_their_split():
    """The paper's protocol: the prompt says how the workspace works and asks the workers to share
    the work out; it never assigns parts, and every worker opens with its label alone."""
    problem = "(a) 2+2? (b) 3+3? (c) 4+4? (d) 5+5? (e) 6+6?"
    text = prompts.system_prompt(2, "combined", problem)
    assert "Decide together how to share the work" in text and "part (a)" not in text
    assert [prompts.worker_opener(w, 3, "combined", problem) for w in range(3)] == [
        "**Alice [1]:** Here is how we can split the work:", "**Bob [1]:**", "**Carol [1]:**"]
    assert prompts.worker_opener(0, 1, "contiguous", problem) == "**Alice [1]:**"
    assert prompts.worker_opener(0, 3, "independent", problem) == "**Alice [1]:**"
    assert prompts.system_prompt(2, "combined", problem) == prompts.system_prompt(2, "combined", "other")


def test_the_planned_split_ablation_gives_each_worker_its_part():
    problem = "(a) 2+2? (b) 3+3? (c) 4+4? (d) 5+5? (e) 6+6?"
    text = prompts.system_prompt(2, "combined", problem, split="planned")
    assert "Alice: part (a) and part (c) and part (e). Bob: part (b) and part (d)." in text
    assert [prompts.worker_opener(w, 3, "combined", problem, "planned") for w in range(3)] == [
        "**Alice [1]:** For part (a),", "**Bob [1]:** For part (b),", "**Carol [1]:** For part (c),"]
    assert prompts.worker_opener(5, 6, "combined", problem, "planned") == "**Frank [1]:** To check the others' results,"
    # without parts there is nothing to plan: the same as the default
    assert prompts.system_prompt(2, "combined", "Sum 1..10", "planned") == prompts.system_prompt(2, "combined")
    assert prompts.worker_opener(1, 2, "combined", "Sum 1..10", "planned") == "**Bob [1]:**"
    assert prompts.worker_opener(0, 2, "combined", "Sum 1..10", "planned") == "**Alice [1]:**"


def test_every_method_reads_the_same_rules():
    solo = prompts.system_prompt(1, "contiguous")
    assert solo == prompts.system_prompt(4, "independent")
    team = prompts.system_prompt(2, "combined")
    for line in ("- One short paragraph per step", "- Do not copy the question", "- Work until every question"):
        assert line in solo and line in team
    assert "Example" not in solo and "Example" not in team       # none: the small model copied it
    assert "Bob" not in solo and "Bob" in team


def test_greedy_and_seeded_sampling():
    logits = torch.tensor([[0.1, 3.0, 0.2, 2.9], [5.0, 0.0, 0.0, 0.0]])
    assert sample(logits, 0.0, 1.0, []).tolist() == [1, 0]
    draws = lambda seed: [sample(logits, 1.0, 1.0, worker_generators(seed, 2)).tolist() for _ in range(5)]
    assert draws(1) == draws(1) and draws(1) != draws(2)
    # top_p keeps the smallest set whose mass reaches p: here the two big tokens only
    small = {int(sample(logits[:1], 1.0, 0.6, worker_generators(s, 1))[0]) for s in range(50)}
    assert small == {1, 3}


@pytest.mark.parametrize("top_p", [0.1, 0.5, 0.9, 0.95, 0.999])
def test_fast_nucleus_is_the_sorted_nucleus(top_p):
    """The top-k shortcut gives the full-sort nucleus, and falls back to the sort when the
    candidates hold too little mass (flat rows); peaked, flat and mixed rows in one batch."""
    g = torch.Generator().manual_seed(3)
    peaked = torch.randn(3, 5000, generator=g) * 6
    flat = torch.randn(2, 5000, generator=g) * 0.1
    for logits in (peaked, flat, torch.cat([peaked, flat])):
        for candidates in (8, 256):
            assert torch.equal(nucleus_mask(logits, top_p, candidates), nucleus_mask_sorted(logits, top_p))


def test_each_worker_has_its_own_stream():
    """A worker's draws do not depend on whether another worker sampled in the same pass, and
    two workers with identical logits draw differently."""
    logits = torch.zeros(2, 1000)
    together = sample(logits, 1.0, 1.0, worker_generators(7, 2))
    alone = sample(logits[1:], 1.0, 1.0, worker_generators(7, 2)[1:])
    assert int(together[1]) == int(alone[0])
    assert int(together[0]) != int(together[1])


def test_sampling_follows_the_distribution():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    generators = worker_generators(3, 1)
    counts = torch.bincount(torch.cat([sample(logits, 1.0, 1.0, generators) for _ in range(4000)]), minlength=3)
    assert torch.allclose(counts / 4000, torch.tensor([0.5, 0.3, 0.2]), atol=0.03)


# Values a caller might hand over by mistake: wrong types, NaN, infinities, integers too large
# for a float, numeric strings.
ODD = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70).map(lambda i: i * 10**400),
                st.just(10**5000),
                st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                st.sampled_from(["combined", "independent", "fast", "reference", "3", "0.5"]),
                st.lists(st.integers(), max_size=2))
CONFIG_FIELDS = [f.name for f in dataclasses.fields(EngineConfig)]


def assert_within_documented_bounds(config: EngineConfig) -> None:
    whole = lambda x: isinstance(x, int) and not isinstance(x, bool)
    assert whole(config.num_workers) and 1 <= config.num_workers <= MAX_WORKERS
    assert config.layout in LAYOUTS + BASELINE_LAYOUTS and config.attention in ATTENTION_PATHS
    assert whole(config.max_new_tokens) and 1 <= config.max_new_tokens <= 32768
    assert 0.0 <= config.temperature <= 10.0 and 0.0 < config.top_p <= 1.0
    assert whole(config.seed) and config.seed >= 0 and whole(config.check_interval) and config.check_interval >= 0
    assert config.max_context is None or (whole(config.max_context) and config.max_context >= 64)
    assert isinstance(config.collect_attention, bool)


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(CONFIG_FIELDS), ODD, max_size=3))
def test_any_config_is_either_in_bounds_or_a_config_error(changes):
    """The only exception EngineConfig raises is ConfigError, naming a field it was given."""
    try:
        config = EngineConfig(**changes)
    except ConfigError as exc:
        assert any(name in str(exc) for name in changes)
        return
    assert_within_documented_bounds(config)


@given(W=st.integers(1, 8), layout=st.sampled_from(["contiguous", "interleaved", "combined", "independent"]),
       lengths=st.lists(st.integers(0, 50), min_size=12, max_size=12), num_new=st.integers(1, 9))
def test_a_view_is_its_segments_back_to_back(W, layout, lengths, num_new):
    names = view.segment_names(layout, W)
    lengths = dict(zip(names, lengths))
    for w in range(W):
        v = view.worker_view(layout, w, W, lengths, num_new)
        assert [p.segment for p in v.parts] == view.view_segments(layout, w, W)
        assert [p.offset for p in v.parts] == [sum(q.length for q in v.parts[:i]) for i in range(len(v.parts))]
        assert [p.length for p in v.parts[:-1]] == [lengths[p.segment] for p in v.parts[:-1]]
        assert v.parts[-1].length == lengths[v.own] + num_new and v.start == lengths[v.own]
        assert v.first_position == v.length - num_new


def test_the_detokenizer_gives_text_piece_by_piece(tokenizer):
    """New text only, O(new tokens) per call; a character split across tokens waits for the
    rest; the pieces join to the whole decode."""
    from hogwild_core.text import Detokenizer, TextCodec

    text = "Añadimos 3 y 2: ¡cinco! 🍎🍎 **Bob [2]:** café.\n\nDone."
    ids = tokenizer.encode(text, add_special_tokens=False)
    detokenizer, pieces = Detokenizer(TextCodec(tokenizer)), []
    for i in range(0, len(ids), 2):
        pieces.append(detokenizer.add(ids[i:i + 2]))
    assert "".join(pieces) == tokenizer.decode(ids) == text
    assert all("\ufffd" not in piece for piece in pieces)


def test_split_is_checked():
    assert EngineConfig(split="planned").split == "planned"
    with pytest.raises(ConfigError, match="split must be one of chosen, planned"):
        EngineConfig(split="mine")


@pytest.mark.parametrize("W", [1, 3])
def test_no_worker_may_write_a_step_label_by_hand(W, tiny_models, tokenizer):
    """After a bold capitalised word ("**David") a bracket is banned, with any W, and the token
    that completes another worker's bold name is banned too: the engine writes labels itself."""
    from hogwild_core import HogwildEngine
    from hogwild_core.text import bracket_tokens

    engine = HogwildEngine(tiny_models("llama", 1), tokenizer, EngineConfig(num_workers=W, max_new_tokens=20))
    engine.start("What is 2 + 3?")
    for text in (" so", " **", "David"):
        ids = tokenizer.encode(text, add_special_tokens=False)
        for t in ids:
            engine.run_pass(force=[t] * W)
    banned = set(engine._banned(engine.workers[0]))
    assert set(bracket_tokens(tokenizer)) <= banned
    engine.run_pass(force=[tokenizer.encode(" is", add_special_tokens=False)[0]] * W)
    assert not set(bracket_tokens(tokenizer)) & set(engine._banned(engine.workers[0]))


@pytest.mark.parametrize("text, end", [
    ("So the total is 54.\n\n", True), ("\\[\nx = \\frac{60}{3} = 20\n\\]\n\n", True), ("$$x = 2$$\n\n", True),
    ("We set up\n\n", False), ("\\[\nx = 2\n\n", False), ("Done.\n", False),
])
def test_a_step_ends_after_a_sentence_or_a_closed_display_equation(text, end):
    assert prompts.is_step_end(text) is end
