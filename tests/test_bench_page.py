"""benchmarks.page without a browser, on the embedded model: its engine and page-loop levels count
the same sampled tokens at the same pass, and the command writes a row per configuration. No timed
assertions (the page level itself is what tests/test_e2e_app.py drives)."""

import json

import pytest

from benchmarks import page
from demo import ModelStore
from demo.callbacks import Cadence

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def store():
    store = ModelStore()
    store.get("default")
    return store


def test_engine_and_page_loop_count_the_same_tokens(store):
    settings = page.opening_settings("default", 3, 6)
    every_pass = Cadence(text_seconds=0.0, chart_seconds=1e9)     # a frame per pass: the loop stops at 6
    engine = page.engine_speed(store, settings, 6)
    loop = page.loop_speed(store, settings, 6, every_pass)
    assert engine["passes"] == loop["passes"] == 6
    assert engine["sampled"] == loop["sampled"] and 0 < sum(engine["sampled"]) <= 18
    assert loop["frames"] >= 6 and engine["tok_s"] > 0 and loop["tok_s"] > 0


def test_the_command_reports_each_configuration_against_the_engine(tmp_path, capsys):
    out = tmp_path / "page.json"
    assert page.main(["--model", "default", "--workers", "2", "--passes", "2", "--rounds", "2", "--threads", "1",
                      "--chart-seconds", "1.5,4.5", "--levels", "engine,loop", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["level"], r["chart_seconds"]) for r in rows] == [("engine", None), ("loop", 1.5), ("loop", 4.5)]
    assert rows[0]["x_engine"] == 1.0 and all(len(r["runs"]) == 2 for r in rows)
    assert all(run["passes"] >= 2 for r in rows for run in r["runs"])
    assert "| loop | 1 | 4.5 s |" in capsys.readouterr().out
