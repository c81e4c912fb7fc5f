"""The Evaluation tab's logic: saved evaluations listed and loaded (a cut-off last line, a problem
not every method has run), one run cut at a budget turned into a trace the page replays, and the
tab's callbacks answering bad folders with a message. A hand-made folder; no model."""

import json
import os

import gradio as gr
import pytest

from demo import callbacks, eval_callbacks
from demo.downloads import Downloads
from demo.eval_tab import EvalWiring
from demo.evaluations import (NOT_RECORDED, UNKNOWN_TOKEN, EvalError, display_table, list_evaluations,
                              load_evaluation, log_of_run, read_records, runs_of_row, summary_line)
from demo.traces import log_from_trace, read_trace, write_trace
from evaluation.records import AFTER_RUN
from evaluation.scoring import sampled_tokens

SETTINGS = {"model": "default", "budgets": [2, 4], "temperature": 0.6, "max_answer_tokens": 48}
METRICS = {"num_steps": 1, "redundancy": 0.25, "impersonations": 0, "copied_prompts": 0, "self_repeats": 0,
           "parts_started": None, "distinct_first_parts": None}
HOGWILD_PIECES = [
    [["**Alice [1]:** Let me", True, 0], [" add", False, 1], [" <b>2</b>", False, 2], ["**Alice [2]:**", True, 3],
     [" so", False, 3], [" 4", False, 4], [" \\boxed{4}", False, AFTER_RUN]],
    [["**Bob [1]:** I check", True, 0], [" 2+2", False, 1], [" =", False, 3], [" <script>x</script>", False, 4]],
]


def probe(budget, passes, answer, correct, answers=None, tokens=0):
    return {"budget": budget, "passes": passes, "seconds": 2.0 * passes, "answers": answers or [answer],
            "answer": answer, "correct": correct, "any_correct": correct, "tokens": tokens, "wasted_tokens": 0,
            "metrics": dict(METRICS)}


def record(problem_id, method, layout, W, pieces, probes):
    return {"task_set": "t", "problem_id": problem_id, "seed": 0, "model": "default", "problem": "What is 2+2?",
            "parts": [], "reference": "4", "method": method, "layout": layout, "workers": W, "seconds_total": 9.0,
            "ended_at": None, "first_correct_pass": None, "probes": probes, "pieces": pieces}


def hogwild_run(problem_id="p1"):
    return record(problem_id, "hogwild", "combined", 2, HOGWILD_PIECES,
                  [probe(2, 2, "3", False, tokens=3), probe(4, 4, "4", True, tokens=6)])


def single_run(problem_id):
    pieces = [[["**Alice [1]:** Hi", True, 0], [" 4", False, 1], [".", False, 2]]]
    return record(problem_id, "single", "contiguous", 1, pieces, [probe(2, 2, "4", True, tokens=2),
                                                                  probe(4, 2, "4", True, tokens=2)])


@pytest.fixture
def root(tmp_path):
    """docs/eval with one evaluation: p1 run by both methods, p2 by one, and a line cut off mid-write."""
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "settings.json").write_text(json.dumps(SETTINGS))
    lines = [json.dumps(r) for r in (single_run("p1"), hogwild_run("p1"), single_run("p2"))]
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n" + json.dumps(hogwild_run("p2"))[:80])
    (tmp_path / "no-settings").mkdir()
    (tmp_path / "no-settings" / "results.jsonl").write_text("")
    (tmp_path / "stray.txt").write_text("x")
    return tmp_path


def test_only_folders_with_results_and_settings_are_listed(root, tmp_path):
    assert list_evaluations(root) == ["small"]
    assert list_evaluations(tmp_path / "missing") == []


def test_a_cut_off_line_is_skipped_and_the_file_left_alone(root):
    path = root / "small" / "results.jsonl"
    before = path.read_bytes()
    records, skipped = read_records(path)
    assert len(records) == 3 and skipped == 1
    assert path.read_bytes() == before          # a run may still be appending to it


def test_the_table_counts_only_problems_every_method_has_run(root):
    ev = load_evaluation("small", root)
    assert ev.num_problems == 1 and ev.num_left_out == 1 and ev.num_skipped_lines == 1
    assert set(ev.table["n"]) == {1} and len(ev.table) == 4         # 2 methods x 2 budgets
    line = summary_line(ev)
    assert "n = 1 problems" in line and "1 runs of problems not every method" in line and "cut-off" in line
    shown = display_table(ev.table)
    row = shown[(shown["method"] == "hogwild combined W=2") & (shown["budget"] == 4)].iloc[0]
    assert row["accuracy"] == 1.0 and row["95% CI"] == "[0.21, 1.00]" and row["redundancy"] == 0.25


def _pool(root, name, sources):
    (root / name).mkdir()
    (root / name / "settings.json").write_text(json.dumps({**SETTINGS, "pooled_from": sources}))


def test_a_pooled_folder_is_listed_and_shows_its_sources_runs_together(root, monkeypatch):
    other = root / "other"
    other.mkdir()
    (other / "settings.json").write_text(json.dumps(SETTINGS))
    (other / "results.jsonl").write_text("\n".join(json.dumps(r) for r in (single_run("p3"), hogwild_run("p3"))) + "\n")
    _pool(root, "both", ["small", "other"])
    assert list_evaluations(root) == ["both", "other", "small"]
    ev = load_evaluation("both", root)
    assert ev.num_problems == 2 and ev.num_left_out == 1 and ev.num_skipped_lines == 1   # p1, p3; p2 alone
    assert summary_line(ev).split("; ", 1)[1].startswith("pooled from small, other")
    monkeypatch.setattr(eval_callbacks, "FEATURED", "both")
    assert eval_callbacks.open_evaluation(None, root, refresh=True).name == "both"     # opened first
    _pool(root, "twice", ["small", "small"])
    with pytest.raises(EvalError, match="is in both small and small"):
        load_evaluation("twice", root)
    _pool(root, "outside", ["../small"])
    with pytest.raises(EvalError, match="not a sibling folder's name"):
        load_evaluation("outside", root)
    _pool(root, "gone", ["small", "missing"])
    with pytest.raises(EvalError, match="pools missing, which has no results.jsonl"):
        load_evaluation("gone", root)


def test_a_note_in_the_settings_leads_the_summary(root):
    """A superseded evaluation says so first, in its own words."""
    path = root / "small" / "settings.json"
    assert "SUPERSEDED" not in summary_line(load_evaluation("small", root))
    path.write_text(json.dumps({**SETTINGS, "note": "SUPERSEDED: an older protocol"}))
    notes = summary_line(load_evaluation("small", root)).split("; ", 1)[1]
    assert notes.startswith("SUPERSEDED: an older protocol")


def test_a_long_machine_description_is_cut_short_in_the_summary(root):
    path = root / "small" / "settings.json"
    long = "small: an AMD EPYC with AVX2 (problems 1-3); other: " + "an Intel Xeon with AMX, " * 12
    path.write_text(json.dumps({**SETTINGS, "machine": long, "note": "a note"}))
    line = summary_line(load_evaluation("small", root))
    machine = line.split(" · ")[1]
    assert machine.startswith("machine small: an AMD EPYC with AVX2 (problems 1-3) | other:")
    assert len(machine) < 150 and machine.endswith("(settings.json has the rest)")
    assert line.split("; ", 1)[1].startswith("a note")


def test_the_published_superseded_evaluations_say_so():
    from demo.evaluations import EVAL_ROOT
    for name in list_evaluations(EVAL_ROOT):
        settings = json.loads((EVAL_ROOT / name / "settings.json").read_text())
        if "multipart" in name or name.startswith("smollm2-"):      # the planned-split era
            assert settings.get("note", "").startswith("SUPERSEDED"), name


def test_bad_folders_and_names_raise_a_clear_error(root):
    with pytest.raises(EvalError, match="no saved evaluation"):
        load_evaluation("../small", root)
    (root / "small" / "settings.json").write_text("{")
    with pytest.raises(EvalError, match="settings.json cannot be read"):
        load_evaluation("small", root)


@pytest.mark.parametrize("budget", [2, 4])
def test_a_run_becomes_a_trace_with_exactly_the_pieces_up_to_its_cut(root, tmp_path, budget):
    ev = load_evaluation("small", root)
    run = next(r for r in ev.records if r.method == "hogwild")
    made = log_of_run(run, budget, ev.settings, ev.name)
    checked = read_trace(write_trace(made, str(tmp_path / "run.json")))     # the page's own check
    data, passes = checked.data, checked.passes
    assert made.passes == passes
    assert len(passes) == budget and data["answer"] == ("3" if budget == 2 else "4")
    assert passes[0].attention is None and data["meta"]["prompt_note"] == NOT_RECORDED
    assert [record.pass_number for record in passes] == list(range(1, budget + 1))
    assert log_from_trace(data).meta == made.meta and log_from_trace(data).answer == made.answer
    log = made
    for w, pieces in enumerate(HOGWILD_PIECES):
        expected = [(text, inserted) for text, inserted, when in pieces if when <= budget]
        got = [(piece.text, piece.inserted) for record in passes for piece in record.pieces[w]]
        assert got == expected
        assert log.lane_text(w) == "".join(text for text, _ in expected)
    # a token stands where a worker sampled in that pass; Bob sampled nothing in pass 2
    assert passes[1].tokens == [UNKNOWN_TOKEN, None]
    assert sum(log.sampled) == sampled_tokens(HOGWILD_PIECES, last_pass=budget)


def test_the_trace_replays_in_the_main_tab_without_attention(root, tmp_path):
    ev = load_evaluation("small", root)
    run = next(r for r in ev.records if r.method == "hogwild")
    path = write_trace(log_of_run(run, 4, ev.settings, ev.name), str(tmp_path / "run.json"))
    session = callbacks.Session()
    try:
        frame = callbacks.open_recording(session, path)
        assert frame.lanes and "&lt;script&gt;" in frame.lanes[1] and "<script>" not in frame.lanes[1]
        assert ">4</b>" in frame.answer and frame.heatmap is not None and frame.timeline is not None
        finished = list(callbacks.replay(session, path, callbacks.Cadence(replay_frames=1, replay_delay=0.0)))[-1]
        assert "Stopped after 4 passes" in finished.message          # cut at the budget
        assert "from Run" not in finished.message and "a machine not recorded" in finished.stats
        assert "Note: converted from an evaluation record" in finished.message
    finally:
        session.close()


def test_the_tab_opens_a_row_and_its_runs(root):
    opened = eval_callbacks.open_evaluation(None, root, refresh=True)
    ev = opened.evaluation
    assert opened.name == "small" and opened.names == ["small"] and ev.name == "small"
    named = EvalWiring.updates(opened)
    assert set(named) == set(EvalWiring.OPENED)     # an opening redraws the whole tab
    assert named["choice"]["value"] == "small" and named["loaded"] is ev and named["row"]["value"] is None
    assert list(opened.paired["baseline"]) == ["single", "single"] and list(opened.paired["budget"]) == [2, 4]
    index = next(i for i in range(len(ev.table)) if ev.table.iloc[i]["method"] == "hogwild"
                 and ev.table.iloc[i]["budget"] == 4)
    assert [r.problem_id for r in runs_of_row(ev, index)] == ["p1"]
    files = Downloads("hogwild-eval-")
    try:
        wiring = EvalWiring({name: name for name in EvalWiring.OPENED}, root)
        clicked = wiring.row_clicked(ev, files, gr.SelectData(None, {"index": [index, 2], "value": 4}))
        assert set(clicked) == set(EvalWiring.ROW)                 # what the event's outputs hold, no more
        assert clicked["row"] == index and clicked["run"]["value"] == 0 and clicked["message"] == ""
        lanes, answer, note = clicked["lanes"], clicked["answer"], clicked["note"]
        assert 'id="eval-lane-0"' in lanes and 'id="lane-0"' not in lanes       # ids unique on the page
        assert "&lt;b&gt;2&lt;/b&gt;" in lanes and "<b>2</b>" not in lanes
        assert "budget 4" in answer and "right" in answer and "not recorded" in note
        read_trace(clicked["download"]["value"])
        assert "cannot be shown" in wiring.run_picked(ev, index, 5, files)["message"]
        again = wiring.run_picked(ev, index, 0, files)
        assert set(again) == set(EvalWiring.PANELS)
        assert os.listdir(files.folder) == [os.path.basename(again["download"]["value"])]   # one trace at a time
        assert os.path.basename(files.folder).startswith("hogwild-eval-")         # not the run tab's folder
    finally:
        folder = files.folder
        files.close()
    assert not os.path.exists(folder)


def test_a_row_answered_with_another_prompt_opens_its_own_runs(root):
    """p1's runs answered a second way ("listed"): that row opens those runs, the plain row its own."""
    folder = root / "small"
    listed = [dict(r, answer_prompt="listed") for r in (single_run("p1"), hogwild_run("p1"))]
    listed[1]["probes"] = [probe(2, 2, "4", True, tokens=3), probe(4, 4, "4", True, tokens=6)]
    with open(folder / "results.jsonl", "w") as f:
        f.write("\n".join(json.dumps(r) for r in (single_run("p1"), hogwild_run("p1"), *listed)) + "\n")
    ev = load_evaluation("small", root)
    rows = list(ev.table["row"])
    other = rows.index("hogwild combined W=2, listed answer")
    plain = next(i for i, r in enumerate(rows) if r == "hogwild combined W=2")
    assert [r.answer_prompt for r in runs_of_row(ev, other)] == ["listed"]
    assert [r.answer_prompt for r in runs_of_row(ev, plain)] == ["plain"]
    assert log_of_run(runs_of_row(ev, other)[0], 2).answer == "4" != log_of_run(runs_of_row(ev, plain)[0], 2).answer


def test_the_tab_says_what_is_wrong_instead_of_raising(root, tmp_path):
    (root / "small" / "results.jsonl").write_text("not json\n")
    empty = eval_callbacks.open_evaluation("small", root)
    assert "nothing to tabulate" in empty.message and len(empty.table) == 0 and empty.rows == []
    (root / "small" / "settings.json").write_text("[]")
    bad = eval_callbacks.open_evaluation("small", root)
    assert bad.evaluation is None and "not a JSON object" in bad.message and bad.table is None
    assert EvalWiring.updates(bad)["loaded"] is None            # the state is emptied, not left stale
    none = eval_callbacks.open_evaluation(None, tmp_path / "missing", refresh=True)
    assert "No saved evaluations" in none.message and none.names == []
    files = Downloads("hogwild-eval-")
    try:
        assert "Choose" in eval_callbacks.show_run(None, 0, 0, files).message
        assert "Choose" in eval_callbacks.choose_row(None, 0, files).message
    finally:
        files.close()


def test_the_featured_evaluation_is_published_pools_32_problems_and_recounts_to_its_table():
    """The page opens on the pooled folder; its records, read through the sources, give back the
    committed table.json digit for digit (what a reader recounting results.jsonl gets)."""
    import pandas as pd
    from demo.evaluations import EVAL_ROOT, FEATURED
    assert FEATURED in list_evaluations(EVAL_ROOT)
    ev = load_evaluation(FEATURED, EVAL_ROOT)
    assert ev.settings["pooled_from"] and ev.num_problems == 32 and ev.num_skipped_lines == 0
    published = pd.read_json(EVAL_ROOT / FEATURED / "table.json", orient="records")
    columns = ["group", "row", "budget", "n", "part_accuracy", "part_ci_low", "part_ci_high", "mean_self_repeats"]
    recounted = ev.table[columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(recounted, published[columns].reset_index(drop=True), check_dtype=False)
