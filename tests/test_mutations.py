"""Every listed bug, applied to a copy of the code, makes the oracle tests fail (tests/mutations.py)."""

import pytest

from tests.mutations import MUTATIONS, caught

pytestmark = pytest.mark.slow


def test_the_unmutated_copy_passes():
    assert not caught(None), "the control copy fails, so a caught mutation would prove nothing"


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_is_caught(name):
    assert caught(name), f"the tests did not notice: {name}"
