"""Every listed bug, applied to a copy of the engine, makes the oracle test fail (tests/mutations.py)."""

import pytest

from tests.mutations import MUTATIONS, caught

pytestmark = pytest.mark.slow


def test_the_unmutated_copy_passes(tiny_models, tokenizer):
    assert not caught(None, tiny_models("llama", 2), tokenizer), "the control copy fails: a catch would prove nothing"


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_is_caught(name, tiny_models, tokenizer):
    assert caught(name, tiny_models("llama", 2), tokenizer), f"the tests did not notice: {name}"
