"""Plain records of a run: what every panel, chart and trace file reads.

Statistics flow one way. `PassRecorder` turns each engine PassEvent into a `PassRecord` (token
ids, the text each worker gained, finished steps, attention mass per block, attention shares);
`RunLog` keeps those records plus what the panels draw from them, as named tuples (each worker's
lane of `LanePiece`s, the shared history's `HistoryStep`s), and the latest snapshot of the cache
(blocks, each worker's view as `ViewBlock`s, per-layer attention of the latest pass). A replayed
trace fills a RunLog with the same records, so live runs and replays go through the same views,
and no view ever touches the engine.

A PassRecord's fields use this project's words: `pass_number` is the lock-step pass, and "step"
always means a reasoning step. The trace file (demo/traces.py, format version 1) keeps the keys
it was first written with (a pass's number under "step", a trace's passes under "steps"); those
keys live only in the file format, mapped to and from PassRecord in one place
(`traces.pass_to_json`, `traces.pass_from_json`)."""

from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from hogwild_core.blocks import CURRENT_KIND, STEP_KIND

DIGITS = 5   # attention mass is rounded to this many decimals in records and traces
SHARE_KINDS = ("own", "others", "shared")
_BLOCK_KIND_WORDS = {STEP_KIND: "finished step", CURRENT_KIND: "step in progress"}


class ViewBlock(NamedTuple):
    """One block of a worker's view, in view order: where it sits and what it says."""
    block_id: int
    start: int          # its first position in the worker's view
    length: int         # tokens of it the worker sees
    text: str


class LanePiece(NamedTuple):
    """A run of a worker's text: sampled by the model, or inserted (an opener, a label, a prompt)."""
    text: str
    inserted: bool


class HistoryStep(NamedTuple):
    """A finished reasoning step, in the order steps moved into the shared history."""
    block_id: int
    owner: int | None
    text: str


@dataclass(frozen=True)
class PassRecord:
    """One lock-step pass of all workers: what it took, what each worker gained, what it attended to."""
    pass_number: int                        # 1, 2, ... in the run's order
    phase: str                              # "work" or "answer"
    seconds: float                          # this pass's time
    elapsed: float                          # time since Run (prompt included) at the end of this pass
    cache_tokens: int                       # the KV cache after the pass: tokens
    cache_bytes: int                        # and bytes
    tokens: list[int | None]                # per worker, the token it sampled (None: it sampled none)
    pieces: list[list[LanePiece]]           # per worker, the text it gained in this pass
    flushed: list[HistoryStep]              # steps that moved into the shared history in this pass
    attention: list[list[float]] | None     # [W][B] attention mass per cache block, mean over layers
    shares: list[list[float] | None] | None  # per worker [own, others, shared] (SHARE_KINDS); None: it did not run


def block_kind_words(kind: str) -> str:
    """A block's kind as the page says it ("step" -> "finished step"); other kinds as they are."""
    return _BLOCK_KIND_WORDS.get(kind, kind)


def attention_shares(row: list[float], owners: list[int | None], w: int) -> list[float] | None:
    """Worker w's attention mass on its own blocks, other workers' blocks, and shared blocks
    (prompt, headers). None if the row is empty (the worker did not run in this pass)."""
    own = others = shared = 0.0
    for mass, owner in zip(row, owners):
        if owner is None:
            shared += mass
        elif owner == w:
            own += mass
        else:
            others += mass
    if own + others + shared <= 0.0:
        return None
    return [round(own, DIGITS), round(others, DIGITS), round(shared, DIGITS)]


@dataclass
class RunLog:
    """One run (live or replayed): meta, per-pass records, latest cache snapshot."""
    meta: dict                                     # settings, model, worker_names, num_layers, label
    passes: list[PassRecord] = field(default_factory=list)  # one record per pass, in order
    blocks: list[dict] = field(default_factory=list)        # id, kind, owner, segment, length, text
    views: list[list[ViewBlock]] = field(default_factory=list)  # per worker, in view order
    workers: list[dict] = field(default_factory=list)       # final transcripts: name, tokens, text, inserted
    last_attention_by_layer: list | None = None             # [L][W][B] of the latest pass
    answer: str | None = None
    status: str = "running"                                 # running | finished | stopped | failed
    lanes: list[list[LanePiece]] = field(default_factory=list)  # per worker, its text so far
    history: list[HistoryStep] = field(default_factory=list)    # finished steps in order
    sampled: list[int] = field(default_factory=list)        # tokens sampled per worker

    def __post_init__(self):
        W = self.num_workers
        self.views = [[ViewBlock(*entry) for entry in view] for view in self.views]   # from a trace: lists
        self.lanes = self.lanes or [[] for _ in range(W)]
        self.sampled = self.sampled or [0] * W

    @property
    def num_workers(self) -> int:
        return len(self.meta["worker_names"])

    @property
    def layout(self) -> str:
        return self.meta["settings"]["layout"]

    @property
    def elapsed(self) -> float:
        return self.passes[-1].elapsed if self.passes else 0.0

    def add_pass(self, record: PassRecord) -> None:
        self.passes.append(record)
        for w, pieces in enumerate(record.pieces):
            lane = self.lanes[w]
            for piece in pieces:
                if lane and lane[-1].inserted == piece.inserted:
                    lane[-1] = LanePiece(lane[-1].text + piece.text, piece.inserted)
                else:
                    lane.append(piece)
        for w, token in enumerate(record.tokens):
            self.sampled[w] += token is not None
        self.history.extend(record.flushed)

    def lane_text(self, w: int) -> str:
        return "".join(piece.text for piece in self.lanes[w])


class PassRecorder:
    """Turns each engine PassEvent into the PassRecord a RunLog keeps. It reads the events
    and the engine's public, read-only methods; never the engine's internals."""

    def __init__(self, engine):
        self.engine = engine

    def record(self, event, elapsed: float) -> PassRecord:
        W = len(event.tokens)
        owners = [b.owner for b in event.blocks]
        attention = shares = None
        if event.attention is not None:
            attention = [[round(v, DIGITS) for v in row] for row in event.attention.tolist()]
            shares = [attention_shares(attention[w], owners, w) for w in range(W)]
        return PassRecord(
            pass_number=event.pass_number, phase=event.phase, seconds=round(event.seconds, 4),
            elapsed=round(elapsed, 4), cache_tokens=event.cache_tokens, cache_bytes=event.cache_bytes,
            tokens=list(event.tokens),
            pieces=[[LanePiece(p.text, p.inserted) for p in event.pieces[w] if p.text] for w in range(W)],
            flushed=[HistoryStep(b, owners[b], self.engine.decode(self.engine.block_tokens(b))) for b in event.flushed],
            attention=attention, shares=shares)

    def snapshot(self, log: RunLog, last_event=None) -> None:
        """Copy the cache's current state into the log: blocks, views, latest per-layer attention."""
        engine = self.engine
        W = engine.config.num_workers
        log.blocks = engine.describe_blocks()
        log.views = [[ViewBlock(b, start, length, engine.decode(tokens))
                      for (b, start, length), tokens in zip(engine.view_blocks(w), engine.view_block_tokens(w))]
                     for w in range(W)]
        transcripts = [engine.transcript(w) for w in range(W)]
        log.workers = [{"name": t.name, "tokens": list(t.tokens), "text": engine.decode(t.tokens),
                        "inserted": [list(span) for span in t.inserted]} for t in transcripts]
        if last_event is not None and last_event.attention_by_layer is not None:
            log.last_attention_by_layer = _rounded(last_event.attention_by_layer)
        log.answer = engine.answer


def _rounded(tensor: torch.Tensor) -> list:
    return torch.round(tensor.float(), decimals=DIGITS).tolist()
