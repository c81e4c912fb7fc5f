"""A demo.records.PassRecord for tests that need only some of its fields."""

from demo.records import HistoryStep, LanePiece, PassRecord


def pass_record(num_workers: int = 1, *, pass_number: int = 1, phase: str = "work", seconds: float = 0.0,
                elapsed: float = 0.0, cache_tokens: int = 0, cache_bytes: int = 0, tokens=None, pieces=None,
                flushed=(), attention=None, shares=None) -> PassRecord:
    """A pass of `num_workers` workers: no tokens and no text unless given; pieces and flushed
    steps may be given as plain (text, inserted) and (block id, owner, text) sequences."""
    return PassRecord(
        pass_number=pass_number, phase=phase, seconds=seconds, elapsed=elapsed, cache_tokens=cache_tokens,
        cache_bytes=cache_bytes, tokens=list(tokens) if tokens is not None else [None] * num_workers,
        pieces=[[LanePiece(*p) for p in lane] for lane in pieces] if pieces is not None else [[] for _ in range(num_workers)],
        flushed=[HistoryStep(*s) for s in flushed], attention=attention, shares=shares)
