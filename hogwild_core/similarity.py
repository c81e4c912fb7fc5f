"""When one step repeats another: word or token n-gram containment.

The engine triggers the redundancy check with `near_duplicate` on token ids as soon as a step
ends (engine.py); the collaboration metrics (analysis/metrics.py) count redundant steps with it on
words."""

NGRAM = 3
DUPLICATE_THRESHOLD = 0.6
MIN_WORDS = 3            # a step needs this many words to count as work (and as a duplicate)


def ngrams(seq, n: int = NGRAM) -> set[tuple]:
    seq = list(seq)
    if len(seq) < n:
        return {tuple(seq)} if seq else set()
    return {tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)}


def containment(a, b, n: int = NGRAM) -> float:
    """Share of a's n-grams that also occur in b (a, b: sequences of words or token ids)."""
    grams_a = ngrams(a, n)
    if not grams_a:
        return 0.0
    return len(grams_a & ngrams(b, n)) / len(grams_a)


def near_duplicate(a, b, threshold: float = DUPLICATE_THRESHOLD, n: int = NGRAM,
                   min_length: int = MIN_WORDS) -> bool:
    """True if sequence a (words or token ids) mostly repeats b. Sequences shorter than
    min_length never count: "Yes." or "OK" is not work that can be duplicated."""
    if len(a) < min_length or len(b) < min_length:
        return False
    return containment(a, b, n) >= threshold
