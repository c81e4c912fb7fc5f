"""Choosing the next token of every generating worker at once: greedy, temperature and top-p.

Each worker draws from its own random stream (`worker_generators`), so a worker's samples do
not depend on how many other workers sampled in the same pass, and two workers that happen to
see identical views still write different text at temperature > 0. Sampling is batched on the
logits' device (the Gumbel-max trick: argmax(logits / T + Gumbel noise) is a draw from
softmax(logits / T)); only the chosen ids ever go to the host."""

import torch

_STREAM_STRIDE = 1_000_003   # a prime: streams (seed, w) never collide for w < 8 and distinct seeds


def worker_generators(seed: int, num_workers: int, device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One seeded generator per worker, on `device` (CUDA sampling needs CUDA generators)."""
    device = torch.device(device)
    return [torch.Generator(device=device).manual_seed((seed * _STREAM_STRIDE + w) % (1 << 63))
            for w in range(num_workers)]


def ngram_table(ids: list[int], n: int) -> dict[tuple, set[int]]:
    """(n-1)-gram -> the tokens that follow it somewhere in ids: what continuing a copy means."""
    table: dict[tuple, set[int]] = {}
    for i in range(len(ids) - n + 1):
        table.setdefault(tuple(ids[i:i + n - 1]), set()).add(ids[i + n - 1])
    return table


def extend_table(table: dict[tuple, set[int]], ids: list[int], n: int) -> None:
    """Add the n-gram that ends at ids' last token (O(n) per new token)."""
    if len(ids) >= n:
        table.setdefault(tuple(ids[-n:-1]), set()).add(ids[-1])


def copy_continuations(table: dict[tuple, set[int]], ids: list[int], n: int) -> set[int]:
    """Tokens that would make ids end in an n-gram already in the table."""
    if n < 2 or len(ids) < n - 1:
        return set()
    return table.get(tuple(ids[len(ids) - n + 1:]), set())


def ban_tokens(logits: torch.Tensor, banned: list[list[int]]) -> torch.Tensor:
    """logits: [R, V]; banned[r]: ids row r may not take -> logits with those set to -inf."""
    rows = [r for r, ids in enumerate(banned) for _ in ids]
    if not rows:
        return logits
    cols = [i for ids in banned for i in ids]
    logits = logits.clone()
    logits[torch.tensor(rows), torch.tensor(cols)] = float("-inf")
    return logits


def nucleus_mask(logits: torch.Tensor, top_p: float, candidates: int = 256) -> torch.Tensor:
    """logits: [R, V] -> bool [R, V], True for tokens outside each row's top-p nucleus (the
    smallest set of most likely tokens whose probability reaches top_p).

    Fast path: the nucleus is found among each row's `candidates` most likely tokens (a top-k,
    not a sort of the whole vocabulary) whenever they hold at least top_p of the mass in every
    row, which is the usual case; otherwise the whole vocabulary is sorted (`nucleus_mask_sorted`,
    the plain definition, which the tests compare this with)."""
    probs = torch.softmax(logits, dim=-1)
    k = min(candidates, probs.shape[-1])
    top_probs, top_ids = torch.topk(probs, k, dim=-1)                    # sorted, descending
    if k == probs.shape[-1] or bool((top_probs.sum(-1) < top_p).any()):
        return _outside_sorted(probs, top_p)
    before = torch.cumsum(top_probs, dim=-1) - top_probs                 # mass strictly before
    inside = torch.zeros_like(probs, dtype=torch.bool).scatter_(-1, top_ids, before < top_p)
    return ~inside


def nucleus_mask_sorted(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """The nucleus by a full sort of each row (the reference for `nucleus_mask`)."""
    return _outside_sorted(torch.softmax(logits, dim=-1), top_p)


def _outside_sorted(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs          # mass strictly before
    outside_sorted = before >= top_p
    return torch.zeros_like(outside_sorted).scatter_(-1, order, outside_sorted)


def sample(logits: torch.Tensor, temperature: float, top_p: float,
           generators: list[torch.Generator]) -> torch.Tensor:
    """logits: [R, V]; generators: one per row (its worker's stream) -> token ids [R] (long, on
    the logits' device). temperature 0 = greedy, and then no stream is consumed."""
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    scaled = logits.float() / temperature                               # [R, V]
    if top_p < 1.0:
        scaled = scaled.masked_fill(nucleus_mask(scaled, top_p), float("-inf"))
    R, V = scaled.shape
    uniform = torch.stack([torch.rand(V, generator=g, device=scaled.device) for g in generators[:R]])
    gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-20)))           # [R, V]
    return (scaled + gumbel).argmax(dim=-1)
