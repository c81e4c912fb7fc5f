"""table -> plotly Figure: accuracy against budget, one line per method row, the 95% interval as
a band, one panel per task set, in the shape of the paper's Figure 3: the single worker at the
same passes, and in black the single worker given W x the tokens (the same compute as a team of
W), dashed per W; upper bounds (independent, any) dotted; a row answered with another prompt
than the plain one (", listed answer") like its plain row, thinner, with diamond markers.

Lines are nudged sideways a little (the hover shows the true budget) so that methods with the
same accuracy stay visible instead of hiding each other."""

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .table import answer_prompt_of, line_label, plain_row_of

# Okabe-Ito, colour-blind safe; the same order as the demo's workers.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
NUDGE = 0.025            # relative x offset between neighbouring lines (log axis)
TITLES = {"accuracy": "all parts right", "part_accuracy": "questions right (per question)"}
DASHES = ("dash", "longdash", "dashdot", "longdashdot")


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _style(label: str, i: int) -> tuple[str, str]:
    """(colour, dash) of a line: the equal-compute single worker black and dashed, upper bounds dotted."""
    label = plain_row_of(label)
    if label.startswith("single, "):
        size = int(label.split(", ")[1].split("x")[0])
        return "#000000", DASHES[(size - 2) % len(DASHES)]
    if label == "single":
        return "#000000", "solid"
    return COLOURS[i % len(COLOURS)], "dot" if label.endswith((", any", "(any)")) else "solid"


def accuracy_figure(table, title: str = "Accuracy vs. budget", y: str = "accuracy") -> go.Figure:
    """y: "accuracy" or "part_accuracy" (multi-part problems); the band is the column's
    interval (ci_low/ci_high, or part_ci_low/part_ci_high)."""
    low, high = ("ci_low", "ci_high") if y == "accuracy" else ("part_ci_low", "part_ci_high")
    table = table[table[y].notna()] if len(table) else table
    task_sets = list(dict.fromkeys(table["task_set"])) or [""]
    figure = make_subplots(rows=1, cols=len(task_sets), subplot_titles=task_sets, shared_yaxes=True)
    labels = list(dict.fromkeys(table.apply(line_label, axis=1))) if len(table) else []
    for col, task_set in enumerate(task_sets, start=1):
        part = table[table["task_set"] == task_set]
        for i, label in enumerate(labels):
            line = part[part.apply(line_label, axis=1) == label].sort_values("budget")
            if line.empty:
                continue
            colour, dash = _style(label, i)
            other_prompt = answer_prompt_of(label) != "plain"
            budgets = list(line["budget"])
            x = [b * (1 + NUDGE * (i - (len(labels) - 1) / 2)) for b in budgets]
            figure.add_trace(go.Scatter(
                x=x + x[::-1], y=list(line[high]) + list(line[low])[::-1], fill="toself", mode="lines",
                fillcolor=_rgba(colour, 0.08), line={"width": 0}, hoverinfo="skip", showlegend=False,
                legendgroup=label), row=1, col=col)
            figure.add_trace(go.Scatter(
                x=x, y=list(line[y]), mode="lines+markers", name=label, legendgroup=label,
                showlegend=col == 1, line={"color": colour, "dash": dash, "width": 1 if other_prompt else 2},
                marker={"symbol": "diamond" if other_prompt else "circle"},
                customdata=list(zip(budgets, line["n"], line[low], line[high])),
                hovertemplate=f"{label}<br>budget %{{customdata[0]}}<br>{y} %{{y:.2f}} "
                              "[%{customdata[2]:.2f}, %{customdata[3]:.2f}], n=%{customdata[1]}<extra></extra>"),
                row=1, col=col)
        figure.update_xaxes(title_text="budget (lock-step passes)", type="log", row=1, col=col,
                            tickvals=sorted(set(part["budget"])))
    figure.update_yaxes(title_text=TITLES.get(y, y), range=[-0.02, 1.02], row=1, col=1)
    figure.update_layout(title=title, template="plotly_white", legend={"title": "method"})
    return figure
