"""The prompt study's fixed problem set and answer reading (experiments/)."""

import pytest

from experiments.collaboration import multipart_problems, parts_correct
from hogwild_core.prompts import problem_parts


def test_the_study_set_is_fixed_and_has_three_labelled_parts():
    first, again = multipart_problems(3), multipart_problems(3)
    assert first == again and len(first) == 3
    assert [p["id"] for p in first] == ["666+725+61", "466+888+847", "695+532+834"]
    for item in first:
        assert len(problem_parts(item["problem"])) == 3 and len(item["answers"]) == 3


def test_parts_correct_reads_numbers_in_order():
    assert parts_correct("120, 25, 1430", ["120", "25", "1430"]) == [True, True, True]
    assert parts_correct("$1,430 and 25", ["120", "25", "1430"]) == [False, True, False]
    assert parts_correct("...", ["5"]) == [False]
    assert parts_correct(None, ["5"]) == [False]


def test_a_gallery_recording_with_a_visitor_and_its_silent_control(tmp_path, monkeypatch, tiny_models, tokenizer):
    """record_gallery --join --say: the line goes through the page's Send after --say-at passes;
    --control records the same seed with the visitor silent, so the two agree until the line."""
    import json

    import torch

    from demo.models import ModelStore
    from demo.traces import trace_passes
    from experiments import record_gallery

    monkeypatch.setattr(record_gallery, "GALLERY", tmp_path / "gallery")
    store = ModelStore()
    store.put("default", tiny_models("llama", 2), tokenizer)
    before = torch.get_num_threads()
    line = "I take part (c): 2 to the power 10 is 1024."
    entry = record_gallery.main(["--problem", "parts3", "--workers", "3", "--tokens", "10", "--join", "--say", line,
                                 "--say-at", "3", "--control", str(tmp_path / "control.json"), "--name", "visit"],
                                store=store)
    torch.set_num_threads(before)
    said, silent = (json.loads(p.read_text()) for p in (tmp_path / "gallery" / "visit.json", tmp_path / "control.json"))
    assert entry["visitor"] == {"line": line, "after_passes": 3, "control": str(tmp_path / "control.json")}
    assert said["meta"]["worker_names"] == ["Alice", "Bob", "You"] == silent["meta"]["worker_names"]
    assert line in said["workers"][2]["text"] and silent["workers"][2]["text"] == ""
    said_passes, silent_passes = trace_passes(said), trace_passes(silent)
    assert [s.pieces[2] for s in said_passes[:3]] == [[], [], []] and said_passes[3].pieces[2]
    assert [s.tokens for s in said_passes[:4]] == [s.tokens for s in silent_passes[:4]]
    index = json.loads((tmp_path / "gallery" / "index.json").read_text())
    assert [e["file"] for e in index] == ["visit.json"]


def test_a_gallery_entry_describes_its_machine_as_the_rest_of_the_project_does():
    from experiments.record_gallery import machine
    from machine import machine_description

    line = machine("int8")
    assert line.startswith(machine_description() + ", ") and line.endswith(" torch thread(s), CPU int8")


def test_a_refused_visitor_line_is_an_error_of_the_recorder_not_an_exit(tmp_path, monkeypatch, tiny_models, tokenizer):
    import torch

    from demo.models import ModelStore
    from demo.visitor import MAX_VISITOR_CHARS
    from experiments import record_gallery

    monkeypatch.setattr(record_gallery, "GALLERY", tmp_path / "gallery")
    store = ModelStore()
    store.put("default", tiny_models("llama", 2), tokenizer)
    before = torch.get_num_threads()
    try:
        with pytest.raises(record_gallery.RecordingError, match="refused"):
            record_gallery.main(["--problem", "parts3", "--workers", "2", "--tokens", "6", "--join",
                                 "--say", "x" * (MAX_VISITOR_CHARS + 1), "--say-at", "1", "--name", "refused"],
                                store=store)
    finally:
        torch.set_num_threads(before)
    assert not (tmp_path / "gallery" / "index.json").exists()


def test_a_gsm5_gallery_problem_comes_from_the_development_set_never_the_evaluated_one():
    from evaluation.tasks import load_tasks
    from experiments.record_gallery import problem_and_answer
    problem, answer = problem_and_answer("gsm5-2")
    assert problem == load_tasks("gsm8k-x5-dev", 3)[2].problem and len(answer.split(", ")) == 5
    assert problem not in {t.problem for t in load_tasks("gsm8k-x5", 32)}
