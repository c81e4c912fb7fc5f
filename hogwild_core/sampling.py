"""Choosing the next token from logits: greedy, temperature and nucleus (top-p) sampling."""

import torch


def sample(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """logits: [V] float32 (CPU) -> token id. temperature 0 = greedy."""
    if temperature == 0.0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs   # mass strictly before each token
        sorted_probs[before >= top_p] = 0.0                           # keep the smallest nucleus
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))
