"""The charts: one pure `records -> plotly Figure` function each, testable without a browser.

* attention_heatmap: attention mass, workers (rows) by cache blocks (columns), one step.
* attention_timeline: each worker's share of attention on its own tokens, on the other
  workers' tokens and on the shared prompt/headers, step by step."""

from html import escape

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .palette import worker_colour
from .records import SHARE_KINDS

FONT = dict(family="system-ui, sans-serif", size=12)
SHARE_TITLES = {"own": "on its own tokens", "others": "on other workers' tokens", "shared": "on prompt & headers"}
MAX_POINTS = 600   # per line; longer runs are thinned so updates stay light
SNIPPET = 90
MAX_TICKS = 24


def attention_heatmap(matrix: list[list[float]] | None, blocks: list[dict], worker_names: list[str],
                      title: str = "Attention mass per cache block") -> go.Figure:
    """matrix: [W][B] mass per block (a row of zeros = that worker did not run this step)."""
    fig = _base(title, height=150 + 34 * max(len(worker_names), 1))
    if not matrix or not matrix[0]:
        return _empty(fig, "no attention recorded yet")
    W, B = len(matrix), len(matrix[0])
    z = [[v for v in row] if any(row) else [None] * B for row in matrix]
    if any(row[0] is None for row in z):
        fig.update_layout(title_text=f"{title}<br><sup>blank rows: workers that did not run this step</sup>")
    columns = [_column(blocks, b, worker_names) for b in range(B)]
    hover = [[f"{escape(worker_names[w])} → block {b} ({columns[b][1]})<br>mass {'—' if z[w][b] is None else f'{z[w][b]:.4f}'}"
              f"<br>{columns[b][2]}" for b in range(B)] for w in range(W)]
    fig.add_trace(go.Heatmap(
        z=z, x=list(range(B)), y=list(range(W)), text=hover, hovertemplate="%{text}<extra></extra>",
        colorscale="Viridis", zmin=0.0, zmax=max((v for row in z for v in row if v is not None), default=1.0) or 1.0,
        colorbar=dict(title=dict(text="mass", side="right"), thickness=12), xgap=1, ygap=1))
    stride = -(-B // MAX_TICKS)     # label every block while they fit, then every stride-th
    ticks = list(range(0, B, stride))
    fig.update_xaxes(tickmode="array", tickvals=ticks, ticktext=[columns[b][0] for b in ticks], tickangle=0,
                     tickfont=dict(size=11), title_text="cache blocks (coloured by author; grey = prompt/headers)")
    fig.update_yaxes(tickmode="array", tickvals=list(range(W)), autorange="reversed",
                     ticktext=[f'<span style="color:{worker_colour(w)}"><b>{escape(n)}</b></span>'
                               for w, n in enumerate(worker_names[:W])])
    return fig


def attention_timeline(steps: list[dict], worker_names: list[str]) -> go.Figure:
    """Share of each worker's attention on own / others' / shared blocks over the run."""
    fig = make_subplots(rows=len(SHARE_KINDS), cols=1, shared_xaxes=True, vertical_spacing=0.09,
                        subplot_titles=[SHARE_TITLES[k] for k in SHARE_KINDS])
    fig.update_layout(**_layout("Where each worker's attention goes", height=430))
    fig.update_annotations(font_size=12)
    thinned = _thin([s for s in steps if s.get("shares")], MAX_POINTS)
    if not thinned:
        return _empty(fig, "no attention recorded yet")
    x = [s["step"] for s in thinned]
    for w, name in enumerate(worker_names):
        for k, kind in enumerate(SHARE_KINDS):
            y = [s["shares"][w][k] if s["shares"][w] is not None else None for s in thinned]
            # plotly renders legend names as (limited) HTML: a name from a trace file is escaped
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=escape(name), legendgroup=f"worker-{w}",
                                     showlegend=k == 0,
                                     line=dict(color=worker_colour(w), width=1.8), connectgaps=True,
                                     hovertemplate=f"{escape(name)}, step %{{x}}: %{{y:.3f}}<extra></extra>"),
                          row=k + 1, col=1)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", nticks=3)
    fig.update_xaxes(title_text="step", row=len(SHARE_KINDS), col=1)
    return fig


def _column(blocks: list[dict], b: int, worker_names: list[str]) -> tuple[str, str, str]:
    """(coloured tick label, short description, text snippet) of block b."""
    if b >= len(blocks):
        return f"{b}", "block", ""
    block = blocks[b]
    owner = block["owner"]
    who = "shared" if owner is None else (worker_names[owner] if owner < len(worker_names) else f"worker {owner}")
    kind = {"step": "finished step", "current": "step in progress"}.get(block["kind"], block["kind"])
    text = " ".join(block.get("text", "").split())
    snippet = escape(text[:SNIPPET] + ("…" if len(text) > SNIPPET else ""))
    initial = "P" if block["kind"] == "prompt" else "H" if owner is None else who[0]
    label = f'<span style="color:{worker_colour(owner)}"><b>{escape(initial)}{b}</b></span>'
    return label, f"{escape(who)}, {escape(kind)}, {block.get('length', '?')} tok", snippet


def _thin(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    stride = -(-len(items) // limit)
    return items[::stride] + ([items[-1]] if (len(items) - 1) % stride else [])


def _layout(title: str, height: int) -> dict:
    return dict(title=dict(text=title, font=dict(size=14)), height=height, font=FONT,
                margin=dict(l=60, r=20, t=60, b=50), paper_bgcolor="white", plot_bgcolor="white",
                legend=dict(orientation="h", yanchor="bottom", y=1.06, x=1, xanchor="right"),
                uirevision="keep")


def _base(title: str, height: int) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(**_layout(title, height))
    return fig


def _empty(fig: go.Figure, note: str) -> go.Figure:
    fig.add_annotation(text=note, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font=dict(color="#777"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
