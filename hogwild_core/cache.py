"""The shared KV cache: segments of storage, and the logical blocks that live in them.

A *segment* is one growable run of keys/values per layer: the prompt, the shared history,
a header, or one worker's current work. Keys are stored at segment-local positions (as if
the segment started at position 0), so a segment can sit at any offset of any worker's view
without being touched. A *block* is a named span of a segment: the prompt, a header, a
finished step (in the history segment) or a worker's step in progress. Blocks are what the
attention statistics and the views report; segments are what the attention kernel reads.

Nothing here is duplicated per worker: W workers reading a segment read the same tensors."""

from dataclasses import dataclass, field

import torch

from .rope import shift_positions


@dataclass
class Block:
    id: int
    kind: str            # "prompt" | "header" | "step" (finished, in history) | "current"
    owner: int | None    # worker index, None for shared blocks
    tokens: list[int] = field(default_factory=list)
    segment: str = ""
    start: int = 0       # where the block begins inside its segment

    @property
    def length(self) -> int:
        return len(self.tokens)


class Segment:
    """Per-layer keys/values [Hkv, capacity, D], allocated on the device where each layer runs."""

    def __init__(self, name: str, num_layers: int):
        self.name = name
        self.length = 0
        self.blocks: list[Block] = []
        self.keys: list[torch.Tensor | None] = [None] * num_layers
        self.values: list[torch.Tensor | None] = [None] * num_layers

    def write(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store k, v: [Hkv, n, D] at positions start..start+n of this layer."""
        end = start + k.shape[1]
        stored = self.keys[layer]
        if stored is None or stored.shape[1] < end:
            self.keys[layer] = _grown(stored, end, k)
            self.values[layer] = _grown(self.values[layer], end, v)
        self.keys[layer][:, start:end] = k
        self.values[layer][:, start:end] = v

    def read(self, layer: int, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys, values of the first `length` positions: [Hkv, length, D] views, no copy."""
        length = self.length if length is None else length
        return self.keys[layer][:, :length], self.values[layer][:, :length]

    def move_span(self, src_start: int, length: int, dst: "Segment", dst_start: int, inv_freq) -> None:
        """Copy positions [src_start, src_start+length) to `dst` at dst_start, re-rotating keys by
        the position change. Done once, when a step is flushed: O(step length), never per step."""
        delta = dst_start - src_start
        for layer, keys in enumerate(self.keys):
            if keys is None or length == 0:
                continue
            k = keys[:, src_start:src_start + length]
            v = self.values[layer][:, src_start:src_start + length]
            dst.write(layer, dst_start, shift_positions(k, delta, inv_freq).clone(), v.clone())

    def nbytes(self) -> int:
        """Bytes of the used part (length positions), summed over layers."""
        total = 0
        for k in self.keys:
            if k is not None:
                total += 2 * k.shape[0] * self.length * k.shape[2] * k.element_size()
        return total


def _grown(stored: torch.Tensor | None, needed: int, like: torch.Tensor) -> torch.Tensor:
    """A buffer of at least `needed` positions holding `stored`; capacity doubles (amortized O(1))."""
    hkv, _, d = like.shape
    capacity = max(needed, 64, 0 if stored is None else 2 * stored.shape[1])
    fresh = like.new_zeros((hkv, capacity, d))
    if stored is not None:
        fresh[:, :stored.shape[1]] = stored
    return fresh


class SharedCache:
    """All segments and all blocks of one run."""

    def __init__(self, num_layers: int):
        self.num_layers = num_layers
        self.segments: dict[str, Segment] = {}
        self.blocks: list[Block] = []

    def add_segment(self, name: str) -> Segment:
        self.segments[name] = Segment(name, self.num_layers)
        return self.segments[name]

    def new_block(self, kind: str, owner: int | None, segment: str) -> Block:
        seg = self.segments[segment]
        block = Block(id=len(self.blocks), kind=kind, owner=owner, segment=segment, start=seg.length)
        self.blocks.append(block)
        seg.blocks.append(block)
        return block

    def nbytes(self) -> int:
        return sum(seg.nbytes() for seg in self.segments.values())

    def num_tokens(self) -> int:
        return sum(seg.length for seg in self.segments.values())
