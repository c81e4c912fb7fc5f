"""The fused fast path: the attention of `attention.fast_attention`, in a few operators per layer.

Same contract as the segment kernel beside it: the pass's new keys/values are written once into
their segments (`SharedCache.write_rows`: one indexed copy for every writer), then every writer's
queries attend to the stored segments where they lie, keys never copied per worker (rope.py
explains why rotating the query is exact). For a pass of T new tokens reading S segments, the
queries are rotated for every segment at once, the softmax scaling folded in: [Hkv, S, G*T, D].
The segments are the long ones with buffers of their own (the prompt, the history) and the slots
of the layer's pool (the headers, each worker's own segment: `cache.py`). Two forms, by device:

* explicit (the CPU, where an operator costs its dispatch more than its arithmetic): the scores of
  each long segment are one matmul; the pool's are one matmul of every slot's rotated queries
  against all slots' keys, each column then gathered from its own slot's rows; one softmax over
  all columns, then the values, one matmul per long segment and one for the pool.
* split (CUDA, where a launch is dear and memory traffic is what counts): each long segment is one
  fused attention call on its keys where they lie, returning output and log-sum-exp; a long
  segment that every token sees whole is cut into equal chunks run as one batched call
  (Flash-Decoding's split-K), so a decode pass gives the GPU more than Hkv blocks of work; the
  pool is one batched call over its slots. The partial results are merged by log-sum-exp:
  out = sum_e softmax_e(lse_e) * out_e.

GQA: the G query heads that share a KV head are folded into the query length (rows g*T + t), so
keys are never repeated. What a token sees of a segment is a prefix (the pool's slots past their
length are masked too); it is given as an additive mask only where some token sees a segment in
part. Split: a token that sees nothing of a partial result's segment attends to all of it (no
kernel meets an empty row) and that result's log-sum-exp is set to -inf, which gives it weight 0.

Kernels of the split form, each returning the log-sum-exp: the CPU's
`aten::_scaled_dot_product_flash_attention_for_cpu`, CUDA's
`aten::_scaled_dot_product_efficient_attention` (any head dim, float32/bfloat16/float16, an
additive bias); `math_kernel` (matmul and logsumexp) anywhere, and in tests.

Attention statistics stay on both forms: explicit has every probability at hand; split gives a
long one-block segment (the prompt) its merge weight, and scores the history (many blocks) and
the pool once more for the writers' last tokens only.
"""

import math
from dataclasses import dataclass

import torch

from .attention import token_spans
from .cache import SharedCache
from .rope import rotation
from .view import View

FORMS = {"cpu": "explicit", "cuda": "split"}     # by device; any other device: split, math kernel
SPLIT_K_DEVICES = ("cuda",)
SPLIT_BLOCKS = 256      # split-K: cut a long segment until a call has about this many (chunk, KV head) blocks
MIN_CHUNK = 512         # split-K: positions per chunk, at least
MASK_ALIGN = 16         # mask rows start at multiples of 16 elements (the CUDA kernel needs 8)
NEG_INF = float("-inf")


# ---- kernels: q [B, Hkv, M, D] (scaled), k, v [B, Hkv, n, D], additive mask broadcastable to
# [B, Hkv, M, n] or None -> out [B, Hkv, M, D], lse [B, Hkv, M] float32 ------------------------------
def cpu_kernel(q, k, v, mask):
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, attn_mask=mask, scale=1.0)


def cuda_kernel(q, k, v, mask):
    """The kernel's log-sum-exp is padded to a multiple of 32 rows; its bias must be expanded."""
    if mask is not None:
        mask = mask.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    out, lse, _, _ = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, mask, True, scale=1.0)
    return out, lse[..., :q.shape[2]]


def math_kernel(q, k, v, mask):
    scores = torch.matmul(q, k.transpose(-1, -2)).float()
    if mask is not None:
        scores = scores + mask
    lse = torch.logsumexp(scores, -1)
    probs = torch.exp(scores - lse[..., None]).to(v.dtype)
    return torch.matmul(probs, v), lse


KERNELS = {"cpu": cpu_kernel, "cuda": cuda_kernel, "math": math_kernel}


def kernel_for(device: torch.device) -> str:
    return device.type if device.type in KERNELS else "math"


# ---- pure helpers ----------------------------------------------------------------------------
def chunk_length(n: int, num_kv: int, num_rows: int) -> int | None:
    """Split-K: positions per chunk when a fully seen segment of n positions is worth cutting."""
    pieces = SPLIT_BLOCKS // (num_kv * math.ceil(num_rows / 64))
    if pieces < 2:
        return None
    m = max(MIN_CHUNK, 64 * math.ceil(n / pieces / 64))
    return m if n // m >= 2 else None


def prefix_mask(reach: torch.Tensor, width: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask [..., width] hiding positions >= reach[...], rows starting aligned."""
    aligned = MASK_ALIGN * math.ceil(width / MASK_ALIGN)
    columns = torch.arange(aligned, device=reach.device)
    mask = torch.zeros((*reach.shape, aligned), dtype=dtype, device=reach.device)
    return mask.masked_fill_(columns >= reach[..., None], NEG_INF)[..., :width]


# ---- the plan --------------------------------------------------------------------------------
@dataclass
class _Pool:
    """The pool's slots as columns slot * L + position (`_pool_scores`): their mask for M rows."""
    mask: torch.Tensor                # [M, S_pool * L] float32, 0 or -inf


@dataclass
class _Call:
    """Split: one long-segment call (segment index in plan order; mask None: seen whole)."""
    segment: int
    mask: torch.Tensor | None
    chunk: int | None


@dataclass
class _OnDevice:
    """The pass's tensors on one device, in one dtype, for one head layout."""
    cos: torch.Tensor                       # [S, 1, T, D] scaled; sin carries rotate_half's sign
    sin: torch.Tensor
    long_masks: list                        # explicit: [G*T, n] float32 or None per long segment
    pool: _Pool | None                      # explicit: the pool's columns for all rows
    calls: list                             # split: the long-segment calls
    pool_mask: torch.Tensor | None          # split: [S_pool, 1, G*T, L]
    bias: torch.Tensor | None               # split: [E, 1, G*T], -inf where a row sees nothing of a result
    last_rows: torch.Tensor | None          # statistics: [G*R] rows of the writers' last tokens
    blocks: torch.Tensor | None             # statistics: block of each column (num_blocks: padding)
    entry_block: torch.Tensor | None        # split statistics: [E_long] block of each long result
    many: list                              # split statistics: (segment, its column blocks) of several
    pool_last: _Pool | None                 # split statistics: the pool's columns for the last rows
    reach: torch.Tensor | None              # split statistics: [G*T, S]


class FusedPlan:
    """Everything one fused forward pass needs, built once per pass (not per layer)."""

    def __init__(self, views: list[View], cache: SharedCache, inv_freq: torch.Tensor,
                 device: torch.device, collect: bool, kernel: str | None = None):
        self.views, self.cache, self.collect, self.kernel = views, cache, collect, kernel
        self.form = FORMS.get(device.type, "split")
        self.num_blocks = len(cache.records())
        self.writes, self.num_tokens = token_spans(views)
        self.rows = cache.rows([(v.own, v.start, t0, t1) for v, t0, t1 in self.writes], device)
        self.inv_freq = inv_freq
        self.layer_attention: dict[int, torch.Tensor] = {}   # layer -> [R, num_blocks]
        self._on_device: dict[tuple, _OnDevice] = {}
        lengths = cache.lengths()
        for view in views:
            lengths[view.own] += view.num_new
        pooled = [(name, lengths[name]) for name in cache.pooled]
        self.width = max((n for _, n in pooled), default=0)                        # L
        self.num_slots = len(pooled) if self.width else 0
        self.reads = [(name, n) for name, n in lengths.items() if name not in cache.pooled and n > 0]
        self.num_big = len(self.reads)
        self.reads += pooled[:self.num_slots]                  # long segments, then every slot
        S = len(self.reads)
        reach, delta = [], []         # per token t, per segment s: positions seen, query rotation
        for view in views:
            parts = {p.segment: p for p in view.parts}
            row_delta, row_seen, row_own = [], [], []
            for name, _ in self.reads:
                part = parts.get(name)
                row_delta.append(view.own_offset - part.offset if part else 0)
                row_own.append(name == view.own)
                row_seen.append(view.start if name == view.own else (part.length if part else 0))
            for i in range(view.num_new):
                reach += [seen + (i + 1) * own for seen, own in zip(row_seen, row_own)]
                delta += row_delta
        T = self.num_tokens
        self.masked = [any(reach[t * S + s] < self.reads[s][1] for t in range(T)) for s in range(S)]
        self.empty = 0 in reach
        self._meta = torch.tensor(reach + delta, dtype=torch.long, device=device)     # one host->device copy
        # [R] each writer's last token, on the CPU: it indexes the last hidden states wherever the
        # model's last layer runs (a model split over devices too)
        self.last = torch.tensor([t1 - 1 for _, _, t1 in self.writes])

    # ---- the pass's tensors on a device ---------------------------------------------------
    def on(self, device: torch.device, dtype: torch.dtype, scaling: float, num_kv: int, group: int,
           head_dim: int, layer: int) -> _OnDevice:
        """Built at the first layer that runs on the device, after its writes."""
        key = (device, dtype, scaling, num_kv, group, head_dim)
        if key not in self._on_device:
            if not self._on_device and self.form == "explicit" and self.num_slots:
                # read the pool's slots whole (a view, no copy) unless that would add more than
                # 16 columns of padding per slot; every layer's pool has the same capacity
                capacity = self.cache.pool(layer)[0].shape[2]
                self.width = capacity if capacity <= self.width + 16 else self.width
            self._on_device[key] = self._build(device, dtype, scaling, num_kv, group, head_dim)
        return self._on_device[key]

    def _build(self, device, dtype, scaling, num_kv, G, D) -> _OnDevice:
        S, T, nb = len(self.reads), self.num_tokens, self.num_big
        meta = self._meta.to(device)
        reach_t, delta_t = meta[:T * S].view(T, S), meta[T * S:2 * T * S].view(T, S)
        cos, sin = rotation(delta_t.T, self.inv_freq.to(device))                      # [S, T, D]
        signed = torch.tensor([-scaling] * (D // 2) + [scaling] * (D // 2), device=device)
        on = _OnDevice((cos * scaling).to(dtype)[:, None], (sin * signed).to(dtype)[:, None],
                       [], None, [], None, None, None, None, None, [], None, None)
        reach = reach_t.repeat(G, 1)                                                  # [G*T, S]
        if self.collect:
            on.last_rows = (torch.arange(G, device=device)[:, None] * T + self.last.to(device)[None, :]).flatten()
            ids = []
            for name, n in self.reads[nb:]:
                ids += self.cache.column_blocks(name, n) + [self.num_blocks] * (self.width - n)
            on.blocks = torch.tensor(ids, dtype=torch.long, device=device)
        if self.form == "explicit":
            on.long_masks = [prefix_mask(reach[:, s], n, torch.float32) if self.masked[s] else None
                             for s, (_, n) in enumerate(self.reads[:nb])]
            if self.num_slots:
                on.pool = self._pool_columns(reach[:, nb:], device)
            if self.collect:
                ids = [b for name, n in self.reads[:nb] for b in self.cache.column_blocks(name, n)]
                on.blocks = torch.cat([torch.tensor(ids, dtype=torch.long, device=device), on.blocks])
            return on
        self._build_split(on, reach, device, dtype, num_kv, G)
        return on

    def _pool_columns(self, reach: torch.Tensor, device) -> _Pool:
        """reach: [M, S_pool] what each of M rows sees of each slot."""
        M, L, S = reach.shape[0], self.width, self.num_slots
        columns = torch.tensor([list(range(L)) * S, [s for s in range(S) for _ in range(L)]], device=device)
        position, slot = columns[0], columns[1]                                       # [S*L] each
        return _Pool(torch.zeros(M, S * L, device=device).masked_fill_(position >= reach[:, slot], NEG_INF))

    def _build_split(self, on: _OnDevice, reach, device, dtype, num_kv: int, G: int) -> None:
        S, T, nb = len(self.reads), self.num_tokens, self.num_big
        # what a row that sees nothing of a segment is shown instead: all of it (a slot: all its
        # positions, even when its segment is empty)
        shown = torch.tensor([n for _, n in self.reads[:nb]] + [self.width] * self.num_slots, device=device)
        empty = reach == 0
        seen = torch.where(empty, shown, reach) if self.empty else reach
        flags = []                    # per partial result: the rows that see nothing of it
        split_k = device.type in SPLIT_K_DEVICES
        for s in range(nb):
            n = self.reads[s][1]
            mask = prefix_mask(seen[:, s], n, dtype)[None, None] if self.masked[s] else None
            chunk = chunk_length(n, num_kv, G * T) if split_k and mask is None else None
            on.calls.append(_Call(s, mask, chunk))
            flags += [empty[:, s]] * (1 if chunk is None else n // chunk + (n % chunk > 0))
        num_long = len(flags)
        if self.num_slots:
            on.pool_mask = prefix_mask(seen[:, nb:].T, self.width, dtype)[:, None]        # [S_pool, 1, G*T, L]
            flags += [empty[:, s] for s in range(nb, S)]
        if self.empty:
            on.bias = torch.zeros(len(flags), G * T, device=device).masked_fill_(torch.stack(flags), NEG_INF)[:, None]
        if not self.collect:
            return
        cache, entry_block = self.cache, []
        for call in on.calls:
            name, n = self.reads[call.segment]
            blocks = cache.books(name).blocks
            single = len(blocks) == 1 and blocks[0][1] == 0
            if not single:
                on.many.append((call.segment, torch.tensor(cache.column_blocks(name, n), dtype=torch.long,
                                                            device=device)))
            pieces = 1 if call.chunk is None else n // call.chunk + (n % call.chunk > 0)
            entry_block += [blocks[0][0] if single else self.num_blocks] * pieces
        on.entry_block = torch.tensor(entry_block, dtype=torch.long, device=device)
        assert on.entry_block.numel() == num_long
        if self.num_slots:
            on.pool_last = self._pool_columns(reach[on.last_rows, nb:], device)
        on.reach = reach

    # ---- results ----------------------------------------------------------------------------
    def attention_by_layer(self, num_layers: int) -> torch.Tensor:
        """[L, R, num_blocks] on the CPU, gathered once after the pass."""
        return torch.stack([self.layer_attention[layer].float().cpu() for layer in range(num_layers)])

    def attend(self, module, query, key, value, scaling: float):
        return fused_attention(module, query, key, value, scaling, self)


# ---- one layer -------------------------------------------------------------------------------
def fused_attention(module, query, key, value, scaling: float, plan: FusedPlan):
    """query: [1, H, T, D]; key, value: [1, Hkv, T, D] -> attn_output [1, T, H, D]."""
    layer = module.layer_idx
    _, num_heads, T, D = query.shape
    num_kv = key.shape[1]
    G = num_heads // num_kv
    plan.cache.write_rows(layer, plan.rows, key[0], value[0])
    on = plan.on(query.device, query.dtype, scaling, num_kv, G, D, layer)
    q = query[0].reshape(num_kv, 1, G, T, D)
    q = torch.addcmul(q * on.cos, q.roll(D // 2, -1), on.sin).reshape(num_kv, len(plan.reads), G * T, D)
    if plan.form == "explicit":
        attended = _explicit(plan, on, layer, q, num_kv, G)
    else:
        attended = _split(plan, on, layer, q, KERNELS[plan.kernel or kernel_for(query.device)], num_kv, G)
    # [1, T, H, D] as a view: the model's reshape to [1, T, H*D] makes the one copy
    return attended.view(num_heads, T, D).transpose(0, 1)[None], None


def _pool_scores(q, keys):
    """q [Hkv, S_pool, M, D] (each slot's rotation), keys [Hkv, S_pool, L, D] -> scores
    [Hkv, M, S_pool*L] (unmasked): one batched product over (KV head, slot), columns slot-major."""
    H, S, M, D = q.shape
    L = keys.shape[2]
    scores = torch.bmm(q.reshape(H * S, M, D), keys.reshape(H * S, L, D).transpose(1, 2))   # [Hkv*S_pool, M, L]
    return scores.view(H, S, M, L).transpose(1, 2).reshape(H, M, S * L)


def _float(x: torch.Tensor) -> torch.Tensor:
    """x in float32 (a float32 x as is: on the CPU even a no-op conversion costs a dispatch)."""
    return x if x.dtype == torch.float32 else x.float()


def _explicit(plan: FusedPlan, on: _OnDevice, layer: int, q, num_kv: int, G: int):
    """Every segment's scores, one softmax, the values. q: [Hkv, S, G*T, D] -> [Hkv, G*T, D]."""
    nb = plan.num_big
    scores, values = [], []
    for s, (name, n) in enumerate(plan.reads[:nb]):
        keys, vals = plan.cache.read(layer, name, n)
        part = _float(torch.bmm(q[:, s], keys.transpose(1, 2)))                      # [Hkv, G*T, n]
        scores.append(part if on.long_masks[s] is None else part + on.long_masks[s])
        values.append(vals)
    if plan.num_slots:
        keys, vals = plan.cache.pool(layer)
        if keys.shape[2] != plan.width:
            keys, vals = keys[:, :, :plan.width], vals[:, :, :plan.width]
        scores.append(_float(_pool_scores(q[:, nb:], keys)) + on.pool.mask)
        values.append(vals.flatten(1, 2))                                            # [Hkv, S_pool*L, D]
    probs = torch.softmax(torch.cat(scores, -1) if len(scores) > 1 else scores[0], -1)
    weights = probs if q.dtype == torch.float32 else probs.to(q.dtype)
    attended, c0 = None, 0
    for vals in values:
        part = weights.narrow(-1, c0, vals.shape[1])
        attended = torch.bmm(part, vals) if attended is None else torch.baddbmm(attended, part, vals)
        c0 += vals.shape[1]
    if plan.collect:
        mean = probs[:, on.last_rows].reshape(num_kv * G, len(plan.views), -1).mean(0)   # [R, N]
        mass = mean.new_zeros(mean.shape[0], plan.num_blocks + 1)
        plan.layer_attention[layer] = mass.index_add_(1, on.blocks, mean)[:, :plan.num_blocks]
    return attended


def _split(plan: FusedPlan, on: _OnDevice, layer: int, q, kernel, num_kv: int, G: int):
    """Long segments a call each, the pool one more, merged by log-sum-exp. q: [Hkv, S, G*T, D]."""
    nb = plan.num_big
    outs, lses = [], []
    for call in on.calls:
        name, n = plan.reads[call.segment]
        keys, values = plan.cache.read(layer, name, n)
        qs = q[None, :, call.segment]                                                # [1, Hkv, G*T, D]
        if call.chunk is None:
            out, lse = kernel(qs, keys[None], values[None], call.mask)
            outs.append(out)
            lses.append(lse)
            continue
        m = call.chunk
        whole = n - n % m
        split = lambda x: x[:, :whole].unflatten(1, (whole // m, m)).transpose(0, 1)   # [C, Hkv, m, D]
        out, lse = kernel(qs.expand(whole // m, -1, -1, -1), split(keys), split(values), None)
        outs.append(out)
        lses.append(lse)
        if whole < n:
            out, lse = kernel(qs, keys[None, :, whole:], values[None, :, whole:], None)
            outs.append(out)
            lses.append(lse)
    if plan.num_slots:
        keys, values = plan.cache.pool(layer)
        keys, values = keys[:, :, :plan.width], values[:, :, :plan.width]            # [Hkv, S_pool, L, D]
        out, lse = kernel(q[:, nb:].transpose(0, 1), keys.transpose(0, 1), values.transpose(0, 1), on.pool_mask)
        outs.append(out)
        lses.append(lse)
    if len(outs) == 1 and outs[0].shape[0] == 1 and not plan.collect:
        return outs[0][0]
    lse = torch.cat(lses)                                                            # [E, Hkv, G*T]
    if on.bias is not None:
        lse = lse + on.bias
    weights = torch.softmax(lse, 0)
    attended = (torch.cat(outs).float() * weights[..., None]).sum(0).to(q.dtype)     # [Hkv, G*T, D]
    if plan.collect:
        plan.layer_attention[layer] = _split_mass(plan, on, layer, q, lse, weights, num_kv, G)
    return attended


def _split_mass(plan: FusedPlan, on: _OnDevice, layer: int, q, lse, weights, num_kv: int, G: int):
    """[R, num_blocks]: the head-mean attention of each writer's last token, summed per block."""
    R, nb, rows = len(plan.views), plan.num_big, on.last_rows
    mass = weights.new_zeros(R, plan.num_blocks + 1)
    num_long = on.entry_block.numel()
    if num_long:
        per_entry = weights[:num_long, :, rows].reshape(num_long, num_kv * G, R).mean(1)   # [E_long, R]
        mass.index_add_(1, on.entry_block, per_entry.T)
    total = torch.logsumexp(lse, 0)[:, rows]                                         # [Hkv, G*R]
    for s, columns in on.many:
        name, n = plan.reads[s]
        keys, _ = plan.cache.read(layer, name, n)
        scores = torch.matmul(q[:, s, rows], keys.transpose(1, 2)).float()           # [Hkv, G*R, n]
        probs = torch.exp(scores - total[..., None])
        probs = probs * (torch.arange(n, device=probs.device) < on.reach[rows, s][:, None])
        mass.index_add_(1, columns, probs.view(num_kv * G, R, n).mean(0))
    if plan.num_slots:                      # the pool's scores for the last rows
        keys = plan.cache.pool(layer)[0][:, :, :plan.width]
        scores = _pool_scores(q[:, nb:, rows], keys).float() + on.pool_last.mask
        probs = torch.exp(scores - total[..., None])
        mass.index_add_(1, on.blocks, probs.reshape(num_kv * G, R, -1).mean(0))
    return mass[:, :plan.num_blocks]
