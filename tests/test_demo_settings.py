"""PageSettings: what the controls hand over is checked once, with messages a visitor can act on."""

import math
from dataclasses import fields

import pytest
from hypothesis import given, settings, strategies as st

from demo.settings import (BASELINE_LAYOUT, MAX_NEW_TOKENS, MAX_PROBLEM_CHARS, MAX_TEMPERATURE, PageSettings,
                           SettingsError, parse_settings)
from hogwild_core import LAYOUTS, MAX_WORKERS

GOOD = dict(problem="What is 2+2?", num_workers=3.0, layout="interleaved", max_new_tokens=64.0,
            temperature=0.7, top_p=0.9, seed=5.0, check_interval=0, model="  ")


def test_good_values_are_converted():
    s = parse_settings(GOOD)
    assert s == PageSettings(problem="What is 2+2?", num_workers=3, layout="interleaved", max_new_tokens=64,
                            temperature=0.7, top_p=0.9, seed=5, check_interval=0, model="default")
    assert isinstance(s.num_workers, int) and isinstance(s.seed, int)
    cfg = s.engine_config()
    assert cfg.collect_attention and cfg.num_workers == 3 and cfg.layout == "interleaved"


@pytest.mark.parametrize("change, words", [
    (dict(problem=""), "empty"),
    (dict(problem="   \n "), "empty"),
    (dict(problem=None), "empty"),
    (dict(problem="x" * 9000), "at most"),
    (dict(num_workers=0), "Worker count must be between 1 and 8"),
    (dict(num_workers=9), "Worker count must be between 1 and 8"),
    (dict(num_workers=2.5), "Worker count must be a whole number"),
    (dict(num_workers=None), "Worker count is missing"),
    (dict(num_workers="many"), "Worker count must be a number"),
    (dict(max_new_tokens=0), "Max new tokens"),
    (dict(max_new_tokens=10**6), "Max new tokens"),
    (dict(temperature=-0.1), "Temperature must be between 0 and 2"),
    (dict(temperature=math.nan), "Temperature"),
    (dict(temperature=5), "Temperature"),
    (dict(top_p=0), "Top-p must be above 0"),
    (dict(top_p=1.5), "Top-p"),
    (dict(seed=-1), "Seed"),
    (dict(check_interval=-3), "Check interval"),
    (dict(layout="diagonal"), "Layout must be one of"),
    (dict(model=3), "model"),
])
def test_bad_values_say_what_is_wrong(change, words):
    with pytest.raises(SettingsError) as info:
        parse_settings({**GOOD, **change})
    assert words in str(info.value)


def test_baselines_keep_the_problem_and_drop_the_shared_cache():
    s = parse_settings(GOOD)
    one, independent = s.baseline("one"), s.baseline("independent")
    assert (one.num_workers, one.problem) == (1, s.problem)
    assert (independent.num_workers, independent.layout) == (3, "independent")
    assert "independent" in independent.label and one.label == "1 worker"
    with pytest.raises(SettingsError):
        s.baseline("other")


# What a page or an API caller can hand over: wrong types, NaN, infinities, huge integers,
# numeric strings with stray spaces, markup.
ODD = st.one_of(st.none(), st.booleans(), st.integers(), st.just(10**400), st.just(10**5000),
                st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                st.from_regex(r"\s*-?[0-9]{1,4}(\.[0-9]{1,3})?(e[0-9]{1,3})?\s*", fullmatch=True),
                st.sampled_from(["combined", "contiguous", "independent", "default", "<b>x</b>", "\x00"]),
                st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))
PROBLEMS = st.one_of(st.text(max_size=40), st.text(min_size=MAX_PROBLEM_CHARS - 2, max_size=MAX_PROBLEM_CHARS + 2))


@settings(max_examples=400, deadline=None)
@given(changes=st.dictionaries(st.sampled_from([f.name for f in fields(PageSettings)]), ODD, max_size=4),
       problem=PROBLEMS)
def test_any_control_values_give_settings_or_one_clear_message(changes, problem):
    """Whatever the controls hold: valid PageSettings that build an engine config, or a
    SettingsError whose message is a sentence for the page; never another exception."""
    values = {**GOOD, "problem": problem, **changes}
    try:
        s = parse_settings(values)
    except SettingsError as exc:
        message = str(exc)
        assert message[:1].isupper() and message.endswith(".") and len(message) < 400
        return
    assert s.problem == s.problem.strip() and 0 < len(s.problem) <= MAX_PROBLEM_CHARS
    assert 1 <= s.num_workers <= MAX_WORKERS and 1 <= s.max_new_tokens <= MAX_NEW_TOKENS
    assert 0.0 <= s.temperature <= MAX_TEMPERATURE and 0.0 < s.top_p <= 1.0 and 0 <= s.seed < 2**31
    assert s.layout in LAYOUTS + (BASELINE_LAYOUT,) and isinstance(s.model, str) and s.model.strip() == s.model
    assert all(type(getattr(s, name)) is int for name in ("num_workers", "max_new_tokens", "seed", "check_interval"))
    assert s.engine_config().num_workers == s.num_workers
