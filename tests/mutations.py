"""Mutation check: apply each bug below to a copy of the code and show the tests catch it.

    python -m tests.mutations            # every mutation; exit status 1 if one survives
    python -m tests.mutations --full     # against all the oracle tests, not just the first case

Each mutation is one source edit that an earlier design's tests could not see. The copy lives
in a fresh temporary directory (safe to run beside other test processes); the tests run there
with -x, so a caught mutation stops at its first failing test."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# One oracle case (combined, W=8, fast path: history moves, inserted prompts, multi-token passes)
# catches every mutation below; --full runs all the oracle tests.
FIRST_CASE = ("tests/test_oracle.py::test_engine_equals_the_naive_oracle[llama-combined-8-fast-512]",)
FULL = ("tests/test_oracle.py::test_engine_equals_the_naive_oracle",
        "tests/test_oracle.py::test_views_equal_the_layout_oracle")

# name -> [(file, text, replacement), ...]
MUTATIONS = {
    "other workers after the own-step header (combined)": [
        ("hogwild_core/view.py", "return [PROMPT, HISTORY, HEADER_OTHERS, *others, HEADER_OWN, own]",
         "return [PROMPT, HISTORY, HEADER_OTHERS, HEADER_OWN, *others, own]")],
    "a one-position gap between segments": [
        ("hogwild_core/view.py", "        offset += length\n", "        offset += length + 1\n")],
    "a step re-rotated twice on its move to the history": [
        ("hogwild_core/cache.py", "shift_positions(moved_k, history_start, self.inv_freq)",
         "shift_positions(shift_positions(moved_k, history_start, self.inv_freq), history_start, self.inv_freq)")],
    "a worker sees another's same-pass token": [
        ("hogwild_core/attention.py", "for name, _ in self.reads:", "for name, length_after in self.reads:"),
        ("hogwild_core/attention.py", "(part.length if part else 0)", "(length_after if part else 0)")],
    "no causal mask over a worker's own new tokens": [
        ("hogwild_core/attention.py", "reach = limit[row] + own[row] * (index + 1)[:, None]",
         "reach = limit[row] + own[row] * num_new[row][:, None]")],
}


def mutated_copy(edits, where: Path) -> None:
    for name in ("hogwild_core", "tests"):
        shutil.copytree(ROOT / name, where / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pytest.ini", where / "pytest.ini")
    for file, text, replacement in edits:
        path = where / file
        source = path.read_text()
        assert source.count(text) == 1, f"mutation no longer applies: {text!r} in {file}"
        path.write_text(source.replace(text, replacement))


def caught(name: str | None, tests: tuple[str, ...] = FIRST_CASE) -> bool:
    """True if the tests fail on the mutated copy (name None: an unmutated copy, the control)."""
    with tempfile.TemporaryDirectory(prefix="hogwild-mutant-") as tmp:
        mutated_copy(MUTATIONS[name] if name else [], Path(tmp))
        result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider",
                                 *tests],
                                cwd=tmp, capture_output=True, text=True)
        return result.returncode == 1       # 1: tests ran and some failed (not a usage or collection error)


def main() -> int:
    tests = FULL if "--full" in sys.argv[1:] else FIRST_CASE
    if caught(None, tests):
        print("the unmutated copy fails: fix that first")
        return 2
    survivors = []
    for name in MUTATIONS:
        ok = caught(name, tests)
        print(f"{'caught ' if ok else 'SURVIVED'}  {name}", flush=True)
        if not ok:
            survivors.append(name)
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
