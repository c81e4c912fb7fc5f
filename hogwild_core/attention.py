"""Attention over the shared cache, as a transformers attention function.

The engine runs the real model; each attention layer calls `hogwild_attention`, registered in
transformers' AttentionInterface under the name "hogwild". What it does depends on the plan
the engine passes down the forward call as the keyword argument `hogwild`:

* `FastPlan` (the fast path). All rows (one per writing worker) are flattened into one
  sequence of T tokens. New keys/values are written once into their segments; then each query
  is rotated by (its segment's view offset - the other segment's view offset), one rotation per
  segment and query, and scored against every segment's stored keys in place. A float mask
  hides what a row may not see; one softmax runs across all segments together.
* `ReferencePlan` (the reference path): the model's stock eager attention over an ordinary
  DynamicCache; we only record its attention probabilities.
* nothing: plain sdpa, so the model still works as a normal model outside the engine.
"""

import sys
from dataclasses import dataclass, field

import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from .cache import Segment
from .rope import apply_rotation, rotation

ATTN_IMPLEMENTATION = "hogwild"


@dataclass
class Row:
    """One worker's (or setup pass's) write in a forward pass.

    view: the segments this row attends to, in view order, each with the number of positions
    visible to it. The row's own segment appears with its length before this pass; the row's
    new tokens are added at its end (causally)."""

    segment: Segment
    tokens: list[int]
    view: list[tuple[Segment, int]]
    worker: int | None = None

    @property
    def start(self) -> int:
        return self.segment.length


def view_offsets(row: Row) -> dict[str, tuple[int, int]]:
    """segment name -> (offset in the row's view, visible length)."""
    offsets, position = {}, 0
    for segment, visible in row.view:
        offsets[segment.name] = (position, visible)
        position += visible
    return offsets


@dataclass
class _DeviceTensors:
    cos: torch.Tensor     # [S, T, D] rotation of each query token for each segment, x scaling
    sin: torch.Tensor     # [S, T, D] (x scaling)
    mask: torch.Tensor    # [T, N] 0 where visible, -inf where not
    last: torch.Tensor    # [R] index of each row's last token
    column_block: torch.Tensor  # [N] block id of each key column


class FastPlan:
    """Everything one fast forward pass needs, built once per pass (not per layer)."""

    def __init__(self, rows: list[Row], segments: list[Segment], inv_freq: torch.Tensor,
                 num_blocks: int, collect: bool):
        self.rows, self.collect, self.num_blocks = rows, collect, num_blocks
        added = {}
        for row in rows:
            assert row.segment.name not in added, "two rows may not write one segment in a pass"
            added[row.segment.name] = len(row.tokens)
        # Segments to read, each with its length after this pass's writes.
        self.reads = [(s, s.length + added.get(s.name, 0)) for s in segments]
        self.reads = [(s, n) for s, n in self.reads if n > 0]
        self.writes = []  # (segment, start, first token, end token)
        position = 0
        for row in rows:
            self.writes.append((row.segment, row.start, position, position + len(row.tokens)))
            position += len(row.tokens)
        self.num_tokens = position
        self._build(inv_freq)
        self._on_device: dict[tuple, _DeviceTensors] = {}  # (device, dtype, scaling) ->
        self.layer_attention: dict[int, torch.Tensor] = {}  # layer -> [R, num_blocks], on its device

    def _build(self, inv_freq: torch.Tensor) -> None:
        num_segments, total = len(self.reads), sum(n for _, n in self.reads)
        column_start, c = [], 0
        for _, n in self.reads:
            column_start.append(c)
            c += n
        deltas = torch.zeros(num_segments, self.num_tokens, dtype=torch.long)
        visible = torch.zeros(self.num_tokens, total, dtype=torch.bool)
        last = []
        for row, (_, start, t0, t1) in zip(self.rows, self.writes):
            offsets = view_offsets(row)
            own_offset = offsets[row.segment.name][0]
            for s, (segment, _) in enumerate(self.reads):
                if segment.name not in offsets:
                    continue
                offset, seen = offsets[segment.name]
                deltas[s, t0:t1] = own_offset - offset
                c0 = column_start[s]
                if segment is row.segment:  # causal over its own new tokens
                    reach = start + torch.arange(1, t1 - t0 + 1)          # [n]
                    visible[t0:t1, c0:c0 + start + t1 - t0] = (
                        torch.arange(start + t1 - t0)[None, :] < reach[:, None])
                else:
                    visible[t0:t1, c0:c0 + seen] = True
            last.append(t1 - 1)
        self.cos, self.sin = rotation(deltas, inv_freq)                   # [S, T, D]
        self.mask = torch.zeros(self.num_tokens, total).masked_fill_(~visible, float("-inf"))
        self.last = torch.tensor(last, dtype=torch.long)
        column_block = torch.zeros(total, dtype=torch.long)
        for (segment, n), c0 in zip(self.reads, column_start):
            for block in segment.blocks:  # in order: each block runs until the next one starts
                column_block[c0 + block.start:c0 + n] = block.id
        self.column_block = column_block
        self.column_start = column_start

    def on(self, device: torch.device, dtype: torch.dtype, scaling: float) -> _DeviceTensors:
        """The plan's tensors on one device, in the model's dtype, with the softmax scaling folded
        into the query rotation (built once per pass and device, not per layer)."""
        key = (device, dtype, scaling)
        if key not in self._on_device:
            self._on_device[key] = _DeviceTensors(
                (self.cos * scaling).to(device, dtype), (self.sin * scaling).to(device, dtype),
                self.mask.to(device, dtype), self.last.to(device), self.column_block.to(device))
        return self._on_device[key]

    def attention_by_layer(self, num_layers: int) -> torch.Tensor:
        """[L, R, num_blocks] on the CPU, gathered once after the pass (no per-layer sync)."""
        return torch.stack([self.layer_attention[l].cpu() for l in range(num_layers)])


def fast_attention(module, query, key, value, scaling: float, plan: FastPlan):
    """query: [1, H, T, D]; key, value: [1, Hkv, T, D] -> attn_output [1, T, H, D]."""
    layer = module.layer_idx
    _, num_heads, T, D = query.shape
    num_kv = key.shape[1]
    G = num_heads // num_kv
    for segment, start, t0, t1 in plan.writes:
        segment.write(layer, start, key[0, :, t0:t1], value[0, :, t0:t1])
    dev = plan.on(query.device, query.dtype, scaling)
    q = apply_rotation(query[0][None], dev.cos[:, None], dev.sin[:, None])   # [S, H, T, D], scaled
    stored = [segment.read(layer, n) for segment, n in plan.reads]          # ([Hkv, n, D], same)
    scores = [torch.matmul(q[s].reshape(num_kv, G * T, D), keys.transpose(1, 2))
              for s, (keys, _) in enumerate(stored)]                        # [Hkv, G*T, n] each
    scores = torch.cat(scores, dim=-1)                                      # [Hkv, G*T, N]
    N = scores.shape[-1]
    scores = scores.view(num_kv, G, T, N) + dev.mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype)
    probs = probs.view(num_kv, G * T, N)
    out = None
    for (_, values), c0 in zip(stored, plan.column_start):
        part = torch.matmul(probs[..., c0:c0 + values.shape[1]], values)   # [Hkv, G*T, D]
        out = part if out is None else out + part
    if plan.collect:
        last = probs.view(num_heads, T, N)[:, dev.last].float().mean(0)    # [R, N]
        mass = last.new_zeros(last.shape[0], plan.num_blocks)
        plan.layer_attention[layer] = mass.index_add_(1, dev.column_block, last)
    return out.view(num_heads, T, D).transpose(0, 1)[None].contiguous(), None


@dataclass
class ReferencePlan:
    """One row run through stock attention; records the last query's head-mean probabilities."""
    collect: bool
    layer_attention: dict = field(default_factory=dict)  # layer -> [view_len]


def _stock_eager(module):
    modeling = sys.modules.get(type(module).__module__)
    return getattr(modeling, "eager_attention_forward")


def hogwild_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    plan = kwargs.pop("hogwild", None)
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    if isinstance(plan, FastPlan):
        return fast_attention(module, query, key, value, scaling, plan)
    if isinstance(plan, ReferencePlan):
        out, weights = _stock_eager(module)(module, query, key, value, attention_mask,
                                            scaling=scaling, dropout=dropout, **kwargs)
        if plan.collect:
            plan.layer_attention[module.layer_idx] = weights[0, :, -1, :].float().mean(0).cpu()
        return out, weights
    sdpa = AttentionInterface._global_mapping["sdpa"]
    return sdpa(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)


def register() -> None:
    """Make "hogwild" a known attention implementation (idempotent)."""
    AttentionInterface.register(ATTN_IMPLEMENTATION, hogwild_attention)
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, eager_mask)
