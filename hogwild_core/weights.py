"""Weight formats: which one a model runs in, and int8 quantization of its linear layers.

Formats: "int8" (x86 CPUs: every `nn.Linear` becomes an `Int8Linear`, int8 weights with one scale
per output channel, activations quantized on the fly with one range per token, products by
fbgemm; everything else, attention included, stays float32), "bfloat16", "float16", "float32", and
"auto", which picks by device and model: bfloat16 on CUDA; on a CPU int8 for models quantized
upstream (a GGUF catalog model) or of at least `INT8_MIN_PARAMS` parameters, float32 otherwise.
docs/weights.md has the measurements behind these choices (speed per format and kernel, and
GSM8K accuracy of int8 against bfloat16).

Why fbgemm (torch.ops.quantized, the kernels behind torch.ao's `quantize_dynamic`) with per-token
ranges (Int8Linear), measured on our 2-core machines (docs/weights.md): torchao 0.18's eager int8
configs ran 100x slower, torch's `_weight_int8pack_mm` slower than float32, and `torch._int_mm`
2-3x slower than fbgemm at batch 2-8. Plain `quantize_dynamic` would be a little faster, but
its outputs depend on the batch (see Int8Linear).

The engine's attention never sees the format: queries, keys and values come out of the linear
layers in float32, so the fast and reference paths are unchanged."""

import functools
import warnings

import torch

from .errors import ModelLoadError

WEIGHT_FORMATS = ("auto", "int8", "bfloat16", "float16", "float32")
FLOAT_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
INT8_MIN_PARAMS = 1_000_000_000
TINY = torch.finfo(torch.float32).tiny
MEMORY_HEADROOM = 0.5e9        # bytes kept free for activations, the cache and the interpreter


def check_format(weights: str, device: str | None) -> None:
    """Raise ModelLoadError unless `weights` names a format that can run on `device`."""
    if weights not in WEIGHT_FORMATS:
        raise ModelLoadError(f"unknown weight format {weights!r} (option weights=); "
                             f"choose one of {', '.join(WEIGHT_FORMATS)}")
    if weights != "int8":
        return
    if is_cuda(device):
        raise ModelLoadError("weights='int8' runs on the CPU only; on a GPU "
                             "use weights='bfloat16' (or 'auto')")
    if not int8_supported():
        raise ModelLoadError("weights='int8' needs torch's fbgemm int8 kernels (x86 CPUs), which this torch build "
                             f"lacks (its quantized engines: {torch.backends.quantized.supported_engines}); use "
                             "weights='bfloat16' or 'float32'")


def is_cuda(device) -> bool:
    return device is not None and str(device).startswith("cuda")


@functools.cache
def int8_supported() -> bool:
    """Whether this torch build has fbgemm's int8 linear kernels (x86 CPUs): tried once, tiny."""
    if "fbgemm" not in torch.backends.quantized.supported_engines:
        return False
    try:
        layer = Int8Linear(torch.ones(4, 8), None)
        return bool(torch.allclose(layer(torch.ones(1, 8)), torch.full((1, 4), 8.0), rtol=0.05))
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def choose_format(weights: str, device: str | None, num_params: int, quantized_upstream: bool) -> str:
    """The concrete format for `weights` (which may be "auto")."""
    check_format(weights, device)
    if weights != "auto":
        return weights
    if is_cuda(device):
        return "bfloat16"
    if (quantized_upstream or num_params >= INT8_MIN_PARAMS) and int8_supported():
        return "int8"
    return "float32"


def activation_dtype(weights: str) -> torch.dtype:
    """The dtype of everything that is not an int8 linear (embeddings, norms, attention)."""
    return torch.float32 if weights == "int8" else FLOAT_DTYPES[weights]


def bytes_needed(linear_params: int, other_params: int, weights: str) -> int:
    """Bytes the loaded weights take in `weights` (a concrete format)."""
    if weights == "int8":
        return linear_params + 4 * other_params
    size = torch.empty((), dtype=FLOAT_DTYPES[weights]).element_size()
    return size * (linear_params + other_params)


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes, or None where there is no such file."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(needed: int, weights: str, name: str, available: int | None = None) -> None:
    """ModelLoadError if the weights cannot fit in the memory that is free now."""
    available = available_memory() if available is None else available
    if available is not None and needed + MEMORY_HEADROOM > available:
        smaller = " or weights='int8'" if weights != "int8" else ""
        raise ModelLoadError(f"model {name!r} needs about {needed / 1e9:.1f} GB in {weights} weights, and only "
                             f"{available / 1e9:.1f} GB of memory is free; close other programs{smaller}, or "
                             "choose a smaller model")


class Int8Linear(torch.nn.Module):
    """y = x W^T + b with W in int8 (symmetric, one scale per output channel, fbgemm's packed
    layout) and x quantized to 8 bits on the fly, with one scale per token (row).

    fbgemm's dynamic linear (`torch.ops.quantized.linear_dynamic`, what torch.ao's
    `quantize_dynamic` runs) picks one quantization range for its whole input, so a token's
    output would depend on the other tokens of the batch. Here each row is first divided by its
    largest magnitude, and two extra input columns, +1 and -1, meet two zero columns of the
    packed weight: every input fbgemm sees spans exactly [-1, 1], so it always picks the same
    range, each row is quantized as if it were alone (the integer products are exact and the
    extra columns add zero), and the output row is multiplied back by its magnitude. A pass of W
    workers thus gives each worker the bits it would get alone, which keeps the batched fast
    path equal to the one-writer-at-a-time reference path."""

    PINS = 2     # the extra columns

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        padded = torch.cat([weight.detach().float(), weight.new_zeros(self.out_features, self.PINS).float()], 1)
        scale = padded.abs().amax(dim=1).clamp(min=TINY) / 127.5            # [out], as torch.ao's observer
        with warnings.catch_warnings():    # torch's deprecation notice for quantized tensor types
            warnings.simplefilter("ignore", UserWarning)
            quantized = torch.quantize_per_channel(padded, scale.double(), torch.zeros_like(scale, dtype=torch.long),
                                                   0, torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(quantized, None)
        self.bias = None if bias is None else bias.detach().float().clone()
        self._pins = torch.tensor([[1.0, -1.0]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape                                                      # [..., in]
        rows = x.reshape(-1, self.in_features)                               # [M, in]
        magnitude = torch.linalg.vector_norm(rows, float("inf"), dim=1, keepdim=True).clamp_(min=TINY)  # [M, 1]
        pinned = torch.cat([rows / magnitude, self._pins.expand(rows.shape[0], self.PINS)], 1)  # [M, in + 2]
        out = torch.ops.quantized.linear_dynamic(pinned, self._packed, True)  # [M, out], range [-1, 1]
        out = out.mul_(magnitude) if self.bias is None else torch.addcmul(self.bias, out, magnitude)
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def quantize_linear(linear: torch.nn.Linear) -> Int8Linear:
    """The int8 form of `linear` (see Int8Linear)."""
    return Int8Linear(linear.weight, linear.bias)


def quantize_linears(model: torch.nn.Module) -> torch.nn.Module:
    """Replace every nn.Linear of `model` by its int8 form, one at a time (the float copy of a
    layer lives only while that layer is converted), then make the rest float32."""
    names = [name for name, module in model.named_modules() if type(module) is torch.nn.Linear]
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, child, quantize_linear(getattr(owner, child)))
    return model.float()


def is_int8_linear(module: torch.nn.Module) -> bool:
    return isinstance(module, Int8Linear)


def format_of(model: torch.nn.Module) -> str:
    """The weight format a loaded model runs in: "int8" if its linears are int8, else the dtype of
    its floating-point parameters (what the page, traces and benchmarks report)."""
    if any(is_int8_linear(m) for m in model.modules()):
        return "int8"
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return next((name for name, d in FLOAT_DTYPES.items() if d == dtype), str(dtype))
