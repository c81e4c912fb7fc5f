"""Scoring a run: pure functions over answers and transcript pieces.

* majority_vote - the answer most workers gave, compared in canonical form. Ties go to the
  tied answer given by the lowest-numbered worker (Alice before Bob), so a vote is
  deterministic; unreadable answers (None) only win when no worker gave a readable one;
* wilson_interval - 95% score interval of an accuracy (behaves at 0 and at n);
* mcnemar_exact - two-sided exact McNemar test of two methods on the same problems;
* first_correct_pass / wasted_tokens - the first pass after which a correct \\boxed{} stood in
  some worker's sampled text, and how many tokens the workers sampled after it;
* collaboration - analysis.metrics' report on the steps written up to a pass.

A piece is (text, inserted, pass): what one worker wrote in one lock-step pass (pass 0: before
the first pass), split where sampled text meets engine-inserted text."""

import math
from collections import Counter

from analysis.answers import BOXED, canonical, is_correct
from analysis.metrics import collaboration_report, split_steps
from hogwild_core.prompts import boxed_close

from .records import TranscriptPiece



def majority_vote(answers: list[str | None], num_parts: int = 1) -> str | None:
    keys = [canonical(a, num_parts) for a in answers]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return next((a for a in answers if a is not None), None)
    best = max(counts.values())
    for answer, key in zip(answers, keys):      # worker order breaks ties
        if key is not None and counts[key] == best:
            return answer
    return None


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value of paired outcomes, from the discordant pairs: how often only
    the first method was right, and how often only the second."""
    n = only_first + only_second
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_first, only_second) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def upto(pieces: list[TranscriptPiece], last_pass: int) -> list[TranscriptPiece]:
    return [p for p in pieces if p[2] <= last_pass]


def sampled_tokens(pieces_by_worker: list[list[TranscriptPiece]], after: int = 0, last_pass: int | None = None) -> int:
    """Sampled tokens in passes (after, last_pass]. A worker samples at most one token per pass,
    so this is the number of its sampled pieces in that range."""
    return sum(1 for pieces in pieces_by_worker for text, inserted, when in pieces
               if not inserted and after < when and (last_pass is None or when <= last_pass))


def first_correct_pass(pieces_by_worker: list[list[TranscriptPiece]], reference) -> int | None:
    """The pass whose token closed the first correct \\boxed{...} in any worker's sampled text."""
    best = None
    for pieces in pieces_by_worker:
        text, ends = "", []                       # ends[i]: pass that wrote text[i]
        for piece, inserted, when in pieces:
            if not inserted:
                text += piece
                ends += [when] * len(piece)
        for answer, close in _boxed_with_ends(text):
            if is_correct(answer, reference):
                best = ends[close] if best is None else min(best, ends[close])
                break
    return best


def _boxed_with_ends(text: str):
    """(contents, index of the closing brace) of every complete \\boxed{...} in text."""
    start = text.find(BOXED)
    while start != -1:
        opened = start + len(BOXED)
        close = boxed_close(text[opened:])
        if close is not None:
            yield text[opened:opened + close].strip(), opened + close
        start = text.find(BOXED, opened)


def wasted_tokens(pieces_by_worker: list[list[TranscriptPiece]], reference, last_pass: int) -> int:
    found = first_correct_pass(pieces_by_worker, reference)
    if found is None or found > last_pass:
        return 0
    return sampled_tokens(pieces_by_worker, after=found, last_pass=last_pass)


def collaboration(pieces_by_worker: list[list[TranscriptPiece]], last_pass: int, parts: list[str] | None = None,
                  correct: bool | None = None) -> dict:
    """analysis.metrics' collaboration report on what was written up to `last_pass`."""
    steps, prompts = [], []
    for w, pieces in enumerate(pieces_by_worker):
        mine = upto(pieces, last_pass)
        steps += split_steps(w, mine)
        prompts += [text for text, inserted, _ in mine if inserted]
    report = collaboration_report(steps, prompts, len(pieces_by_worker), parts or None, correct)
    return report.as_dict()
