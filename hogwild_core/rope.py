"""RoPE as a rotation we can re-apply: which models qualify, and the pure rotation math.

RoPE rotates each pair of dimensions (i, i + D/2) of a query or key by pos * inv_freq[i].
Rotations compose, R(a) R(b) = R(a + b), so a key stored at block-local position i and a
query rotated to local position j score exactly as at view positions (s_k + i, s_q + j) once
the query is rotated by a further (s_q - s_k). Only the frequencies matter here: the model's
own `attention_scaling` (YaRN's mscale) is already inside the stored keys and the queries, so
these re-rotations use bare cos/sin and never scale a second time."""

import torch

from .errors import UnsupportedModelError

# Model families whose attention is the stock "rotate_half" RoPE + attention-interface kind.
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
# RoPE types whose frequencies do not depend on the sequence length.
STATIC_ROPE_TYPES = ("default", "linear", "llama3", "yarn")


def check_model_supported(model) -> None:
    """Raise UnsupportedModelError naming the reason if `model` cannot be served exactly."""
    config = model.config
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedModelError(
            f"model type {model_type!r} is not supported: Hogwild! needs standard RoPE attention; "
            f"supported types are {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    rope_type = rope_type_of(config)
    if rope_type not in STATIC_ROPE_TYPES:
        raise UnsupportedModelError(
            f"RoPE type {rope_type!r} is not supported: its frequencies change with sequence length, "
            f"so cached keys cannot be re-positioned exactly (supported: {', '.join(STATIC_ROPE_TYPES)})"
        )
    window = sliding_window_of(config)
    if window is not None:
        raise UnsupportedModelError(
            f"sliding-window attention (window {window}) is not supported: a shared cache read from "
            "different positions would see different windows"
        )
    rotary = rotary_embedding_of(model)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if rotary is None or rotary.inv_freq.numel() * 2 != head_dim:
        raise UnsupportedModelError("partial or missing rotary embedding: RoPE must cover the whole head")


def rope_type_of(config) -> str:
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if isinstance(params, dict) and params and all(isinstance(v, dict) for v in params.values()):
        types = {p.get("rope_type", "default") for p in params.values()}
        return types.pop() if len(types) == 1 else "mixed"
    return (params or {}).get("rope_type", (params or {}).get("type", "default"))


def sliding_window_of(config) -> int | None:
    """The effective sliding window, or None when every layer attends to its full context."""
    layer_types = getattr(config, "layer_types", None) or []
    window = getattr(config, "sliding_window", None)
    if getattr(config, "use_sliding_window", True) is False:
        window = None
    if any(t != "full_attention" for t in layer_types):
        return window or -1
    if window is not None and window >= getattr(config, "max_position_embeddings", 0):
        return None  # a window as long as the context never cuts anything
    return window


def rotary_embedding_of(model):
    base = getattr(model, "model", model)
    return getattr(base, "rotary_emb", None)


def inv_freq_of(model) -> torch.Tensor:
    """[D/2] float32 inverse frequencies, exactly as the model's own rotary embedding uses them."""
    return rotary_embedding_of(model).inv_freq.detach().float().cpu()


def rotation(deltas: torch.Tensor, inv_freq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin for rotating by integer position deltas.

    deltas: [...] int; inv_freq: [D/2] -> cos, sin: [..., D] float32 (no attention scaling)."""
    angles = deltas.to(torch.float64)[..., None] * inv_freq.to(torch.float64)  # [..., D/2]
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().float(), angles.sin().float()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotation(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x rotated by the angles behind (cos, sin); shapes broadcast, result in x's dtype."""
    return (x * cos.to(x.dtype)) + (rotate_half(x) * sin.to(x.dtype))


def shift_positions(x: torch.Tensor, delta: int, inv_freq: torch.Tensor) -> torch.Tensor:
    """Move RoPE-rotated vectors by `delta` positions. x: [..., D] -> [..., D]."""
    if delta == 0:
        return x
    cos, sin = rotation(torch.tensor(delta), inv_freq)
    return apply_rotation(x, cos.to(x.device), sin.to(x.device))
