"""One runner, two forward paths side by side, and the model boundary.

`Runner.run(views, tokens)` runs every writer of one pass through the real model, writes their
new keys/values into the shared cache (through `SharedCache.write`, whichever path) and returns
the last-token logits of every writer, on the model's device, and the attention mass per block
if statistics are collected.

* fast: all writers in one batched forward; attention runs over the stored segments in place
  (registered as the attention implementation "hogwild"), by one of two kernels: "fused"
  (`fused.py`: a few launches per layer; the default on CPU and CUDA) or "segments"
  (`attention.py`: a few operators per read segment; the default elsewhere, and the fused
  kernel's check). `Runner.kernel` names the one in use.
* reference: one writer at a time, the model's stock eager attention over an ordinary
  DynamicCache assembled from the view (keys rotated to view positions); its new keys/values
  are read back from that cache and stored. Obviously correct, slow.

The model may be shared (the app serves one model to many sessions, a caller may run plain
`generate` on it): the attention implementation is switched only around the engine's own
forward calls and restored after each.
"""

import threading
import weakref
from contextlib import contextmanager

import torch
from transformers import AttentionInterface, DynamicCache
from transformers.masking_utils import AttentionMaskInterface

from .attention import FastPlan, hogwild_attention
from .cache import SharedCache
from .fused import FusedPlan
from .rope import shift_positions
from .view import Part, View, block_spans

FAST_IMPLEMENTATION = "hogwild"
REFERENCE_IMPLEMENTATION = "eager"
FAST_KERNELS = {"fused": FusedPlan, "segments": FastPlan}


def default_kernel(device: torch.device) -> str:
    """The fast path's kernel on a device: fused where its kernels are known to exist."""
    return "fused" if device.type in ("cpu", "cuda") else "segments"


def _no_mask(*args, **kwargs):
    """The fast path builds its own mask; the model's mask would be discarded work."""
    return None


def register() -> None:
    """Make "hogwild" a known attention implementation (idempotent)."""
    AttentionInterface.register(FAST_IMPLEMENTATION, hogwild_attention)
    AttentionMaskInterface.register(FAST_IMPLEMENTATION, _no_mask)


# The one piece of state shared across engines, on purpose: engines that share a model (two
# sessions of the app) must not switch its attention implementation under each other's forward.
_FORWARD_LOCKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def forward_lock(model) -> threading.RLock:
    """One lock per model, held by every engine forward on it."""
    with _LOCKS_GUARD:
        lock = _FORWARD_LOCKS.get(model)
        if lock is None:
            lock = _FORWARD_LOCKS[model] = threading.RLock()
        return lock


@contextmanager
def attention_implementation(model, name: str):
    """The model with attention implementation `name` for the duration, then as it was.

    It switches the config's `_attn_implementation`, which every attention layer reads at call
    time (and which is how transformers documents reading the current implementation), not
    `set_attn_implementation`: that one validates and walks every module, about 1 ms per call on
    a 30-layer model, twice per pass. `Runner` validates both implementations once, up front.
    Engines sharing the model take turns (one forward at a time); a plain forward run at the same
    moment from another thread is not covered."""
    with forward_lock(model):
        config = model.config
        before = config._attn_implementation
        if before != name:
            config._attn_implementation = name
        try:
            yield model
        finally:
            if before != name:
                config._attn_implementation = before


class Runner:
    def __init__(self, model, inv_freq: torch.Tensor, path: str):
        register()
        with forward_lock(model):
            before = model.config._attn_implementation
            for name in (FAST_IMPLEMENTATION, REFERENCE_IMPLEMENTATION):   # the model accepts both
                model.set_attn_implementation(name)
            model.set_attn_implementation(before)
        self.model, self.inv_freq, self.path = model, inv_freq, path
        self.num_layers = model.config.num_hidden_layers
        self.device = model.get_input_embeddings().weight.device
        self.kernel = default_kernel(self.device)

    def run(self, cache: SharedCache, views: list[View], tokens: list[list[int]], collect: bool):
        """views[r], tokens[r]: writer r's view and its new tokens (view.num_new of them).
        Returns logits [R, V] (float32, model device) and, if collect, attention [L, R, num_blocks]
        on the CPU."""
        with torch.no_grad():
            if self.path == "fast":
                return self._run_fast(cache, views, tokens, collect)
            return self._run_reference(cache, views, tokens, collect)

    def _run_fast(self, cache, views, tokens, collect):
        plan = FAST_KERNELS[self.kernel](views, cache, self.inv_freq, self.device, collect)
        # Segment-local positions: keys are stored as if their segment began at 0; each query is
        # moved to its view position by the plan's rotations.
        positions = [v.start + i for v in views for i in range(v.num_new)]
        meta = torch.tensor([[t for row in tokens for t in row], positions], device=self.device)   # one copy
        with attention_implementation(self.model, FAST_IMPLEMENTATION):
            out = self.model(input_ids=meta[:1], position_ids=meta[1:], use_cache=False,
                             logits_to_keep=plan.last, hogwild=plan)
        logits = out.logits[0].float()
        return logits, (plan.attention_by_layer(self.num_layers) if collect else None)

    def _run_reference(self, cache, views, tokens, collect):
        # Writers go one at a time here, so make room first: a later writer's reads must see the
        # storage an earlier one's write would otherwise have moved (one tensor per segment a pass).
        for view in views:
            cache.reserve(view.own, view.start + view.num_new)
        all_logits, all_attention = [], []
        for view, row in zip(views, tokens):
            past = None
            if view.first_position:
                seen = _without_new(view)
                layers = [cache.view_kv(seen, layer) for layer in range(self.num_layers)]
                past = DynamicCache(ddp_cache_data=[(k[None], v[None]) for k, v in layers])
            past = past if past is not None else DynamicCache()
            n = view.num_new
            positions = torch.arange(n, device=self.device)[None] + view.first_position
            with attention_implementation(self.model, REFERENCE_IMPLEMENTATION):
                out = self.model(input_ids=torch.tensor([row], device=self.device), position_ids=positions,
                                 cache=past, use_cache=True, logits_to_keep=1,
                                 output_attentions=collect)
            for layer in range(self.num_layers):
                k = past.layers[layer].keys[0, :, -n:]
                v = past.layers[layer].values[0, :, -n:]
                cache.write(layer, view.own, view.start, shift_positions(k, -view.own_offset, self.inv_freq), v)
            all_logits.append(out.logits[0, -1].float())
            if collect:
                all_attention.append(self._per_block(cache, view, out.attentions))
        logits = torch.stack(all_logits)
        return logits, (torch.stack(all_attention, dim=1) if collect else None)

    def _per_block(self, cache: SharedCache, view: View, attentions) -> torch.Tensor:
        """[L, num_blocks]: the last query's head-mean probabilities summed over each block."""
        per_layer = torch.zeros(self.num_layers, len(cache.records()))
        spans = block_spans(view, {p.segment: cache.books(p.segment).blocks for p in view.parts})
        for layer, weights in enumerate(attentions):
            probs = weights[0, :, -1, :].float().mean(0).cpu()          # [view length]
            for block_id, start, length in spans:
                per_layer[layer, block_id] = probs[start:start + length].sum()
        return per_layer


def _without_new(view: View) -> View:
    """The view as it stood before this pass's new tokens."""
    last = view.parts[-1]
    parts = view.parts[:-1] + (Part(last.segment, last.offset, view.start),)
    return View(view.worker, view.own, view.start, 0, parts)
