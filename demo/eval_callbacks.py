"""What the Evaluation tab shows, event by event, as an `EvalFrame`: open a saved evaluation, choose
a row of its table, choose one of the row's runs. Plain values in, a frame out; no Gradio here
(demo/eval_tab.py lays the tab out and maps a frame's fields to its components by name).

A bad or missing file becomes the frame's message, never an exception."""

from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go

from evaluation.figure import accuracy_figure

from . import render
from .downloads import Downloads
from .evaluations import (EVAL_ROOT, FEATURED, NOT_RECORDED, EvalError, Evaluation, display_paired, display_table,
                          list_evaluations, load_evaluation, log_of_run, probe_of, row_label, row_passes, run_label,
                          runs_of_row, summary_line, trace_name)
from .traces import write_trace

LANE_IDS = "eval-lane"
KEEP = object()          # a frame field left as it is


@dataclass(frozen=True)
class RunShown:
    """The run panels: one run cut at its row's budget, or emptied (the default)."""
    note: str = ""                 # html: what the run is and what was not recorded
    answer: str = ""               # html: the problem, the reference and the forced answers
    lanes: str = render.EMPTY_EVAL_LANES
    trace: str | None = None       # a JSON trace file of the run, for the download button


@dataclass(frozen=True)
class EvalFrame:
    """What one event changes in the tab; KEEP leaves a field as it is."""
    message: str = ""                          # html, under the run panels
    names: list[str] | object = KEEP           # the saved evaluations to choose from
    name: str | None | object = KEEP           # the one chosen
    evaluation: Evaluation | None | object = KEEP   # the tab's state: the loaded evaluation
    summary: str | object = KEEP               # html: one line on what it holds
    figure: go.Figure | object = KEEP
    table: object = KEEP                       # display_table's frame (None: empty)
    paired: object = KEEP                      # display_paired's frame (None: empty)
    rows: list[tuple[str, int]] | object = KEEP   # the row chooser's (label, index) choices
    row: int | None | object = KEEP            # the row chosen
    runs: list[tuple[str, int]] | object = KEEP   # the problem chooser's (label, index) choices
    run: int | None | object = KEEP            # the problem chosen
    shown: RunShown = field(default_factory=RunShown)


def blank_figure(title: str = "Choose a saved evaluation") -> go.Figure:
    figure = go.Figure()
    figure.update_layout(template="plotly_white", title=title, height=360)
    return figure


def _nothing_open(names: list[str], name, message: str) -> EvalFrame:
    return EvalFrame(message=render.message_html(message), names=names, name=name, evaluation=None, summary="",
                     figure=blank_figure(), table=None, paired=None, rows=[], row=None, runs=[], run=None)


def open_evaluation(name: str | None, root: Path = EVAL_ROOT, refresh: bool = False) -> EvalFrame:
    """Load an evaluation (the first if `name` is not one); with `refresh` the chooser lists the
    folders again (an evaluation may have appeared or grown since)."""
    names = list_evaluations(root)
    if name not in names:
        name = FEATURED if FEATURED in names else names[0] if names else None
    listed = names if refresh or name else KEEP
    chosen = name if refresh or name else KEEP
    if name is None:
        return _nothing_open(listed, chosen, f"No saved evaluations under {root}.")
    try:
        ev = load_evaluation(name, root)
    except EvalError as exc:
        return _nothing_open(listed, chosen, str(exc))
    rows = [(row_label(ev.table, i), i) for i in range(len(ev.table))]
    main = ev.table[ev.table["group"] == 0] if len(ev.table) else ev.table
    y = "part_accuracy" if len(main) and main["part_accuracy"].notna().any() else "accuracy"
    title = f"{name}: {'questions right' if y == 'part_accuracy' else 'accuracy'} vs. budget"
    message = "" if rows else "No problem has been run by every method yet: nothing to tabulate."
    return EvalFrame(message=render.message_html(message, "info"), names=listed, name=chosen, evaluation=ev,
                     summary=render.eval_line_html(summary_line(ev)), figure=accuracy_figure(main, title=title, y=y),
                     table=display_table(ev.table), paired=display_paired(ev.paired), rows=rows, row=None,
                     runs=[], run=None)


def choose_row(ev: Evaluation | None, index, files: Downloads) -> EvalFrame:
    """A table row: list its problems and show the first."""
    if ev is None or not isinstance(index, int):
        return EvalFrame(message=render.message_html("Choose an evaluation first."), runs=[], run=None)
    try:
        runs = runs_of_row(ev, index)
        passes = row_passes(ev, index)
        choices = [(run_label(r, passes), i) for i, r in enumerate(runs)]
    except EvalError as exc:
        return EvalFrame(message=render.message_html(str(exc)), runs=[], run=None)
    if not runs:
        return EvalFrame(message=render.message_html("This row has no runs."), row=index, runs=[], run=None)
    first = show_run(ev, index, 0, files)
    return EvalFrame(message=first.message, row=index, runs=choices, run=0, shown=first.shown)


def show_run(ev: Evaluation | None, index, run, files: Downloads) -> EvalFrame:
    """One run of a row, cut at the row's budget: its lanes, its forced answer, its trace file
    (the only file in the page's folder: the previous one is deleted)."""
    if ev is None or not isinstance(index, int) or not isinstance(run, int):
        return EvalFrame(message=render.message_html("Choose a row and a problem."))
    try:
        runs = runs_of_row(ev, index)
        if not 0 <= run < len(runs):
            raise EvalError("that problem is not in this row")
        chosen, budget = runs[run], row_passes(ev, index)
        log = log_of_run(chosen, budget, ev.settings, ev.name, row=str(ev.table.iloc[index]["row"]))
    except (EvalError, KeyError, TypeError, ValueError) as exc:
        return EvalFrame(message=render.message_html(f"This run cannot be shown: {exc}"))
    names = log.meta["worker_names"]
    lanes = render.lanes_html([render.lane_html(n, w, log.lanes[w], log.sampled[w], worker_names=names,
                                                id_prefix=LANE_IDS) for w, n in enumerate(names)])
    path = None
    try:
        files.clear()
        path = write_trace(log, files.path(trace_name(ev, chosen, budget)))
    except OSError:
        pass        # the lanes work without the download
    ended = "" if len(log.passes) >= budget else f" (the run ended after {len(log.passes)})"
    note = render.eval_line_html(f"{log.meta['label']}{ended}; inserted prompts in grey italics. "
                                 f"Not shown because not recorded: {NOT_RECORDED}.")
    return EvalFrame(shown=RunShown(note=note, answer=render.forced_answer_html(chosen, probe_of(chosen, budget), names),
                                    lanes=lanes, trace=path))
