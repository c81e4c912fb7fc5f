"""HTML for the text panels: worker lanes, the shared history, a worker's view of the cache,
live figures, messages, the comparison table, the gallery caption and the layouts diagram.
Pure functions of records.

Everything that came from a model, a visitor or a trace file goes through `html.escape`
before it reaches the page; only the markup written here is trusted. `rich_text` is the one
place that turns model text into markup: it escapes every piece and then sets step labels
("**Bob [3]:**") as coloured labels and chat markers ("<|im_start|>") as tags."""

import re
from html import escape

from analysis.answers import LATEX_FRAC, LATEX_TEXT
from hogwild_core.prompts import STEP_LABEL

from .palette import SHARED_COLOUR, VISITOR_COLOUR, is_visitor, tint, worker_colour
from .records import block_kind_words

MAX_LANES_PER_ROW = 4
CHAT_MARKER = re.compile(r"<\|[A-Za-z0-9_]{1,40}\|>")
TOKEN_PARTS = re.compile(f"({STEP_LABEL.pattern}|{CHAT_MARKER.pattern})")


def rich_text(text: str, worker_names: list[str] = ()) -> str:
    """Escaped text with step labels as labels in the author's colour and chat markers as tags."""
    out, at = [], 0
    for match in TOKEN_PARTS.finditer(text):
        out.append(escape(text[at:match.start()]))
        token = match.group(0)
        label = STEP_LABEL.fullmatch(token)
        if label:
            name, number = label.group(1), label.group(2)
            owner = worker_names.index(name) if name in worker_names else None
            colour = worker_colour(owner, worker_names)
            out.append(f'<span class="hw-step" style="background:{colour};color:{_ink(colour)}">'
                       f'{escape(name)} · step {number}</span>')
        else:
            out.append(f'<span class="hw-tag">{escape(token[2:-2])}</span>')
        at = match.end()
    out.append(escape(text[at:]))
    return "".join(out)


def lane_html(name: str, w: int, pieces: list[list], num_sampled: int = 0, note: str = "",
              worker_names: list[str] | None = None, id_prefix: str = "lane", unsent: tuple = ()) -> str:
    """One worker's lane: its text as written, engine-inserted prompts set apart. `id_prefix`
    keeps element ids unique when a second set of lanes is on the page (the Evaluation tab).
    A visitor's lane (given the run's `worker_names`, a name that is not a model worker's) says
    so instead of counting sampled tokens; `unsent`: its (text, refusal or "") lines sent but not yet in the run's records."""
    names = worker_names if worker_names is not None else [name]
    visitor = worker_names is not None and is_visitor(name)
    colour = VISITOR_COLOUR if visitor else worker_colour(w)
    body = "".join(f'<span class="hw-ins">{rich_text(text, names)}</span>' if inserted else rich_text(text, names)
                   for text, inserted in pieces)
    body += "".join(unsent_html(text, refusal) for text, refusal in unsent)
    if not body:
        body = ('<span class="hw-muted">your lane: write below, and the model workers read it at the next pass</span>'
                if visitor else '<span class="hw-muted">waiting for tokens…</span>')
    figure = "you write here" if visitor else f"{num_sampled} tokens"
    return (f'<div class="hw-lane{" hw-visitor" if visitor else ""}" id="{escape(id_prefix)}-{w}" '
            f'style="border-color:{colour};background:{tint(colour)}">'
            f'<div class="hw-lane-head"><span class="hw-dot" style="background:{colour}"></span>'
            f'<b>{escape(name)}</b><span class="hw-muted"> · {figure}{escape(note)}</span></div>'
            f'<div class="hw-text hw-lane-body">{body}</div></div>')


def unsent_html(text: str, refusal: str = "") -> str:
    """A visitor's line on its way: sent, not in the cache yet (or refused, and why)."""
    if refusal:
        return (f'<span class="hw-unsent hw-refused" title="not written">{escape(text)}'
                f'<span class="hw-muted"> (not written: {escape(refusal)})</span></span>\n\n')
    return f'<span class="hw-unsent" title="sent: written into the cache at the next pass">{escape(text)}</span>\n\n'


def lanes_html(lanes: list[str]) -> str:
    """The lanes in a grid of at most MAX_LANES_PER_ROW per row (fewer on a narrow screen)."""
    per_row = max(1, min(len(lanes), MAX_LANES_PER_ROW))
    rows = -(-len(lanes) // per_row) if lanes else 1
    return (f'<div class="hw-lanes" data-workers="{len(lanes)}" '
            f'style="--hw-cols:{per_row};--hw-rows:{rows}">{"".join(lanes)}</div>')


def history_html(history: list[list], worker_names: list[str], has_history: bool) -> str:
    """Finished steps in the order they entered the shared history, each in its author's colour."""
    if not has_history:
        return ('<div class="hw-panel hw-muted">This layout has no shared history: workers see each other '
                'token by token (contiguous) or not at all (independent).</div>')
    if not history:
        return '<div class="hw-panel hw-muted">No finished steps yet. A step enters the history when its author ends a paragraph.</div>'
    items = []
    for order, (block_id, owner, text) in enumerate(history, start=1):
        colour = worker_colour(owner, worker_names)
        author = worker_names[owner] if owner is not None and owner < len(worker_names) else "shared"
        items.append(f'<div class="hw-entry" style="border-color:{colour};background:{tint(colour)}">'
                     f'<div class="hw-entry-head">#{order} · {escape(author)} · block {block_id}</div>'
                     f'<div class="hw-text">{rich_text(text, worker_names)}</div></div>')
    return f'<div class="hw-panel">{"".join(items)}</div>'


def view_html(view: list[list], blocks: list[dict], worker_names: list[str], w: int) -> str:
    """Worker w's view of the cache: its blocks in view order, with positions, lengths and text.
    The shared prompt is folded away: it is long and the same for everyone."""
    if not view:
        return '<div class="hw-panel hw-muted">Start a run (or load a trace) to see the cache as a worker sees it.</div>'
    name = worker_names[w] if w < len(worker_names) else f"worker {w}"
    total = sum(length for _, _, length, _ in view)
    rows = []
    for block_id, start, length, text in view:
        block = blocks[block_id] if block_id < len(blocks) else {"kind": "?", "owner": None}
        owner = block["owner"]
        colour = worker_colour(owner, worker_names)
        who = "shared" if owner is None else (worker_names[owner] if owner < len(worker_names) else f"worker {owner}")
        kind = block_kind_words(block["kind"])
        if owner == w:
            who += " (own)"
        head = (f'positions {start}–{start + length - 1} · {length} tokens · '
                f'block {block_id} · {escape(kind)} · {escape(who)}')
        body = f'<div class="hw-text">{rich_text(text, worker_names)}</div>'
        style = f'border-color:{colour};background:{tint(colour)}'
        if block["kind"] == "prompt":
            rows.append(f'<details class="hw-vblock hw-prompt" style="{style}"><summary class="hw-entry-head">'
                        f'{head} · the instructions and the problem (click to open)</summary>{body}</details>')
        else:
            rows.append(f'<div class="hw-vblock" style="{style}"><div class="hw-entry-head">{head}</div>{body}</div>')
    return (f'<div class="hw-panel"><div class="hw-muted">{escape(name)} attends to {len(view)} blocks, '
            f'{total} positions, in this order:</div>{"".join(rows)}</div>')


def stats_html(log) -> str:
    """Live figures: what is happening, passes, tokens/s overall and per worker, KV cache size.
    A replay says where and when it was recorded next to its speeds."""
    if log is None:
        return '<div class="hw-stats hw-muted">No run yet.</div>'
    last = log.passes[-1] if log.passes else None
    elapsed = max(log.elapsed, 1e-9)
    total = sum(log.sampled)
    names = log.meta["worker_names"]
    chips = "".join(
        f'<span class="hw-chip" style="border-color:{worker_colour(w, names)}">'
        f'<span class="hw-dot" style="background:{worker_colour(w, names)}"></span>{escape(name)} '
        f'{log.sampled[w] / elapsed:.1f} tok/s</span>'
        for w, name in enumerate(names) if not is_visitor(name))
    figures = [
        ("status", log.status), ("passes", str(len(log.passes))),
        ("phase", last.phase if last else "—"), ("tokens", str(total)),
        ("tokens/s", f"{total / elapsed:.1f}" if last else "—"),
        ("KV cache", f"{last.cache_tokens} tok · {last.cache_bytes / 2**20:.1f} MB" if last else "—"),
        ("time", f"{log.elapsed:.1f} s"),
    ]
    cells = "".join(f'<div class="hw-fig"><div class="hw-muted">{k}</div><div><b>{escape(v)}</b></div></div>'
                    for k, v in figures)
    recording = log.meta.get("recording")
    where = (f'<div class="hw-recorded">Recording, not live: {escape(recording_line(recording))}; '
             f'times and speeds are as measured there.</div>' if isinstance(recording, dict) else "")
    return (f'<div class="hw-stats">{where}<div class="hw-figs">{cells}</div>'
            f'<div class="hw-label">{escape(str(log.meta.get("label", "")))} · model '
            f'{escape(str(log.meta.get("model", "")))}</div><div class="hw-chips">{chips}</div></div>')


def recording_line(recording: dict) -> str:
    machine = recording.get("machine") or "an unknown machine"
    date = recording.get("date") or "date unknown"
    model = recording.get("model")
    return f"recorded on {machine}, {date}" + (f" with {model}" if model else "")


def pending_html(label: str) -> str:
    """The figures before the first pass: what was asked."""
    return (f'<div class="hw-stats"><div class="hw-muted">Starting; the figures appear with the first pass.</div>'
            f'<div class="hw-label">{escape(label)}</div></div>')


def activity_html(activity: str) -> str:
    """The live status line next to Run."""
    if not activity:
        return '<div class="hw-activity hw-muted">Idle. Press Run to start, or watch the recording.</div>'
    return f'<div class="hw-activity" role="status">{escape(activity)}</div>'


_LATEX_SYMBOLS = {"\\times": "×", "\\cdot": "·", "\\div": "÷", "\\pm": "±", "\\le": "≤", "\\ge": "≥",
                  "\\neq": "≠", "\\leq": "≤", "\\geq": "≥", "\\approx": "≈", "\\pi": "π", "\\infty": "∞", "\\sqrt": "√",
                  "\\$": "$", "\\%": "%", "\\left": "", "\\right": "", "\\,": " ", "\\;": " ", "\\!": "",
                  "\\quad": " "}


def readable_math(latex: str) -> str:
    """A boxed answer as a reader would write it: "150 \\text{ km}" -> "150 km",
    "\\frac{3}{4}" -> "3/4", "2 \\times 9" -> "2 × 9". Plain text in, plain text out (escape it to show it)."""
    text = LATEX_TEXT.sub(r"\1", latex)
    atom = lambda part: part.strip() if re.fullmatch(r"\s*[\w.]+\s*|\s*\\pi\s*", part) else f"({part.strip()})"
    for _ in range(3):                                   # nested fractions, innermost first
        text = LATEX_FRAC.sub(lambda m: f"{atom(m.group(1))}/{atom(m.group(2))}", text)
    for command, symbol in sorted(_LATEX_SYMBOLS.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(re.escape(command) + r"(?![A-Za-z])", lambda _: symbol, text)
    text = re.sub(r"\^\{([^{}]*)\}", r"^\1", text).replace("{", "").replace("}", "")
    return re.sub(r"\s+", " ", text).strip()


def answer_html(log) -> str:
    if log is None or log.status == "running":
        return '<div class="hw-answer hw-muted">The final answer appears here when a run ends.</div>'
    answer = log.answer
    shown = (f'<b title="{escape(answer)}">{escape(readable_math(answer))}</b>' if answer
             else '<span class="hw-muted">no \\boxed{} answer</span>')
    return f'<div class="hw-answer">Final answer ({escape(log.status)}): {shown}</div>'


def message_html(text: str, kind: str = "error") -> str:
    """A message for the visitor; kind is 'error' or 'info'."""
    if not text:
        return ""
    return f'<div class="hw-msg hw-{kind}" role="{"alert" if kind == "error" else "status"}">{escape(text)}</div>'


COMPARE_COLUMNS = ("run", "answer", "sequential passes", "tokens", "time (s)", "status")


def compare_html(rows: list[dict]) -> str:
    """The runs of this session side by side: what the shared cache changes."""
    if not rows:
        return ('<div class="hw-panel hw-muted">Finish a run, then use the compare buttons: the same problem with '
                'one worker, or with the same number of workers that do not share a cache. Times include '
                'reading the prompt.</div>')
    head = "".join(f"<th>{escape(c)}</th>" for c in COMPARE_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(row.get(c, '')))}</td>" for c in COMPARE_COLUMNS) + "</tr>"
                   for row in rows)
    return f'<table class="hw-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def gallery_html(entry, live: bool = False) -> str:
    """The caption of a gallery recording: what it is, where it was made, what to look for. Folded,
    the box keeps its fixed height (the title and the caption's first lines); a click on it unfolds
    the whole caption, the model, the machine and the command that made it."""
    if live:
        return ('<div class="hw-gallery hw-muted">Showing your run, live on this machine. Pick a recording above '
                'to replay it.</div>')
    if entry is None:
        return '<div class="hw-gallery hw-muted">No recorded runs are installed (assets/gallery/index.json).</div>'
    return (f'<div class="hw-gallery"><details class="hw-fold"><summary title="the whole caption">'
            f'<span class="hw-gallery-head"><span class="hw-badge">recording</span> <b>{escape(entry.title)}</b></span>'
            f'<span class="hw-caption">{escape(entry.caption)}</span></summary>'
            f'<div class="hw-muted">{escape(entry.model)} · {escape(entry.recorded)}</div>'
            f'<div class="hw-muted hw-command">made with <code>{escape(entry.command)}</code></div></details></div>')


def layouts_svg() -> str:
    """The three cache layouts as what worker A sees (one row each): a small inline diagram."""
    a, b, p, h = worker_colour(0), worker_colour(1), SHARED_COLOUR, "#DDDDDD"

    def box(x, w, fill, text="", dark=False):
        ink = "#fff" if dark else "#222"
        label = f'<text x="{x + w / 2}" y="{y + 13}" text-anchor="middle" fill="{ink}">{text}</text>' if text else ""
        return f'<rect x="{x}" y="{y}" width="{w}" height="18" rx="3" fill="{fill}"/>{label}'

    rows = []
    for i, (name, parts) in enumerate((
            ("contiguous", [(0, 44, p, "prompt"), (46, 52, b, "all of B", True), (100, 52, a, "all of A", True)]),
            ("interleaved", [(0, 44, p, "prompt"), (46, 34, a, "A1", True), (82, 34, b, "B1", True), (118, 34, a, "A2…", True)]),
            ("combined", [(0, 44, p, "prompt"), (46, 24, a, "A1", True), (72, 24, b, "B1", True), (98, 22, h, "hdr"),
                          (122, 30, b, "B2…", True), (154, 22, h, "hdr"), (178, 30, a, "A2…", True)]))):
        y = 22 + i * 26
        shapes = "".join(box(96 + x, w, fill, text, *dark) for x, w, fill, text, *dark in parts)
        rows.append(f'<text x="0" y="{y + 13}" fill="#333">{name}</text>{shapes}')
    return ('<svg class="hw-diagram" viewBox="0 0 310 100" role="img" font-family="system-ui, sans-serif" '
            'font-size="10" aria-label="What worker A attends to in each layout">'
            '<text x="0" y="11" fill="#555">what worker A sees, left to right:</text>'
            f'{"".join(rows)}</svg>')


def _ink(colour: str) -> str:
    """Black or white, whichever reads on the colour."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#111" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


EMPTY_EVAL_LANES = '<div class="hw-panel hw-muted">Choose a row and a problem to see its workers\' lanes.</div>'


def eval_line_html(text: str) -> str:
    """One line of the Evaluation tab (what an evaluation holds, what a run shows), escaped."""
    return f'<div class="hw-eval-line">{escape(text)}</div>'


def forced_answer_html(run, probe, worker_names: list[str]) -> str:
    """An evaluation run (evaluation.records.EvalRun) cut at one budget (its Probe there): the
    problem, the reference, and the answers the forced-answer prompt got (each answerer's; for
    independent workers the vote is the answer)."""
    verdict = "right" if probe.correct else "wrong"
    if not probe.correct and probe.any_correct:
        verdict += " (some worker was right)"
    answers = probe.answers
    names = worker_names if len(answers) == len(worker_names) else worker_names[:1]
    each = " · ".join(f"{escape(n)}: <code>{escape(str(a))}</code>" for n, a in zip(names, answers))
    shown = escape(str(probe.answer)) if probe.answer is not None else '<span class="hw-muted">none readable</span>'
    return (f'<div class="hw-eval-answer">Forced answer at budget {probe.budget} '
            f'(after {probe.passes} passes): <b>{shown}</b>, {verdict}; reference '
            f'<code>{escape(str(run.reference))}</code>'
            f'<div class="hw-muted">answers read: {each or "none"}</div>'
            f'<details><summary>the problem</summary><div class="hw-text">{escape(run.problem)}'
            f'</div></details></div>')


def model_note_html(note: str) -> str:
    """The one line about the model the app started on (e.g. why it is the small one)."""
    return f'<p class="hw-model-note">{escape(note)}</p>' if note else ""
