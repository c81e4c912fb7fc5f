"""A naive Hogwild! oracle, written from the paper, sharing no code with `hogwild_core`.

It keeps every token's keys/values *before* RoPE, as the token's writer computed them (by
running the stock model over the writer's own view at write time and reading the keys back
from an ordinary DynamicCache). For each pass it rebuilds each writer's view from its own
reading of the layout rules and of the workers' transcripts, rotates the stored keys with the
model's own rotary embedding to the positions of that view, and runs the model's stock eager
attention over the writer's new tokens. Slow and simple: for short runs only.

Its reading of the rules (Rodionov et al. 2025, sec. 3):
* the prompt comes first in every view; in the combined layout two headers follow it, each
  written as if it came right after the prompt;
* contiguous: the prompt, every other worker's whole output (in worker order), then one's own;
  independent: the prompt, then one's own output;
* interleaved: the prompt, the history of finished reasoning steps (in the order they moved
  there), then one's own unfinished step;
* combined: the prompt, the history, header "others", the other workers' unfinished steps,
  header "own", then one's own unfinished step;
* in a pass every writer sees the others as they stood before the pass, and its own new tokens
  causally; a writer writes at most `prefill_chunk` of its unwritten tokens per pass;
* a reasoning step ends where the engine labels the next one: a span the engine inserts right
  after a sampled token, in the work phase, of a history layout. The finished step moves into
  the history at the start of the first pass after its last token was written (workers in
  order, each worker's steps in the order they ended);
* an external worker (its text comes from outside, e.g. a person) samples nothing: all its new
  tokens of a pass were given to it before the pass. Its reasoning step ends at a paragraph
  break that follows the end of a sentence (its label only comes with its next text), and then
  moves into the history like anyone's.

What it reads from the engine is only what a user sees: the prompt token ids, the config, and
each event's tokens (`pieces`: which tokens were sampled, which inserted, in order); for an
external worker's step ends, the tokenizer's decoding of its text.
"""

import copy
import re

import torch
from transformers import DynamicCache
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

HISTORY_LAYOUTS = ("interleaved", "combined")
# The oracle's own reading of a paragraph that ends a reasoning step (its test texts hold no code
# or display math): a sentence end, maybe closing marks, then a blank line.
PARAGRAPH_END = re.compile(r"[.!?][\"')\]*_]*\s*\n\n[ \t]*$")


class Token:
    __slots__ = ("id", "keys", "values")

    def __init__(self, token_id: int, keys: torch.Tensor, values: torch.Tensor):
        self.id, self.keys, self.values = token_id, keys, values     # [L, Hkv, D], keys un-rotated


class NaiveHogwild:
    def __init__(self, model, layout: str, num_workers: int, prompt_ids: list[int],
                 header_ids: tuple[list[int], list[int]], prefill_chunk: int,
                 external: tuple[int, ...] = (), tokenizer=None):
        """model None: the layout oracle, token ids only (no keys/values, no logits).
        external: indices of the external workers; their step ends are read with `tokenizer`."""
        self.model = None
        if model is not None:
            self.model = copy.deepcopy(model)
            self.model.set_attn_implementation("eager")
            self.rotary = self.model.model.rotary_emb
        self.layout, self.W, self.chunk = layout, num_workers, prefill_chunk
        self.prompt = self._write([], prompt_ids)[1]
        self.header_others = self.header_own = []
        if layout == "combined":
            self.header_others = self._write(self.prompt, header_ids[0])[1]
            self.header_own = self._write(self.prompt, header_ids[1])[1]
        self.history: list[Token] = []
        self.current: list[list[Token]] = [[] for _ in range(num_workers)]   # written, not yet in history
        self.transcripts: list[list[int]] = [[] for _ in range(num_workers)]
        self.written = [0] * num_workers          # transcript tokens written into the cache
        self.origin = [0] * num_workers           # transcript index of current[w][0]
        self.step_ends: list[list[int]] = [[] for _ in range(num_workers)]
        self.seen: dict[int, list[int]] = {}
        self.external, self.tokenizer = set(external), tokenizer
        self.step_start = [0] * num_workers       # external: transcript index where its open step began

    # ---- RoPE with the model's own rotary embedding ----------------------------------------
    def _rotate(self, keys: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """keys [L, Hkv, n, D] (any positions) rotated by `positions` [n]."""
        cos, sin = self.rotary(keys, positions[None])                  # [1, n, D] (scaled)
        rotated, _ = apply_rotary_pos_emb(keys, keys, cos, sin, unsqueeze_dim=1)
        return rotated

    def _unrotate(self, keys: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Keys a stock forward produced at `positions`, back to before RoPE."""
        scale = float(getattr(self.rotary, "attention_scaling", 1.0))
        return self._rotate(keys, -positions) / (scale * scale)

    # ---- one writer's forward over its view ------------------------------------------------
    def _write(self, view: list[Token], ids: list[int]) -> tuple[torch.Tensor, list[Token]]:
        """Run `ids` after `view` (positions 0..). Returns the last logits [V] and the new tokens."""
        if self.model is None:
            return None, [Token(i, None, None) for i in ids]
        P, n = len(view), len(ids)
        cache = DynamicCache()
        if P:
            keys = torch.stack([t.keys for t in view], dim=2)           # [L, Hkv, P, D]
            values = torch.stack([t.values for t in view], dim=2)
            keys = self._rotate(keys, torch.arange(P))
            cache = DynamicCache(ddp_cache_data=[(keys[l][None], values[l][None]) for l in range(len(keys))])
        with torch.no_grad():
            out = self.model(input_ids=torch.tensor([ids]), position_ids=torch.arange(P, P + n)[None],
                             cache=cache, use_cache=True, logits_to_keep=1)
        keys = torch.stack([layer.keys[0, :, P:] for layer in cache.layers])        # [L, Hkv, n, D]
        values = torch.stack([layer.values[0, :, P:] for layer in cache.layers])
        keys = self._unrotate(keys, torch.arange(P, P + n))
        new = [Token(i, keys[:, :, j].clone(), values[:, :, j].clone()) for j, i in enumerate(ids)]
        return out.logits[0, -1].float(), new

    def view(self, w: int) -> list[Token]:
        others = [t for j in range(self.W) if j != w for t in self.current[j]]
        own = self.current[w]
        if self.layout == "contiguous":
            return self.prompt + others + own
        if self.layout == "independent":
            return self.prompt + own
        if self.layout == "interleaved":
            return self.prompt + self.history + own
        return self.prompt + self.history + self.header_others + others + self.header_own + own

    def view_ids(self, w: int) -> list[int]:
        """Token ids of worker w's view in the last pass it wrote in, its new tokens included."""
        return self.seen[w]

    # ---- one pass ---------------------------------------------------------------------------
    def follow(self, event) -> dict[int, torch.Tensor | None]:
        """Replay one engine pass from its event. Returns {writer: last logits [V]} (None
        values for the layout oracle)."""
        if self.layout in HISTORY_LAYOUTS:
            self._move_finished_steps()
        before, after = zip(*((event.pieces[w], []) if w in self.external else self._split(event.pieces[w])
                              for w in range(self.W)))
        for w in range(self.W):
            for piece in before[w]:
                for token in piece.token_ids:
                    self.transcripts[w].append(token)
                    if w in self.external:
                        self._external_step_end(w)
        writers = [w for w in range(self.W) if self.written[w] < len(self.transcripts[w])]
        results, new = {}, {}
        for w in writers:
            ids = self.transcripts[w][self.written[w]:self.written[w] + self.chunk]
            self.seen[w] = [t.id for t in self.view(w)] + ids
            results[w], new[w] = self._write(self.view(w), ids)
        for w in writers:                 # the others' new tokens become visible only now
            self.current[w] += new[w]
            self.written[w] += len(new[w])
        for w in range(self.W):
            for piece in after[w]:
                if piece.inserted and event.phase == "work" and self.layout in HISTORY_LAYOUTS:
                    self.step_ends[w].append(len(self.transcripts[w]))
                self.transcripts[w] += list(piece.token_ids)
        return results

    def _external_step_end(self, w: int) -> None:
        """After each of an external worker's tokens: did it just end a paragraph (a step)?"""
        text = self.tokenizer.decode(self.transcripts[w][self.step_start[w]:])
        if PARAGRAPH_END.search(text):
            self.step_start[w] = len(self.transcripts[w])
            if self.layout in HISTORY_LAYOUTS:
                self.step_ends[w].append(len(self.transcripts[w]))

    @staticmethod
    def _split(pieces):
        """Pieces written before the pass's forward (inserted before it) and after (the sampled
        token and what was inserted because of it)."""
        for i, piece in enumerate(pieces):
            if not piece.inserted:
                return pieces[:i], pieces[i:]
        return pieces, []

    def _move_finished_steps(self) -> None:
        for w in range(self.W):
            while self.step_ends[w] and self.step_ends[w][0] <= self.written[w]:
                end = self.step_ends[w].pop(0)
                split = end - self.origin[w]
                self.history += self.current[w][:split]
                self.current[w] = self.current[w][split:]
                self.origin[w] = end
