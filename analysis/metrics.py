"""Collaboration metrics: plain functions over what the workers wrote.

Contract: nothing here touches a model, a tensor or the engine. The input is each worker's
transcript as *pieces* (text, inserted?) in the order it was written, each piece tagged with
the lock-step pass that wrote it; `split_steps` cuts that into reasoning steps (paragraphs, by
the engine's own step-end rule), and the metrics read the steps:

* redundancy     - share of steps whose sampled text near-duplicates a step another worker
                   finished earlier (word 3-gram containment >= 0.6; short steps by equality);
* impersonation  - steps in which a worker writes under another worker's name;
* copied prompts - steps whose sampled text repeats text the engine inserted (an opener, a plan,
                   the redundancy check); self-repeats - steps that repeat the worker's own earlier step;
* parts          - for a problem with known parts, which part each worker's steps work on, the
                   first part each worker starts, and how many distinct parts were started.

Near-duplicate detection (`hogwild_core.similarity`) is the engine's own: it triggers the
redundancy check with it on token ids; here it runs on words."""

import re
from dataclasses import dataclass

from hogwild_core.prompts import WORKER_NAMES, is_final_answer_text, is_step_end
from hogwild_core.similarity import MIN_WORDS, near_duplicate



@dataclass(frozen=True)
class Step:
    worker: int
    index: int           # 1-based, per worker
    text: str            # what the worker sampled in this step
    prompt: str          # what the engine inserted inside this step (header, opener, check)
    start: int           # pass that wrote its first piece
    end: int             # pass that wrote its last piece


# ---- near-duplicates ---------------------------------------------------------------------------
_WORD = re.compile(r"[A-Za-z]+|\d+(?:[.,]\d+)*|[=+\-/×÷^<>]")   # no "*": markdown bold, not a product


def words(text: str) -> list[str]:
    """Lower-cased words, numbers and operators: what two steps must share to say the same thing."""
    return [w.lower() for w in _WORD.findall(text)]


# ---- steps -------------------------------------------------------------------------------------
@dataclass
class _Open:
    text: str = ""
    prompt: str = ""
    start: int | None = None
    end: int = 0


def split_steps(worker: int, pieces: list[tuple[str, bool, int]]) -> list[Step]:
    """pieces: (text, inserted, pass) in writing order -> the worker's steps of the work phase.
    A step ends where the sampled text reaches a paragraph break after a sentence (the engine's
    rule), or where the engine inserts text after it (a step label, a check); the forced final
    answer is not a step."""
    steps, current = [], _Open()
    for text, inserted, when in pieces:
        if inserted and is_final_answer_text(text):
            break
        if inserted:
            if current.text.strip():
                steps.append(_closed(worker, len(steps) + 1, current))
                current = _Open()
            if current.start is None:
                current.start = when
            current.end = when
            current.prompt += text
            continue
        # A piece can hold a break and the start of the next step: cut it at each break.
        for part in re.split(r"(?<=\n\n)", text):
            if not part:
                continue
            if current.start is None:
                current.start = when
            current.end = when
            current.text += part
            if is_step_end(current.text):
                steps.append(_closed(worker, len(steps) + 1, current))
                current = _Open()
    if current.text.strip():
        steps.append(_closed(worker, len(steps) + 1, current))
    return steps


def _closed(worker: int, index: int, step: _Open) -> Step:
    return Step(worker, index, step.text, step.prompt, step.start or 0, step.end)


def is_work(step: Step) -> bool:
    return len(words(step.text)) >= MIN_WORDS


# ---- the metrics ---------------------------------------------------------------------------------
def redundant_steps(steps: list[Step]) -> list[Step]:
    """Steps that near-duplicate a step of another worker that ended earlier (or in the same
    pass, by a worker with a lower index: of two simultaneous copies, one counts)."""
    tokenized = [(s, words(s.text)) for s in steps]
    found = []
    for step, mine in tokenized:
        for other, theirs in tokenized:
            if other.worker == step.worker:
                continue
            earlier = other.end < step.end or (other.end == step.end and other.worker < step.worker)
            if earlier and near_duplicate(mine, theirs):
                found.append(step)
                break
    return found


# looser than prompts.STEP_LABEL on purpose: a model imitating a label gets its spacing and colon wrong
_NAMED = re.compile(r"\*\*\s*(%s)\s*\[\d+\]" % "|".join(WORKER_NAMES))
_SELF_INTRO = re.compile(r"\b(?:I am|I'm|this is|it's|It's|This is)\s+(%s)\b" % "|".join(WORKER_NAMES))
_SPEAKER = re.compile(r"(?:^|\n)\s*\**(%s)\**\s*(?:\[\d+\])?\s*:" % "|".join(WORKER_NAMES))


def impersonating_steps(steps: list[Step]) -> list[Step]:
    """Steps whose sampled text speaks as another worker: writes another's step header
    ("**Bob [3]:**"), a speaker tag ("Bob:" at a line start), or "I'm Bob"."""
    found = []
    for step in steps:
        own = WORKER_NAMES[step.worker]
        names = (_NAMED.findall(step.text) + _SELF_INTRO.findall(step.text) + _SPEAKER.findall(step.text))
        if any(name != own for name in names):
            found.append(step)
    return found


def prompt_copying_steps(steps: list[Step], prompts: list[str]) -> list[Step]:
    """Steps that repeat text the engine inserted in the run (an opener, a plan, the check):
    the step mostly consists of it, or reproduces most of it."""
    inserted = [words(p) for p in prompts if len(words(p)) >= MIN_WORDS]
    found = []
    for step in steps:
        mine = words(step.text)
        if any(near_duplicate(mine, p) or near_duplicate(p, mine) for p in inserted):
            found.append(step)
    return found


def self_repeating_steps(steps: list[Step]) -> list[Step]:
    """Steps that near-duplicate an earlier step of the same worker (a worker stuck in a loop)."""
    found = []
    for step in steps:
        mine = words(step.text)
        if any(o.worker == step.worker and o.index < step.index and near_duplicate(mine, words(o.text))
               for o in steps):
            found.append(step)
    return found


# ---- parts of a multi-part problem -----------------------------------------------------------------
_LABEL = re.compile(r"(?:part|question|problem|task|q)\s*\(?\s*([a-h1-8])\s*\)?|\(([a-h])\)", re.I)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _numbers(text: str) -> set[str]:
    return {n.rstrip("0").rstrip(".") if "." in n else n for n in _NUMBER.findall(text.replace(",", ""))}


def part_of(text: str, parts: list[str]) -> int | None:
    """Which part (0-based) a piece of reasoning works on: the part it names ("part (b)",
    "question 2"), else the part whose distinctive numbers it uses most; None if unclear."""
    labels = []
    for letter, paren in _LABEL.findall(text[:200]):
        label = (letter or paren).lower()
        index = ord(label) - ord("a") if label.isalpha() else int(label) - 1
        if 0 <= index < len(parts):
            labels.append(index)
    if labels:
        return labels[0]
    mine = _numbers(text)
    per_part = [_numbers(p) for p in parts]
    scores = []
    for j, nums in enumerate(per_part):
        others = set().union(*(per_part[:j] + per_part[j + 1:]))
        scores.append(len(mine & (nums - others)))
    best = max(scores, default=0)
    if best == 0 or scores.count(best) > 1:
        return None
    return scores.index(best)


def first_parts(steps: list[Step], parts: list[str], num_workers: int) -> list[int | None]:
    """The first part each worker's work steps turn to (None if none could be told)."""
    first: list[int | None] = [None] * num_workers
    for step in sorted(steps, key=lambda s: (s.worker, s.index)):
        if first[step.worker] is None and is_work(step):
            first[step.worker] = part_of(step.text, parts)
    return first


def parts_started(steps: list[Step], parts: list[str]) -> set[int]:
    return {p for p in (part_of(s.text, parts) for s in steps if is_work(s)) if p is not None}


@dataclass(frozen=True)
class CollaborationReport:
    num_steps: int                 # work steps (>= MIN_WORDS words) over all workers
    redundancy: float              # share of work steps that near-duplicate an earlier step of another
    impersonations: int            # steps written under another worker's name
    copied_prompts: int            # steps that copy inserted text
    self_repeats: int              # steps that repeat the same worker's earlier step
    first_parts: list | None       # per worker, the part it started first (multi-part problems)
    parts_started: int | None      # distinct parts any worker worked on
    distinct_first_parts: bool | None  # every worker that started a known part started a different one
    correct: bool | None           # final answer correct, when the answer is known

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def collaboration_report(steps: list[Step], prompts: list[str], num_workers: int,
                         parts: list[str] | None = None, correct: bool | None = None) -> CollaborationReport:
    work = [s for s in steps if is_work(s)]
    redundant = redundant_steps(work)
    firsts = started = distinct = None
    if parts:
        firsts = first_parts(work, parts, num_workers)
        started = len(parts_started(work, parts))
        known = [p for p in firsts if p is not None]
        distinct = len(known) >= min(2, num_workers) and len(set(known)) == len(known)
    return CollaborationReport(
        num_steps=len(work), redundancy=round(len(redundant) / len(work), 4) if work else 0.0,
        impersonations=len(impersonating_steps(steps)), copied_prompts=len(prompt_copying_steps(work, prompts)),
        self_repeats=len(self_repeating_steps(work)),
        first_parts=firsts, parts_started=started, distinct_first_parts=distinct, correct=correct)


def pieces_from_records(records, num_workers: int) -> list[list[tuple[str, bool, int]]]:
    """Per-pass records as traces and the page keep them (for each pass, per worker, a list of
    [text, inserted]) -> per worker, (text, inserted, pass) with passes counted from 1. Entries of
    the wrong shape are skipped: a replayed file may hold anything."""
    pieces: list[list[tuple[str, bool, int]]] = [[] for _ in range(num_workers)]
    for number, per_worker in enumerate(records, 1):
        for w, worker_pieces in list(enumerate(per_worker or []))[:num_workers]:
            pieces[w].extend((piece[0], bool(piece[1]), number) for piece in worker_pieces or []
                             if isinstance(piece, (list, tuple)) and len(piece) == 2 and isinstance(piece[0], str))
    return pieces


def report_of_pieces(pieces: list[list[tuple[str, bool, int]]], num_workers: int,
                     parts: list[str] | None = None, correct: bool | None = None) -> CollaborationReport:
    """The report of a run given each worker's pieces: cut into steps, inserted text as prompts."""
    steps = [s for w in range(num_workers) for s in split_steps(w, [tuple(p) for p in pieces[w]])]
    inserted = [p[0] for w in range(num_workers) for p in pieces[w] if p[1]]
    return collaboration_report(steps, inserted, num_workers, parts, correct)
