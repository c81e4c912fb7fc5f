"""Helpers that drive an engine with scripted tokens, so step ends, history flushes, inserted
prompts and the answer phase all happen on random-weight models."""

import torch

from hogwild_core import HogwildEngine

# One paragraph: a sentence, then "\n" "\n" (two tokens, as SmolLM2 writes a paragraph break).
SCRIPT_TEXT = ["The", " sum", " is", " five", ".", "\n", "\n"]


def script_ids(tokenizer) -> list[int]:
    ids = [tokenizer.encode(piece, add_special_tokens=False) for piece in SCRIPT_TEXT]
    assert all(len(i) == 1 for i in ids), ids
    return [i[0] for i in ids]


def forced_tokens(script: list[int], pass_number: int, num_workers: int) -> list[int]:
    """Token for every worker at pass `pass_number`; workers are out of phase, and their paragraphs differ in
    length, so their steps end at different times."""
    out = []
    for w in range(num_workers):
        cycle = script[:1] * (w % 3) + script   # longer paragraphs for some workers
        out.append(cycle[(pass_number + 2 * w) % len(cycle)])
    return out


# What an external worker is given mid-run, by pass: two steps at once, text that ends no sentence
# (it stays in the step in progress), then a sentence that ends that step.
VISITOR_TEXTS = {2: "I take part (c).\n\nAlice, check Bob's (b).", 6: "hi there",
                 9: "Done: the sum is five, and 2 + 3 = 5 checks it."}


def run_lockstep(engines: list[HogwildEngine], problem: str, script: list[int], max_passes: int = 200,
                 writes: dict[int, str] | None = None):
    """Run all engines pass by pass with the same forced tokens; yield the list of their events per pass.
    writes: pass number -> text given, before that pass, to every engine's external workers."""
    for engine in engines:
        engine.start(problem)
    pass_number = 0
    while not engines[0].done and pass_number < max_passes:
        for engine in engines:
            if writes and pass_number in writes and engine.phase == "work":
                for w in range(engine.config.num_model_workers, engine.config.num_workers):
                    engine.write(w, writes[pass_number])
        force = forced_tokens(script, pass_number, engines[0].config.num_workers)
        events = [engine.run_pass(force=force) for engine in engines]
        yield events
        pass_number += 1
    assert all(e.done for e in engines), "runs did not finish together"


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Max |a - b| over entries that are finite in a; NaN patterns must agree."""
    assert torch.equal(torch.isnan(a), torch.isnan(b))
    finite = ~torch.isnan(a)
    return float((a[finite] - b[finite]).abs().max()) if finite.any() else 0.0
