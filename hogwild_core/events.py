"""What one pass reports: plain data a consumer can use without asking the engine anything."""

from dataclasses import dataclass

import torch

from .blocks import BlockRecord
from .workers import Piece

__all__ = ["PassEvent", "Piece", "BlockRecord"]


@dataclass
class PassEvent:
    pass_number: int                    # pass number (work passes count up; answer passes go on from there)
    phase: str                          # "work" or "answer": the phase this pass ran in
    tokens: list[int | None]            # sampled (or forced) token per worker; None if it did not sample
    writers: list[int]                  # workers whose tokens went through the model in this pass
    pieces: list[list[Piece]]           # per worker, its new tokens and text since the last event, in order
    flushed: list[int]                  # blocks (finished reasoning steps) moved into the history before the pass
    blocks: tuple[BlockRecord, ...]     # every block after the pass
    logits: torch.Tensor | None         # [W, V] float32, NaN rows for non-writers; only with collect_logits
    attention: torch.Tensor | None      # [W, num_blocks] mass per block (mean over layers, heads)
    attention_by_layer: torch.Tensor | None  # [L, W, num_blocks]
    done: bool
    seconds: float                      # wall time of the forward pass and sampling
    cache_tokens: int
    cache_bytes: int

    def text(self, w: int) -> str:
        """Worker w's new text in this event."""
        return "".join(piece.text for piece in self.pieces[w])
