"""Hogwild! Inference: parallel LLM workers over one shared, RoPE-adjusted KV cache.

    from hogwild_core import HogwildEngine, EngineConfig, load_model
    model, tokenizer = load_model()
    engine = HogwildEngine(model, tokenizer, EngineConfig(num_workers=2, layout="combined"))
    for event in engine.generate("problem text"): ...
"""

from .config import ATTENTION_PATHS, BASELINE_LAYOUTS, LAYOUTS, MAX_WORKERS, EngineConfig
from .engine import HogwildEngine, Transcript
from .events import BlockRecord, Piece, StepEvent
from .errors import (ConfigError, EngineStateError, HogwildError, ModelLoadError, PromptError,
                     UnsupportedModelError)
from .loading import default_model_file, load_model
from .prompts import WORKER_NAMES
from .view import View

__all__ = [
    "HogwildEngine", "EngineConfig", "StepEvent", "Piece", "BlockRecord", "Transcript", "View", "load_model", "default_model_file",
    "LAYOUTS", "BASELINE_LAYOUTS", "ATTENTION_PATHS", "MAX_WORKERS", "WORKER_NAMES",
    "HogwildError", "ConfigError", "PromptError", "UnsupportedModelError", "ModelLoadError",
    "EngineStateError",
]
