"""The evaluation's run record: one method run once on one problem, probed at every budget.

`EvalRun` is what `runner.run_task` produces, what `store.ResultStore` appends to results.jsonl
and reads back, what the tables count and what the page's Evaluation tab shows (it turns a run
cut at a budget into the page's own `demo.records.RunLog`). A run holds each worker's transcript
as `TranscriptPiece`s (text, inserted, pass) and one `Probe` per budget: the answer if the run had been cut there.

The file keeps one JSON object per line, with the keys of the dataclasses below; a piece is a
[text, inserted, pass] list there and a tuple here. Records from before a field existed are read with its default
(`split` "chosen", no `team_sizes`, no `machine`, ...). Only this module maps JSON to these types
and back (`run_from_json`, `run_to_json`), and it checks every field it reads, so a malformed line
is a `RecordError` that says which field, never a KeyError later in a table."""

from dataclasses import asdict, dataclass, fields
from hogwild_core.prompts import ANSWER_PROMPTS

from .errors import EvaluationError

AFTER_RUN = 1 << 30     # the pass of text written after the recorded passes (an answer the engine wrote itself)


class RecordError(EvaluationError):
    """A results line that is not a run record, and which field is wrong."""


# What one worker wrote in one lock-step pass (pass 0: before the first pass), split where sampled
# text meets text the engine inserted: (text, inserted, pass). A plain tuple, not a named one: a
# folder holds about half a million of them, and the page reads them all when it opens one.
TranscriptPiece = tuple[str, bool, int]


@dataclass(frozen=True)
class Probe:
    """The run cut after `budget` passes: its forced answers and their verdicts."""
    budget: int                     # the budget probed (for a single run's equal-compute row: W x a budget)
    passes: int                     # passes made by then (fewer if the reasoning ended earlier)
    seconds: float                  # what a run cut here takes: its passes, then its forced answer
    answers: tuple                  # per answering worker, the answer read (None: none readable)
    answer: str | None              # the method's answer (an independent team's: the majority vote)
    correct: bool
    any_correct: bool               # some answering worker right
    tokens: int                     # tokens sampled by all workers up to the cut
    wasted_tokens: int              # sampled after a right answer first stood in some worker's text
    metrics: dict                   # analysis.metrics' collaboration report up to the cut
    worker_correct: tuple | None = None         # per answering worker
    part_correct: tuple | None = None           # per question of a multi-part problem
    worker_part_correct: tuple | None = None    # per answering worker, per question


@dataclass(frozen=True)
class EvalRun:
    task_set: str
    problem_id: str
    seed: int                       # the evaluation's seed (each method derives its engine's from it)
    model: str
    problem: str
    parts: tuple                    # the problem's questions or labelled parts (empty: one answer)
    reference: object               # the expected answer: a string, or one per part
    method: str                     # single | independent | hogwild | planned (evaluation.methods)
    layout: str
    workers: int
    probes: tuple                   # Probe per budget, in increasing order
    pieces: tuple                   # per worker, its TranscriptPieces in order
    seconds_total: float = 0.0
    ended_at: int | None = None     # the pass after which the reasoning was over (None: ran to the budget)
    context_full_at: int | None = None
    first_correct_pass: int | None = None
    split: str = "chosen"           # who split the work: the workers ("chosen") or the prompt ("planned")
    engine_seed: int | None = None
    team_sizes: tuple = ()          # a single run's: the team sizes it was also probed for (W x budget)
    machine: str | None = None      # which machine ran it (runs of one folder may differ)
    answer_prompt: str = "plain"    # how its forced answers were asked for (prompts.ANSWER_PROMPTS); runs
                                    # that differ only in it share one transcript (probing.run_task_prompts)

    @property
    def key(self) -> tuple:
        """What identifies a run in a folder: a folder holds each key once."""
        return run_key(self.task_set, self.problem_id, self.method, self.layout, self.workers, self.split, self.seed,
                       self.answer_prompt)

    @property
    def method_key(self) -> tuple:
        """What the tables compare: the method, and the answer prompt where it is not the plain one."""
        base = (self.method, self.layout, self.workers, self.split)
        return base if self.answer_prompt == "plain" else (*base, self.answer_prompt)

    def probe_at(self, budget: int) -> Probe | None:
        return next((p for p in self.probes if p.budget == budget), None)


def run_key(task_set: str, problem_id: str, method: str, layout: str, workers: int, split: str, seed: int,
            answer_prompt: str = "plain") -> tuple:
    return (task_set, problem_id, method, layout, workers, split, seed, answer_prompt)


# ---- JSON -> records, every field checked --------------------------------------------------------------
def run_from_json(obj) -> EvalRun:
    if not isinstance(obj, dict):
        raise RecordError("a record must be a JSON object")
    get = _Fields(obj, "")
    workers = get.whole("workers", low=1)
    pieces = get.items("pieces")
    if len(pieces) != workers:
        raise RecordError(f"pieces: {len(pieces)} transcripts for {workers} workers")
    return EvalRun(
        task_set=get.text("task_set"), problem_id=get.text("problem_id"), seed=get.whole("seed"),
        model=get.text("model", default="default"), problem=get.text("problem", default=""),
        parts=tuple(get.items("parts", default=[], item=str)), reference=get.value("reference", default=""),
        method=get.text("method"), layout=get.text("layout"), workers=workers,
        probes=tuple(_probe(p, f"probes[{i}].") for i, p in enumerate(get.items("probes", item=dict))),
        pieces=tuple(_lane(lane, f"pieces[{w}]") for w, lane in enumerate(pieces)),
        seconds_total=get.number("seconds_total", default=0.0), ended_at=get.optional_whole("ended_at"),
        context_full_at=get.optional_whole("context_full_at"), first_correct_pass=get.optional_whole("first_correct_pass"),
        split=get.text("split", default="chosen"), engine_seed=get.optional_whole("engine_seed"),
        team_sizes=tuple(get.items("team_sizes", default=[], item=int)),
        machine=get.text("machine", default=None), answer_prompt=_answer_prompt(get.text("answer_prompt", default="plain")))


def _answer_prompt(name: str) -> str:
    if name not in ANSWER_PROMPTS:
        raise RecordError(f"answer_prompt: must be one of {', '.join(ANSWER_PROMPTS)}")
    return name


def _probe(obj: dict, where: str) -> Probe:
    get = _Fields(obj, where)
    return Probe(budget=get.whole("budget", low=1), passes=get.whole("passes", low=0), seconds=get.number("seconds", default=0.0),
                 answers=tuple(get.items("answers", default=[])), answer=get.text("answer", default=None),
                 correct=get.flag("correct"), any_correct=get.flag("any_correct"),
                 tokens=get.whole("tokens", default=0), wasted_tokens=get.whole("wasted_tokens", default=0),
                 metrics=get.value("metrics", default={}, kind=dict),
                 worker_correct=_bools(get.items("worker_correct", default=None, item=bool)),
                 part_correct=_bools(get.items("part_correct", default=None, item=bool)),
                 worker_part_correct=_nested_bools(get.items("worker_part_correct", default=None, item=list),
                                                   where + "worker_part_correct"))


def _lane(value, where: str) -> tuple[TranscriptPiece, ...]:
    if not (isinstance(value, list) and all(
            type(p) is list and len(p) == 3 and type(p[0]) is str and type(p[1]) is bool and type(p[2]) is int
            for p in value)):
        raise RecordError(f"{where}: must be a list of [text, inserted, pass] pieces")
    return tuple(map(tuple, value))


def _bools(values):
    return None if values is None else tuple(values)


def _nested_bools(rows, where: str):
    if rows is None:
        return None
    if not all(isinstance(v, bool) for row in rows for v in row):
        raise RecordError(f"{where}: must hold lists of true/false")
    return tuple(tuple(row) for row in rows)


def _list(value, where: str) -> list:
    if not isinstance(value, list):
        raise RecordError(f"{where}: must be a list")
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_REQUIRED = object()


class _Fields:
    """Typed reads of one JSON object's fields, naming the field in every error."""

    def __init__(self, obj: dict, where: str):
        self.obj, self.where = obj, where

    def value(self, key: str, default=_REQUIRED, kind: type | None = None):
        if key not in self.obj:
            if default is _REQUIRED:
                raise RecordError(f"{self.where}{key}: missing")
            return default
        value = self.obj[key]
        if kind is not None and not isinstance(value, kind):
            raise RecordError(f"{self.where}{key}: must be a {kind.__name__}")
        return value

    def text(self, key: str, default=_REQUIRED):
        value = self.value(key, default)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"{self.where}{key}: must be text")
        return value

    def flag(self, key: str) -> bool:
        return self.value(key, kind=bool)

    def whole(self, key: str, default=_REQUIRED, low: int | None = None) -> int:
        value = self.value(key, default)
        if not _is_int(value) or (low is not None and value < low):
            raise RecordError(f"{self.where}{key}: must be a whole number" + (f" >= {low}" if low is not None else ""))
        return value

    def optional_whole(self, key: str) -> int | None:
        value = self.value(key, None)
        if value is not None and not _is_int(value):
            raise RecordError(f"{self.where}{key}: must be a whole number or null")
        return value

    def number(self, key: str, default=_REQUIRED) -> float:
        value = self.value(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecordError(f"{self.where}{key}: must be a number")
        return value

    def items(self, key: str, default=_REQUIRED, item: type | None = None):
        value = self.value(key, default)
        if value is None and default is None:
            return None
        _list(value, self.where + key)
        if item is not None and not all(isinstance(v, item) and not (item is int and isinstance(v, bool)) for v in value):
            raise RecordError(f"{self.where}{key}: every entry must be a {item.__name__}")
        return value


# ---- records -> JSON ------------------------------------------------------------------------------------------
_OPTIONAL_PROBE_FIELDS = ("worker_correct", "part_correct", "worker_part_correct")


def run_to_json(run: EvalRun) -> dict:
    """The record as results.jsonl keeps it (lists for tuples; a probe's absent verdicts left out)."""
    out = {}
    for f in fields(EvalRun):
        value = getattr(run, f.name)
        if f.name == "probes":
            value = [_probe_to_json(p) for p in value]
        elif f.name == "pieces":
            value = [[list(piece) for piece in lane] for lane in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _probe_to_json(probe: Probe) -> dict:
    out = asdict(probe)
    for name in _OPTIONAL_PROBE_FIELDS:
        if out[name] is None:
            del out[name]
        else:
            out[name] = [list(v) if isinstance(v, tuple) else v for v in out[name]]
    out["answers"] = list(out["answers"])
    return out
