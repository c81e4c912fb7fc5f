"""Every listed bug, applied to a copy of the engine, makes the oracle test fail (tests/mutations.py)."""

import pytest

from tests.mutations import KERNELS, MUTATIONS, caught

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_unmutated_copy_passes(kernel, tiny_models, tokenizer):
    assert not caught(None, tiny_models("llama", 2), tokenizer, kernel), \
        "the control copy fails: a catch would prove nothing"


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_is_caught(name, kernel, tiny_models, tokenizer):
    assert caught(name, tiny_models("llama", 2), tokenizer, kernel), f"the tests did not notice: {name} ({kernel})"
