"""The page's collaboration line: computed from a run's pass records (live or replayed)."""

from demo.collaboration import collaboration_html, report_of
from demo.records import RunLog
from tests.pass_records import pass_record

PROBLEM = "Answer both. (a) 17 x 24? (b) 30 + 45?"


def log_of(pieces_per_pass: list[list[list]], answer: str | None) -> RunLog:
    log = RunLog(meta={"settings": {"problem": PROBLEM, "layout": "combined"}, "worker_names": ["Alice", "Bob"]})
    for pieces in pieces_per_pass:
        log.add_pass(pass_record(2, pieces=pieces))
    log.answer = answer
    return log


def test_a_run_where_bob_repeats_alice_and_writes_as_her():
    log = log_of([
        [[["**Alice [1]:** For part (a),", True], [" 17 x 24 = 408, so part (a) is 408.\n\n", False]],
         [["**Bob [1]:** For part (b),", True], [" 30 + 45 = 75, so part (b) is 75.\n\n", False]]],
        [[["**Alice [2]:**", True], [" Both parts are done: 408 and 75 are the answers.\n\n", False]],
         [["**Bob [2]:**", True], [" **Alice [3]:** 17 x 24 = 408, so part (a) is 408.\n\n", False]]],
    ], answer="408, 75")
    report = report_of(log, expected="408, 75")
    assert report.num_steps == 4 and report.redundancy == 0.25
    assert report.impersonations == 1 and report.correct is True and report.parts_started == 2
    line = collaboration_html(report)
    assert "25%" in line and "1 written under another" in line and "right" in line


def test_one_worker_has_no_collaboration_line():
    log = RunLog(meta={"settings": {"problem": PROBLEM}, "worker_names": ["Alice"]})
    assert report_of(log) is None and collaboration_html(None) == ""
