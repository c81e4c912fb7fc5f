"""Choosing the next token of every generating worker at once: greedy, temperature and top-p.

Each worker draws from its own random stream (`worker_generators`), so a worker's samples do
not depend on how many other workers sampled in the same pass, and two workers that happen to
see identical views still write different text at temperature > 0. Sampling is batched on the
logits' device (the Gumbel-max trick: argmax(logits / T + Gumbel noise) is a draw from
softmax(logits / T)); only the chosen ids ever go to the host."""

import numpy as np
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


def repeat_penalties(own: list[int] | np.ndarray, sources: list[list[int] | np.ndarray], multiplier: float, base: float,
                     allowed: int, longest: int = 48) -> dict[int, float]:
    """The DRY penalty ("don't repeat yourself", p-e-w's sampler, as in llama.cpp) on the next token
    of a worker whose text so far is `own`, reading `sources` (its own text among them): wherever a
    source holds the last L >= allowed tokens of `own` followed by token t, writing t would repeat
    L + 1 tokens, and t's logit is lowered by multiplier * base ** (L - allowed) (the largest such
    penalty). Unlike the n-gram ban it is soft and grows with the repeat, so a near-copy that
    changes one word pays again a few tokens later. L counts at most `longest` tokens.
    -> {token id: penalty}"""
    if len(own) == 0 or multiplier <= 0:
        return {}
    tail = np.asarray(own[-longest:], dtype=np.int64)                 # [K]
    penalties: dict[int, float] = {}
    for source in sources:
        s = np.asarray(source, dtype=np.int64)                         # [N]
        if len(s) < 2:
            continue
        ends = np.flatnonzero(s[:-1] == tail[-1])                      # [M] places a next token follows
        lengths = np.zeros(len(ends), dtype=np.int64)                  # [M] matched tokens so far
        alive = np.ones(len(ends), dtype=bool)
        for k in range(len(tail)):
            at = ends - k
            alive &= at >= 0
            alive[alive] = s[at[alive]] == tail[-1 - k]
            lengths += alive
            if not alive.any():
                break
        for end, length in zip(ends[lengths >= allowed].tolist(), lengths[lengths >= allowed].tolist()):
            token, penalty = int(s[end + 1]), multiplier * base ** (length - allowed)
            if penalty > penalties.get(token, 0.0):
                penalties[token] = penalty
    return penalties


def penalize(logits: torch.Tensor, penalties: list[dict[int, float]]) -> torch.Tensor:
    """logits: [R, V]; penalties[r]: {id: amount} -> logits with each amount subtracted."""
    rows = [r for r, table in enumerate(penalties) for _ in table]
    if not rows:
        return logits
    cols = [i for table in penalties for i in table]
    amounts = torch.tensor([a for table in penalties for a in table.values()], dtype=logits.dtype,
                           device=logits.device)
    logits = logits.clone()
    logits[torch.tensor(rows, device=logits.device), torch.tensor(cols, device=logits.device)] -= amounts
    return logits


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
