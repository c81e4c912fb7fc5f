"""The Evaluation tab: a saved evaluation (docs/eval/<name>/), its accuracy-vs-budget figure and
table, and one run of a chosen row (method, W, budget) shown as the workers' lanes, with its trace
to download (the main tab's "Load a trace…" replays it). Layout and wiring only, on the main tab's
design: demo/eval_callbacks.py says what each event shows as an `EvalFrame`, and `EvalWiring`
maps the frame's fields to components by name (an event returns only what its frame changes).
The tab keeps its own state: the loaded evaluation and a folder for the trace it offers."""

from pathlib import Path

import gradio as gr

from . import render
from .downloads import Downloads, close_downloads
from .eval_callbacks import KEEP, EvalFrame, blank_figure, choose_row, open_evaluation, show_run
from .evaluations import EVAL_ROOT

INTRO = ("**Saved evaluations** (made with `python -m evaluation`; see docs/evaluation.md): accuracy against "
         "budget, each part of the table counted over the problems every one of its methods has run on (an "
         "ablation run on fewer problems has its own part). Click a table row (or pick one below) to open its "
         "runs: the workers' text up to that row's cut and the answer forced there.")


class EvalWiring:
    """The tab's components by name, and the events that update them from frames."""
    PANELS = ("note", "answer", "lanes", "download", "message")      # what every event redraws
    OPENED = ("choice", "loaded", "summary", "figure", "table", "paired", "row", "run", *PANELS)
    ROW = ("row", "run", *PANELS)

    def __init__(self, components: dict, root: Path):
        self.components, self.root = components, root

    def outputs(self, names: tuple[str, ...]) -> list:
        return [self.components[name] for name in names]

    @staticmethod
    def updates(frame: EvalFrame) -> dict:
        """{component name: value} for what `frame` changes."""
        out = {"message": frame.message, "note": frame.shown.note, "answer": frame.shown.answer,
               "lanes": frame.shown.lanes,
               "download": gr.update(interactive=frame.shown.trace is not None, value=frame.shown.trace)}
        if frame.names is not KEEP or frame.name is not KEEP:
            out["choice"] = gr.update(**({} if frame.names is KEEP else {"choices": frame.names}),
                                      **({} if frame.name is KEEP else {"value": frame.name}))
        for name in ("summary", "figure", "table", "paired"):
            if getattr(frame, name) is not KEEP:
                out[name] = getattr(frame, name)
        if frame.evaluation is not KEEP:
            out["loaded"] = frame.evaluation
        if frame.rows is not KEEP:
            out["row"] = gr.update(choices=frame.rows, value=None if frame.row is KEEP else frame.row)
        elif frame.row is not KEEP:
            out["row"] = frame.row
        if frame.runs is not KEEP:
            out["run"] = gr.update(choices=frame.runs, value=None if frame.run is KEEP else frame.run)
        return out

    def _send(self, frame: EvalFrame) -> dict:
        return {self.components[name]: value for name, value in self.updates(frame).items()}

    def evaluation_opened(self, name):
        """Selecting the tab lists the folders again: an evaluation may have appeared or grown since."""
        return self._send(open_evaluation(name, self.root, refresh=True))

    def evaluation_picked(self, name):
        return self._send(open_evaluation(name, self.root))

    def row_clicked(self, ev, files: Downloads, evt: gr.SelectData):
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return self._send(choose_row(ev, index, files))

    def row_picked(self, ev, index, files: Downloads):
        return self._send(choose_row(ev, index, files))

    def run_picked(self, ev, index, run, files: Downloads):
        return self._send(show_run(ev, index, run, files))


def build_evaluation_tab(root: Path = EVAL_ROOT) -> gr.Tab:
    """The tab (call inside gr.Tabs); its contents load when it is selected."""
    with gr.Tab("Evaluation", id="evaluation", elem_id="evaluation-tab") as tab:
        gr.Markdown(INTRO)
        choice = gr.Dropdown([], label="Saved evaluation (docs/eval)", elem_id="eval-choice", interactive=True)
        summary = gr.HTML("", elem_id="eval-summary", js_on_load=None)
        message = gr.HTML("", elem_id="eval-message", js_on_load=None)
        figure = gr.Plot(blank_figure(), elem_id="eval-figure", show_label=False)
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
        lanes = gr.HTML(render.EMPTY_EVAL_LANES, elem_id="eval-lanes", js_on_load=None)
        components = dict(choice=choice, loaded=gr.State(None),
                          files=gr.State(_downloads, delete_callback=close_downloads), summary=summary,
                          message=message, figure=figure, table=table, paired=paired, row=row, run=run,
                          download=download, note=note, answer=answer, lanes=lanes)
    wiring, c = EvalWiring(components, root), components
    events = dict(concurrency_limit=4, concurrency_id="evaluation", show_progress="minimal")
    tab.select(wiring.evaluation_opened, inputs=c["choice"], outputs=wiring.outputs(EvalWiring.OPENED), **events)
    c["choice"].input(wiring.evaluation_picked, inputs=c["choice"], outputs=wiring.outputs(EvalWiring.OPENED),
                      **events)
    c["table"].select(wiring.row_clicked, inputs=[c["loaded"], c["files"]], outputs=wiring.outputs(EvalWiring.ROW),
                      **events)
    c["row"].input(wiring.row_picked, inputs=[c["loaded"], c["row"], c["files"]],
                   outputs=wiring.outputs(EvalWiring.ROW), **events)
    c["run"].input(wiring.run_picked, inputs=[c["loaded"], c["row"], c["run"], c["files"]],
                   outputs=wiring.outputs(EvalWiring.PANELS), **events)
    return tab


def _downloads() -> Downloads:
    """A page's Evaluation tab state: the trace of the run it shows, in a folder of its own."""
    return Downloads("hogwild-eval-")
