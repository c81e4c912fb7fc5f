"""The shared KV cache: per-segment key/value storage plus the block table that keeps its books.

Keys are stored at segment-local positions (as if the segment started at position 0), so a
segment can sit at any offset of any worker's view without being touched. One write method
(`write`) is the only way keys/values get in, whichever forward path computed them; one read
method hands out views of the stored tensors, never copies, so W workers reading a segment read
the same memory. Lengths and blocks change only through the table, and `move_to_history` pairs
the table's move with the matching storage move (re-rotating the keys once, by the distance
moved).
"""

import torch

from .blocks import BlockRecord, BlockTable
from .rope import shift_positions
from .view import HISTORY, View


class SharedCache:
    def __init__(self, segment_names: list[str], num_layers: int, inv_freq: torch.Tensor):
        self.table = BlockTable(segment_names)
        self.num_layers, self.inv_freq = num_layers, inv_freq
        # segment -> per layer [Hkv, capacity, D], allocated where that layer runs
        self._keys = {name: [None] * num_layers for name in segment_names}
        self._values = {name: [None] * num_layers for name in segment_names}

    # ---- storage -------------------------------------------------------------------------
    def write(self, layer: int, segment: str, start: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """k, v: [Hkv, n, D] at segment-local positions start..start+n (keys rotated as if the
        segment began at position 0)."""
        end = start + k.shape[1]
        keys = self._keys[segment]
        if keys[layer] is None or keys[layer].shape[1] < end:
            keys[layer] = _grown(keys[layer], end, k)
            self._values[segment][layer] = _grown(self._values[segment][layer], end, v)
        keys[layer][:, start:end] = k
        self._values[segment][layer][:, start:end] = v

    def reserve(self, segment: str, length: int) -> None:
        """Room for `length` positions in every allocated layer of the segment, so that a pass's
        writes never move storage that another worker of the same pass reads (one tensor per
        segment within a pass). Layers not yet written stay unallocated (nothing reads them)."""
        for store in (self._keys[segment], self._values[segment]):
            for layer, stored in enumerate(store):
                if stored is not None and stored.shape[1] < length:
                    store[layer] = _grown(stored, length, stored)

    def read(self, layer: int, segment: str, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys, values of the segment's first `length` positions: [Hkv, length, D] views."""
        return self._keys[segment][layer][:, :length], self._values[segment][layer][:, :length]

    def view_kv(self, view: View, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The view as one ordinary cache: keys, values [Hkv, view.length, D] in view order, keys
        rotated to view positions (what a plain decoder of the view's tokens would hold)."""
        keys, values = [], []
        for part in view.parts:
            if part.length:
                k, v = self.read(layer, part.segment, part.length)
                keys.append(shift_positions(k, part.offset, self.inv_freq))
                values.append(v)
        return torch.cat(keys, 1), torch.cat(values, 1)

    # ---- books ---------------------------------------------------------------------------
    def open_block(self, kind: str, owner: int | None, segment: str) -> int:
        return self.table.open_block(kind, owner, segment)

    def append(self, segment: str, tokens: list[int]) -> None:
        """Record tokens whose keys/values were just written at the segment's end."""
        self.table.append(segment, tokens)

    def move_to_history(self, segment: str, split: int) -> int:
        """Move the segment's first `split` positions (a finished step) to the end of the history
        and the rest to position 0. Keys are re-rotated once by the distance each part moves."""
        length = self.table.length(segment)
        block_id, history_start = self.table.move_to_history(segment, HISTORY, split)
        for layer in range(self.num_layers):
            if self._keys[segment][layer] is None:
                continue
            k, v = self.read(layer, segment, length)
            moved_k, moved_v = k[:, :split].clone(), v[:, :split].clone()
            rest_k, rest_v = k[:, split:].clone(), v[:, split:].clone()
            self.write(layer, HISTORY, history_start, shift_positions(moved_k, history_start, self.inv_freq), moved_v)
            self.write(layer, segment, 0, shift_positions(rest_k, -split, self.inv_freq), rest_v)
        return block_id

    def records(self) -> tuple[BlockRecord, ...]:
        return self.table.records()

    # ---- sizes ---------------------------------------------------------------------------
    def num_tokens(self) -> int:
        return self.table.num_tokens()

    def segment_bytes(self, segment: str) -> int:
        """Bytes of the segment's used positions, over all layers."""
        length = self.table.length(segment)
        return sum(2 * k.shape[0] * length * k.shape[2] * k.element_size()
                   for k in self._keys[segment] if k is not None)

    def nbytes(self) -> int:
        return sum(self.segment_bytes(name) for name in self._keys)

    def allocated_bytes(self) -> int:
        return sum(2 * k.numel() * k.element_size() for keys in self._keys.values() for k in keys if k is not None)


def _grown(stored: torch.Tensor | None, needed: int, like: torch.Tensor) -> torch.Tensor:
    """A buffer of at least `needed` positions holding `stored`; capacity doubles (amortized O(1))."""
    hkv, _, d = like.shape
    capacity = max(needed, 16, 0 if stored is None else 2 * stored.shape[1])
    fresh = like.new_zeros((hkv, capacity, d))
    if stored is not None:
        fresh[:, :stored.shape[1]] = stored
    return fresh
