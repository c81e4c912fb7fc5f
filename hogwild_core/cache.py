"""The shared KV cache: per-segment key/value storage plus the block table that keeps its books.

Keys are stored at segment-local positions (as if the segment started at position 0), so a
segment can sit at any offset of any worker's view without being touched. Keys/values get in only
through `write` (a run of one segment's positions) and `write_rows` (one pass's new tokens of
every writer at once), whichever forward path computed them; `read` hands out views of the stored
tensors, never copies, so W workers reading a segment read the same memory. Lengths and blocks
change only through the table (the cache's own; others read it through the cache's methods), and `move_to_history` pairs the table's move with the matching
storage move (re-rotating the keys once, by the distance moved).

Storage: the prompt and the history (long, one each) have a buffer of their own per layer; every
other segment (the headers, each worker's own segment) is a slot of one pooled buffer per layer,
[Hkv, slots, capacity, D] with one capacity for all, so that a pass's new tokens are written by
one indexed copy and the short segments are read together (`pool`) by the fused kernel.
"""

from dataclasses import dataclass

import torch

from .blocks import BlockRecord, BlockTable, SegmentBooks
from .rope import shift_positions
from .view import HISTORY, PROMPT, View

OWN_BUFFER_SEGMENTS = (PROMPT, HISTORY)     # every other segment is a slot of the layer's pool


@dataclass(frozen=True)
class Rows:
    """Where one pass's T new tokens go, for `write_rows`; built once per pass (`rows`)."""
    runs: tuple[tuple[str, int, int, int], ...]   # (segment, start, first token, end token), own buffers
    slots: torch.Tensor | None                    # [Tp] pool slot of each pooled token
    positions: torch.Tensor | None                # [Tp] its position in the slot
    tokens: torch.Tensor | None                   # [Tp] which tokens those are (None: all T, in order)
    end: int                                      # pool positions needed


class SharedCache:
    def __init__(self, segment_names: list[str], num_layers: int, inv_freq: torch.Tensor):
        self._table = BlockTable(segment_names)
        self.num_layers, self.inv_freq = num_layers, inv_freq
        own = [name for name in segment_names if name in OWN_BUFFER_SEGMENTS]
        # segment -> per layer [Hkv, capacity, D], allocated where that layer runs
        self._keys = {name: [None] * num_layers for name in own}
        self._values = {name: [None] * num_layers for name in own}
        # the other segments: slot -> segment; per layer [Hkv, slots, capacity, D]
        self.pooled = tuple(name for name in segment_names if name not in OWN_BUFFER_SEGMENTS)
        self._slot = {name: i for i, name in enumerate(self.pooled)}
        self._pool_keys: list[torch.Tensor | None] = [None] * num_layers
        self._pool_values: list[torch.Tensor | None] = [None] * num_layers

    # ---- storage -------------------------------------------------------------------------
    def write(self, layer: int, segment: str, start: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """k, v: [Hkv, n, D] at segment-local positions start..start+n (keys rotated as if the
        segment began at position 0)."""
        end = start + k.shape[1]
        slot = self._slot.get(segment)
        if slot is not None:
            self._reserve_pool(layer, end, k)
            self._pool_keys[layer][:, slot, start:end] = k
            self._pool_values[layer][:, slot, start:end] = v
            return
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
        for layer in range(self.num_layers):
            if segment in self._slot:
                if self._pool_keys[layer] is not None:
                    self._reserve_pool(layer, length, self._pool_keys[layer][:, 0])
                continue
            for store in (self._keys[segment], self._values[segment]):
                stored = store[layer]
                if stored is not None and stored.shape[1] < length:
                    store[layer] = _grown(stored, length, stored)

    def rows(self, writes: list[tuple[str, int, int, int]], device: torch.device) -> Rows:
        """The Rows of a pass whose writers write (segment, start, first token, end token)."""
        pooled = [(self._slot[name], start, t0, t1) for name, start, t0, t1 in writes if name in self._slot]
        runs = tuple(w for w in writes if w[0] not in self._slot)
        if not pooled:
            return Rows(runs, None, None, None, 0)
        slots = [slot for slot, _, t0, t1 in pooled for _ in range(t1 - t0)]
        positions = [start + i for _, start, t0, t1 in pooled for i in range(t1 - t0)]
        tokens = [t for _, _, t0, t1 in pooled for t in range(t0, t1)]
        meta = torch.tensor(slots + positions + tokens, dtype=torch.long, device=device)
        n = len(slots)
        everything = not runs and tokens == list(range(n))
        return Rows(runs, meta[:n], meta[n:2 * n], None if everything else meta[2 * n:], max(positions) + 1)

    def write_rows(self, layer: int, rows: Rows, k: torch.Tensor, v: torch.Tensor) -> None:
        """k, v: [Hkv, T, D], the pass's new tokens in order, written where `rows` says."""
        for segment, start, t0, t1 in rows.runs:
            self.write(layer, segment, start, k[:, t0:t1], v[:, t0:t1])
        if rows.slots is None:
            return
        if rows.tokens is not None:
            k, v = k[:, rows.tokens], v[:, rows.tokens]
        self._reserve_pool(layer, rows.end, k)
        slots, positions = rows.slots, rows.positions
        if slots.device != k.device:                # a layer on another device than the embedding
            slots, positions = slots.to(k.device), positions.to(k.device)
        index = (slice(None), slots, positions)
        self._pool_keys[layer][index] = k
        self._pool_values[layer][index] = v

    def read(self, layer: int, segment: str, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys, values of the segment's first `length` positions: [Hkv, length, D] views."""
        slot = self._slot.get(segment)
        if slot is not None:
            return self._pool_keys[layer][:, slot, :length], self._pool_values[layer][:, slot, :length]
        return self._keys[segment][layer][:, :length], self._values[segment][layer][:, :length]

    def pool(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's pooled keys, values [Hkv, slots, capacity, D] (slot order: `pooled`); a
        slot's positions past its segment's length hold zeros or stale finite values."""
        return self._pool_keys[layer], self._pool_values[layer]

    def _reserve_pool(self, layer: int, end: int, like: torch.Tensor) -> None:
        pool = self._pool_keys[layer]
        if pool is None or pool.shape[2] < end:
            self._pool_keys[layer] = _grown_pool(pool, end, like, len(self.pooled))
            self._pool_values[layer] = _grown_pool(self._pool_values[layer], end, like, len(self.pooled))

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

    # ---- books: read through these, written only by the methods below ---------------------
    @property
    def segment_names(self) -> list[str]:
        return self._table.segment_names

    def length(self, segment: str) -> int:
        return self._table.length(segment)

    def lengths(self) -> dict[str, int]:
        return self._table.lengths()

    def books(self, segment: str) -> SegmentBooks:
        return self._table.books(segment)

    def block_tokens(self, block_id: int) -> list[int]:
        return self._table.block_tokens(block_id)

    def column_blocks(self, segment: str, length: int) -> list[int]:
        """Block id of each of the segment's first `length` positions (for attention statistics)."""
        return self._table.column_blocks(segment, length)

    def open_block(self, kind: str, owner: int | None, segment: str) -> int:
        return self._table.open_block(kind, owner, segment)

    def append(self, segment: str, tokens: list[int]) -> None:
        """Record tokens whose keys/values were just written at the segment's end."""
        self._table.append(segment, tokens)

    def move_to_history(self, segment: str, split: int) -> int:
        """Move the segment's first `split` positions (a finished step) to the end of the history
        and the rest to position 0. Keys are re-rotated once by the distance each part moves."""
        length = self._table.length(segment)
        block_id, history_start = self._table.move_to_history(segment, HISTORY, split)
        for layer in range(self.num_layers):
            if not self._stored(layer, segment):
                continue
            k, v = self.read(layer, segment, length)
            moved_k, moved_v = k[:, :split].clone(), v[:, :split].clone()
            rest_k, rest_v = k[:, split:].clone(), v[:, split:].clone()
            self.write(layer, HISTORY, history_start, shift_positions(moved_k, history_start, self.inv_freq), moved_v)
            self.write(layer, segment, 0, shift_positions(rest_k, -split, self.inv_freq), rest_v)
        return block_id

    def records(self) -> tuple[BlockRecord, ...]:
        return self._table.records()

    # ---- sizes ---------------------------------------------------------------------------
    def num_tokens(self) -> int:
        return self._table.num_tokens()

    def segment_bytes(self, segment: str) -> int:
        """Bytes of the segment's used positions, over all layers."""
        length = self._table.length(segment)
        stored = (self._pool_keys if segment in self._slot else self._keys[segment])
        return sum(2 * k.shape[0] * length * k.shape[-1] * k.element_size() for k in stored if k is not None)

    def nbytes(self) -> int:
        return sum(self.segment_bytes(name) for name in self._table.segment_names)

    def allocated_bytes(self) -> int:
        buffers = [k for keys in self._keys.values() for k in keys] + self._pool_keys
        return sum(2 * k.numel() * k.element_size() for k in buffers if k is not None)

    def _stored(self, layer: int, segment: str) -> bool:
        buffers = self._pool_keys if segment in self._slot else self._keys[segment]
        return buffers[layer] is not None


def _grown_pool(stored: torch.Tensor | None, needed: int, like: torch.Tensor, num_slots: int) -> torch.Tensor:
    """A pool [Hkv, slots, capacity, D] of at least `needed` positions holding `stored`."""
    hkv, d = like.shape[0], like.shape[-1]
    capacity = max(needed, 16, 0 if stored is None else 2 * stored.shape[2])
    fresh = like.new_zeros((hkv, num_slots, capacity, d))
    if stored is not None:
        fresh[:, :, :stored.shape[2]] = stored
    return fresh


def _grown(stored: torch.Tensor | None, needed: int, like: torch.Tensor) -> torch.Tensor:
    """A buffer of at least `needed` positions holding `stored`; capacity doubles (amortized O(1))."""
    hkv, _, d = like.shape
    capacity = max(needed, 16, 0 if stored is None else 2 * stored.shape[1])
    fresh = like.new_zeros((hkv, capacity, d))
    if stored is not None:
        fresh[:, :stored.shape[1]] = stored
    return fresh
