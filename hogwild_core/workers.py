"""One object per worker: what it has written, what it still has to write, where its reasoning
steps end, and the text it gained since the last event. It takes one token at a time.

Names: a *pass* is one lock-step forward of all workers (`HogwildEngine.run_pass`); a worker's
*reasoning step* is one paragraph of its own text (the paper's "step", which moves into the
shared history once finished).

An *external* worker (a person, a script) takes its text from outside instead of from the model:
the same transcript, step ends and pieces, but nothing is ever sampled for it."""

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import prompts
from .text import Detokenizer

GENERATING, STOPPING, STOPPED = "generating", "stopping", "stopped"


class Piece(NamedTuple):
    """A run of one worker's new tokens of one kind, with its text."""
    text: str                    # from the worker's incremental detokenizer ("" while a character is split)
    inserted: bool               # True: written by the engine (opener, label, check, answer prompt)
    token_ids: tuple[int, ...]


@dataclass
class Worker:
    index: int
    name: str
    segment: str
    detokenizer: Detokenizer
    transcript: list[int] = field(default_factory=list)     # all it wrote, inserted prompts included
    inserted: list[tuple[int, int]] = field(default_factory=list)  # transcript spans the engine wrote
    num_written: int = 0            # transcript tokens whose keys/values are in the cache
    segment_origin: int = 0         # transcript index of its segment's position 0
    step_ends: list[int] = field(default_factory=list)  # transcript indices where finished reasoning steps end
    step_text: str = ""             # text of its reasoning step in progress
    num_reasoning_steps: int = 1    # reasoning steps begun (the label number)
    step_sampled: list[int] = field(default_factory=list)   # sampled tokens of the step in progress
    finished_sampled: list[list[int]] = field(default_factory=list)  # sampled tokens of each finished step
    first_step_end: int | None = None   # transcript length when its first reasoning step ended
    own_grams: dict = field(default_factory=dict)   # n-gram table of its own transcript (repeat bans)
    status: str = GENERATING
    check_due: bool = False
    pieces: list[Piece] = field(default_factory=list)   # since the last event
    external: bool = False          # its text comes from outside (HogwildEngine.write); never sampled
    label_due: bool = True          # external: its next text opens a reasoning step, so it gets a label
    _array: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    @property
    def pending(self) -> list[int]:
        """In the transcript, not yet in the cache."""
        return self.transcript[self.num_written:]

    @property
    def num_pending(self) -> int:
        return len(self.transcript) - self.num_written

    def transcript_array(self) -> np.ndarray:
        """The transcript as int64 [len(transcript)] (for the DRY penalty, read by every worker
        each pass): only the tokens added since the last call are converted."""
        if len(self._array) < len(self.transcript):
            tail = np.asarray(self.transcript[len(self._array):], dtype=np.int64)
            self._array = np.concatenate([self._array, tail])
        return self._array

    def insert(self, ids: list[int]) -> None:
        """Append engine-written tokens (a prompt, not sampled)."""
        self.inserted.append((len(self.transcript), len(self.transcript) + len(ids)))
        self._append(ids, inserted=True)

    def take(self, token: int, steps: bool = True) -> bool:
        """Append a sampled token. True if it ends the reasoning step in progress (never when
        `steps` is False: the final answer is not cut into steps)."""
        self._append([token], inserted=False)
        self.step_sampled.append(token)
        if not steps or not prompts.is_step_end(self.step_text):
            return False
        self.finished_sampled.append(self.step_sampled)
        if self.first_step_end is None:
            self.first_step_end = len(self.transcript)
        self.step_text, self.step_sampled = "", []
        self.num_reasoning_steps += 1
        return True

    def wrote(self, n: int) -> None:
        self.num_written += n

    def finished_step_split(self) -> int | None:
        """If its oldest finished reasoning step is now wholly in the cache: where it ends in
        its segment (the step is then moved out, and the segment starts after it)."""
        if not self.step_ends or self.step_ends[0] > self.num_written:
            return None
        end = self.step_ends.pop(0)
        split, self.segment_origin = end - self.segment_origin, end
        return split

    def take_pieces(self) -> list[Piece]:
        pieces, self.pieces = self.pieces, []
        return pieces

    def _append(self, ids: list[int], inserted: bool) -> None:
        self.transcript.extend(ids)
        text = self.detokenizer.add(ids)
        self.step_text += text
        if self.pieces and self.pieces[-1].inserted == inserted:
            last = self.pieces[-1]
            self.pieces[-1] = Piece(last.text + text, inserted, last.token_ids + tuple(ids))
        else:
            self.pieces.append(Piece(text, inserted, tuple(ids)))
