"""EngineConfig: every knob of a Hogwild! run, frozen and validated once.

Values computed while running (token counts, pass numbers) never live here."""

import math
import re
from dataclasses import dataclass

from .errors import ConfigError
from .prompts import ANSWER_PROMPTS, SPLITS, WORKER_NAMES

LAYOUTS = ("contiguous", "interleaved", "combined")        # the paper's layouts
BASELINE_LAYOUTS = ("independent",)                        # W workers that share only the prompt
ATTENTION_PATHS = ("fast", "reference")
FINISH_RULES = ("eos", "boxed")
MAX_WORKERS = 8
MAX_NEW_TOKENS = 32768
# An external worker's name: it is written into the cache as a step label ("**You [2]:**"), so no
# markup characters; letters, digits, spaces, dots, hyphens and apostrophes, at most 24.
EXTERNAL_NAME = re.compile(r"\w(?:[\w' .-]{0,22}[\w.])?")


@dataclass(frozen=True)
class EngineConfig:
    num_workers: int = 2
    layout: str = "combined"
    split: str = "chosen"              # "chosen": the workers share the work out themselves; "planned": we do
    max_new_tokens: int = 512          # tokens each worker may generate before the final answer
    temperature: float = 0.5           # 0 = greedy; > 0 so that workers with identical views diverge
    top_p: float = 0.95
    seed: int = 0
    check_interval: int = 0            # every N passes, ask "am I doing redundant work?" (0 = never)
    redundancy_check: bool = False     # ask it at once when a finished step repeats another worker's (the 1.5B
                                       # model then looped on the question itself: docs/evaluation.md)
    copy_ngram: int = 12               # never copy this many tokens of the problem in a row (0 = off)
    repeat_ngram: int = 12             # never repeat this many tokens in a row of one's own or of a worker one sees (0 = off)
    repeat_steps: bool = False         # a reasoning step may not end as a word-for-word repeat of a finished step
                                       # the worker can read, its own or another's (the line break is banned):
                                       # short looped steps escape the repeat_ngram ban (docs/evaluation.md)
    bare_labels: bool = False          # ban a colon after a bold capitalised word too ("**Alice:**", "** Bob:**"):
                                       # labels without a step number, which the bracket ban lets through
    dry_multiplier: float = 0.0        # DRY repeat penalty (sampling.repeat_penalties): a token that would extend a
                                       # repeat of L >= dry_allowed tokens of a text the worker reads loses
    dry_base: float = 1.75             # dry_multiplier * dry_base ** (L - dry_allowed) of its logit (0 = off;
    dry_allowed: int = 2               # llama.cpp's values when on: 0.8, 1.75, 2)
    wait_for_plan: int = 0             # in a team, the others start once Alice's first step (her proposal of a
                                       # split) is in the cache, waiting at most this many passes (0 = all at once,
                                       # as in the paper)
    max_answer_tokens: int = 48        # budget for the forced \boxed{...} answer
    answer_prompt: str = "plain"       # how the forced answer is asked for (prompts.ANSWER_PROMPTS): "listed"
                                       # restates a multi-question format (answer_parts answers, in order)
    finish: str = "eos"                # how reasoning ends before the budget: "eos" (a worker stops at its end of
                                       # text) or "boxed" (after the paper: no end of text or other control token
                                       # while reasoning; it ends once a worker closes a \boxed{} that holds
                                       # answer_parts answers, for every worker in a shared layout)
    answer_parts: int = 1              # answers in the box that ends reasoning (finish="boxed"), e.g. 5 for
                                       # GSM8K x 5 (a box per question does not end it)
    collect_attention: bool = False    # attention mass per block in every event (costs a host copy)
    collect_logits: bool = False       # last-token logits [W, V] in every event (costs a host copy)
    attention: str = "fast"            # "fast" (query rotation) or "reference" (DynamicCache per worker)
    prefill_chunk: int = 512           # longest run of tokens written by one forward pass
    max_context: int | None = None     # cap on a worker's view; None = the model's limit
    external_workers: tuple[str, ...] = ()   # names of workers whose text comes from outside (a person,
                                             # a script); they are the last of the num_workers workers

    def __post_init__(self):
        _check_int("num_workers", self.num_workers, 1, MAX_WORKERS)
        if self.layout not in LAYOUTS + BASELINE_LAYOUTS:
            raise ConfigError(
                f"layout must be one of {', '.join(LAYOUTS + BASELINE_LAYOUTS)}; got {_shown(self.layout)}")
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {_shown(self.split)}")
        if self.attention not in ATTENTION_PATHS:
            raise ConfigError(f"attention must be 'fast' or 'reference'; got {_shown(self.attention)}")
        _check_int("max_new_tokens", self.max_new_tokens, 1, MAX_NEW_TOKENS)
        _check_int("max_answer_tokens", self.max_answer_tokens, 1, 1024)
        if self.answer_prompt not in ANSWER_PROMPTS:
            raise ConfigError(f"answer_prompt must be one of {', '.join(ANSWER_PROMPTS)}; got {_shown(self.answer_prompt)}")
        if self.finish not in FINISH_RULES:
            raise ConfigError(f"finish must be 'eos' or 'boxed'; got {_shown(self.finish)}")
        _check_int("answer_parts", self.answer_parts, 1, 64)
        _check_int("check_interval", self.check_interval, 0, MAX_NEW_TOKENS)
        _check_int("wait_for_plan", self.wait_for_plan, 0, MAX_NEW_TOKENS)
        _check_int("prefill_chunk", self.prefill_chunk, 1, 1 << 16)
        for name in ("copy_ngram", "repeat_ngram"):
            value = getattr(self, name)
            _check_int(name, value, 0, 1024)
            if value in (1, 2):
                raise ConfigError(f"{name} must be 0 (off) or at least 3; got {value}")
        _check_int("seed", self.seed, 0, 2**63 - 1)
        if self.max_context is not None:
            _check_int("max_context", self.max_context, 64, 1 << 24)
        _check_float("temperature", self.temperature, 0.0, 10.0)
        _check_float("dry_multiplier", self.dry_multiplier, 0.0, 1e6)
        _check_float("dry_base", self.dry_base, 1.0, 16.0)
        _check_int("dry_allowed", self.dry_allowed, 1, 1024)
        _check_float("top_p", self.top_p, 0.0, 1.0, low_open=True)
        for name in ("collect_attention", "collect_logits", "redundancy_check", "repeat_steps", "bare_labels"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False")
        _check_external(self.external_workers, self.num_workers)

    @property
    def num_model_workers(self) -> int:
        """Workers whose tokens the model samples: the first num_workers - len(external_workers)."""
        return self.num_workers - len(self.external_workers)

    @property
    def worker_names(self) -> tuple[str, ...]:
        """Every worker's name, by index: the model workers (Alice, Bob, ...), then the external ones."""
        return WORKER_NAMES[:self.num_model_workers] + self.external_workers


def _check_external(names, num_workers: int) -> None:
    if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"external_workers must be a tuple of names; got {_shown(names)}")
    if len(names) >= num_workers:
        raise ConfigError(f"external_workers has {len(names)} name(s) for {num_workers} worker(s); at least one "
                          "worker must be a model worker (a model worker writes the final answer)")
    for name in names:
        if not EXTERNAL_NAME.fullmatch(name):
            raise ConfigError("an external worker's name must be 1 to 24 letters, digits, spaces, dots, hyphens "
                              f"or apostrophes, starting with a letter or digit; got {_shown(name)}")
    everyone = WORKER_NAMES[:num_workers - len(names)] + names
    if len(set(everyone)) != len(everyone):
        raise ConfigError(f"every worker needs its own name; got {', '.join(everyone)}")


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer; got {_shown(value)}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}; got {_shown(value)}")


def _check_float(name: str, value, low: float, high: float, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number; got {_shown(value)}")
    try:
        value = float(value)
    except OverflowError:        # an int beyond float range is out of range, not a crash
        value = math.inf if value > 0 else -math.inf
    too_low = value <= low if low_open else value < low
    if value != value or too_low or value > high:
        bound = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise ConfigError(f"{name} must be in {bound}; got {value}")


def _shown(value) -> str:
    """repr for a message, short even for huge ints (whose str() Python may refuse past 4300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        return f"an integer of about {value.bit_length() * 0.30103:.0f} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
