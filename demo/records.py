"""Plain records of a run: what every panel, chart and trace file reads.

Statistics flow one way. `PassRecorder` turns each engine PassEvent into a plain dict (token
ids, the text each worker gained, finished steps, attention mass per block, attention shares);
`RunLog` keeps those dicts plus what the panels draw from them, as named tuples (each worker's
lane of `LanePiece`s, the shared history's `HistoryStep`s), and the latest snapshot of the cache
(blocks, each worker's view as `ViewBlock`s, per-layer attention of the latest pass); a trace
stores the tuples as JSON lists. A replayed trace fills a RunLog with the same dicts,
so live runs and replays go through the same views, and no view ever touches the engine.

A pass record is keyed as the trace file stores it (demo/traces.py, format version 1), which
kept the names it was first written with: the pass number is under "step", and a trace's list
of pass records under "steps". Everywhere else "step" means a reasoning step."""

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
    passes: list[dict] = field(default_factory=list)        # one record per pass, in order
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
        return self.passes[-1]["elapsed"] if self.passes else 0.0

    def add_pass(self, record: dict) -> None:
        self.passes.append(record)
        for w, pieces in enumerate(record["pieces"]):
            lane = self.lanes[w]
            for text, inserted in pieces:
                if lane and lane[-1].inserted == inserted:
                    lane[-1] = LanePiece(lane[-1].text + text, inserted)
                else:
                    lane.append(LanePiece(text, inserted))
        for w, token in enumerate(record["tokens"]):
            self.sampled[w] += token is not None
        self.history.extend(HistoryStep(*step) for step in record["flushed"])

    def lane_text(self, w: int) -> str:
        return "".join(piece.text for piece in self.lanes[w])


class PassRecorder:
    """Turns each engine PassEvent into the plain records a RunLog keeps. It reads the events
    and the engine's public, read-only methods; never the engine's internals."""

    def __init__(self, engine):
        self.engine = engine

    def record(self, event, elapsed: float) -> dict:
        W = len(event.tokens)
        owners = [b.owner for b in event.blocks]
        attention = shares = None
        if event.attention is not None:
            attention = [[round(v, DIGITS) for v in row] for row in event.attention.tolist()]
            shares = [attention_shares(attention[w], owners, w) for w in range(W)]
        return {
            "step": event.pass_number, "phase": event.phase, "seconds": round(event.seconds, 4),
            "elapsed": round(elapsed, 4), "cache_tokens": event.cache_tokens,
            "cache_bytes": event.cache_bytes, "tokens": list(event.tokens),
            "pieces": [[[p.text, p.inserted] for p in event.pieces[w] if p.text] for w in range(W)],
            "flushed": [[b, owners[b], self.engine.decode(self.engine.block_tokens(b))] for b in event.flushed],
            "attention": attention, "shares": shares,
        }

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
