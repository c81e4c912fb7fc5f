"""RunSettings: what the controls hand over is checked once, with messages a visitor can act on."""

import math

import pytest

from demo.settings import RunSettings, SettingsError, parse_settings

GOOD = dict(problem="What is 2+2?", num_workers=3.0, layout="interleaved", max_new_tokens=64.0,
            temperature=0.7, top_p=0.9, seed=5.0, check_interval=0, model="  ")


def test_good_values_are_converted():
    s = parse_settings(GOOD)
    assert s == RunSettings(problem="What is 2+2?", num_workers=3, layout="interleaved", max_new_tokens=64,
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
