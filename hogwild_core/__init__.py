"""Hogwild! Inference: parallel LLM workers over one shared, RoPE-adjusted KV cache.

    from hogwild_core import HogwildEngine, EngineConfig, load_model
    model, tokenizer = load_model()
    engine = HogwildEngine(model, tokenizer, EngineConfig(num_workers=2, layout="combined"))
    for event in engine.generate("problem text"): ...
"""

import importlib
from typing import TYPE_CHECKING

# Names are imported on first use, so that `python -m model_catalog` (which needs no torch)
# starts in a fraction of a second; `from hogwild_core import X` works as usual.
_SOURCES = {
    "config": ("ATTENTION_PATHS", "BASELINE_LAYOUTS", "LAYOUTS", "MAX_WORKERS", "EngineConfig"),
    "engine": ("HogwildEngine", "Transcript"),
    "events": ("PassEvent", "Piece", "BlockRecord"),
    "view": ("View",),
    "errors": ("ConfigError", "EngineStateError", "HogwildError", "ModelLoadError", "PromptError",
               "UnsupportedModelError"),
    "loading": ("default_model_file", "load_model"),
    "prompts": ("WORKER_NAMES",),
    "prompt_cache": ("PromptCache",),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

if TYPE_CHECKING:
    from .config import ATTENTION_PATHS, BASELINE_LAYOUTS, LAYOUTS, MAX_WORKERS, EngineConfig
    from .engine import HogwildEngine, Transcript
    from .events import BlockRecord, PassEvent, Piece
    from .errors import (ConfigError, EngineStateError, HogwildError, ModelLoadError, PromptError,
                         UnsupportedModelError)
    from .loading import default_model_file, load_model
    from .prompt_cache import PromptCache
    from .prompts import WORKER_NAMES
    from .view import View


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'hogwild_core' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)


__all__ = [
    "HogwildEngine", "EngineConfig", "PassEvent", "Piece", "BlockRecord", "Transcript", "View",
    "load_model", "default_model_file", "PromptCache",
    "LAYOUTS", "BASELINE_LAYOUTS", "ATTENTION_PATHS", "MAX_WORKERS", "WORKER_NAMES",
    "HogwildError", "ConfigError", "PromptError", "UnsupportedModelError", "ModelLoadError",
    "EngineStateError",
]
