"""The prompt study's fixed problem set and answer reading (experiments/)."""

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
