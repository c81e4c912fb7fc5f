"""A heatmap Figure drawn as plain SVG, for the first screen.

Gradio loads plotly.js (1.3 MB) only once a Plot is on the page, and evaluating and drawing it
takes 2-3 s on a 2-core machine: the opening recording's heatmap would appear seconds after its
text. The page therefore starts with this static drawing of the same Figure (the one
charts.attention_heatmap made: its cells, tick labels and colours), served in the page's HTML,
and hides it once plotly has drawn the interactive chart over it (assets/style.css).

Only what a heatmap figure of charts.py holds is read: one Heatmap trace (z, zmin, zmax, the
Viridis scale), the axes' tick values and labels (`<span style="color:..."><b>label</b></span>`,
already escaped), the title and subtitle."""

import re
from html import escape, unescape

import plotly.colors

WIDTH, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 640, 70, 24, 70, 70
_LABEL = re.compile(r'^<span style="color:(#[0-9A-Fa-f]{3,8})"><b>(.*)</b></span>$', re.S)


def heatmap_svg(fig, height: int) -> str:
    """The figure as an SVG element `height` px tall that scales to its container's width; "" when the
    figure holds no heatmap (an empty chart needs no stand-in)."""
    trace = next((t for t in fig.data if t.type == "heatmap"), None)
    if trace is None or not trace.z:
        return ""
    z = [list(row) for row in trace.z]                 # [W][B], None where a worker did not run
    W, B = len(z), len(z[0])
    low = 0.0 if trace.zmin is None else trace.zmin
    high = trace.zmax if trace.zmax else 1.0
    plot_w, plot_h = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM
    cell_w, cell_h = plot_w / B, plot_h / W
    out = [f'<svg class="hw-static-chart" viewBox="0 0 {WIDTH} {height}" width="100%" height="{height}" '
           f'preserveAspectRatio="none" role="img" aria-label="{_text(fig.layout.title.text)}">',
           f'<text x="8" y="26" font-size="14" font-weight="600">{_text(fig.layout.title.text)}</text>',
           f'<text x="8" y="44" font-size="11" fill="#555">{_text(fig.layout.title.subtitle.text)}</text>']
    for w, row in enumerate(z):
        for b, value in enumerate(row):
            if value is None:
                continue
            share = min(max((value - low) / (high - low), 0.0), 1.0) if high > low else 0.0
            colour = plotly.colors.sample_colorscale("Viridis", [share])[0]
            out.append(f'<rect x="{MARGIN_LEFT + b * cell_w:.1f}" y="{MARGIN_TOP + w * cell_h:.1f}" '
                       f'width="{max(cell_w - 1, 0.5):.1f}" height="{max(cell_h - 1, 0.5):.1f}" fill="{colour}"/>')
    for value, label in zip(fig.layout.yaxis.tickvals or (), fig.layout.yaxis.ticktext or ()):
        colour, text = _label(label)
        out.append(f'<text x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP + (value + 0.5) * cell_h:.1f}" font-size="11" '
                   f'font-weight="600" fill="{colour}" text-anchor="end" dominant-baseline="middle">{text}</text>')
    for value, label in zip(fig.layout.xaxis.tickvals or (), fig.layout.xaxis.ticktext or ()):
        colour, text = _label(label)
        x, y = MARGIN_LEFT + (value + 0.5) * cell_w, MARGIN_TOP + plot_h + 6
        out.append(f'<text transform="translate({x:.1f},{y:.1f}) rotate(-90)" font-size="10" font-weight="600" '
                   f'fill="{colour}" text-anchor="end" dominant-baseline="middle">{text}</text>')
    out.append(f'<text x="{WIDTH - MARGIN_RIGHT}" y="{height - 6}" font-size="10" fill="#777" text-anchor="end">'
               'interactive chart loading…</text></svg>')
    return "".join(out)


def _label(label: str) -> tuple[str, str]:
    """(colour, escaped text) of a coloured tick label; a label of another shape is shown as text."""
    found = _LABEL.match(label or "")
    return (found.group(1), _text(found.group(2))) if found else ("#333", _text(label))


def _plain(text: str) -> str:
    return re.sub(r"<[^>]*>", "", text)


def _text(text) -> str:
    """Plotly's limited HTML (a title, a label: escaped by charts.py) as SVG text: tags dropped,
    then escaped once more, so nothing in it can become markup."""
    return escape(unescape(_plain(text or "")))
