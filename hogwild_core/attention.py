"""The fast path's segment attention: every writer's queries against the shared segments, in place.

All writers' new tokens are flattened into one sequence of T tokens. In each layer the new
keys/values are written once into their segments (through `SharedCache.write`); then each query
is rotated by (its own segment's view offset - the read segment's view offset), one rotation
per read segment and query, and scored against that segment's stored keys where they lie. A
float mask hides what a writer may not see; one softmax runs across all segments together.
`rope.py` explains why rotating the query is exact.

`FastPlan` holds this pass's metadata as small integer tensors and builds the rotations and the
mask from them on the model's device, with tensor ops (no Python loop over tokens or blocks).

This is the plain form of the fast path, a few operators per read segment and layer; `fused.py`
computes the same attention in a few kernel launches and is checked against this one. Both plans
answer `attend(...)`, which the registered attention function calls, and share the pass's
bookkeeping (`segments_read`, `token_spans`).
"""

import torch

from .cache import SharedCache
from .rope import apply_rotation, rotation
from .view import View


def segments_read(views: list[View], cache: SharedCache) -> list[tuple[str, int]]:
    """(segment, length after this pass's writes) of every non-empty segment, in storage order."""
    lengths = cache.lengths()
    for view in views:
        lengths[view.own] += view.num_new
    return [(name, n) for name, n in lengths.items() if n > 0]


def token_spans(views: list[View]) -> tuple[list[tuple[View, int, int]], int]:
    """(view, first token, end token) of each writer in the pass's flat sequence, and its length T."""
    spans, t = [], 0
    for view in views:
        spans.append((view, t, t + view.num_new))
        t += view.num_new
    return spans, t


class FastPlan:
    """Everything one fast forward pass needs, built once per pass (not per layer)."""

    def __init__(self, views: list[View], cache: SharedCache, inv_freq: torch.Tensor,
                 device: torch.device, collect: bool):
        self.views, self.cache, self.collect = views, cache, collect
        self.num_blocks = len(cache.records())
        self.reads = segments_read(views, cache)
        self.writes, self.num_tokens = token_spans(views)
        self.column_start = [sum(n for _, n in self.reads[:s]) for s in range(len(self.reads))]
        self._build(inv_freq.to(device), device)
        self._on_device: dict[tuple, tuple] = {}
        self.layer_attention: dict[int, torch.Tensor] = {}   # layer -> [R, num_blocks]

    def _build(self, inv_freq: torch.Tensor, device: torch.device) -> None:
        R, S = len(self.views), len(self.reads)
        delta, limit, own = [], [], []        # [R][S] each: rotation, visible length, own segment?
        for view in self.views:
            for name, _ in self.reads:
                part = view.part(name)
                is_own = name == view.own
                delta.append(view.own_offset - part.offset if part else 0)
                limit.append(view.start if is_own else (part.length if part else 0))
                own.append(int(is_own))
        meta = torch.tensor([v.num_new for v in self.views] + [n for _, n in self.reads] + delta + limit + own,
                            dtype=torch.long, device=device)           # one host->device copy
        num_new, lengths = meta[:R], meta[R:R + S]
        delta, limit, own = meta[R + S:].view(3, R, S)
        # output_size given: repeat_interleave would otherwise sync with the device to learn it
        T, N = self.num_tokens, sum(n for _, n in self.reads)
        row = torch.repeat_interleave(torch.arange(R, device=device), num_new, output_size=T)   # [T]
        index = torch.arange(T, device=device) - (torch.cumsum(num_new, 0) - num_new)[row]
        self.cos, self.sin = rotation(delta[row].T, inv_freq)                         # [S, T, D]
        column_segment = torch.repeat_interleave(torch.arange(S, device=device), lengths, output_size=N)  # [N]
        column_position = torch.arange(N, device=device) - (
            torch.cumsum(lengths, 0) - lengths)[column_segment]
        reach = limit[row] + own[row] * (index + 1)[:, None]                       # [T, S]: causal on own
        visible = column_position[None, :] < reach[:, column_segment]               # [T, N]
        self.mask = torch.zeros(visible.shape, device=device).masked_fill_(~visible, float("-inf"))
        self.last = torch.cumsum(num_new, 0) - 1                                     # [R]
        self.column_block = None
        if self.collect:
            ids = [b for name, n in self.reads for b in self.cache.column_blocks(name, n)]
            self.column_block = torch.tensor(ids, dtype=torch.long, device=device)  # [N]

    def on(self, device: torch.device, dtype: torch.dtype, scaling: float) -> tuple:
        """(cos, sin, mask, last, column_block) on one device (a model may span several), in the
        model's dtype, with the softmax scaling folded into the query rotation."""
        key = (device, dtype, scaling)
        if key not in self._on_device:
            block = None if self.column_block is None else self.column_block.to(device)
            self._on_device[key] = ((self.cos * scaling).to(device, dtype), (self.sin * scaling).to(device, dtype),
                                    self.mask.to(device, dtype), self.last.to(device), block)
        return self._on_device[key]

    def attention_by_layer(self, num_layers: int) -> torch.Tensor:
        """[L, R, num_blocks] on the CPU, gathered once after the pass."""
        return torch.stack([self.layer_attention[layer].float().cpu() for layer in range(num_layers)])

    def attend(self, module, query, key, value, scaling: float):
        return fast_attention(module, query, key, value, scaling, self)


def fast_attention(module, query, key, value, scaling: float, plan: FastPlan):
    """query: [1, H, T, D]; key, value: [1, Hkv, T, D] -> attn_output [1, T, H, D]."""
    layer = module.layer_idx
    _, num_heads, T, D = query.shape
    num_kv = key.shape[1]
    G = num_heads // num_kv
    for view, t0, t1 in plan.writes:
        plan.cache.write(layer, view.own, view.start, key[0, :, t0:t1], value[0, :, t0:t1])
    cos, sin, mask, last, column_block = plan.on(query.device, query.dtype, scaling)
    q = apply_rotation(query[0][None], cos[:, None], sin[:, None])          # [S, H, T, D], scaled
    stored = [plan.cache.read(layer, name, n) for name, n in plan.reads]    # ([Hkv, n, D], same)
    scores = [torch.matmul(q[s].reshape(num_kv, G * T, D), keys.transpose(1, 2))
              for s, (keys, _) in enumerate(stored)]                        # [Hkv, G*T, n] each
    scores = torch.cat(scores, dim=-1)                                      # [Hkv, G*T, N]
    N = scores.shape[-1]
    scores = scores.view(num_kv, G, T, N) + mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype)
    probs = probs.view(num_kv, G * T, N)
    out = None
    for (_, values), c0 in zip(stored, plan.column_start):
        part = torch.matmul(probs[..., c0:c0 + values.shape[1]], values)   # [Hkv, G*T, D]
        out = part if out is None else out + part
    if plan.collect:
        mean = probs.view(num_heads, T, N)[:, last].float().mean(0)        # [R, N]
        mass = mean.new_zeros(mean.shape[0], plan.num_blocks)
        plan.layer_attention[layer] = mass.index_add_(1, column_block, mean)
    return out.view(num_heads, T, D).transpose(0, 1)[None].contiguous(), None


def hogwild_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The attention function registered as "hogwild"; the engine sets it only around its own
    fast forward calls, which always pass their plan (a FastPlan or a fused.FusedPlan) as the
    keyword `hogwild`."""
    plan = kwargs.get("hogwild")
    if plan is None:
        raise RuntimeError("the 'hogwild' attention runs only inside HogwildEngine's forward passes")
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    return plan.attend(module, query, key, value, scaling)
