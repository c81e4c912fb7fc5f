"""HogwildEngine: W workers of one model decode in lock-step over one shared KV cache.

Contract: the engine takes a loaded transformers model and tokenizer and a frozen EngineConfig;
it knows nothing of any UI. `start(problem)` writes the prompt; each `run_pass()` runs one lock-step
*pass* (one batched forward for all workers) and returns a PassEvent that carries everything a
consumer needs; `generate(problem)` streams them. A token's keys/values are computed once, by the
pass that writes it, then shared.

External workers (`EngineConfig.external_workers`, e.g. a person named "You") are workers like
the others, except that their text comes from `write(w, text)` instead of from the model: it is
written from the next pass on, ends reasoning steps by the same rule and so moves into the
history, and is read by the model workers as the layout says. Nothing is sampled for them, an
idle one is not in any pass, and they never write the final answer.

One pass, as in the paper:
  1. reasoning steps finished in the cache move into the shared history (history layouts);
  2. if the budget or the context is spent, the final-answer prompt is inserted;
  3. each writing worker's View is built from the layout;
  4. all writers' pending tokens run through the real model (fast or reference path);
  5. one token is sampled (or forced) per generating worker; step ends and prompts are handled;
  6. the event is assembled (attention statistics and logits only when asked for).

Bookkeeping lives where it belongs: views in `view.py`, the cache's books in `blocks.py`/`cache.py`,
each worker's state in `workers.py`, text in `text.py`, both forward paths in `runner.py`.
"""

import copy
import re
import time
from dataclasses import dataclass
from typing import Iterator

import torch

from . import prompts
from .blocks import CURRENT_KIND, HEADER_KIND, PROMPT_KIND, BlockRecord
from .cache import SharedCache
from .config import EngineConfig
from .errors import ConfigError, EngineStateError, PromptError
from .events import PassEvent
from .prompt_cache import PromptCache
from .rope import check_model_supported, inv_freq_of
from .runner import Runner
from .sampling import (ban_tokens, copy_continuations, extend_table, ngram_table, penalize, repeat_penalties,
                       sample, worker_generators)
from .similarity import near_duplicate
from .text import (Detokenizer, TextCodec, bracket_tokens, colon_tokens, control_ids, eos_ids, heading_tokens,
                   name_labels, newline_tokens, paragraphs)
from .view import (HEADER_OTHERS, HEADER_OWN, PROMPT, View, block_spans, build_view, has_history,
                   segment_names, worker_segment, worker_view)
from .workers import GENERATING, STOPPED, STOPPING, Worker

WORK, ANSWER, FINISHED = "work", "answer", "finished"
_FINAL_TAIL = 160       # tokens of a worker's text searched for the \boxed{} a token just closed
_BOLD_NAME_AT_END = re.compile(r"\*\*\s?[A-Z][a-z]+(?:\s?\*\*)?\s?$")
ANSWERER = 0  # Alice writes the final answer


def _normal_step(text: str) -> str:
    """A step's text as repeat_steps compares it: spaces collapsed, trailing punctuation dropped."""
    return " ".join(text.split()).rstrip(".,;:!? ")


def _label_completions(tail: list[int], labels: list[tuple[int, ...]]) -> list[int]:
    """The last token of each label whose other tokens `tail` ends with: what would complete it."""
    return [label[-1] for label in labels
            if len(label) - 1 <= len(tail) and tuple(tail[len(tail) - len(label) + 1:]) == label[:-1]]


@dataclass(frozen=True)
class Transcript:
    """All one worker wrote, as plain data."""
    name: str
    tokens: tuple[int, ...]
    inserted: tuple[tuple[int, int], ...]    # token spans the engine wrote (opener, labels, prompts)
    external: bool = False                   # its text came from outside (write), not from the model


@dataclass(frozen=True)
class _SeenView:
    """A worker's view as of the last pass it ran in, with the books it read then."""
    view: View
    books: dict


class HogwildEngine:
    def __init__(self, model, tokenizer, config: EngineConfig | None = None,
                 prompt_cache: PromptCache | None = None):
        """prompt_cache: keys/values of prompt prefixes shared by the runs of this model (see
        prompt_cache.py); without one every run computes its whole prompt."""
        self.config = config if config is not None else EngineConfig()
        self.prompt_cache = prompt_cache
        if not isinstance(self.config, EngineConfig):
            raise ConfigError("config must be an EngineConfig")
        check_model_supported(model)
        model.eval()
        self.model, self.tokenizer = model, tokenizer
        self.num_layers = model.config.num_hidden_layers
        self.inv_freq = inv_freq_of(model)
        self.runner = Runner(model, self.inv_freq, self.config.attention)
        self.device = self.runner.device
        model_limit = getattr(model.config, "max_position_embeddings", None) or 1 << 20
        self.max_context = min(self.config.max_context or model_limit, model_limit)
        self.eos_ids = eos_ids(model, tokenizer)
        self.codec = TextCodec(tokenizer)
        self.prompt_note = None if self.codec.has_chat_template else (
            "the tokenizer has no chat template; a plain 'System:/User:/Assistant:' template is used")
        self._final_tokens = self._answer_tokens(self.config.answer_prompt)
        self._longest_final = max(len(self._answer_tokens(style)) for style in prompts.ANSWER_PROMPTS)
        with self.codec.lock:
            self._name_labels = name_labels(tokenizer)
            self._heading_ids = heading_tokens(tokenizer)
            self._bracket_ids = bracket_tokens(tokenizer)
            self._control_ids = sorted(control_ids(tokenizer) | self.eos_ids)
            self._newline_ids = newline_tokens(tokenizer) if self.config.repeat_steps else []
            self._colon_ids = colon_tokens(tokenizer) if self.config.bare_labels else []
            # a model worker may not write an external worker's label either
            self._external_labels = [label for labels in name_labels(tokenizer, self.config.external_workers).values()
                                     for label in labels]
        self._cache: SharedCache | None = None
        self._prompt_ids: list[int] | None = None

    # ---- public API -------------------------------------------------------------------
    def start(self, problem: str) -> None:
        """Reset, write the shared prompt (and headers) into a fresh cache."""
        if not isinstance(problem, str) or not problem.strip():
            raise PromptError("the problem text is empty")
        cfg, W = self.config, self.config.num_workers
        before, middle, after = self.codec.prompt_parts(problem, W, cfg.layout, cfg.split, cfg.external_workers)
        self._prompt_ids = before + middle + after
        self._prompt_prefix = len(before)
        self._problem_grams = ngram_table(self.codec.problem_ids(problem), cfg.copy_ngram) if cfg.copy_ngram else {}
        reserve = self._reserve()
        if len(self._prompt_ids) + reserve + 64 > self.max_context:
            raise PromptError(
                f"the problem is too long: the prompt takes {len(self._prompt_ids)} tokens and a run needs "
                f"about {reserve + 64} more, but the context holds {self.max_context}")
        self._cache = SharedCache(segment_names(cfg.layout, W), self.num_layers, self.inv_freq)
        self.phase, self.num_passes, self.answer_from = WORK, 0, {}
        self.generators = worker_generators(cfg.seed, W, self.device)
        self._write_setup()
        self.workers = []
        M = cfg.num_model_workers     # the model workers come first; external workers have no opener
        for w, name in enumerate(cfg.worker_names):
            worker = Worker(w, name, worker_segment(w), Detokenizer(self.codec), external=w >= M)
            self._cache.open_block(CURRENT_KIND, w, worker.segment)
            if not worker.external:
                worker.insert(self.codec.encode(prompts.worker_opener(w, M, cfg.layout, problem, cfg.split)))
            self.workers.append(worker)
        self._seen = {w: self._snapshot(self._view_of(w, 0)) for w in range(W)}
        self._step_texts = {}                # worker -> [finished steps read, their normalised texts]

    def run_pass(self, force: list[int | None] | None = None) -> PassEvent:
        """One lock-step pass for all workers. `force[w]`, if given, is taken instead of sampling;
        entries for workers that do not sample in this pass are ignored."""
        if self._cache is None:
            raise EngineStateError("call start(problem) before run_pass()")
        if self.phase == FINISHED:
            raise EngineStateError("the run is finished; call start(problem) for a new one")
        force = self._check_force(force)
        flushed = self._move_finished_steps()                            # 1.
        self._check_budget()                                             # 2.
        phase = self.phase
        writers = [w for w in self.workers if w.num_pending and w.status != STOPPED and not self._waiting(w)]
        chunk = self.config.prefill_chunk
        views = [self._view_of(w.index, min(chunk, w.num_pending)) for w in writers]   # 3.
        new = [w.pending[:chunk] for w in writers]
        began = time.perf_counter()
        logits = attention = None
        if writers:
            logits, attention = self.runner.run(self._cache, views, new,       # 4.
                                                self.config.collect_attention)
            for worker, view, ids in zip(writers, views, new):
                self._cache.append(view.own, ids)
                worker.wrote(len(ids))
                self._seen[worker.index] = self._snapshot(view)
        tokens = self._take_tokens(writers, logits, force)              # 5.
        seconds = time.perf_counter() - began
        if phase == WORK:
            self._count_work_pass()
        return self._event(phase, writers, logits, attention, tokens, flushed, seconds)   # 6.

    def write(self, w: int, text: str) -> None:
        """Give external worker w text to write. It joins w's transcript now (its lane shows it in
        the next event) and goes into the cache from the next pass on, `prefill_chunk` tokens a
        pass. Each paragraph of `text` (split at blank lines) is written ending in a paragraph
        break; one that ends a sentence ends a reasoning step by the model workers' rule, so in
        the history layouts it moves into the history once written. A step's label
        ("**You [2]:**") is written with its first text. Call it between passes, from the thread
        that runs them; it is refused once the run has moved to its final answer."""
        if self._cache is None:
            raise EngineStateError("call start(problem) before write()")
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w < len(self.workers):
            raise ConfigError(f"w must be a worker index in [0, {len(self.workers)}); got {w!r}")
        worker = self.workers[w]
        if not worker.external:
            raise ConfigError(f"worker {w} ({worker.name}) is a model worker; only external workers take text")
        if self.phase != WORK:
            raise EngineStateError("the run has moved to its final answer; it takes no more text")
        if not isinstance(text, str) or not paragraphs(text):
            raise PromptError("the text is empty")
        parts = paragraphs(text)
        label = len(self.codec.encode(prompts.step_prefix(worker.name, worker.num_reasoning_steps + len(parts))))
        most = sum(len(self.codec.encode(" " + part + "\n\n")) + label for part in parts)   # labels: at most one each
        room = self.max_context - self._reserve() - self._view_length(worker)
        if most > room:
            raise PromptError(f"the text takes about {most} tokens, but only {max(room, 0)} more fit in this "
                              "worker's view of the context")
        for part in parts:
            self._take_paragraph(worker, part)

    def generate(self, problem: str) -> Iterator[PassEvent]:
        self.start(problem)
        while not self.done:
            yield self.run_pass()

    def finish(self, answerers: list[int] | None = None, answer_prompt: str | None = None) -> None:
        """End the work phase now: the next passes write the forced final answer, greedily, for
        each worker in `answerers` (default: Alice alone), asked for with `answer_prompt`
        (prompts.ANSWER_PROMPTS; default: the config's)."""
        if self._cache is None or self.phase != WORK:
            raise EngineStateError("finish() needs a run in its work phase")
        answerers = [ANSWERER] if answerers is None else sorted(set(answerers))
        if not answerers or any(not isinstance(w, int) or not 0 <= w < len(self.workers) for w in answerers):
            raise ConfigError(f"answerers must be worker indices in [0, {len(self.workers)})")
        if any(self.workers[w].external for w in answerers):
            raise ConfigError("an external worker never writes the final answer; answerers must be model workers")
        if answer_prompt is not None and answer_prompt not in prompts.ANSWER_PROMPTS:
            raise ConfigError(f"answer_prompt must be one of {', '.join(prompts.ANSWER_PROMPTS)}; got {answer_prompt!r}")
        tokens = self._final_tokens if answer_prompt is None else self._answer_tokens(answer_prompt)
        self._enter_answer_phase(answerers, tokens)

    def fork(self) -> "HogwildEngine":
        """An independent copy of the run so far: same model and tokenizer, its own cache,
        workers and random streams. A pass of either one never changes the other."""
        shared = (self.model, self.tokenizer, self.inv_freq, self.config, self.runner, self.codec, self.prompt_cache)
        return copy.deepcopy(self, {id(x): x for x in shared})

    @property
    def done(self) -> bool:
        return self._cache is not None and self.phase == FINISHED

    @property
    def reasoning_over(self) -> bool:
        """In the work phase, no model worker samples any more: each ended its text (finish="eos")
        or a final answer ended the reasoning (finish="boxed"). The next run_pass() moves to Alice's answer."""
        return (self._cache is not None and self.phase == WORK
                and all(w.status != GENERATING for w in self.workers if not w.external))

    @property
    def worker_names(self) -> tuple[str, ...]:
        """Every worker's name, by index (the external workers last)."""
        return self.config.worker_names

    # ---- views and the cache, read-only ---------------------------------------------------
    def prompt_tokens(self) -> tuple[int, ...] | None:
        """The shared prompt's token ids, known once start() has tokenized the problem (before it
        reads them into the cache); None until then. Safe to call from another thread."""
        ids = self._prompt_ids
        return None if ids is None else tuple(ids)

    def view(self, w: int) -> View:
        """Worker w's View as of the last pass it ran in."""
        return self._seen[w].view

    def view_blocks(self, w: int) -> list[tuple[int, int, int]]:
        """(block_id, start, length) covering worker w's view as of the last pass it ran in."""
        seen = self._seen[w]
        return block_spans(seen.view, {name: books.blocks for name, books in seen.books.items()})

    def view_block_tokens(self, w: int) -> list[list[int]]:
        """The token ids of each block of view_blocks(w), in the same order."""
        seen, out = self._seen[w], []
        for block_id, view_start, length in self.view_blocks(w):
            part = next(p for p in seen.view.parts if p.offset <= view_start < p.offset + p.length)
            start = view_start - part.offset
            out.append(seen.books[part.segment].tokens[start:start + length])
        return out

    def view_token_ids(self, w: int) -> list[int]:
        """Worker w's view, in view order, as of the last pass it ran in."""
        seen = self._seen[w]
        return [t for part in seen.view.parts for t in seen.books[part.segment].tokens[:part.length]]

    def view_kv(self, w: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Worker w's view as one ordinary cache: per layer keys, values [Hkv, n, D] in view order,
        keys at view positions. Read from the cache as it is now: valid while w's view is current."""
        return [self._cache.view_kv(self._seen[w].view, layer) for layer in range(self.num_layers)]

    @property
    def blocks(self) -> tuple[BlockRecord, ...]:
        return self._cache.records()

    def block_tokens(self, block_id: int) -> list[int]:
        """The token ids a block holds now."""
        return self._cache.block_tokens(block_id)

    def describe_blocks(self) -> list[dict]:
        """Plain records of every block (for charts and traces), with each block's text."""
        cache = self._cache
        return [{"id": b.id, "kind": b.kind, "owner": b.owner, "segment": b.segment, "start": b.start,
                 "length": b.length, "text": self.decode(cache.block_tokens(b.id))} for b in cache.records()]

    def cache_stats(self) -> dict:
        """Sizes of the shared cache: tokens and bytes used, bytes allocated, per-segment lengths and bytes."""
        cache = self._cache
        names = cache.segment_names
        return {"tokens": cache.num_tokens(), "bytes": cache.nbytes(), "allocated_bytes": cache.allocated_bytes(),
                "segment_lengths": cache.lengths(),
                "segment_bytes": {name: cache.segment_bytes(name) for name in names}}

    # ---- text ---------------------------------------------------------------------------
    def transcript(self, w: int) -> Transcript:
        worker = self.workers[w]
        return Transcript(worker.name, tuple(worker.transcript), tuple(worker.inserted), worker.external)

    def worker_text(self, w: int) -> str:
        return self.decode(self.workers[w].transcript)

    def decode(self, ids) -> str:
        return self.codec.decode(ids)

    @property
    def answer(self) -> str | None:
        """The forced final answer if one was written, else the last \\boxed{} any worker wrote."""
        forced = self.answers
        for w in sorted(self.answer_from):
            if forced[w] is not None:
                return forced[w]
        found = [prompts.last_boxed(self.worker_text(w.index)) for w in self.workers if not w.external]
        found = [a for a in found if a]
        return found[-1] if found else None

    @property
    def answers(self) -> list[str | None]:
        """Per worker, the forced final answer it wrote (None if it was not asked for one)."""
        result: list[str | None] = [None] * len(self.workers)
        for w, start in self.answer_from.items():
            text = self.decode(self.workers[w].transcript[start:])
            end = prompts.boxed_close(text)
            result[w] = (text if end is None else text[:end]).strip()
        return result

    # ---- setup ------------------------------------------------------------------------
    def _reserve(self) -> int:
        """Room kept free in every view for the final answer and one inserted prompt."""
        return self._longest_final + self.config.max_answer_tokens + 32

    def _answer_tokens(self, style: str) -> list[int]:
        return self.codec.encode(prompts.final_answer_text(style, self.config.answer_parts))

    def _write_setup(self) -> None:
        """Write the prompt and the shared headers, each in its writer's own view: a header is
        written as if it followed the prompt directly. The prompt goes in two stages, the prefix
        before the problem (reused from the prompt cache when it holds it) and then the rest,
        each in chunks of at most prefill_chunk tokens, with or without a cache alike."""
        cache = self._cache
        cache.open_block(PROMPT_KIND, None, PROMPT)
        prefix = tuple(self._prompt_ids[:self._prompt_prefix])
        stored = self.prompt_cache.get(prefix) if self.prompt_cache is not None and prefix else None
        if stored is not None:
            for layer, (k, v) in enumerate(stored):
                cache.write(layer, PROMPT, 0, k, v)
            cache.append(PROMPT, list(prefix))
        else:
            self._write_prompt(0, len(prefix))
            if self.prompt_cache is not None and prefix:
                self.prompt_cache.put(prefix, [cache.read(layer, PROMPT, len(prefix)) for layer in range(self.num_layers)])
        self._write_prompt(len(prefix), len(self._prompt_ids))
        if self.config.layout == "combined":
            headers = [(HEADER_OTHERS, self.codec.encode(prompts.HEADER_OTHERS_TEXT)),
                       (HEADER_OWN, self.codec.encode(prompts.HEADER_OWN_TEXT))]
            lengths = cache.lengths()
            for name, _ in headers:
                cache.open_block(HEADER_KIND, None, name)
            self._write([build_view([PROMPT, name], lengths, name, len(ids)) for name, ids in headers],
                        [ids for _, ids in headers])

    def _write_prompt(self, start: int, end: int) -> None:
        chunk = self.config.prefill_chunk
        for i in range(start, end, chunk):
            ids = self._prompt_ids[i:min(i + chunk, end)]
            self._write([build_view([PROMPT], self._cache.lengths(), PROMPT, len(ids))], [ids])

    def _write(self, views: list[View], new: list[list[int]]) -> None:
        self.runner.run(self._cache, views, new, collect=False)
        for view, ids in zip(views, new):
            self._cache.append(view.own, ids)

    # ---- the pass, piece by piece -----------------------------------------------------------
    def _view_of(self, w: int, num_new: int) -> View:
        cfg = self.config
        return worker_view(cfg.layout, w, cfg.num_workers, self._cache.lengths(), num_new)

    def _snapshot(self, view: View) -> _SeenView:
        return _SeenView(view, {p.segment: self._cache.books(p.segment) for p in view.parts})

    def _check_force(self, force):
        W = len(self.workers)
        if force is None:
            return [None] * W
        if len(force) != W:
            raise ConfigError(f"force must have one entry per worker ({W}); got {len(force)}")
        V = self.model.get_input_embeddings().weight.shape[0]
        for t in force:
            if t is not None and (isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < V):
                raise ConfigError(f"forced tokens must be ids in [0, {V}); got {t!r}")
        return list(force)

    def _move_finished_steps(self) -> list[int]:
        """Move every reasoning step whose last token is now in the cache into the history, in
        worker order (and each worker's steps in the order they ended)."""
        moved = []
        for worker in self.workers:
            while (split := worker.finished_step_split()) is not None:
                moved.append(self._cache.move_to_history(worker.segment, split))
        return moved

    def _view_length(self, worker: Worker) -> int:
        return self._view_of(worker.index, worker.num_pending).length

    def _check_budget(self) -> None:
        if self.phase == ANSWER:
            if any(self._view_length(self.workers[w]) >= self.max_context for w in self.answer_from):
                self._finish()
            return
        generating = [w for w in self.workers if w.status == GENERATING and not w.external]
        out_of_room = any(self._view_length(w) + self._reserve() > self.max_context for w in generating)
        if generating and self.num_passes < self.config.max_new_tokens and not out_of_room:
            return
        self._enter_answer_phase([ANSWERER], self._final_tokens)

    def _enter_answer_phase(self, answerers: list[int], final_tokens: list[int]) -> None:
        self.phase = ANSWER
        for worker in self.workers:
            worker.status = STOPPING if worker.num_pending else STOPPED
        for w in answerers:
            worker = self.workers[w]
            worker.status = GENERATING
            worker.insert(final_tokens)
            self.answer_from[w] = len(worker.transcript)

    def _take_tokens(self, writers: list[Worker], logits, force) -> list[int | None]:
        """Sample (or take the forced) next token of every writer that has nothing left to
        write: all rows in one batched call on the model's device, one host sync for the ids."""
        tokens: list[int | None] = [None] * len(self.workers)
        takers = [(r, w) for r, w in enumerate(writers)
                  if w.status == GENERATING and not w.external and not w.num_pending]
        samplers = [(r, w) for r, w in takers if force[w.index] is None]
        if samplers:
            temperature = self.config.temperature if self.phase == WORK else 0.0   # answers: greedy
            rows = logits[torch.tensor([r for r, _ in samplers], device=logits.device)]
            rows = ban_tokens(rows, [self._banned(w) if self.phase == WORK else [] for _, w in samplers])
            if self.config.dry_multiplier and self.phase == WORK:
                rows = penalize(rows, [self._repeat_penalties(w) for _, w in samplers])
            ids = sample(rows, temperature, self.config.top_p,
                         [self.generators[w.index] for _, w in samplers]).tolist()
            for (_, worker), token in zip(samplers, ids):
                force[worker.index] = token
        for _, worker in takers:
            tokens[worker.index] = force[worker.index]
            self._take(worker, force[worker.index])
        for worker in writers:
            if worker.status == STOPPING and not worker.num_pending:
                worker.status = STOPPED
        return tokens

    def _take(self, worker: Worker, token: int) -> None:
        """The worker's new token: its end, a reasoning step's end, prompts to insert."""
        if self.phase == ANSWER:
            start = self.answer_from[worker.index]
            if token not in self.eos_ids:
                worker.take(token, steps=False)
            text = self.decode(worker.transcript[start:])
            if (token in self.eos_ids or prompts.boxed_close(text) is not None
                    or len(worker.transcript) - start >= self.config.max_answer_tokens):
                worker.status = STOPPED
                if all(self.workers[w].status == STOPPED for w in self.answer_from):
                    self._finish()
            return
        if token in self.eos_ids:        # sampled under finish="eos"; forced under either rule
            worker.status = STOPPED
            return
        ended = worker.take(token)
        if self.config.repeat_ngram:
            extend_table(worker.own_grams, worker.transcript, self.config.repeat_ngram)
        if self.config.finish == "boxed" and (box := self._closed_box(worker, token)) is not None \
                and prompts.num_answers(box) >= self.config.answer_parts:     # the problem's final answer
            self._end_reasoning(worker)
            return
        if not ended:
            return
        insert = ""
        if has_history(self.config.layout):
            worker.step_ends.append(len(worker.transcript))
            insert = prompts.step_prefix(worker.name, worker.num_reasoning_steps)
        if worker.check_due or self._repeats_another(worker):
            insert = (insert + " " + prompts.CHECK_TEXT).strip()
            worker.check_due = False
        if insert:
            worker.insert(self.codec.encode(insert))

    def _take_paragraph(self, worker: Worker, paragraph: str) -> None:
        """One paragraph of an external worker's text, token by token, as `_take` takes a sampled
        one: the same step-end rule. Its step labels wait for the text that follows them."""
        labelled = worker.label_due
        if labelled:
            worker.insert(self.codec.encode(prompts.step_prefix(worker.name, worker.num_reasoning_steps)))
            worker.label_due = False
        for token in self.codec.encode((" " if labelled else "") + paragraph + "\n\n"):
            ended = worker.take(token)
            if self.config.repeat_ngram:     # the model workers may not copy it either (see _banned)
                extend_table(worker.own_grams, worker.transcript, self.config.repeat_ngram)
            if ended and has_history(self.config.layout):
                worker.step_ends.append(len(worker.transcript))
                worker.label_due = True

    def _closed_box(self, worker: Worker, token: int) -> str | None:
        """finish="boxed": the contents of the \\boxed{} this token closed, or None."""
        piece = self.decode([token])
        if "}" not in piece:
            return None
        tail = self.decode(worker.transcript[-_FINAL_TAIL:])
        start = tail.rfind("\\boxed{")
        if start == -1:
            return None
        inner_at = start + len("\\boxed{")
        close = prompts.boxed_close(tail[inner_at:])
        if close is None or inner_at + close < len(tail) - len(piece):     # open, or closed before this token
            return None
        return tail[inner_at:inner_at + close]

    def _end_reasoning(self, worker: Worker) -> None:
        """A final answer ends the worker's reasoning; in a shared layout everyone's (the paper)."""
        ended = [worker] if self.config.layout == "independent" else self.workers
        for other in ended:
            if other.status == GENERATING:
                other.status = STOPPING if other.num_pending else STOPPED

    def _repeats_another(self, worker: Worker) -> bool:
        """Does the reasoning step the worker just finished near-duplicate another worker's step
        (finished or in progress)? Then it is asked the redundancy question at once."""
        if not self.config.redundancy_check or len(self.workers) == 1 or self.config.layout == "independent":
            return False
        just_finished = worker.finished_sampled[-1]
        others = [step for other in self.workers if other is not worker
                  for step in other.finished_sampled + [other.step_sampled]]
        return any(near_duplicate(just_finished, step, min_length=8) for step in others)

    def _banned(self, worker: Worker) -> list[int]:
        """Tokens the worker may not write next (work phase), the same for every method and W: a
        copy of copy_ngram tokens of the problem (small models restate the question step after
        step), a repeat of repeat_ngram tokens of its own (a loop) or of a worker it can read (a
        copy of someone's work: independent workers read nobody), markdown heading tokens (they
        fake the workspace's sections), and step labels written by hand: the token completing any
        other name's bold label ("**Bob") and a bracket after a bold capitalised word ("**David"
        + " [": small models continue the history's pattern and write steps as someone, real or
        invented). The engine writes every step label itself."""
        cfg = self.config
        banned = list(copy_continuations(self._problem_grams, worker.transcript, cfg.copy_ngram))
        if cfg.finish == "boxed":       # the paper: no end of text (nor other control token) while reasoning
            banned += self._control_ids
        if cfg.repeat_ngram:
            for source in self._readable(worker):
                banned += copy_continuations(source.own_grams, worker.transcript, cfg.repeat_ngram)
        banned += self._heading_ids
        others = [label for w, labels in self._name_labels.items() if w != worker.index for label in labels]
        banned += _label_completions(worker.transcript[-8:], others + self._external_labels)
        if _BOLD_NAME_AT_END.search(worker.step_text[-40:]):
            banned += self._bracket_ids + self._colon_ids        # colons only with bare_labels
        if cfg.repeat_steps and self._repeats_a_step(worker):
            banned += self._newline_ids
        return banned

    def _readable(self, worker: Worker) -> list[Worker]:
        """The workers whose text this worker can read: itself, and in a shared layout everyone."""
        return [worker] if self.config.layout == "independent" else self.workers

    def _repeat_penalties(self, worker: Worker) -> dict[int, float]:
        """dry_multiplier: the DRY penalty on the worker's next token, against every text it reads
        (its own; in a shared layout the others' too), the same rule for every method and W."""
        cfg = self.config
        return repeat_penalties(worker.transcript_array(),
                                [source.transcript_array() for source in self._readable(worker)],
                                cfg.dry_multiplier, cfg.dry_base, cfg.dry_allowed)

    def _repeats_a_step(self, worker: Worker) -> bool:
        """repeat_steps: is the step in progress, so far, word for word a finished step the worker
        can read (its own, or in a shared layout anyone's)? Then it may not end here."""
        current = _normal_step(self.decode(worker.step_sampled))
        if not current:
            return False
        return any(current in self._finished_steps(source) for source in self._readable(worker))

    def _finished_steps(self, worker: Worker) -> set[str]:
        """The normalised texts of the worker's finished steps (grown as it finishes more)."""
        done = self._step_texts.setdefault(worker.index, [0, set()])
        for ids in worker.finished_sampled[done[0]:]:
            done[1].add(_normal_step(self.decode(ids)))
        done[0] = len(worker.finished_sampled)
        return done[1]

    def _waiting(self, worker: Worker) -> bool:
        """wait_for_plan: does this worker still wait for Alice's proposal (her first step, in the
        cache) before it writes its opener? Never longer than wait_for_plan passes."""
        cfg = self.config
        if not cfg.wait_for_plan or worker.index == 0 or worker.external or self.phase != WORK \
                or cfg.layout == "independent" or self.num_passes >= cfg.wait_for_plan:
            return False
        alice = self.workers[0]
        proposed = alice.first_step_end is not None and alice.num_written >= alice.first_step_end
        return not proposed and alice.status == GENERATING

    def _event(self, phase, writers, logits, attention, tokens, flushed, seconds) -> PassEvent:
        """Scatter per-writer rows to per-worker rows (NaN / zero for workers that did not run)."""
        W = len(self.workers)
        index = [w.index for w in writers]
        event_logits = attention_by_layer = mean_attention = None
        if self.config.collect_logits and logits is not None:
            event_logits = torch.full((W, logits.shape[-1]), float("nan"))
            event_logits[index] = logits.cpu()
        if attention is not None:
            attention_by_layer = torch.zeros(self.num_layers, W, attention.shape[-1])
            attention_by_layer[:, index] = attention
            mean_attention = attention_by_layer.mean(0)
        return PassEvent(
            pass_number=self.num_passes if phase == WORK else self.num_passes + self._answer_passes(),
            phase=phase, tokens=tokens, writers=index, pieces=[w.take_pieces() for w in self.workers],
            flushed=flushed, blocks=self._cache.records(), logits=event_logits, attention=mean_attention,
            attention_by_layer=attention_by_layer, done=self.phase == FINISHED, seconds=seconds,
            cache_tokens=self._cache.num_tokens(), cache_bytes=self._cache.nbytes())

    def _answer_passes(self) -> int:
        return max((len(self.workers[w].transcript) - start for w, start in self.answer_from.items()), default=0)

    def _count_work_pass(self) -> None:
        self.num_passes += 1
        interval = self.config.check_interval
        if interval and self.num_passes % interval == 0:
            for worker in self.workers:
                worker.check_due = worker.status == GENERATING and not worker.external

    def _finish(self) -> None:
        self.phase = FINISHED
        for worker in self.workers:
            worker.status = STOPPED
