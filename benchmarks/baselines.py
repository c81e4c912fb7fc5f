"""What a Hogwild! pass is compared with: plain transformers decoding of W sequences, with the
cache `generate` uses (DynamicCache) and with a preallocated one (StaticCache, sdpa), and the
floor under every decoder: the model's linear layers alone at batch W (each weight read once).

All of these use transformers' own code paths; nothing here imports from hogwild_core."""

import time
from contextlib import contextmanager

import torch
from torch import nn
from transformers import DynamicCache, StaticCache

KV = list[tuple[torch.Tensor, torch.Tensor]]      # per layer: keys, values [Hkv, n, D]


@contextmanager
def stock_attention(model, implementation: str = "sdpa"):
    """The model with transformers' stock attention, for the baselines only."""
    before = model.config._attn_implementation
    model.set_attn_implementation(implementation)
    try:
        yield model
    finally:
        model.set_attn_implementation(before)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dynamic_copies(kv: KV, num_rows: int) -> DynamicCache:
    """A DynamicCache holding `num_rows` real copies of one sequence's cache: [W, Hkv, n, D] per layer."""
    return DynamicCache(ddp_cache_data=[(k[None].expand(num_rows, -1, -1, -1), v[None].expand(num_rows, -1, -1, -1))
                                        for k, v in kv])   # the cache concatenates: real copies


def static_copies(model, kv: KV, num_rows: int, free: int = 1) -> StaticCache:
    """A StaticCache preallocated for n + `free` positions, rows 0..W-1 filled with copies of `kv`."""
    n = kv[0][0].shape[1]
    cache = StaticCache(config=model.config, max_cache_len=n + free)
    for layer, (k, v) in enumerate(kv):
        cache.update(k[None].expand(num_rows, -1, -1, -1).contiguous(),
                     v[None].expand(num_rows, -1, -1, -1).contiguous(), layer)
    return cache


def refill(cache: StaticCache, kv: KV) -> None:
    """Overwrite a StaticCache's rows with copies of `kv` ([Hkv, n, D] per layer), in place, and set
    its length to n: the next decode pass writes position n."""
    n = kv[0][0].shape[1]
    for layer, (k, v) in zip(cache.layers, kv):
        layer.keys[:, :, :n].copy_(k[None].expand(layer.keys.shape[0], -1, -1, -1))
        layer.values[:, :, :n].copy_(v[None].expand(layer.values.shape[0], -1, -1, -1))
        layer.cumulative_length.fill_(n)


def decode_logits(model, cache, tokens: torch.Tensor, position: int) -> torch.Tensor:
    """One pass of plain batched decoding. tokens: [W, 1] at `position` -> last logits [W, V].
    A StaticCache builds its causal mask from its own length; a DynamicCache gets a 2D mask."""
    W = tokens.shape[0]
    positions = torch.full((W, 1), position, dtype=torch.long, device=tokens.device)
    mask = None if isinstance(cache, StaticCache) else torch.ones(W, position + 1, dtype=torch.long,
                                                                    device=tokens.device)
    with torch.no_grad():
        out = model(input_ids=tokens, attention_mask=mask, position_ids=positions, cache=cache,
                    use_cache=True, logits_to_keep=1)
    return out.logits[:, -1]


def decode_pass(model, cache, tokens: torch.Tensor, position: int) -> torch.Tensor:
    """One pass of plain batched greedy decoding. tokens: [W, 1] -> next tokens [W]."""
    return decode_logits(model, cache, tokens, position).argmax(-1)


def timed(device: torch.device, fn) -> float:
    synchronize(device)
    began = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - began


def linear_layers(model) -> list[nn.Module]:
    """The model's linear layers: leaf modules with `in_features` (nn.Linear, or an int8 linear
    that replaced one)."""
    return [m for m in model.modules() if hasattr(m, "in_features") and not any(m.children())]


class LinearFloor:
    """Every linear layer of the model (projections, MLP, lm_head; float or int8) applied once to a
    [W, 1, in] input: the weight traffic no decoder of this model can avoid in a pass at batch W."""

    def __init__(self, model, num_rows: int):
        self.layers = linear_layers(model)
        if not self.layers:
            raise ValueError("the model has no linear layers to time")
        embedding = model.get_input_embeddings().weight      # the activations' dtype and device
        self.inputs = {n: torch.randn(num_rows, 1, n, dtype=embedding.dtype, device=embedding.device)
                       for n in {layer.in_features for layer in self.layers}}

    def __call__(self) -> None:
        with torch.no_grad():
            for layer in self.layers:
                layer(self.inputs[layer.in_features])
