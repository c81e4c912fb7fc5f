"""HogwildEngine: W workers of one model decode in lock-step over one shared KV cache.

Contract: the engine takes a loaded transformers model and tokenizer and a frozen
EngineConfig; it knows nothing of any UI. `start(problem)` writes the prompt; each `step()`
runs one batched forward for all workers and returns a StepEvent; `generate(problem)` streams
them. A token's keys/values are computed once, by the pass that writes it, then shared.

One step, as in the paper:
  1. steps that ended last time move into the shared history (history layouts only);
  2. if the budget or the context is spent, the final-answer prompt is inserted;
  3. each writing worker's view is built from the layout;
  4. all workers' pending tokens run as one batched forward through the real model;
  5. one token is sampled (or forced) per generating worker; step ends and prompts are handled;
  6. attention statistics are recorded and the event is returned.

Within one pass a worker sees the others' tokens as they stood before the pass (they are being
written at the same moment), and its own new tokens causally.
"""

import copy
import time
from dataclasses import dataclass
from typing import Iterator

import torch
from transformers import DynamicCache

from . import layouts, metrics, prompts
from .attention import ATTN_IMPLEMENTATION, FastPlan, ReferencePlan, Row, register, view_offsets
from .cache import Block, SharedCache
from .config import EngineConfig
from .errors import ConfigError, EngineStateError, PromptError
from .rope import check_model_supported, inv_freq_of, shift_positions
from .sampling import (ban_tokens, copy_continuations, extend_table, ngram_table, sample,
                       worker_generators)
from .workers import DONE, GENERATING, STOPPING, Worker

WORK, ANSWER, FINISHED = "work", "answer", "done"
ANSWERER = 0  # Alice writes the final answer
PLACEHOLDER = "\u2063problem\u2063"  # stands for the problem while the chat template is rendered


@dataclass
class StepEvent:
    step: int
    phase: str                          # "work" or "answer": the phase this step ran in
    tokens: list[int | None]            # sampled (or forced) token per worker; None if it did not sample
    logits: torch.Tensor                # [W, V] float32; NaN rows for workers that did not run
    attention: torch.Tensor | None      # [W, num_blocks] mass per block (mean over layers, heads)
    attention_by_layer: torch.Tensor | None  # [L, W, num_blocks]
    appended: list[list[int]]           # tokens added to each worker's transcript (sampled + inserted)
    flushed: list[int]                  # blocks that moved into the history before this pass
    done: bool
    seconds: float                      # wall time of the forward pass and sampling
    cache_tokens: int
    cache_bytes: int


class HogwildEngine:
    def __init__(self, model, tokenizer, config: EngineConfig | None = None):
        self.config = config if config is not None else EngineConfig()
        if not isinstance(self.config, EngineConfig):
            raise ConfigError("config must be an EngineConfig")
        check_model_supported(model)
        register()
        if model.config._attn_implementation != ATTN_IMPLEMENTATION:
            model.set_attn_implementation(ATTN_IMPLEMENTATION)
        model.eval()
        self.model, self.tokenizer = model, tokenizer
        self.num_layers = model.config.num_hidden_layers
        self.inv_freq = inv_freq_of(model)
        self.device = model.get_input_embeddings().weight.device
        model_limit = getattr(model.config, "max_position_embeddings", None) or 1 << 20
        self.max_context = min(self.config.max_context or model_limit, model_limit)
        self.eos_ids = _eos_ids(model, tokenizer)
        self.prompt_note = None if getattr(tokenizer, "chat_template", None) else (
            "the tokenizer has no chat template; a plain 'System:/User:/Assistant:' template is used")
        self._final_tokens = self._encode(prompts.FINAL_ANSWER_TEXT)
        self._name_labels = _name_labels(tokenizer)
        self._heading_ids = _heading_tokens(tokenizer)
        self.cache: SharedCache | None = None

    # ---- public API -------------------------------------------------------------------
    def start(self, problem: str) -> None:
        """Reset, write the shared prompt (and headers) into a fresh cache."""
        if not isinstance(problem, str) or not problem.strip():
            raise PromptError("the problem text is empty")
        cfg = self.config
        W = cfg.num_workers
        self.cache = SharedCache(self.num_layers)
        for name in layouts.segment_names(cfg.layout, W):
            self.cache.add_segment(name)
        self.prompt_ids = self._prompt_ids(problem)
        reserve = self._reserve()
        if len(self.prompt_ids) + reserve + 64 > self.max_context:
            raise PromptError(
                f"the problem is too long: the prompt takes {len(self.prompt_ids)} tokens and a run needs "
                f"about {reserve + 64} more, but the context holds {self.max_context}")
        self.phase, self.num_steps, self.answer_from = WORK, 0, {}
        self.generators = worker_generators(cfg.seed, W, self.device)
        self._stream_setup()
        self.workers = []
        for w in range(W):
            seg = layouts.worker_segment(w)
            worker = Worker(w, prompts.WORKER_NAMES[w], seg, self.cache.new_block("current", w, seg))
            worker.insert(self._encode(prompts.worker_opener(w, W, cfg.layout, problem)))
            self.workers.append(worker)
        self._views = {}
        for w in range(W):
            self._remember_view(w, self._spans(self._worker_row(w)))

    def step(self, force: list[int | None] | None = None) -> StepEvent:
        """One lock-step for all workers. `force[w]`, if given, is taken instead of sampling;
        entries for workers that do not sample in this step are ignored."""
        if self.cache is None:
            raise EngineStateError("call start(problem) before step()")
        if self.phase == FINISHED:
            raise EngineStateError("the run is finished; call start(problem) for a new one")
        force = self._check_force(force)
        flushed = self._flush_finished_steps()                        # 1. finished steps -> history
        self._maybe_enter_answer_phase()                              # 2. budget/context spent?
        phase = self.phase
        writers = [w for w in self.workers if w.pending and w.status != DONE]
        rows = [self._worker_row(w.index) for w in writers]           # 3. views from the layout
        spans = [self._spans(row) for row in rows]
        began = time.perf_counter()
        logits, by_layer = self._forward(rows, spans)                 # 4. one batched forward
        self._after_write(rows)
        tokens, appended = self._take_tokens(writers, logits, force)  # 5. sample, step ends, prompts
        for worker, row_spans in zip(writers, spans):
            self._remember_view(worker.index, row_spans)
        if phase == WORK:
            self._count_work_step()
        return self._event(phase, writers, logits, by_layer, tokens, appended, flushed, began)  # 6.

    def generate(self, problem: str) -> Iterator[StepEvent]:
        self.start(problem)
        while not self.done:
            yield self.step()

    def finish(self, answerers: list[int] | None = None) -> None:
        """End the work phase now: the next steps write the forced final answer, greedily, for
        each worker in `answerers` (default: Alice alone)."""
        if self.cache is None or self.phase != WORK:
            raise EngineStateError("finish() needs a run in its work phase")
        answerers = [ANSWERER] if answerers is None else sorted(set(answerers))
        if not answerers or any(not isinstance(w, int) or not 0 <= w < len(self.workers) for w in answerers):
            raise ConfigError(f"answerers must be worker indices in [0, {len(self.workers)})")
        self._enter_answer_phase(answerers)

    def fork(self) -> "HogwildEngine":
        """An independent copy of the run so far: same model and tokenizer, its own cache,
        workers and random streams. Stepping either one never changes the other."""
        shared = (self.model, self.tokenizer, self.inv_freq, self.config)
        return copy.deepcopy(self, {id(x): x for x in shared})

    @property
    def done(self) -> bool:
        return self.cache is not None and self.phase == FINISHED

    def view_blocks(self, w: int) -> list[tuple[int, int, int]]:
        """(block_id, start, length) covering worker w's view as of the last step it ran in."""
        return list(self._views[w][0])

    def view_block_tokens(self, w: int) -> list[list[int]]:
        """The token ids of each block of view_blocks(w), in the same order."""
        spans, token_lists = self._views[w]
        return [tokens[:length] for (_, _, length), tokens in zip(spans, token_lists)]

    def view_token_ids(self, w: int) -> list[int]:
        """Worker w's view, in view order, as of the last step it ran in."""
        return [t for tokens in self.view_block_tokens(w) for t in tokens]

    def _remember_view(self, w: int, spans) -> None:
        # Keep the blocks' token lists themselves: a flush gives a block a new, shorter list, so a
        # worker that has stopped still reports exactly what it last saw.
        self._views[w] = (spans, [self.cache.blocks[b].tokens for b, _, _ in spans])

    @property
    def blocks(self) -> list[Block]:
        return self.cache.blocks

    def describe_blocks(self) -> list[dict]:
        """Plain records of every block (for charts and traces): id, kind, owner, length, text."""
        return [{"id": b.id, "kind": b.kind, "owner": b.owner, "segment": b.segment,
                 "length": b.length, "text": self.tokenizer.decode(b.tokens)} for b in self.cache.blocks]

    def worker_text(self, w: int) -> str:
        return self.tokenizer.decode(self.workers[w].transcript)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    @property
    def answer(self) -> str | None:
        """The forced final answer if one was written, else the last \\boxed{} any worker wrote."""
        forced = self.answers
        for w in sorted(self.answer_from):
            if forced[w] is not None:
                return forced[w]
        found = [prompts.last_boxed(self.worker_text(w.index)) for w in self.workers]
        found = [a for a in found if a]
        return found[-1] if found else None

    @property
    def answers(self) -> list[str | None]:
        """Per worker, the forced final answer it wrote (None if it was not asked for one)."""
        result: list[str | None] = [None] * len(self.workers)
        for w, start in self.answer_from.items():
            text = self.tokenizer.decode(self.workers[w].transcript[start:])
            end = prompts.boxed_close(text)
            result[w] = (text if end is None else text[:end]).strip()
        return result

    # ---- setup ------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _prompt_ids(self, problem: str) -> list[int]:
        """The chat-formatted prompt. The problem is user text: markers such as "<|im_end|>" in
        it are tokenized as plain text, never as the model's special tokens."""
        messages = prompts.build_messages(problem, self.config.num_workers, self.config.layout,
                                           user_text=PLACEHOLDER)
        if self.prompt_note is None:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = prompts.render_plain(messages)
        before, _, after = text.partition(PLACEHOLDER)
        problem_ids = self.tokenizer.encode(problem.strip(), add_special_tokens=False, split_special_tokens=True)
        self._problem_grams = ngram_table(problem_ids, self.config.copy_ngram) if self.config.copy_ngram else {}
        return self._encode(before) + problem_ids + self._encode(after)

    def _reserve(self) -> int:
        """Room kept free in every view for the final answer and one inserted prompt."""
        return len(self._final_tokens) + self.config.max_answer_tokens + 32

    def _stream_setup(self) -> None:
        """Write the prompt (in chunks) and the shared headers, each in its writer's own view."""
        prompt = self.cache.segments[layouts.PROMPT]
        self.cache.new_block("prompt", None, layouts.PROMPT)
        chunk = self.config.prefill_chunk
        for i in range(0, len(self.prompt_ids), chunk):
            row = Row(prompt, self.prompt_ids[i:i + chunk], [(prompt, prompt.length)])
            self._forward([row], [self._spans(row)], setup=True)
            self._after_write([row])
        if self.config.layout == "combined":
            rows = []
            for name, text in ((layouts.HEADER_OTHERS, prompts.HEADER_OTHERS_TEXT),
                               (layouts.HEADER_OWN, prompts.HEADER_OWN_TEXT)):
                seg = self.cache.segments[name]
                self.cache.new_block("header", None, name)
                rows.append(Row(seg, self._encode(text), [(prompt, prompt.length), (seg, 0)]))
            self._forward(rows, [self._spans(r) for r in rows], setup=True)
            self._after_write(rows)

    # ---- the step, piece by piece -----------------------------------------------------------
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

    def _flush_finished_steps(self) -> list[int]:
        """Move every step whose last token is now in the cache into the shared history."""
        flushed = []
        history = self.cache.segments.get(layouts.HISTORY)
        for worker in self.workers:
            split = worker.flush_at
            if split is None or worker.block.length < split:
                continue
            segment = self.cache.segments[worker.segment]
            block, rest = worker.block, worker.block.tokens[split:]
            segment.move_span(0, split, history, history.length, self.inv_freq)
            block.tokens, block.kind, block.segment, block.start = block.tokens[:split], "step", history.name, history.length
            history.blocks.append(block)
            history.length += split
            segment.move_span(split, len(rest), segment, 0, self.inv_freq)
            segment.length, segment.blocks = 0, []
            worker.block = self.cache.new_block("current", worker.index, worker.segment)
            worker.block.tokens = list(rest)
            segment.length = len(rest)
            worker.flush_at = None
            flushed.append(block.id)
        return flushed

    def _view_length(self, w: int) -> int:
        names = layouts.view_segments(self.config.layout, w, len(self.workers))
        return sum(self.cache.segments[n].length for n in names) + len(self.workers[w].pending)

    def _maybe_enter_answer_phase(self) -> None:
        if self.phase == ANSWER:
            if any(self._view_length(w) >= self.max_context for w in self.answer_from):
                self._finish()
            return
        generating = [w for w in self.workers if w.status == GENERATING]
        out_of_room = any(self._view_length(w.index) + self._reserve() > self.max_context for w in generating)
        if generating and self.num_steps < self.config.max_new_tokens and not out_of_room:
            return
        self._enter_answer_phase([ANSWERER])

    def _enter_answer_phase(self, answerers: list[int]) -> None:
        self.phase = ANSWER
        for worker in self.workers:
            worker.status = STOPPING if worker.pending else DONE
        for w in answerers:
            worker = self.workers[w]
            worker.status = GENERATING
            worker.insert(self._final_tokens)
            self.answer_from[w] = len(worker.transcript)

    def _worker_row(self, w: int) -> Row:
        segs = self.cache.segments
        names = layouts.view_segments(self.config.layout, w, len(self.workers))
        worker = self.workers[w]
        own = segs[worker.segment]
        view = [(segs[n], segs[n].length) for n in names]
        return Row(own, worker.pending[:self.config.prefill_chunk], view, worker=w)

    def _spans(self, row: Row) -> list[tuple[int, int, int]]:
        """(block_id, view start, length) of every block the row's last token sees."""
        spans, position = [], 0
        for segment, visible in row.view:
            n = visible + (len(row.tokens) if segment is row.segment else 0)
            starts = [b.start for b in segment.blocks] + [n]
            for block, end in zip(segment.blocks, starts[1:]):
                length = min(end, n) - block.start
                if length > 0:
                    spans.append((block.id, position + block.start, length))
            position += n
        return spans

    def _after_write(self, rows: list[Row]) -> None:
        for row in rows:
            row.segment.length += len(row.tokens)
            row.segment.blocks[-1].tokens.extend(row.tokens)
            if row.worker is not None:
                worker = self.workers[row.worker]
                worker.pending = worker.pending[len(row.tokens):]

    def _advance(self, worker: Worker, token: int) -> list[int]:
        """Take the worker's new token; handle its end, a step end, prompts. Returns what was appended."""
        before = len(worker.transcript)
        if self.phase == ANSWER:
            if token not in self.eos_ids:
                worker.append_sampled(token)
            start = self.answer_from[worker.index]
            text = self.tokenizer.decode(worker.transcript[start:])
            if (token in self.eos_ids or prompts.boxed_close(text) is not None
                    or len(worker.transcript) - start >= self.config.max_answer_tokens):
                worker.status = DONE
                if all(self.workers[w].status == DONE for w in self.answer_from):
                    self._finish()
            return worker.transcript[before:]
        if token in self.eos_ids:
            worker.status = DONE
            return []
        worker.append_sampled(token)
        if self.config.repeat_ngram:
            extend_table(worker.own_grams, worker.transcript, self.config.repeat_ngram)
        if prompts.is_step_end(self.tokenizer.decode(worker.paragraph)):
            insert = ""
            if layouts.has_history(self.config.layout):
                worker.flush_at = worker.block.length + len(worker.pending)
                worker.num_steps += 1
                insert = prompts.step_prefix(worker.name, worker.num_steps)
            if worker.check_due or self._repeats_another(worker):
                insert = (insert + " " + prompts.CHECK_TEXT).strip()
                worker.check_due = False
            worker.finished.append(worker.written)
            worker.paragraph, worker.written = [], []
            if insert:
                worker.insert(self._encode(insert))
        return worker.transcript[before:]

    def _repeats_another(self, worker: Worker) -> bool:
        """Does the step the worker just finished near-duplicate another worker's step (finished or
        in progress)? Then it is asked the redundancy question at once."""
        if not self.config.redundancy_check or len(self.workers) == 1 or self.config.layout == "independent":
            return False
        others = [step for other in self.workers if other is not worker
                  for step in other.finished + [other.written]]
        return any(metrics.near_duplicate(worker.written, step, min_length=8) for step in others)

    def _banned(self, worker: Worker) -> list[int]:
        """Tokens the worker may not write next (work phase): a copy of copy_ngram tokens of the
        problem (small models restate the question step after step), a repeat of repeat_ngram of
        its own tokens (a loop); with several workers, also the tokens that would complete another
        worker's bold name label ("**Bob": small models continue the history's pattern and write
        steps as someone else) and markdown heading tokens (which fake the workspace's sections)."""
        cfg = self.config
        banned = list(copy_continuations(self._problem_grams, worker.transcript, cfg.copy_ngram))
        if cfg.repeat_ngram:
            banned += copy_continuations(worker.own_grams, worker.transcript, cfg.repeat_ngram)
        if len(self.workers) == 1:
            return banned
        tail = worker.transcript[-8:]
        banned += self._heading_ids   # nor a "###" heading: those mark the workspace's sections
        for w, labels in self._name_labels.items():
            if w == worker.index:
                continue
            for label in labels:
                k = len(label) - 1
                if k <= len(tail) and tuple(tail[len(tail) - k:]) == label[:-1]:
                    banned.append(label[-1])
        return banned

    def _take_tokens(self, writers, logits, force):
        """Sample (or take the forced) next token of every worker that generates this step."""
        W = len(self.workers)
        tokens: list[int | None] = [None] * W
        appended: list[list[int]] = [[] for _ in range(W)]
        takers = [(r, worker) for r, worker in enumerate(writers)
                  if worker.status == GENERATING and not worker.pending]
        samplers = [(r, worker) for r, worker in takers if force[worker.index] is None]
        sampled = {}
        if samplers:
            rows = torch.tensor([r for r, _ in samplers])
            temperature = self.config.temperature if self.phase == WORK else 0.0   # answers: greedy
            bans = [self._banned(worker) if self.phase == WORK else [] for _, worker in samplers]
            ids = sample(ban_tokens(logits[rows], bans),
                         temperature, self.config.top_p,
                         [self.generators[worker.index] for _, worker in samplers]).tolist()
            sampled = {worker.index: t for (_, worker), t in zip(samplers, ids)}
        for r, worker in enumerate(writers):
            if worker.status == GENERATING and not worker.pending:
                token = force[worker.index]
                if token is None:
                    token = sampled[worker.index]
                tokens[worker.index] = token
                appended[worker.index] = self._advance(worker, token)
            elif worker.status == STOPPING and not worker.pending:
                worker.status = DONE
        return tokens, appended

    def _event(self, phase, writers, logits, by_layer, tokens, appended, flushed, began) -> StepEvent:
        """Scatter the per-row results to per-worker rows (NaN / zero for workers that did not run)."""
        W, V = len(self.workers), logits.shape[-1]
        event_logits = torch.full((W, V), float("nan"))
        attention = attention_by_layer = None
        if by_layer is not None:
            attention_by_layer = torch.zeros(self.num_layers, W, by_layer.shape[-1])
        for r, worker in enumerate(writers):
            event_logits[worker.index] = logits[r]
            if by_layer is not None:
                attention_by_layer[:, worker.index] = by_layer[:, r]
        if attention_by_layer is not None:
            attention = attention_by_layer.mean(0)
        return StepEvent(
            step=self.num_steps if phase == WORK else self.num_steps + self._answer_steps(),
            phase=phase, tokens=tokens, logits=event_logits, attention=attention,
            attention_by_layer=attention_by_layer, appended=appended, flushed=flushed,
            done=self.phase == FINISHED, seconds=time.perf_counter() - began,
            cache_tokens=self.cache.num_tokens(), cache_bytes=self.cache.nbytes())

    def _answer_steps(self) -> int:
        return max((len(self.workers[w].transcript) - start for w, start in self.answer_from.items()), default=0)

    def _count_work_step(self) -> None:
        self.num_steps += 1
        interval = self.config.check_interval
        if interval and self.num_steps % interval == 0:
            for worker in self.workers:
                worker.check_due = worker.status == GENERATING

    def _finish(self) -> None:
        self.phase = FINISHED
        for worker in self.workers:
            worker.status = DONE

    # ---- the forward pass -------------------------------------------------------------
    def _forward(self, rows, spans, setup: bool = False):
        """Run rows through the model, writing their keys/values into the cache.
        Returns logits [R, V] (float32, CPU) and, if collected, attention [L, R, num_blocks]."""
        collect = self.config.collect_attention and not setup
        with torch.no_grad():
            if self.config.attention == "fast":
                return self._forward_fast(rows, collect)
            return self._forward_reference(rows, spans, collect)

    def _forward_fast(self, rows, collect):
        order = [self.cache.segments[n] for n in self.cache.segments]
        plan = FastPlan(rows, order, self.inv_freq, len(self.cache.blocks), collect)
        ids = torch.tensor([[t for row in rows for t in row.tokens]], device=self.device)
        positions = torch.tensor([[row.start + i for row in rows for i in range(len(row.tokens))]],
                                 device=self.device)
        out = self.model(input_ids=ids, position_ids=positions, use_cache=False,
                         logits_to_keep=plan.last, hogwild=plan)
        logits = out.logits[0].float().cpu()
        return logits, (plan.attention_by_layer(self.num_layers) if collect else None)

    def _forward_reference(self, rows, spans, collect):
        """Per row: a DynamicCache of its view (keys rotated to view positions), stock attention."""
        all_logits, all_attention = [], []
        for row, row_spans in zip(rows, spans):
            offsets = view_offsets(row)
            own_offset = offsets[row.segment.name][0]
            past = []
            for layer in range(self.num_layers):
                keys, values = [], []
                for segment, visible in row.view:
                    if visible:
                        k, v = segment.read(layer, visible)
                        keys.append(shift_positions(k, offsets[segment.name][0], self.inv_freq))
                        values.append(v)
                past.append((torch.cat(keys, 1)[None], torch.cat(values, 1)[None]) if keys else (None, None))
            cache = DynamicCache(ddp_cache_data=past) if own_offset + row.start else DynamicCache()
            n = len(row.tokens)
            positions = torch.arange(n, device=self.device)[None] + own_offset + row.start
            plan = ReferencePlan(collect)
            ids = torch.tensor([row.tokens], device=self.device)
            out = self.model(input_ids=ids, position_ids=positions, cache=cache, use_cache=True,
                             logits_to_keep=1, hogwild=plan)
            for layer in range(self.num_layers):
                k = cache.layers[layer].keys[0, :, -n:]
                v = cache.layers[layer].values[0, :, -n:]
                row.segment.write(layer, row.start, shift_positions(k, -own_offset, self.inv_freq), v)
            all_logits.append(out.logits[0, -1].float().cpu())
            if collect:
                per_layer = torch.zeros(self.num_layers, len(self.cache.blocks))
                for layer, weights in plan.layer_attention.items():
                    for block_id, start, length in row_spans:
                        per_layer[layer, block_id] = weights[start:start + length].sum()
                all_attention.append(per_layer)
        logits = torch.stack(all_logits)
        return logits, (torch.stack(all_attention, dim=1) if collect else None)


def _eos_ids(model, tokenizer) -> set[int]:
    ids = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


def _name_labels(tokenizer) -> dict[int, set[tuple[int, ...]]]:
    """Per worker, the token sequences of its name opened in bold ("**Bob", " **Bob", ...), as
    they tokenize after the bold marker: a worker may not write another's label."""
    labels: dict[int, set[tuple[int, ...]]] = {}
    for w, name in enumerate(prompts.WORKER_NAMES):
        labels[w] = set()
        for context in ("**", " **", "\n**", "\n\n**", ":**", ".**"):
            lead = tokenizer.encode(context, add_special_tokens=False)
            ids = tokenizer.encode(context + name, add_special_tokens=False)
            if lead and ids[:len(lead)] == lead and len(ids) > len(lead):
                labels[w].add(tuple(lead[-1:] + ids[len(lead):]))
    return labels


def _heading_tokens(tokenizer) -> list[int]:
    """Ids of single tokens made of two or more '#' (markdown headings; a lone '#' stays allowed,
    it starts a Python comment)."""
    found = set()
    for text in ("##", "###", "####", " ##", " ###", " ####", "\n##", "\n###"):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) == 1 or (len(ids) == 2 and tokenizer.decode(ids[:1]).strip() == ""):
            last = ids[-1]
            if set(tokenizer.decode([last]).strip()) == {"#"} and len(tokenizer.decode([last]).strip()) >= 2:
                found.add(last)
    return sorted(found)
