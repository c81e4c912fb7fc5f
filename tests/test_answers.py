

def test_a_box_holds_as_many_answers_as_its_separated_pieces():
    from hogwild_core.prompts import num_answers

    assert num_answers("3, 78, 36, 22.5, 13") == 5
    assert num_answers("180,000") == 1 and num_answers("1,000, 2") == 2
    assert num_answers("a; b") == 2 and num_answers(" ") == 0 and num_answers("15") == 1
