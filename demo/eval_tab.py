"""The Evaluation tab: a saved evaluation (docs/eval/<name>/), its accuracy-vs-budget figure and
table, and one run of a chosen row (method, W, budget) shown as the workers' lanes, with its trace
to download (the main tab's "Load a trace…" replays it). Layout and wiring only: the logic is in
demo/evaluations.py, the HTML in demo/render.py, the figure in evaluation/figure.py.

Callbacks take plain values and return one update per output; a bad or missing file becomes a
message in the tab, never an exception."""

from dataclasses import dataclass
from html import escape
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from evaluation.figure import accuracy_figure

from . import render
from .downloads import Downloads, close_downloads
from .evaluations import (EVAL_ROOT, NOT_RECORDED, EvalError, Evaluation, display_paired, display_table, list_evaluations,
                          load_evaluation, log_of_trace, probe_of, row_label, row_passes, run_label, runs_of_row, summary_line,
                          trace_of_run, write_trace_dict)

INTRO = ("**Saved evaluations** (made with `python -m evaluation`; see docs/evaluation.md): accuracy against "
         "budget, each part of the table counted over the problems every one of its methods has run on (an "
         "ablation run on fewer problems has its own part). Click a table row (or pick one below) to open its "
         "runs: the workers' text up to that row's cut and the answer forced there.")
EMPTY_LANES = '<div class="hw-panel hw-muted">Choose a row and a problem to see its workers\' lanes.</div>'
LANE_IDS = "eval-lane"


@dataclass
class EvalTab:
    """The tab's components; `panels` are what opening a run redraws."""
    choice: gr.Dropdown
    loaded: gr.State
    files: gr.State
    summary: gr.HTML
    message: gr.HTML
    figure: gr.Plot
    table: gr.Dataframe
    paired: gr.Dataframe
    row: gr.Dropdown
    run: gr.Dropdown
    download: gr.DownloadButton
    note: gr.HTML
    answer: gr.HTML
    lanes: gr.HTML

    @property
    def panels(self) -> list:
        return [self.note, self.answer, self.lanes, self.download, self.message]

    @property
    def everything(self) -> list:
        return [self.choice, self.loaded, self.summary, self.figure, self.table, self.paired, self.row, self.run,
                *self.panels]


def build_evaluation_tab(root: Path = EVAL_ROOT) -> gr.Tab:
    """The tab (call inside gr.Tabs); its contents load when it is selected."""
    with gr.Tab("Evaluation", id="evaluation", elem_id="evaluation-tab") as tab:
        gr.Markdown(INTRO)
        choice = gr.Dropdown([], label="Saved evaluation (docs/eval)", elem_id="eval-choice", interactive=True)
        summary = gr.HTML("", elem_id="eval-summary", js_on_load=None)
        message = gr.HTML("", elem_id="eval-message", js_on_load=None)
        figure = gr.Plot(_blank_figure(), elem_id="eval-figure", show_label=False)
        table = gr.Dataframe(interactive=False, elem_id="eval-table", max_height=420, wrap=True,
                             label="Per method and budget (95% Wilson interval; tokens: sampled by all workers, "
                                   "mean per run); click a row to open its runs")
        paired = gr.Dataframe(interactive=False, elem_id="eval-paired", max_height=320, wrap=True,
                              label="Paired on the same problems: each Hogwild! row against each baseline of its W "
                                    "at each budget (exact McNemar on all parts right; per-question difference with "
                                    "a bootstrap interval over problems)")
        with gr.Row(equal_height=True):
            row = gr.Dropdown([], label="Row: method · budget", elem_id="eval-row", interactive=True, scale=2)
            run = gr.Dropdown([], label="Problem", elem_id="eval-run", interactive=True, scale=2)
            download = gr.DownloadButton("Trace of this run (JSON)", interactive=False, size="sm",
                                         elem_id="eval-download-trace", scale=0, min_width=160)
        note = gr.HTML("", elem_id="eval-note", js_on_load=None)
        answer = gr.HTML("", elem_id="eval-answer", js_on_load=None)
        lanes = gr.HTML(EMPTY_LANES, elem_id="eval-lanes", js_on_load=None)
        ui = EvalTab(choice, gr.State(None), gr.State(_downloads, delete_callback=close_downloads), summary, message,
                     figure, table, paired, row, run, download, note, answer, lanes)

    events = dict(concurrency_limit=4, concurrency_id="evaluation", show_progress="minimal")
    def evaluation_opened(name):
        """Selecting the tab lists the folders again: an evaluation may have appeared or grown since."""
        return evaluation_chosen(name, root, refresh=True)

    def evaluation_picked(name):
        return evaluation_chosen(name, root)

    tab.select(evaluation_opened, inputs=ui.choice, outputs=ui.everything, **events)
    ui.choice.input(evaluation_picked, inputs=ui.choice, outputs=ui.everything, **events)
    ui.table.select(row_clicked, inputs=[ui.loaded, ui.files], outputs=[ui.row, ui.run, *ui.panels], **events)
    ui.row.input(row_chosen, inputs=[ui.loaded, ui.row, ui.files], outputs=[ui.row, ui.run, *ui.panels], **events)
    ui.run.input(run_chosen, inputs=[ui.loaded, ui.row, ui.run, ui.files], outputs=ui.panels, **events)
    return tab


def evaluation_chosen(name: str | None, root: Path = EVAL_ROOT, refresh: bool = False) -> list:
    """Load an evaluation (the first if none is chosen); with `refresh`, list the folders again."""
    names = list_evaluations(root)
    if name not in names:
        name = names[0] if names else None
    choice = gr.update(choices=names, value=name) if refresh or name else gr.skip()
    if name is None:
        return [choice, None, "", _blank_figure(), None, None, gr.update(choices=[], value=None),
                gr.update(choices=[], value=None), *_cleared(f"No saved evaluations under {root}.")]
    try:
        ev = load_evaluation(name, root)
    except EvalError as exc:
        return [choice, None, "", _blank_figure(), None, None, gr.update(choices=[], value=None),
                gr.update(choices=[], value=None), *_cleared(str(exc))]
    rows = [(row_label(ev.table, i), i) for i in range(len(ev.table))]
    summary = f'<div class="hw-eval-line">{escape(summary_line(ev))}</div>'
    message = "" if rows else "No problem has been run by every method yet: nothing to tabulate."
    main = ev.table[ev.table["group"] == 0] if len(ev.table) else ev.table
    y = "part_accuracy" if len(main) and main["part_accuracy"].notna().any() else "accuracy"
    title = f"{name}: {'questions right' if y == 'part_accuracy' else 'accuracy'} vs. budget"
    return [choice, ev, summary, accuracy_figure(main, title=title, y=y),
            display_table(ev.table), display_paired(ev.paired), gr.update(choices=rows, value=None),
            gr.update(choices=[], value=None),
            *_cleared(message, "info")]


def row_clicked(ev: Evaluation | None, files: Downloads, evt: gr.SelectData) -> list:
    index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    return row_chosen(ev, index, files)


def row_chosen(ev: Evaluation | None, index, files: Downloads) -> list:
    """A table row: list its problems and open the first."""
    if ev is None or not isinstance(index, int):
        return [gr.skip(), gr.update(choices=[], value=None), *_cleared("Choose an evaluation first.")]
    try:
        runs = runs_of_row(ev, index)
        passes = row_passes(ev, index)
        choices = [(run_label(r, passes), i) for i, r in enumerate(runs)]
    except EvalError as exc:
        return [gr.skip(), gr.update(choices=[], value=None), *_cleared(str(exc))]
    if not runs:
        return [index, gr.update(choices=[], value=None), *_cleared("This row has no runs.")]
    return [index, gr.update(choices=choices, value=0), *run_chosen(ev, index, 0, files)]


def run_chosen(ev: Evaluation | None, index, run, files: Downloads) -> list:
    """One run of a row, cut at the row's budget: its lanes, its forced answer, its trace file."""
    if ev is None or not isinstance(index, int) or not isinstance(run, int):
        return _cleared("Choose a row and a problem.")
    try:
        runs = runs_of_row(ev, index)
        if not 0 <= run < len(runs):
            raise EvalError("that problem is not in this row")
        record, budget = runs[run], row_passes(ev, index)
        trace = trace_of_run(record, budget, ev.settings, ev.name, row=str(ev.table.iloc[index]["row"]))
        log = log_of_trace(trace)
    except (EvalError, KeyError, TypeError, ValueError) as exc:
        return _cleared(f"This run cannot be shown: {exc}")
    names = log.meta["worker_names"]
    lanes = render.lanes_html([render.lane_html(n, w, log.lanes[w], log.sampled[w], worker_names=names,
                                                id_prefix=LANE_IDS) for w, n in enumerate(names)])
    download = gr.update(interactive=False, value=None)
    try:
        files.clear()
        path = files.path(f"eval-{ev.name}-{record['problem_id']}-{record['method']}-{record['layout']}-"
                               f"W{record['workers']}-budget{budget}.json".replace("/", "_").replace(":", "_"))
        download = gr.update(interactive=True, value=write_trace_dict(trace, path))
    except OSError:
        pass        # the lanes work without the download
    note = (f'<div class="hw-eval-line">{escape(log.meta["label"])}: {len(log.passes)} passes; inserted prompts '
            f'in grey italics. Not shown because not recorded: {escape(NOT_RECORDED)}.</div>')
    return [note, render.forced_answer_html(record, probe_of(record, budget), names), lanes, download, ""]


def _downloads() -> Downloads:
    """A page's Evaluation tab state: the trace of the run it shows, in a folder of its own."""
    return Downloads("hogwild-eval-")


def _cleared(message: str = "", kind: str = "error") -> list:
    """The run panels emptied, with a message (note, answer, lanes, download, message)."""
    return ["", "", EMPTY_LANES, gr.update(interactive=False, value=None), render.message_html(message, kind)]


def _blank_figure() -> go.Figure:
    figure = go.Figure()
    figure.update_layout(template="plotly_white", title="Choose a saved evaluation", height=360)
    return figure
