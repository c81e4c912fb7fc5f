"""Mutation check: apply each bug below to a copy of the engine and show the oracle catches it.

    python -m tests.mutations            # every mutation, after an unmutated control; exit 1 if one survives

Each mutation is one source edit that the first design's tests could not see. The copy is a
package of its own (`hogwild_mutant_<n>` in a fresh temporary directory, so nothing on disk is
shared with other test processes), imported beside the real `hogwild_core` and run in-process
against the naive oracle on one case that exercises everything the mutations touch (combined
layout, W=8 of which the last is an external worker given text mid-run, fast path: history
moves, inserted prompts, multi-token passes)."""

import importlib
import itertools
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> [(file in hogwild_core, text, replacement), ...]
MUTATIONS = {
    "other workers after the own-step header (combined)": [
        ("view.py", "return [PROMPT, HISTORY, HEADER_OTHERS, *others, HEADER_OWN, own]",
         "return [PROMPT, HISTORY, HEADER_OTHERS, HEADER_OWN, *others, own]")],
    "a one-position gap between segments": [
        ("view.py", "        offset += length\n", "        offset += length + 1\n")],
    "a step re-rotated twice on its move to the history": [
        ("cache.py", "shift_positions(moved_k, history_start, self.inv_freq)",
         "shift_positions(shift_positions(moved_k, history_start, self.inv_freq), history_start, self.inv_freq)")],
    "a worker sees another's same-pass token": [
        ("attention.py", "for name, _ in self.reads:", "for name, length_after in self.reads:"),
        ("attention.py", "(part.length if part else 0)", "(length_after if part else 0)"),
        ("fused.py", "for name, _ in self.reads:", "for name, length_after in self.reads:"),
        ("fused.py", "(part.length if part else 0)", "(length_after if part else 0)")],
    "no causal mask over a worker's own new tokens": [
        ("attention.py", "reach = limit[row] + own[row] * (index + 1)[:, None]",
         "reach = limit[row] + own[row] * num_new[row][:, None]"),
        ("fused.py", "reach += [seen + (i + 1) * own for seen, own in zip(row_seen, row_own)]",
         "reach += [seen + view.num_new * own for seen, own in zip(row_seen, row_own)]")],
    "an external worker's finished step never moves into the history": [
        ("engine.py", "if ended and has_history(self.config.layout):",
         "if ended and False:")],
    "an external worker is sampled like a model worker": [
        ("engine.py", "if w.status == GENERATING and not w.external and not w.num_pending]",
         "if w.status == GENERATING and not w.num_pending]")],
}
# The fast path's two kernels (runner.FAST_KERNELS); a mutation must be caught on each.
KERNELS = ("fused", "segments")
_COUNTER = itertools.count()


def mutant(edits, where: Path):
    """A copy of hogwild_core with `edits` applied, imported as a package of its own."""
    name = f"hogwild_mutant_{next(_COUNTER)}"
    shutil.copytree(ROOT / "hogwild_core", where / name, ignore=shutil.ignore_patterns("__pycache__"))
    for file, text, replacement in edits:
        path = where / name / file
        source = path.read_text()
        assert source.count(text) == 1, f"mutation no longer applies: {text!r} in {file}"
        path.write_text(source.replace(text, replacement))
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(where))


def caught(name: str | None, model, tokenizer, kernel: str = "fused") -> bool:
    """True if the oracle test fails on the mutated engine running the fast path's `kernel`
    (name None: the unmutated control)."""
    from hogwild_core import runner
    from tests.drive import SCRIPT_TEXT, VISITOR_TEXTS
    from tests.test_oracle import check_against_oracle, ids_of

    with tempfile.TemporaryDirectory(prefix="hogwild-mutant-") as tmp:
        package = mutant(MUTATIONS[name] if name else [], Path(tmp))
        try:
            config = package.EngineConfig(num_workers=8, layout="combined", attention="fast", max_new_tokens=14,
                                          max_answer_tokens=3, check_interval=5, collect_logits=True,
                                          external_workers=("You",))
            engine = package.HogwildEngine(model, tokenizer, config)
            engine.runner.kernel = kernel
            check_against_oracle(engine, model, tokenizer, ids_of(tokenizer, SCRIPT_TEXT), writes=VISITOR_TEXTS)
        except AssertionError:
            return True
        finally:
            runner.register()     # the mutant registered its own "hogwild" attention: take it back
            for module in [m for m in sys.modules if m.startswith(package.__name__)]:
                del sys.modules[module]
    return False


def main() -> int:
    import torch
    from transformers import AutoTokenizer

    from hogwild_core import default_model_file
    from tests.conftest import make_tiny_model

    torch.set_num_threads(1)
    gguf = default_model_file()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    model = make_tiny_model("llama", len(tokenizer), 2)
    if any(caught(None, model, tokenizer, kernel) for kernel in KERNELS):
        print("the unmutated copy fails: fix that first")
        return 2
    survivors = []
    for name in MUTATIONS:
        for kernel in KERNELS:
            ok = caught(name, model, tokenizer, kernel)
            print(f"{'caught ' if ok else 'SURVIVED'}  {name} ({kernel} kernel)", flush=True)
            if not ok:
                survivors.append((name, kernel))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
