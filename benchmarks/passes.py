"""Forced one-token passes: the Hogwild! pass against the baselines at a given W and context.

For each (W, context) one engine is started on a problem sized so that each worker's view holds
about `context` tokens (at W >= 2 the collaboration prompt alone is several hundred tokens, so the
smallest view is larger: the table reports the view actually attended to). Then, in rounds, each
method takes one timed pass in a random order and again in the reverse order (ABBA, the order
drawn per round from a seeded generator):

  hogwild   `engine.run_pass(force=...)` as a whole (bookkeeping included), all W workers, one forward
  dynamic   plain sdpa decode of [W, 1] against a DynamicCache of W copies of worker 0's view as it
            stood in the last Hogwild! pass (so both attend to the same number of positions)
  static    the same against a StaticCache preallocated for exactly that length
  floor     the model's nn.Linear layers alone at batch W

The baselines' caches are refilled from the view before each of their passes (untimed), so they
track the Hogwild! view as it grows: the DynamicCache afresh, the StaticCache in place (allocated
once per case for the longest view it will reach; its sdpa call reads the whole preallocated
length, masked, as it does in use). Every timed pass is preceded by a garbage collection. Memory: the shared cache's allocated tensors against the
caches of W real independent decoders, each holding the plain chat prompt and as many tokens of
its own as the Hogwild! worker wrote (a real prefill, repeated to W rows, then real decode passes);
and again with each decoder given the Hogwild! prompt itself (collaboration instructions included),
which isolates what sharing saves from what the longer prompt costs.

Only the engine's public API is used: start, run_pass, view, view_kv, view_token_ids, transcript,
cache_stats."""

import gc
import random
import statistics
from dataclasses import dataclass

import torch

from hogwild_core import EngineConfig, HogwildEngine
from hogwild_core.config import MAX_NEW_TOKENS

from .baselines import LinearFloor, decode_pass, dynamic_copies, refill, static_copies, stock_attention, timed

TASK = "Add up the marbles in all the boxes listed below and say whether the total is even."
FORCED_WORD = " the"
METHODS = ("hogwild", "dynamic", "static", "floor")


@dataclass
class Timing:
    median_ms: float
    min_ms: float
    max_ms: float
    n: int

    @classmethod
    def of(cls, seconds: list[float]) -> "Timing":
        ms = [1000 * s for s in seconds]
        return cls(statistics.median(ms), min(ms), max(ms), len(ms))


@dataclass
class PassResult:
    num_workers: int
    context: int                     # asked for
    view_tokens: int                 # positions worker 0 attends to in the first timed pass
    timings: dict[str, Timing]       # method -> pass time
    order: list[str]                 # the timed order, as run
    cache_used_bytes: int            # the shared cache, positions in use
    cache_allocated_bytes: int       # the shared cache's tensors as allocated (capacity doubles)
    independent_bytes: int           # W real independent decoders (plain chat prompt): DynamicCache tensors
    independent_tokens: int          # positions each of them holds
    same_prompt_bytes: int           # the same, each decoder given the Hogwild! prompt instead
    same_prompt_tokens: int

    def ratio(self, baseline: str) -> float:
        return self.timings["hogwild"].median_ms / self.timings[baseline].median_ms


def abba_order(methods: tuple[str, ...], rounds: int, rng: random.Random) -> list[str]:
    """Each round: the methods in a random order, then in the reverse order."""
    order = []
    for _ in range(rounds):
        drawn = rng.sample(list(methods), len(methods))
        order += drawn + drawn[::-1]
    return order


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def make_problem(tokenizer, num_tokens: int) -> str:
    """TASK and numbered facts, about `num_tokens` tokens in all (at least TASK)."""
    lines, count, i = [TASK], len(encode(tokenizer, TASK)), 0
    while count < num_tokens:
        line = f"Box {i + 1} holds {(37 * i + 11) % 997} marbles."
        count += len(encode(tokenizer, "\n" + line))
        lines.append(line)
        i += 1
    return "\n".join(lines)


def plain_prompt_ids(tokenizer, problem: str) -> list[int]:
    """What a user of `generate` feeds the model: the chat template around the problem."""
    return list(tokenizer.apply_chat_template([{"role": "user", "content": problem}], add_generation_prompt=True,
                                              tokenize=True, return_dict=False))


def independent_decoders(model, prompt_ids: list[int], num_rows: int, own_tokens: int, token: int):
    """W real independent decoders: the prompt prefilled once, the cache repeated to W rows (as
    `generate` does for W samples), then `own_tokens` real decode passes. Returns the DynamicCache."""
    device = next(model.parameters()).device
    with torch.no_grad(), stock_attention(model):
        out = model(input_ids=torch.tensor([prompt_ids], device=device), use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        cache.batch_repeat_interleave(num_rows)
        tokens = torch.full((num_rows, 1), token, dtype=torch.long, device=device)
        for i in range(own_tokens):
            decode_pass(model, cache, tokens, len(prompt_ids) + i)
    return cache


def cache_tensor_bytes(cache) -> int:
    """Bytes of the storage behind a transformers cache's key and value tensors."""
    return sum(t.untyped_storage().nbytes() for layer in cache.layers for t in (layer.keys, layer.values))


class Case:
    """One engine at one (W, context), ready to take timed passes of every method."""

    def __init__(self, model, tokenizer, num_workers: int, context: int, layout: str = "combined", warmup: int = 2):
        self.model, self.tokenizer, self.num_workers, self.context = model, tokenizer, num_workers, context
        config = EngineConfig(num_workers=num_workers, layout=layout, max_new_tokens=MAX_NEW_TOKENS,
                              temperature=0.0, collect_attention=False)
        self.engine = HogwildEngine(model, tokenizer, config)
        self.device = self.engine.device
        self.token = encode(tokenizer, FORCED_WORD)[0]
        self.force = [self.token] * num_workers
        self._start(TASK)                 # how much the template, collaboration prompt and openers add
        overhead = self.engine.view(0).length - len(encode(tokenizer, TASK))
        self.problem = make_problem(tokenizer, context - overhead - warmup * num_workers)
        self._start(self.problem)
        self.floor = LinearFloor(model, num_workers)
        self._static = None
        self.static_room = 1          # Hogwild! passes the StaticCache must leave room for (set by measure)

    def _start(self, problem: str) -> None:
        self.engine.start(problem)
        self.engine.run_pass(force=self.force)   # writes the openers: a short prefill, not a decode pass

    def view_length(self) -> int:
        return self.engine.view(0).length

    # one timed pass of each method; returns seconds
    def hogwild(self) -> float:
        return timed(self.device, lambda: self.engine.run_pass(force=self.force))

    def prepare(self, kind: str):
        """A plain decode pass ready to run (the cache filled, untimed): a function that runs it
        and returns the next tokens. The DynamicCache is built afresh (its timed pass concatenates, as in `generate`); the
        StaticCache is allocated once per case, for the longest view the case will reach, and
        refilled in place (as a preallocated cache is used)."""
        kv = self.engine.view_kv(0)
        n = kv[0][0].shape[1]
        past = [(k[:, :n - 1], v[:, :n - 1]) for k, v in kv]
        if kind == "dynamic":
            cache = dynamic_copies(past, self.num_workers)
        else:
            if self._static is None or self._static.layers[0].max_cache_len < n:
                self._static = None
                self._static = static_copies(self.model, past, self.num_workers,
                                             free=max(1, self.static_room * self.num_workers + 1))
            else:
                refill(self._static, past)
            cache = self._static
        last = self.engine.view_token_ids(0)[-1]
        tokens = torch.full((self.num_workers, 1), last, dtype=torch.long, device=self.device)
        return lambda: decode_pass(self.model, cache, tokens, n - 1)

    def plain(self, kind: str) -> float:
        decode = self.prepare(kind)
        with stock_attention(self.model):
            return timed(self.device, decode)

    def dynamic(self) -> float:
        return self.plain("dynamic")

    def static(self) -> float:
        return self.plain("static")

    def floor_pass(self) -> float:
        return timed(self.device, self.floor)

    def run(self, method: str) -> float:
        gc.collect()                  # before every timed pass alike: no method pays for another's garbage
        return {"hogwild": self.hogwild, "dynamic": self.dynamic, "static": self.static,
                "floor": self.floor_pass}[method]()

    def measure(self, rounds: int, warmup: int, rng: random.Random) -> PassResult:
        self.static_room = warmup + 2 * rounds + 1
        for _ in range(warmup):
            for method in METHODS:
                self.run(method)
        view_tokens = self.view_length()
        order = abba_order(METHODS, rounds, rng)
        seconds = {m: [] for m in METHODS}
        for method in order:
            seconds[method].append(self.run(method))
        return PassResult(self.num_workers, self.context, view_tokens, {m: Timing.of(s) for m, s in seconds.items()},
                          order, **self.memory())

    def memory(self) -> dict[str, int]:
        stats = self.engine.cache_stats()
        own = max(len(self.engine.transcript(w).tokens) for w in range(self.num_workers))
        out = dict(cache_used_bytes=stats["bytes"], cache_allocated_bytes=stats["allocated_bytes"])
        for key, prompt in (("independent", plain_prompt_ids(self.tokenizer, self.problem)),
                            ("same_prompt", list(self.engine.prompt_tokens()))):
            cache = independent_decoders(self.model, prompt, self.num_workers, own, self.token)
            out[f"{key}_bytes"], out[f"{key}_tokens"] = cache_tensor_bytes(cache), len(prompt) + own
            del cache
        return out


def run_passes(model, tokenizer, workers, contexts, rounds: int, warmup: int, layout: str = "combined",
               seed: int = 0, log=None) -> list[PassResult]:
    rng = random.Random(seed)
    results = []
    for context in sorted(contexts):
        for W in workers:
            case = Case(model, tokenizer, W, context, layout, warmup)
            results.append(case.measure(rounds, warmup, rng))
            if log:
                log(results[-1])
            del case
            gc.collect()
    return results
