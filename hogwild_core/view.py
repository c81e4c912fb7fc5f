"""What one worker attends to: the layout rules and the one `View` type built from them.

A *segment* is a run of cache positions stored together (the prompt, the shared history, a
header, one worker's current work). A layout says, for each worker, which segments it reads and
in which order; a `View` fixes that order for one pass, with where each segment starts in the
worker's view (its offset) and how much of it the worker sees. Every consumer (the fast plan,
the reference path, the attention statistics, `view_blocks`/`view_token_ids`, the demo's cache
panel and the benchmark) reads a View; nothing else computes offsets.

Layouts (the paper's three, and a baseline):

* contiguous  - prompt, every other worker's whole output, then the worker's own output.
                Token-wise sync; nothing ever moves into a history.
* interleaved - prompt, shared history of finished reasoning steps, the worker's own unfinished
                step. Step-wise sync: the others' unfinished steps are not visible.
* combined    - prompt, history, a header and the other workers' unfinished steps, a header and
                the worker's own unfinished step. Token-wise sync plus a shared history.
* independent - not a Hogwild! layout but its baseline: prompt, then the worker's own output;
                W ordinary parallel decodes that share only the prompt.

Within one pass a worker sees the others' segments as they stood before the pass (they are
written in the same pass) and its own new tokens causally, at the end of its view.
"""

from dataclasses import dataclass
from typing import Mapping, Sequence

PROMPT = "prompt"
HISTORY = "history"
HEADER_OTHERS = "header_others"
HEADER_OWN = "header_own"


def worker_segment(w: int) -> str:
    return f"worker{w}"


def segment_names(layout: str, num_workers: int) -> list[str]:
    """Every segment a run of this layout stores, in storage order."""
    shared = {"contiguous": [PROMPT], "independent": [PROMPT],
              "interleaved": [PROMPT, HISTORY],
              "combined": [PROMPT, HISTORY, HEADER_OTHERS, HEADER_OWN]}[layout]
    return shared + [worker_segment(w) for w in range(num_workers)]


def has_history(layout: str) -> bool:
    return layout in ("interleaved", "combined")


def view_segments(layout: str, w: int, num_workers: int) -> list[str]:
    """Segments worker w attends to, in view order; its own segment is always last."""
    own = worker_segment(w)
    others = [worker_segment(j) for j in range(num_workers) if j != w]
    if layout == "contiguous":
        return [PROMPT, *others, own]
    if layout == "independent":
        return [PROMPT, own]
    if layout == "interleaved":
        return [PROMPT, HISTORY, own]
    if layout == "combined":
        return [PROMPT, HISTORY, HEADER_OTHERS, *others, HEADER_OWN, own]
    raise ValueError(f"unknown layout {layout!r}")


@dataclass(frozen=True)
class Part:
    """One segment in a view."""
    segment: str
    offset: int      # view position of the segment's first position
    length: int      # positions of the segment the worker sees (own: with this pass's new tokens)


@dataclass(frozen=True)
class View:
    """What one writer attends to in one pass, in order. The own segment is the last part; its
    new tokens occupy own positions [start, start + num_new), seen causally."""
    worker: int | None            # None for the prompt and header writes of setup
    own: str
    start: int
    num_new: int
    parts: tuple[Part, ...]

    @property
    def length(self) -> int:
        """Positions the view's last token sees, itself included."""
        last = self.parts[-1]
        return last.offset + last.length

    @property
    def own_offset(self) -> int:
        return self.parts[-1].offset

    @property
    def first_position(self) -> int:
        """View position of the first new token (its RoPE position)."""
        return self.own_offset + self.start

    def part(self, segment: str) -> Part | None:
        for part in self.parts:
            if part.segment == segment:
                return part
        return None


def build_view(order: Sequence[str], lengths: Mapping[str, int], own: str, num_new: int,
               worker: int | None = None) -> View:
    """A View over `order` (segment names, own last) given every segment's length before the pass."""
    assert order[-1] == own, "the writer's own segment comes last in its view"
    parts, offset = [], 0
    for name in order:
        length = lengths[name] + (num_new if name == own else 0)
        parts.append(Part(name, offset, length))
        offset += length
    return View(worker, own, lengths[own], num_new, tuple(parts))


def worker_view(layout: str, w: int, num_workers: int, lengths: Mapping[str, int], num_new: int) -> View:
    return build_view(view_segments(layout, w, num_workers), lengths, worker_segment(w), num_new, w)


def block_spans(view: View, blocks_of: Mapping[str, Sequence[tuple[int, int]]]) -> list[tuple[int, int, int]]:
    """(block_id, view start, length) of every block the view's last token sees.
    blocks_of: segment -> its blocks as (block_id, start in segment), in order; each block runs
    until the next one starts."""
    spans = []
    for part in view.parts:
        blocks = blocks_of[part.segment]
        ends = [start for _, start in blocks[1:]] + [part.length]
        for (block_id, start), end in zip(blocks, ends):
            length = min(end, part.length) - start
            if length > 0:
                spans.append((block_id, part.offset + start, length))
    return spans
