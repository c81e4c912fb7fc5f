"""ModelStore: loads models on demand and shares their weights, read-only, between sessions,
and says which models the page offers (fetched catalog models, most capable first, then the default).

One store is made by app.py and handed to the UI; nothing here is module-level. Engines never
write to weights, so every session's engine can use the same model object; the lock only keeps
two sessions from loading the same model twice at once. `trust_remote_code` is never enabled:
a visitor typing a hub id must not be able to run code on the server."""

import threading

from hogwild_core import load_model
from hogwild_core.models import available

from .settings import DEFAULT_MODEL


class ModelStore:
    def __init__(self, device: str | None = None, max_models: int = 2, allow_custom: bool = True):
        self.device = device
        self.max_models = max_models
        self.allow_custom = allow_custom
        self._models: dict[str, tuple] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(name: str | None) -> str:
        return (name or "").strip() or DEFAULT_MODEL

    def choices(self, current: str = DEFAULT_MODEL) -> list[str]:
        """The model picker's list: catalog models already fetched (no download, no loading; most
        capable first), then the embedded default; the app's own model `current` is always kept."""
        offered = [*available(), DEFAULT_MODEL] if self.allow_custom else [DEFAULT_MODEL]
        return offered if self.key(current) in offered else [self.key(current), *offered]

    def is_loaded(self, name: str | None) -> bool:
        return self.key(name) in self._models

    def get(self, name: str | None = None):
        """(model, tokenizer); raises ModelLoadError / UnsupportedModelError with a clear message."""
        key = self.key(name)
        with self._lock:
            if key in self._models:
                return self._models[key]
            if key != DEFAULT_MODEL and not self.allow_custom:
                from hogwild_core import ModelLoadError
                raise ModelLoadError("this app was started with --lock-model; only the default model can be used")
            loaded = load_model(None if key == DEFAULT_MODEL else key, device=self.device, trust_remote_code=False)
            if len(self._models) >= self.max_models:   # drop the oldest custom model, keep the default
                oldest = next((k for k in self._models if k != DEFAULT_MODEL), None)
                if oldest is not None:
                    del self._models[oldest]
            self._models[key] = loaded
            return loaded

    def put(self, name: str, model, tokenizer) -> None:
        """Register an already loaded model (tests, or a caller that loaded it its own way)."""
        with self._lock:
            self._models[self.key(name)] = (model, tokenizer)
