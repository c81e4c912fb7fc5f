"""Collaboration metrics on hand-made transcripts with known answers."""

from analysis import metrics
from hogwild_core import similarity
from hogwild_core.prompts import FINAL_ANSWER_TEXT


def steps_of(*workers):
    return [s for w, pieces in enumerate(workers) for s in metrics.split_steps(w, pieces)]


def test_split_steps_by_breaks_and_inserted_labels_and_stop_at_the_answer():
    pieces = [("**Alice [1]:**", True, 1), (" One. Two.\n\nThree is next.\n\n", False, 5),
              ("**Alice [2]:**", True, 6), (" 2 + 2 = 4", False, 9), (FINAL_ANSWER_TEXT, True, 10),
              ("4}", False, 11)]
    steps = metrics.split_steps(0, pieces)
    assert [s.text for s in steps] == [" One. Two.\n\n", "Three is next.\n\n", " 2 + 2 = 4"]
    assert [(s.start, s.end) for s in steps] == [(1, 5), (5, 5), (6, 9)]
    assert steps[2].prompt == "**Alice [2]:**"


def test_redundancy_counts_the_later_copy_once():
    same = " Multiply 17 by 24 to get 408 for part one.\n\n"
    alice = [("**Alice [1]:**", True, 1), (same, False, 4)]
    bob = [("**Bob [1]:**", True, 1), (same, False, 4), ("**Bob [2]:**", True, 5),
           (" Then 30 + 45 gives 75 for the second part.\n\n", False, 8)]
    carol = [("**Carol [1]:**", True, 1), (" Then 30 + 45 gives 75 for the second part, done.\n\n", False, 12)]
    steps = steps_of(alice, bob, carol)
    redundant = metrics.redundant_steps(steps)
    # Bob's first step ties with Alice's (same pass, higher index); Carol's repeats Bob's second
    assert [(s.worker, s.index) for s in redundant] == [(1, 1), (2, 1)]
    report = metrics.collaboration_report(steps, [], 3)
    assert report.num_steps == 4 and report.redundancy == 0.5


def test_impersonation_and_copied_prompts_and_self_repeats():
    opener = "**Bob [1]:** I will take a different part than Alice. Let me start with part"
    bob = [(opener, True, 1), (" one.\n\n", False, 2),
           (" I will take a different part than Alice. Let me start with part one.\n\n", False, 6),
           (" I will take a different part than Alice. Let me start with part one.\n\n", False, 9),
           (" Hi, I'm Alice. The sum is 12.\n\n", False, 12), ("**Carol [3]:** 5 + 7 = 12 indeed.\n\n", False, 14)]
    steps = steps_of([], bob)
    assert [s.index for s in metrics.impersonating_steps(steps)] == [4, 5]
    assert [s.index for s in metrics.prompt_copying_steps(steps, [opener])] == [2, 3]
    assert [s.index for s in metrics.self_repeating_steps(steps)] == [3]


def test_parts_by_label_or_by_their_own_numbers():
    parts = ["Ann has 16 eggs and eats 3.", "A robe takes 2 bolts and half as much white.", "Josh pays 80000."]
    assert metrics.part_of("For part (b), the robe", parts) == 1
    assert metrics.part_of("16 - 3 = 13 eggs are left", parts) == 0
    assert metrics.part_of("80000 + 50000", parts) == 2
    assert metrics.part_of("the answer is 7", parts) is None
    alice = [("**Alice [1]:**", True, 1), (" 16 - 3 = 13 eggs left over today.\n\n", False, 3)]
    bob = [("**Bob [1]:**", True, 1), (" Josh pays 80000 for the house.\n\n", False, 3)]
    report = metrics.collaboration_report(steps_of(alice, bob), [], 2, parts)
    assert report.first_parts == [0, 2] and report.parts_started == 2 and report.distinct_first_parts


def test_near_duplicate_on_token_ids_needs_a_minimum_length():
    assert similarity.near_duplicate([1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], min_length=8)
    assert not similarity.near_duplicate([1, 2, 3], [1, 2, 3], min_length=8)
    assert not similarity.near_duplicate([1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1], min_length=8)
