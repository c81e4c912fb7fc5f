"""Cache layouts: for each worker, the ordered segments it attends to.

A layout is a pure function of (worker, number of workers); where a segment sits in a view
(its position offset) follows from the lengths of the segments before it.

* contiguous  - prompt, every other worker's whole output, then the worker's own output.
                Token-wise sync; nothing is ever flushed.
* interleaved - prompt, shared history of finished steps, the worker's own unfinished step.
                Step-wise sync: others' unfinished steps are not visible.
* combined    - prompt, history, a header and the other workers' unfinished steps, a header
                and the worker's own unfinished step. Token-wise sync plus a shared history.
* independent - not a Hogwild! layout but its baseline: prompt, then the worker's own output;
                W ordinary parallel decodes that share only the prompt.
"""

PROMPT = "prompt"
HISTORY = "history"
HEADER_OTHERS = "header_others"
HEADER_OWN = "header_own"


def worker_segment(w: int) -> str:
    return f"worker{w}"


def segment_names(layout: str, num_workers: int) -> list[str]:
    """Every segment a run of this layout stores, in storage order."""
    shared = {"contiguous": [PROMPT], "independent": [PROMPT],
              "interleaved": [PROMPT, HISTORY],
              "combined": [PROMPT, HISTORY, HEADER_OTHERS, HEADER_OWN]}[layout]
    return shared + [worker_segment(w) for w in range(num_workers)]


def has_history(layout: str) -> bool:
    return layout in ("interleaved", "combined")


def view_segments(layout: str, w: int, num_workers: int) -> list[str]:
    """Segments worker w attends to, in view order; its own segment is always last."""
    own = worker_segment(w)
    others = [worker_segment(j) for j in range(num_workers) if j != w]
    if layout == "contiguous":
        return [PROMPT, *others, own]
    if layout == "independent":
        return [PROMPT, own]
    if layout == "interleaved":
        return [PROMPT, HISTORY, own]
    if layout == "combined":
        return [PROMPT, HISTORY, HEADER_OTHERS, *others, HEADER_OWN, own]
    raise ValueError(f"unknown layout {layout!r}")
