"""The charts: one pure `records -> plotly Figure` function each, testable without a browser.

* attention_heatmap: attention mass, workers (rows) by cache blocks (columns), one pass.
* attention_timeline: where each worker's attention goes over the run, one small multiple per
  worker: its share on its own tokens, on the other workers' tokens and on the shared prompt and
  headers, stacked to 100%.

Both have a fixed height whatever the worker count (the page must not grow inside an iframe),
titles on the left (the plot toolbar sits on the right) and legends outside the plot."""

from html import escape

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hogwild_core.prompts import STEP_LABEL

from .palette import SHARED_COLOUR, worker_colour
from .records import SHARE_KINDS, PassRecord, block_kind_words

FONT = dict(family="system-ui, sans-serif", size=12)
HEATMAP_HEIGHT = TIMELINE_HEIGHT = 440
SHARE_NAMES = {"own": "its own tokens", "others": "other workers' tokens", "shared": "prompt & headers"}
SHARE_COLOURS = {"own": "#4A6FA5", "others": "#E08E45", "shared": SHARED_COLOUR}
MAX_POINTS = 600   # per line; longer runs are thinned so updates stay light
SNIPPET = 90
MAX_TICKS = 16     # vertical labels about 14 px apart still fit a phone-wide plot
PROMPT_MARK, HEADER_MARK = "prompt", "hdr"


def attention_heatmap(matrix: list[list[float]] | None, blocks: list[dict], worker_names: list[str],
                      title: str = "Attention mass per cache block", subtitle: str = "") -> go.Figure:
    """matrix: [W][B] mass per block (a row of zeros = that worker did not run in this pass)."""
    fig = _base(title, HEATMAP_HEIGHT, subtitle)
    if not matrix or not matrix[0]:
        return _empty(fig, "no attention recorded yet")
    W, B = len(matrix), len(matrix[0])
    z = [[v for v in row] if any(row) else [None] * B for row in matrix]
    if any(row[0] is None for row in z):
        fig.update_layout(title_subtitle_text=(subtitle + " · " if subtitle else "") +
                          "blank rows: workers that did not run in this pass")
    columns = block_labels(blocks, worker_names, B)
    hover = [[f"{escape(worker_names[w])} → {columns[b][1]}<br>mass {'—' if z[w][b] is None else f'{z[w][b]:.4f}'}"
              f"<br>{columns[b][2]}" for b in range(B)] for w in range(W)]
    fig.add_trace(go.Heatmap(
        z=z, x=list(range(B)), y=list(range(W)), text=hover, hovertemplate="%{text}<extra></extra>",
        colorscale="Viridis", zmin=0.0, zmax=max((v for row in z for v in row if v is not None), default=1.0) or 1.0,
        colorbar=dict(title=dict(text="mass", side="right"), thickness=12), xgap=1, ygap=1))
    stride = -(-B // MAX_TICKS)     # label every block while they fit, then every stride-th
    ticks = list(range(0, B, stride))
    fig.update_xaxes(tickmode="array", tickvals=ticks, ticktext=[columns[b][0] for b in ticks], tickangle=-90,
                     tickfont=dict(size=10), automargin=True,
                     title_text="cache block (author + step)")
    fig.update_yaxes(tickmode="array", tickvals=list(range(W)), autorange="reversed", automargin=True,
                     tickfont=dict(size=11), title_text="worker (reading)",
                     ticktext=[f'<span style="color:{worker_colour(w, worker_names)}"><b>{escape(n)}</b></span>'
                               for w, n in enumerate(worker_names[:W])])
    return fig


def block_labels(blocks: list[dict], worker_names: list[str], num_columns: int) -> list[tuple[str, str, str]]:
    """(coloured tick label, hover description, text snippet) of every column.
    Labels: 'prompt', 'hdr', or the author's initial and step number ('B3'; 'B3…' in progress)."""
    labels, steps_seen = [], {}
    for b in range(num_columns):
        if b >= len(blocks):
            labels.append((f"{b}", f"block {b}", ""))
            continue
        block = blocks[b]
        owner, kind = block["owner"], block["kind"]
        who = "shared" if owner is None else (worker_names[owner] if owner < len(worker_names) else f"worker {owner}")
        text = " ".join(block.get("text", "").split())
        if kind == "prompt":
            mark = PROMPT_MARK
        elif owner is None:
            mark = HEADER_MARK
        else:
            steps_seen[owner] = steps_seen.get(owner, 0) + 1
            found = STEP_LABEL.search(text)
            number = found.group(2) if found else str(steps_seen[owner])
            mark = f"{who[:1]}{number}{'…' if kind == 'current' else ''}"
        described = block_kind_words(kind)
        snippet = escape(text[:SNIPPET] + ("…" if len(text) > SNIPPET else ""))
        labels.append((f'<span style="color:{worker_colour(owner, worker_names)}"><b>{escape(mark)}</b></span>',
                       f"block {b}: {escape(who)}, {escape(described)}, {block.get('length', '?')} tokens", snippet))
    return labels


def attention_timeline(passes: list[PassRecord], worker_names: list[str]) -> go.Figure:
    """One row per worker: its attention on own / others' / shared blocks, stacked to 100%."""
    W = max(len(worker_names), 1)
    fig = make_subplots(rows=W, cols=1, shared_xaxes=True, vertical_spacing=min(0.04, 0.3 / W))
    fig.update_layout(**_layout("Where each worker's attention goes", TIMELINE_HEIGHT,
                                "one row per worker; the bands add up to 100% at every pass"))
    thinned = _thin([p for p in passes if p.shares], MAX_POINTS)
    if not thinned:
        return _empty(fig, "no attention recorded yet")
    x = [p.pass_number for p in thinned]
    for w, name in enumerate(worker_names):
        for k, kind in enumerate(SHARE_KINDS):
            y = [p.shares[w][k] if w < len(p.shares) and p.shares[w] is not None else None for p in thinned]
            # plotly renders legend names as (limited) HTML: a name from a trace file is escaped
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=SHARE_NAMES[kind], legendgroup=kind,
                                     stackgroup=f"worker-{w}", showlegend=w == 0,
                                     line=dict(color=SHARE_COLOURS[kind], width=0.5),
                                     fillcolor=SHARE_COLOURS[kind],
                                     hovertemplate=f"{escape(name)}, pass %{{x}}: %{{y:.0%}} on "
                                                   f"{SHARE_NAMES[kind]}<extra></extra>"),
                          row=w + 1, col=1)
        # the worker's name is the row's one (horizontal) tick label: rotated titles collide at 8 rows
        fig.update_yaxes(tickvals=[0.5], ticktext=[f'<span style="color:{worker_colour(w, worker_names)}"><b>{escape(name)}</b></span>'],
                         row=w + 1, col=1)
    fig.update_yaxes(range=[0, 1], tickfont_size=11, showgrid=False, automargin=True)
    fig.update_xaxes(title_text="pass", row=W, col=1)
    return fig


def _thin(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    stride = -(-len(items) // limit)
    return items[::stride] + ([items[-1]] if (len(items) - 1) % stride else [])


def _layout(title: str, height: int, subtitle: str = "") -> dict:
    # the title starts below the plot toolbar (top right), so a long one on a phone is not covered
    return dict(title=dict(text=title, font=dict(size=14), x=0, xref="paper", xanchor="left", yref="container",
                           y=1, yanchor="top", pad=dict(t=28),
                           subtitle=dict(text=subtitle, font=dict(size=11, color="#555"))),
                height=height, font=FONT, autosize=True,
                margin=dict(l=60, r=20, t=92, b=40), paper_bgcolor="white", plot_bgcolor="white",
                legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left",
                            font=dict(size=11)),
                uirevision="keep")


def _base(title: str, height: int, subtitle: str = "") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(**_layout(title, height, subtitle))
    return fig


def _empty(fig: go.Figure, note: str) -> go.Figure:
    fig.add_annotation(text=note, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font=dict(color="#777"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
