"""The fused fast path: the attention of `attention.fast_attention`, in a few kernel launches.

Per layer, for a pass of T new tokens (all writers, flattened) that reads S stored segments:

  1. the writers' new keys/values go into their segments (`SharedCache.write`, as on every path);
  2. the queries are rotated for every read segment at once, the softmax scaling folded in
     (`rope.py` explains why rotating the query is exact): [S, Hkv, G*T, D];
  3. each long segment is one fused attention call on its stored keys where they lie, returning
     its output and log-sum-exp; on CUDA a long segment every token sees whole is cut into equal
     chunks that run as one batched call (Flash-Decoding's split-K), so that a decode pass gives
     the GPU more than Hkv blocks of work;
  4. the short segments (headers, the workers' unfinished steps) are copied into one padded
     tensor [S_small, Hkv, Lmax, D] by one multi-tensor copy and run as one batched call;
  5. the partial outputs are merged by their log-sum-exp: out = sum_e softmax_e(lse_e) * out_e.

GQA: the G query heads that share a KV head are folded into the query length (rows g*T + t), so
keys are never repeated. What a token sees of a segment is a prefix; it is passed as an additive
mask only to the calls whose segment some token sees in part. A token that sees nothing of a
segment attends to all of it (no kernel meets an empty row) and that partial output's log-sum-exp
is set to -inf, which gives it weight exactly 0.

Kernels by device, each returning the log-sum-exp: the CPU's
`aten::_scaled_dot_product_flash_attention_for_cpu`, CUDA's
`aten::_scaled_dot_product_efficient_attention` (any head dim, float32/bfloat16/float16, an
additive bias); `math_kernel` (matmul and logsumexp) on any other device, and in tests.

Attention statistics stay on this path: a segment that holds one block (the prompt, a header, a
worker's step) gets its merge weight as the block's mass; the history, which holds many blocks,
gets per-position probabilities from one more score product for the writers' last tokens.
"""

import math
from dataclasses import dataclass

import torch

from .attention import segments_read, token_spans
from .cache import SharedCache
from .rope import rotation
from .view import View

# Segments at most this long join the padded batch (measured on the CPU; on a GPU a launch costs
# more than the padding).
SMALL_POSITIONS = {"cpu": 128, "cuda": 1024}
OTHER_SMALL_POSITIONS = 128
SPLIT_BLOCKS = 256      # CUDA: cut a long segment until a call has about this many (chunk, KV head) blocks
MIN_CHUNK = 256         # CUDA: positions per chunk, at least
MASK_ALIGN = 16         # mask rows start at multiples of 16 elements (the CUDA kernel needs 8)


def cpu_kernel(q, k, v, mask):
    """q: [B, Hkv, M, D], already scaled; k, v: [B, Hkv, n, D]; mask: additive, broadcastable to
    [B, Hkv, M, n], or None -> out [B, Hkv, M, D], lse [B, Hkv, M] (float32)."""
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, attn_mask=mask, scale=1.0)


def cuda_kernel(q, k, v, mask):
    """As cpu_kernel. The kernel's log-sum-exp is padded to a multiple of 32 rows."""
    if mask is not None:
        mask = mask.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    out, lse, _, _ = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, mask, True, scale=1.0)
    return out, lse[..., :q.shape[2]]


def math_kernel(q, k, v, mask):
    """As cpu_kernel, with plain operators (scores in float32)."""
    scores = torch.matmul(q, k.transpose(-1, -2)).float()
    if mask is not None:
        scores = scores + mask
    lse = torch.logsumexp(scores, -1)
    probs = torch.exp(scores - lse[..., None]).to(v.dtype)
    return torch.matmul(probs, v), lse


KERNELS = {"cpu": cpu_kernel, "cuda": cuda_kernel, "math": math_kernel}


def kernel_for(device: torch.device) -> str:
    return device.type if device.type in KERNELS else "math"


def padded_group(lengths: list[int], limit: int) -> list[int]:
    """Indices of the segments that run as one padded batch: those at most `limit` long, the longest
    dropped while padding would more than double the work; none if fewer than two remain."""
    group = sorted((n, i) for i, n in enumerate(lengths) if n <= limit)
    while len(group) > 1 and len(group) * group[-1][0] > 2 * sum(n for n, _ in group) + 16 * len(group):
        group.pop()
    return sorted(i for _, i in group) if len(group) > 1 else []


def chunk_length(n: int, num_kv: int, num_rows: int) -> int | None:
    """CUDA: positions per chunk when a fully visible segment of n positions is worth splitting."""
    blocks = num_kv * math.ceil(num_rows / 64)
    pieces = SPLIT_BLOCKS // blocks
    if pieces < 2:
        return None
    m = max(MIN_CHUNK, 64 * math.ceil(n / pieces / 64))
    return m if n // m >= 2 else None


def prefix_mask(reach: torch.Tensor, width: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask [..., width] hiding positions >= reach[...]; rows start aligned."""
    aligned = MASK_ALIGN * math.ceil(width / MASK_ALIGN)
    columns = torch.arange(aligned, device=reach.device)
    mask = torch.zeros((*reach.shape, aligned), dtype=dtype, device=reach.device)
    return mask.masked_fill_(columns >= reach[..., None], float("-inf"))[..., :width]


@dataclass
class _Call:
    """One big-segment call: the segment, its length, its mask (None: all seen), chunk length."""
    name: str
    length: int
    mask: torch.Tensor | None
    chunk: int | None


@dataclass
class _OnDevice:
    """The pass's tensors on one device, in one dtype, for one head layout."""
    cos: torch.Tensor                   # [S, 1, G*T, D], scaled; sin carries rotate_half's sign
    sin: torch.Tensor
    calls: list[_Call]
    small_mask: torch.Tensor | None     # [S_small, 1, G*T, Lmax]
    pads: tuple[torch.Tensor, torch.Tensor] | None    # [S_small, Hkv, Lmax, D] keys, values
    pad_views: list[torch.Tensor]       # the padded tensors' filled parts, keys then values
    bias: torch.Tensor | None           # [E, 1, G*T]: -inf where a token sees nothing of a segment
    entry_block: torch.Tensor | None    # [E]: block id of each partial output (num_blocks: many)
    last_rows: torch.Tensor | None      # [G*R]: rows of the writers' last tokens, g-major
    many_blocks: list[tuple[int, str, int, torch.Tensor, torch.Tensor]]   # order index, name, n, column blocks, reach


class FusedPlan:
    """Everything one fused forward pass needs, built once per pass (not per layer)."""

    def __init__(self, views: list[View], cache: SharedCache, inv_freq: torch.Tensor,
                 device: torch.device, collect: bool, kernel: str | None = None):
        self.views, self.cache, self.collect = views, cache, collect
        self.num_blocks = len(cache.records())
        self.writes, self.num_tokens = token_spans(views)
        self.kernel = kernel
        reads = segments_read(views, cache)
        limit = SMALL_POSITIONS.get(device.type, OTHER_SMALL_POSITIONS)
        small = padded_group([n for _, n in reads], limit)
        big = [i for i in range(len(reads)) if i not in small]
        self.reads = [reads[i] for i in big + small]           # big segments first
        self.num_big = len(big)
        R, S = len(views), len(self.reads)
        delta, limit_seen, own = [], [], []                    # [R][S] each
        for view in views:
            parts = {p.segment: p for p in view.parts}
            for name, _ in self.reads:
                part = parts.get(name)
                is_own = name == view.own
                delta.append(view.own_offset - part.offset if part else 0)
                limit_seen.append(view.start if is_own else (part.length if part else 0))
                own.append(int(is_own))
        # Which segments some token sees in part, and whether some token sees nothing of one.
        first_reach = [limit_seen[i] + own[i] for i in range(R * S)]
        last_reach = [limit_seen[r * S + s] + own[r * S + s] * views[r].num_new for r in range(R) for s in range(S)]
        self.masked = [any(first_reach[r * S + s] < self.reads[s][1] for r in range(R)) for s in range(S)]
        self.has_empty = any(x == 0 for x in last_reach)
        meta = torch.tensor([v.num_new for v in views] + [n for _, n in self.reads] + delta + limit_seen + own,
                            dtype=torch.long, device=device)   # one host->device copy
        num_new, lengths = meta[:R], meta[R:R + S]
        delta_t, limit_t, own_t = meta[R + S:].view(3, R, S)
        T = self.num_tokens
        row = torch.repeat_interleave(torch.arange(R, device=device), num_new, output_size=T)   # [T]
        index = torch.arange(T, device=device) - (torch.cumsum(num_new, 0) - num_new)[row]
        self.reach = limit_t[row] + own_t[row] * (index + 1)[:, None]                  # [T, S]
        self.lengths = lengths
        self.cos, self.sin = rotation(delta_t[row].T, inv_freq.to(device))             # [S, T, D]
        self.last = torch.cumsum(num_new, 0) - 1                                       # [R]
        self.layer_attention: dict[int, torch.Tensor] = {}   # layer -> [R, num_blocks]
        self._on_device: dict[tuple, _OnDevice] = {}

    # ---- the pass's tensors on a device ---------------------------------------------------
    def on(self, device: torch.device, dtype: torch.dtype, scaling: float, num_kv: int, group: int,
           head_dim: int) -> _OnDevice:
        key = (device, dtype, scaling, num_kv, group, head_dim)
        if key not in self._on_device:
            self._on_device[key] = self._build(device, dtype, scaling, num_kv, group, head_dim)
        return self._on_device[key]

    def _build(self, device, dtype, scaling, num_kv, G, D) -> _OnDevice:
        S, T, nb = len(self.reads), self.num_tokens, self.num_big
        half = D // 2
        sign = torch.cat([-torch.ones(half), torch.ones(half)]).to(device)
        cos = (self.cos.to(device) * scaling).repeat(1, G, 1)[:, None].to(dtype)       # [S, 1, G*T, D]
        sin = (self.sin.to(device) * (sign * scaling)).repeat(1, G, 1)[:, None].to(dtype)
        reach = self.reach.to(device).repeat(G, 1)                                     # [G*T, S]
        lengths = self.lengths.to(device)
        empty = reach == 0
        seen = torch.where(empty, lengths[None, :], reach) if self.has_empty else reach
        calls, entries = [], []                       # entries: order index of each partial output
        for s, (name, n) in enumerate(self.reads[:nb]):
            mask = prefix_mask(seen[:, s], n, dtype)[None, None] if self.masked[s] else None
            chunk = chunk_length(n, num_kv, G * T) if device.type == "cuda" and mask is None else None
            calls.append(_Call(name, n, mask, chunk))
            pieces = 1 if chunk is None else n // chunk + (n % chunk > 0)
            entries += [s] * pieces
        small_mask = pads = None
        pad_views = []
        if S > nb:
            width = max(n for _, n in self.reads[nb:])
            small_mask = prefix_mask(seen[:, nb:].T, width, dtype)[:, None]                # [S_small, 1, G*T, Lmax]
            keys = torch.zeros(S - nb, num_kv, width, D, dtype=dtype, device=device)
            values = torch.zeros_like(keys)
            pads = (keys, values)
            pad_views = ([keys[j, :, :n] for j, (_, n) in enumerate(self.reads[nb:])]
                         + [values[j, :, :n] for j, (_, n) in enumerate(self.reads[nb:])])
            entries += list(range(nb, S))
        entry_index = torch.tensor(entries, device=device)
        bias = None
        if self.has_empty:
            bias = torch.zeros(S, G * T, device=device).masked_fill_(empty.T, float("-inf"))[entry_index][:, None]
        entry_block = last_rows = None
        many_blocks = []
        if self.collect:
            entry_block, many_blocks = self._block_maps(entries, reach, device)
            last = self.last.to(device)
            last_rows = (torch.arange(G, device=device)[:, None] * T + last[None, :]).flatten()   # [G*R]
        return _OnDevice(cos, sin, calls, small_mask, pads, pad_views, bias, entry_block, last_rows, many_blocks)

    def _block_maps(self, entries: list[int], reach: torch.Tensor, device):
        """Block id of each partial output (a one-block segment's) and, for segments of several
        blocks, their column blocks and what the last tokens see of them."""
        table = self.cache.table
        ids, many = [], []
        block_of = {}
        for s, (name, n) in enumerate(self.reads):
            blocks = table.books(name).blocks
            if len(blocks) == 1 and blocks[0][1] == 0:
                block_of[s] = blocks[0][0]
            else:
                block_of[s] = self.num_blocks
                columns = torch.tensor(table.column_blocks(name, n), dtype=torch.long, device=device)
                many.append((s, name, n, columns, reach[:, s]))
        ids = [block_of[s] for s in entries]
        return torch.tensor(ids, dtype=torch.long, device=device), many

    # ---- results ----------------------------------------------------------------------------
    def attention_by_layer(self, num_layers: int) -> torch.Tensor:
        """[L, R, num_blocks] on the CPU, gathered once after the pass."""
        return torch.stack([self.layer_attention[layer].float().cpu() for layer in range(num_layers)])

    def attend(self, module, query, key, value, scaling: float):
        return fused_attention(module, query, key, value, scaling, self)


def fused_attention(module, query, key, value, scaling: float, plan: FusedPlan):
    """query: [1, H, T, D]; key, value: [1, Hkv, T, D] -> attn_output [1, T, H, D]."""
    layer = module.layer_idx
    _, num_heads, T, D = query.shape
    num_kv = key.shape[1]
    G = num_heads // num_kv
    for view, t0, t1 in plan.writes:
        plan.cache.write(layer, view.own, view.start, key[0, :, t0:t1], value[0, :, t0:t1])
    on = plan.on(query.device, query.dtype, scaling, num_kv, G, D)
    kernel = KERNELS[plan.kernel or kernel_for(query.device)]
    q = query[0].reshape(num_kv, G * T, D)
    q = torch.addcmul(q * on.cos, q.roll(D // 2, -1), on.sin)               # [S, Hkv, G*T, D]
    outs, lses = [], []
    for s, call in enumerate(on.calls):
        keys, values = plan.cache.read(layer, call.name, call.length)
        if call.chunk is None:
            out, lse = kernel(q[s:s + 1], keys[None], values[None], call.mask)
            outs.append(out)
            lses.append(lse)
            continue
        m, n = call.chunk, call.length
        whole = n - n % m
        split = lambda x: x[:, :whole].unflatten(1, (whole // m, m)).transpose(0, 1)   # [C, Hkv, m, D]
        qs = q[s:s + 1].expand(whole // m, -1, -1, -1)
        out, lse = kernel(qs, split(keys), split(values), None)
        outs.append(out)
        lses.append(lse)
        if whole < n:
            out, lse = kernel(q[s:s + 1], keys[None, :, whole:], values[None, :, whole:], None)
            outs.append(out)
            lses.append(lse)
    if on.pads is not None:
        stored = [plan.cache.read(layer, name, n) for name, n in plan.reads[plan.num_big:]]
        torch._foreach_copy_(on.pad_views, [k for k, _ in stored] + [v for _, v in stored])
        out, lse = kernel(q[plan.num_big:], on.pads[0], on.pads[1], on.small_mask)
        outs.append(out)
        lses.append(lse)
    if len(outs) == 1 and outs[0].shape[0] == 1 and not plan.collect:
        attended = outs[0][0]                                                # [Hkv, G*T, D]
    else:
        lse = torch.cat(lses)                                                # [E, Hkv, G*T]
        if on.bias is not None:
            lse = lse + on.bias
        total = torch.logsumexp(lse, 0)                                      # [Hkv, G*T]
        weights = torch.exp(lse - total)
        attended = (torch.cat(outs).float() * weights[..., None]).sum(0).to(query.dtype)
        if plan.collect:
            plan.layer_attention[layer] = _block_mass(plan, on, layer, q, weights, total, num_kv, G)
    return attended.view(num_heads, T, D).transpose(0, 1)[None].contiguous(), None


def _block_mass(plan: FusedPlan, on: _OnDevice, layer: int, q, weights, total, num_kv: int, G: int):
    """[R, num_blocks]: the head-mean attention of each writer's last token, summed per block."""
    R = len(plan.views)
    rows = on.last_rows
    per_entry = weights[:, :, rows].view(weights.shape[0], num_kv * G, R).mean(1)     # [E, R]
    mass = per_entry.new_zeros(R, plan.num_blocks + 1)
    mass.index_add_(1, on.entry_block, per_entry.T)
    for s, name, n, columns, reach in on.many_blocks:
        keys, _ = plan.cache.read(layer, name, n)
        scores = torch.matmul(q[s][:, rows], keys.transpose(1, 2)).float()           # [Hkv, G*R, n]
        probs = torch.exp(scores - total[:, rows, None])
        probs = probs * (torch.arange(n, device=probs.device) < reach[rows][:, None])
        mass.index_add_(1, columns, probs.view(num_kv * G, R, n).mean(0))
    return mass[:, :plan.num_blocks]
