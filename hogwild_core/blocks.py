"""The block table: the cache's books. Which tokens each segment holds, how long it is, which
blocks it is cut into, and the move of a finished reasoning step into the history.

A *block* is a named span of a segment: the prompt, a header, a finished reasoning step (kind
"step", in the history) or a worker's step in progress (kind "current"). Blocks are what views
and attention statistics report; segments are what the attention kernel reads. Only this table
changes lengths and blocks; `SharedCache` pairs each change with the matching tensor move.

Token lists are only ever appended to; a move gives the cut segment a new list. So a caller that
kept (tokens, blocks) of a segment still reads exactly what it saw then (a stopped worker's view).
"""

from dataclasses import dataclass, replace

PROMPT_KIND, HEADER_KIND, STEP_KIND, CURRENT_KIND = "prompt", "header", "step", "current"


@dataclass(frozen=True)
class BlockRecord:
    """A block as plain data, for events, charts and traces."""
    id: int
    kind: str            # "prompt" | "header" | "step" (finished, in the history) | "current"
    owner: int | None    # worker index; None for shared blocks
    segment: str
    start: int           # where the block begins inside its segment
    length: int


@dataclass(frozen=True)
class SegmentBooks:
    """One segment's books at one moment: its tokens (a list that is only appended to) and its
    blocks as (block_id, start), in order."""
    tokens: list[int]
    blocks: tuple[tuple[int, int], ...]
    length: int


class BlockTable:
    def __init__(self, segment_names: list[str]):
        self._books = {name: SegmentBooks([], (), 0) for name in segment_names}
        self._records: list[BlockRecord] = []

    # ---- reading ---------------------------------------------------------------------------
    @property
    def segment_names(self) -> list[str]:
        return list(self._books)

    def length(self, segment: str) -> int:
        return self._books[segment].length

    def lengths(self) -> dict[str, int]:
        return {name: books.length for name, books in self._books.items()}

    def books(self, segment: str) -> SegmentBooks:
        return self._books[segment]

    def records(self) -> tuple[BlockRecord, ...]:
        return tuple(self._records)

    def record(self, block_id: int) -> BlockRecord:
        return self._records[block_id]

    def block_tokens(self, block_id: int) -> list[int]:
        r = self._records[block_id]
        return self._books[r.segment].tokens[r.start:r.start + r.length]

    def num_tokens(self) -> int:
        return sum(books.length for books in self._books.values())

    def column_blocks(self, segment: str, length: int) -> list[int]:
        """Block id of each of the segment's first `length` positions (for attention statistics)."""
        blocks = self._books[segment].blocks
        ends = [start for _, start in blocks[1:]] + [length]
        ids = []
        for (block_id, start), end in zip(blocks, ends):
            ids.extend([block_id] * max(0, min(end, length) - start))
        return ids

    # ---- the only writes -------------------------------------------------------------------
    def open_block(self, kind: str, owner: int | None, segment: str) -> int:
        """A new block starting at the segment's current end."""
        books = self._books[segment]
        block_id = len(self._records)
        self._records.append(BlockRecord(block_id, kind, owner, segment, books.length, 0))
        self._books[segment] = replace(books, blocks=books.blocks + ((block_id, books.length),))
        return block_id

    def append(self, segment: str, tokens: list[int]) -> None:
        """Tokens just written at the segment's end; they belong to its last block."""
        books = self._books[segment]
        books.tokens.extend(tokens)
        self._books[segment] = replace(books, length=books.length + len(tokens))
        last = books.blocks[-1][0]
        self._records[last] = replace(self._records[last], length=self._records[last].length + len(tokens))

    def move_to_history(self, segment: str, history: str, split: int) -> tuple[int, int]:
        """The segment's first `split` positions become a finished step at the history's end; the
        rest stays, as a new "current" block at position 0. The segment holds one block (a
        worker's step in progress). Returns (the moved block's id, its start in the history)."""
        books, hist = self._books[segment], self._books[history]
        (block_id, _), = books.blocks
        owner = self._records[block_id].owner
        hist.tokens.extend(books.tokens[:split])
        self._books[history] = SegmentBooks(hist.tokens, hist.blocks + ((block_id, hist.length),),
                                            hist.length + split)
        self._records[block_id] = BlockRecord(block_id, STEP_KIND, owner, history, hist.length, split)
        rest = books.tokens[split:books.length]
        self._books[segment] = SegmentBooks([], (), 0)
        self.open_block(CURRENT_KIND, owner, segment)
        self.append(segment, rest)
        return block_id, hist.length
