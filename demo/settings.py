"""PageSettings: what a visitor chose for one run, checked once, with messages a visitor can act on.

Widgets hand over loosely typed values (floats from sliders, None from an emptied number box,
stray whitespace); `parse_settings` turns them into one frozen PageSettings or raises
SettingsError. The engine's own EngineConfig checks ranges again when the run is built."""

import math
from dataclasses import asdict, dataclass, replace

from hogwild_core import LAYOUTS, MAX_WORKERS, WORKER_NAMES, EngineConfig, HogwildError

from .visitor import VISITOR_NAME

DEFAULT_MODEL = "default"
MAX_PROBLEM_CHARS = 8000
MAX_NEW_TOKENS = 4096
MAX_TEMPERATURE = 2.0
BASELINE_LAYOUT = "independent"


class SettingsError(HogwildError):
    """A control holds a value the demo cannot run with."""


@dataclass(frozen=True)
class PageSettings:
    problem: str
    num_workers: int = 2
    layout: str = "combined"
    max_new_tokens: int = 192
    temperature: float = EngineConfig.temperature   # sampling, one stream per worker
    top_p: float = EngineConfig.top_p
    seed: int = 0
    check_interval: int = 0
    model: str = DEFAULT_MODEL
    max_answer_tokens: int = 48      # not a control: the engine's budget for the final \boxed{} answer
    join: bool = False               # the visitor is one of the workers (the last), named VISITOR_NAME

    def engine_config(self) -> EngineConfig:
        return EngineConfig(num_workers=self.num_workers, layout=self.layout,
                            max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                            top_p=self.top_p, seed=self.seed, check_interval=self.check_interval,
                            max_answer_tokens=self.max_answer_tokens, collect_attention=True,
                            external_workers=(VISITOR_NAME,) if self.join else ())

    @property
    def worker_names(self) -> list[str]:
        """The lanes' names, by worker: the model workers, then the visitor if they joined."""
        if self.join:
            return list(WORKER_NAMES[:self.num_workers - 1]) + [VISITOR_NAME]
        return list(WORKER_NAMES[:self.num_workers])

    def as_dict(self) -> dict:
        return asdict(self)

    def baseline(self, kind: str) -> "PageSettings":
        """The same run without the shared cache: one worker, or W independent workers (the
        model workers only: a baseline has no visitor)."""
        if kind == "one":
            return replace(self, num_workers=1, layout="contiguous", join=False)
        if kind == "independent":
            return replace(self, layout=BASELINE_LAYOUT, join=False,
                           num_workers=self.num_workers - (1 if self.join else 0))
        raise SettingsError(f"unknown baseline {kind!r}; use 'one' or 'independent'")

    @property
    def label(self) -> str:
        if self.layout == BASELINE_LAYOUT:
            W = self.num_workers
            return f"{W} independent worker{'s' if W != 1 else ''}" + (", you among them" if self.join else "")
        if self.num_workers == 1:
            return "1 worker"
        if self.join:
            return f"Hogwild! {self.num_workers} workers (you and {self.num_workers - 1} of the model), {self.layout}"
        return f"Hogwild! {self.num_workers} workers, {self.layout}"


def parse_settings(values: dict) -> PageSettings:
    """Build PageSettings from raw control values keyed by field name; raise SettingsError."""
    problem = values.get("problem")
    if not isinstance(problem, str) or not problem.strip():
        raise SettingsError("The problem box is empty: type a problem or pick an example.")
    if len(problem) > MAX_PROBLEM_CHARS:
        raise SettingsError(f"The problem is {len(problem)} characters long; the demo takes at most "
                            f"{MAX_PROBLEM_CHARS}.")
    layout = values.get("layout", "combined")
    if layout not in LAYOUTS + (BASELINE_LAYOUT,):
        raise SettingsError(f"Layout must be one of {', '.join(LAYOUTS)}; got {_shown(layout)}.")
    model = values.get("model") or DEFAULT_MODEL
    if not isinstance(model, str):
        raise SettingsError("The model must be 'default', a local path or a hub id.")
    join = values.get("join") or False
    if not isinstance(join, bool):
        raise SettingsError(f"Join as a worker must be ticked or not; got {_shown(join)}.")
    settings = PageSettings(
        problem=problem.strip(),
        num_workers=_whole("Worker count", values.get("num_workers", 2), 1, MAX_WORKERS),
        layout=layout,
        max_new_tokens=_whole("Max new tokens", values.get("max_new_tokens", 192), 1, MAX_NEW_TOKENS),
        temperature=_number("Temperature", values.get("temperature", PageSettings.temperature), 0.0, MAX_TEMPERATURE),
        top_p=_number("Top-p", values.get("top_p", PageSettings.top_p), 0.0, 1.0),
        seed=_whole("Seed", values.get("seed", 0), 0, 2**31 - 1),
        check_interval=_whole("Check interval", values.get("check_interval", 0), 0, MAX_NEW_TOKENS),
        model=model.strip() or DEFAULT_MODEL,
        join=join,
    )
    if settings.join and settings.num_workers < 2:
        raise SettingsError("Joining takes one of the workers: choose at least 2 workers (you and a model worker).")
    if settings.top_p == 0.0:
        raise SettingsError("Top-p must be above 0 (1 keeps every token).")
    try:
        settings.engine_config()
    except HogwildError as exc:
        raise SettingsError(f"Settings rejected: {exc}.") from None
    return settings


def _whole(name: str, value, low: int, high: int) -> int:
    number = _number(name, value, low, high)
    if number != int(number):
        raise SettingsError(f"{name} must be a whole number; got {_shown(value)}.")
    return int(number)


def _number(name: str, value, low: float, high: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise SettingsError(f"{name} must be a number; got {_shown(value)}.") from None
    if value is None:
        raise SettingsError(f"{name} is missing: enter a number between {low:g} and {_bound(high)}.")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{name} must be a number; got {_shown(value)}.")
    try:
        value = float(value)
    except OverflowError:      # an int too large for a float is out of range, not a crash
        value = math.inf if value > 0 else -math.inf
    if value != value or not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {_bound(high)}; got {value:g}.")
    return value


def _bound(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


def _shown(value) -> str:
    """A value quoted in a message: short, whatever was sent."""
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**12 else "a huge integer"
    return text if len(text) <= 40 else text[:37] + "..."
