"""HTML for the text panels: worker lanes, the shared history, a worker's view of the cache,
live figures, messages and the comparison table. Pure functions of records.

Everything that came from a model, a visitor or a trace file goes through `html.escape`
before it reaches the page; only the markup written here is trusted."""

from html import escape

from .palette import SHARED_COLOUR, tint, worker_colour


def lane_html(name: str, w: int, pieces: list[list], num_sampled: int = 0, note: str = "") -> str:
    """One worker's lane: its text as written, engine-inserted prompts set apart."""
    colour = worker_colour(w)
    body = "".join(f'<span class="hw-ins">{escape(text)}</span>' if inserted else escape(text)
                   for text, inserted in pieces) or '<span class="hw-muted">waiting for tokens…</span>'
    return (f'<div class="hw-lane" style="border-color:{colour};background:{tint(colour)}">'
            f'<div class="hw-lane-head"><span class="hw-dot" style="background:{colour}"></span>'
            f'<b>{escape(name)}</b><span class="hw-muted"> · {num_sampled} tokens{escape(note)}</span></div>'
            f'<div class="hw-text">{body}</div></div>')


def history_html(history: list[list], worker_names: list[str], has_history: bool) -> str:
    """Finished steps in the order they entered the shared history, each in its author's colour."""
    if not has_history:
        return ('<div class="hw-panel hw-muted">This layout has no shared history: workers see each other '
                'token by token (contiguous) or not at all (independent).</div>')
    if not history:
        return '<div class="hw-panel hw-muted">No finished steps yet. A step enters the history when its author ends a paragraph.</div>'
    items = []
    for order, (block_id, owner, text) in enumerate(history, start=1):
        colour = worker_colour(owner)
        author = worker_names[owner] if owner is not None and owner < len(worker_names) else "shared"
        items.append(f'<div class="hw-entry" style="border-color:{colour};background:{tint(colour)}">'
                     f'<div class="hw-entry-head">#{order} · {escape(author)} · block {block_id}</div>'
                     f'<div class="hw-text">{escape(text)}</div></div>')
    return f'<div class="hw-panel">{"".join(items)}</div>'


def view_html(view: list[list], blocks: list[dict], worker_names: list[str], w: int) -> str:
    """Worker w's view of the cache: its blocks in view order, with positions, lengths and text."""
    if not view:
        return '<div class="hw-panel hw-muted">Start a run (or load a trace) to see the cache as a worker sees it.</div>'
    name = worker_names[w] if w < len(worker_names) else f"worker {w}"
    total = sum(length for _, _, length, _ in view)
    rows = []
    for block_id, start, length, text in view:
        block = blocks[block_id] if block_id < len(blocks) else {"kind": "?", "owner": None}
        owner = block["owner"]
        colour = worker_colour(owner)
        who = "shared" if owner is None else (worker_names[owner] if owner < len(worker_names) else f"worker {owner}")
        kind = {"step": "finished step", "current": "step in progress"}.get(block["kind"], block["kind"])
        if owner == w:
            who += " (own)"
        rows.append(f'<div class="hw-vblock" style="border-color:{colour};background:{tint(colour)}">'
                    f'<div class="hw-entry-head">positions {start}–{start + length - 1} · {length} tokens · '
                    f'block {block_id} · {escape(kind)} · {escape(who)}</div>'
                    f'<div class="hw-text">{escape(text)}</div></div>')
    return (f'<div class="hw-panel"><div class="hw-muted">{escape(name)} attends to {len(view)} blocks, '
            f'{total} positions, in this order:</div>{"".join(rows)}</div>')


def stats_html(log) -> str:
    """Live figures: steps, tokens/s overall and per worker, KV cache size, status."""
    if log is None:
        return '<div class="hw-stats hw-muted">No run yet.</div>'
    last = log.steps[-1] if log.steps else None
    elapsed = max(log.elapsed, 1e-9)
    total = sum(log.sampled)
    chips = "".join(
        f'<span class="hw-chip" style="border-color:{worker_colour(w)}">'
        f'<span class="hw-dot" style="background:{worker_colour(w)}"></span>{escape(name)} '
        f'{log.sampled[w] / elapsed:.1f} tok/s</span>'
        for w, name in enumerate(log.meta["worker_names"]))
    figures = [
        ("status", log.status), ("steps", str(len(log.steps))),
        ("phase", last["phase"] if last else "—"), ("tokens", str(total)),
        ("tokens/s", f"{total / elapsed:.1f}" if last else "—"),
        ("KV cache", f"{last['cache_tokens']} tok · {last['cache_bytes'] / 2**20:.1f} MB" if last else "—"),
        ("time", f"{log.elapsed:.1f} s"),
    ]
    cells = "".join(f'<div class="hw-fig"><div class="hw-muted">{k}</div><div><b>{escape(v)}</b></div></div>'
                    for k, v in figures)
    return (f'<div class="hw-stats"><div class="hw-figs">{cells}</div>'
            f'<div class="hw-label">{escape(log.meta.get("label", ""))} · model {escape(log.meta.get("model", ""))}</div>'
            f'<div class="hw-chips">{chips}</div></div>')


def answer_html(log) -> str:
    if log is None or log.status == "running":
        return '<div class="hw-answer hw-muted">The final answer appears here when a run ends.</div>'
    answer = log.answer
    shown = escape(answer) if answer else '<span class="hw-muted">no \\boxed{} answer</span>'
    return f'<div class="hw-answer">Final answer ({escape(log.status)}): <b>{shown}</b></div>'


def message_html(text: str, kind: str = "error") -> str:
    """A message for the visitor; kind is 'error' or 'info'."""
    if not text:
        return ""
    return f'<div class="hw-msg hw-{kind}" role="{"alert" if kind == "error" else "status"}">{escape(text)}</div>'


COMPARE_COLUMNS = ("run", "answer", "sequential steps", "tokens", "time (s)", "status")


def compare_html(rows: list[dict]) -> str:
    """The runs of this session side by side: what the shared cache changes."""
    if not rows:
        return ('<div class="hw-panel hw-muted">Finish a run, then use the compare buttons: the same problem with '
                'one worker, or with the same number of workers that do not share a cache.</div>')
    head = "".join(f"<th>{escape(c)}</th>" for c in COMPARE_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(row.get(c, '')))}</td>" for c in COMPARE_COLUMNS) + "</tr>"
                   for row in rows)
    return f'<table class="hw-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def legend_html(worker_names: list[str]) -> str:
    chips = "".join(f'<span class="hw-chip" style="border-color:{worker_colour(w)}">'
                    f'<span class="hw-dot" style="background:{worker_colour(w)}"></span>{escape(n)}</span>'
                    for w, n in enumerate(worker_names))
    shared = (f'<span class="hw-chip" style="border-color:{SHARED_COLOUR}">'
              f'<span class="hw-dot" style="background:{SHARED_COLOUR}"></span>prompt / headers</span>')
    return f'<div class="hw-chips">{chips}{shared}</div>'
