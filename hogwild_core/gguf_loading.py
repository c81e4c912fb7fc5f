"""A GGUF file to a transformers model, one tensor at a time, in the weight format asked for.

transformers' own GGUF path de-quantizes the whole file to float32 before building the model
(for Qwen2.5-Coder-1.5B: 6 GB of weights, 9 GB peak RSS). Here the model is built with empty
parameters, and each module's tensors are read from the file (plain reads, not the memory map,
so file pages do not pile up in the process), de-quantized by the `gguf` package, put through
transformers' own per-architecture tensor processor and gguf's name map, and converted at once:
to an int8 linear, or to the float dtype. At most two modules' float32 copies exist at any moment
(Qwen2.5-Coder-1.5B in int8: 3.2 GB peak RSS, 25 s on 2 cores; docs/weights.md).

The config and tokenizer come from the file's metadata through transformers. Parsing that
metadata takes about 25 s for a 150k-token vocabulary (the gguf reader, then transformers twice),
so the first load keeps the result (config and tokenizer saved by transformers, and the table of
tensors) in a folder beside the models; a later load of the same file (same path, size and
modification time) reads that folder instead."""

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

import model_catalog

from .errors import ModelLoadError
from .rope import check_model_supported
from .weights import activation_dtype, bytes_needed, check_memory, choose_format, quantize_linear

METADATA_VERSION = 1
PARALLEL_ELEMENTS = 1 << 26      # modules larger than this are converted alone
DEQUANTIZE_ELEMENTS = 1 << 24     # elements de-quantized at once (64 MB of float32)


def load_gguf(path: Path, weights: str, device: str | None, quantized_upstream: bool,
              name: str, trust_remote_code: bool = False):
    """(model, tokenizer, format) from a GGUF file; the model is on the CPU, in eval mode."""
    config, tokenizer, arch_name, file_tensors = metadata(path, trust_remote_code)
    model = empty_model(config, trust_remote_code)
    check_model_supported(model)           # before reading a gigabyte of weights
    groups = tensor_groups(arch_name, file_tensors, model, config)
    linear_names = {n for n, m in model.named_modules() if type(m) is torch.nn.Linear}
    linear_params = sum(t.num_elements for group in groups.values() for _, t in group
                        if group_module(group) in linear_names)
    total_params = sum(t.num_elements for group in groups.values() for _, t in group)
    chosen = choose_format(weights, device, total_params, quantized_upstream)
    check_memory(bytes_needed(linear_params, total_params - linear_params, chosen), chosen, name)
    fill(model, path, arch_name, groups, linear_names, chosen)
    tie_missing_head(model, chosen)
    unfilled = [n for n, p in model.named_parameters() if p.device.type == "meta"]
    if unfilled:
        raise ModelLoadError(f"the GGUF file {path.name} lacks tensors for {', '.join(unfilled[:4])}"
                             f"{' ...' if len(unfilled) > 4 else ''}; it does not match its own architecture")
    model.eval()
    return model, tokenizer, chosen


class FileTensor(NamedTuple):
    """Where one tensor lies in the file and how to read it (what gguf's reader reports)."""
    name: str
    type_name: str             # a gguf.GGMLQuantizationType name: F32, Q4_K, ...
    shape: tuple[int, ...]     # the model's shape, rows first
    offset: int
    num_bytes: int
    raw_dtype: str             # numpy dtype of the stored data (uint8 for quantized blocks)
    raw_shape: tuple[int, ...]

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape))


def file_tensors_of(reader) -> list[FileTensor]:
    return [FileTensor(t.name, t.tensor_type.name, tuple(int(n) for n in reversed(t.shape)), int(t.data_offset),
                       int(t.n_bytes), t.data.dtype.str, tuple(int(n) for n in t.data.shape))
            for t in reader.tensors]


# ---- metadata: config and tokenizer --------------------------------------------------------------
def metadata(path: Path, trust_remote_code: bool):
    """(config, tokenizer, architecture name, [FileTensor]) of the file, from the kept folder when
    it is current."""
    from transformers import AutoConfig, AutoTokenizer

    folder = metadata_folder(path)
    stamp = file_stamp(path)
    try:
        if json.loads((folder / "stamp.json").read_text()) == stamp:
            kept = json.loads((folder / "tensors.json").read_text())
            tensors = [FileTensor(*t[:2], tuple(t[2]), *t[3:6], tuple(t[6])) for t in kept["tensors"]]
            return (AutoConfig.from_pretrained(folder, local_files_only=True),
                    AutoTokenizer.from_pretrained(folder, local_files_only=True), kept["architecture"], tensors)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from gguf import GGUFReader
    from transformers.modeling_gguf_pytorch_utils import read_field

    kwargs = {"gguf_file": path.name, "local_files_only": True, "trust_remote_code": trust_remote_code}
    try:
        reader = GGUFReader(path)
        arch_name, tensors = read_field(reader, "general.architecture")[0], file_tensors_of(reader)
        del reader
        config = AutoConfig.from_pretrained(path.parent, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, **kwargs)
    except Exception as exc:
        raise ModelLoadError(f"could not read the GGUF file {str(path)!r}: {exc}") from exc
    keep_metadata(folder, stamp, config, tokenizer, {"architecture": arch_name, "tensors": tensors})
    return config, tokenizer, arch_name, tensors


def metadata_folder(path: Path) -> Path:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return model_catalog.models_dir() / "metadata" / f"{path.stem}-{digest}"


def file_stamp(path: Path) -> dict:
    stat = path.stat()
    return {"version": METADATA_VERSION, "path": str(path.resolve()), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns}


def keep_metadata(folder: Path, stamp: dict, config, tokenizer, tensors: dict) -> None:
    """Save config and tokenizer to `folder` atomically; a read-only or full disk only costs time."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "tensors.json").write_text(json.dumps(tensors))
        (tmp / "stamp.json").write_text(json.dumps(stamp))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(locals().get("tmp", ""), ignore_errors=True)


# ---- the model, empty, and where each file tensor goes ------------------------------------------
def empty_model(config, trust_remote_code: bool):
    """The model with parameters on the meta device (no memory) and real buffers (RoPE's inv_freq)."""
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    try:
        with init_empty_weights(include_buffers=False):
            return AutoModelForCausalLM.from_config(config, dtype=torch.float32,
                                                    trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelLoadError(f"could not build a {config.model_type!r} model from the GGUF config: {exc}") from exc


def tensor_groups(arch_name: str, file_tensors, model, config) -> dict[str, list[tuple[str, object]]]:
    """Module name -> [(parameter name, file tensor)], in file order. Uses gguf's name map for the
    file's architecture, over the model's own parameter names."""
    from gguf import MODEL_ARCH_NAMES, get_tensor_name_map

    arch = next((key for key, value in MODEL_ARCH_NAMES.items() if value == arch_name), None)
    if arch is None:
        raise ModelLoadError(f"GGUF architecture {arch_name!r} is unknown to the gguf package")
    name_map = get_tensor_name_map(arch, config.num_hidden_layers)
    to_model = {}
    for param_name, _ in model.named_parameters(remove_duplicate=False):
        base, _, suffix = param_name.rpartition(".")
        file_name = name_map.get_name(base)
        if file_name is not None:
            to_model[f"{file_name}.{suffix}"] = param_name
    groups: dict[str, list] = {}
    for tensor in file_tensors:
        param_name = to_model.get(tensor.name)
        if param_name is not None:
            groups.setdefault(param_name.rpartition(".")[0], []).append((param_name, tensor))
    return groups


def group_module(group) -> str:
    return group[0][0].rpartition(".")[0]


# ---- reading, converting, placing ------------------------------------------------------------------
def fill(model, path: Path, arch_name: str, groups: dict, linear_names: set[str], weights: str) -> None:
    """Read, convert and place every module's tensors. Modules of at most `PARALLEL_ELEMENTS` are
    converted two at a time (numpy's de-quantization and torch's quantization release the
    interpreter lock); larger ones (the embedding and the output head) one after the other, so
    that their float32 copies never coexist."""
    from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, TensorProcessor

    processor = TENSOR_PROCESSORS.get(arch_name, TensorProcessor)(config=model.config.to_dict())
    lock = threading.Lock()
    size = {name: sum(t.num_elements for _, t in group) for name, group in groups.items()}
    large = [item for item in groups.items() if size[item[0]] > PARALLEL_ELEMENTS]
    small = [item for item in groups.items() if size[item[0]] <= PARALLEL_ELEMENTS]
    with open(path, "rb") as file, ThreadPoolExecutor(max_workers=2) as pool:
        def convert(item, slices_pool=None):
            module_name, group = item
            tensors = {param: read_tensor(file, lock, tensor, processor, slices_pool) for param, tensor in group}
            return module_name, converted(model.get_submodule(module_name), module_name in linear_names,
                                          tensors, weights)

        def in_order():
            for item in large:
                yield convert(item, pool)          # its slices two at a time
            yield from pool.map(convert, small)    # two modules at a time, once the large ones are done

        for module_name, replacement in in_order():
            place(model, module_name, replacement)
            release_freed_memory()


def release_freed_memory() -> None:
    """Hand memory freed by the float32 temporaries back to the system (glibc keeps freed blocks
    under 32 MB in its heap, and the peak RSS of a load grew by 1 GB without this)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def read_tensor(file, lock: threading.Lock, tensor, processor, pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
    """One file tensor, de-quantized to float32 in the model's layout. Large tensors are
    de-quantized a slice of rows at a time: numpy's de-quantization makes several temporaries of
    the output's size, and a 150k-token embedding is 0.9 GB in float32. With a `pool`, slices
    are de-quantized in parallel."""
    from gguf import GGMLQuantizationType, dequantize

    with lock:
        file.seek(tensor.offset)
        buffer = bytearray(tensor.num_bytes)        # writable: torch shares it without a copy
        file.readinto(buffer)
    raw = np.frombuffer(buffer, dtype=np.dtype(tensor.raw_dtype)).reshape(tensor.raw_shape)
    kind = GGMLQuantizationType[tensor.type_name]
    rows = max(1, DEQUANTIZE_ELEMENTS * raw.shape[0] // tensor.num_elements) if raw.ndim > 1 else 1
    try:
        if raw.ndim < 2 or raw.shape[0] <= rows:
            values = dequantize(raw, kind)
        else:
            first = dequantize(raw[:rows], kind)
            values = np.empty((raw.shape[0], *first.shape[1:]), dtype=np.float32)
            values[:rows] = first

            def one_slice(start: int) -> None:
                values[start:start + rows] = dequantize(raw[start:start + rows], kind)
            list((pool.map if pool is not None else map)(one_slice, range(rows, raw.shape[0], rows)))
    except (NotImplementedError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"tensor {tensor.name} is stored as {tensor.type_name}, which the gguf "
                             f"package cannot de-quantize ({exc}); use a GGUF with common types "
                             "(F32, F16, BF16, Q8_0, Q4_K, Q6_K ...)") from exc
    del buffer, raw
    values = processor.process(weights=values, name=tensor.name).weights
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def converted(module, is_linear: bool, tensors: dict[str, torch.Tensor], weights: str):
    """The module's replacement: an int8 linear, or {attribute: parameter} in the float dtype."""
    attributes = {name.rpartition(".")[2]: value for name, value in tensors.items()}
    if is_linear and weights == "int8":
        linear = torch.nn.Linear(module.in_features, module.out_features, bias="bias" in attributes, device="meta")
        for attribute, value in attributes.items():
            setattr(linear, attribute, torch.nn.Parameter(value, requires_grad=False))
        return quantize_linear(linear)
    dtype = activation_dtype(weights)
    return {attribute: torch.nn.Parameter(value.to(dtype), requires_grad=False)
            for attribute, value in attributes.items()}


def place(model, module_name: str, replacement) -> None:
    if isinstance(replacement, dict):
        module = model.get_submodule(module_name)
        for attribute, parameter in replacement.items():
            setattr(module, attribute, parameter)
        return
    parent, _, child = module_name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, replacement)


def tie_missing_head(model, weights: str) -> None:
    """A file without an output matrix ties the head to the token embedding: shared in a float
    format, an int8 copy of the embedding in int8."""
    head = model.get_output_embeddings()
    if head is None or type(head) is not torch.nn.Linear or head.weight.device.type != "meta":
        return
    embedding = model.get_input_embeddings().weight
    if weights == "int8":
        linear = torch.nn.Linear(head.in_features, head.out_features, bias=False, device="meta")
        linear.weight = torch.nn.Parameter(embedding.detach(), requires_grad=False)
        name = next(n for n, m in model.named_modules() if m is head)
        place(model, name, quantize_linear(linear))
    else:
        head.weight = embedding
