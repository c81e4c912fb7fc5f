"""The page: layout first, then the wiring, gathered at the end of `build_ui`.

`build_ui(store)` returns a gr.Blocks; `launch(app, ...)` starts it with the queue and the
stylesheet. Callbacks live in demo/callbacks.py and know nothing of Gradio; `Wiring` is the
thin adapter that reads the controls into RunSettings and turns Frames into updates."""

import json
from dataclasses import dataclass, fields
from pathlib import Path

import gradio as gr

from hogwild_core import LAYOUTS, MAX_WORKERS, WORKER_NAMES, HogwildError

from . import callbacks, charts, render
from .callbacks import MEAN_LAYER, Cadence, Frame, Session
from .gpu import on_gpu
from .settings import DEFAULT_MODEL, RunSettings, parse_settings

ASSETS = Path(__file__).resolve().parent.parent / "assets"
EXAMPLE_TRACE = ASSETS / "example_trace.json"
PAPER = "https://arxiv.org/abs/2504.06261"
MAX_QUEUE = 10                # visitors waiting for a slot; the next one is told the queue is full
CACHE_SECONDS = (3600, 3600)  # every hour, delete served files older than an hour
HEADER = f"""<div class="hw-header"><h1>Hogwild! Inference: parallel workers, one shared KV cache</h1>
<p>Several workers of one model write at the same time and read each other's tokens as they appear.
Pick a problem, press Run, and watch who reads whom. Paper:
<a href="{PAPER}" target="_blank" rel="noopener">arXiv 2504.06261</a>.</p></div>"""


@dataclass
class Controls:
    """The run's input widgets, one per RunSettings field."""
    problem: gr.Textbox
    num_workers: gr.Slider
    layout: gr.Radio
    max_new_tokens: gr.Slider
    temperature: gr.Slider
    top_p: gr.Slider
    seed: gr.Number
    check_interval: gr.Number
    model: gr.Textbox

    def components(self) -> set:
        return {getattr(self, f.name) for f in fields(self)}

    def read(self, data: dict) -> RunSettings:
        return parse_settings({f.name: data[getattr(self, f.name)] for f in fields(self)})


def load_examples(path: Path = ASSETS / "examples.json") -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def build_ui(store, *, default_model: str = DEFAULT_MODEL, cadence: Cadence = Cadence(),
             concurrency_limit: int = 1) -> gr.Blocks:
    examples = load_examples()
    # delete_cache: Gradio keeps a copy of every file it serves (each run's trace); drop them after
    # an hour so a public app's disk use stays bounded.
    with gr.Blocks(title="Hogwild! Inference demo", analytics_enabled=False, delete_cache=CACHE_SECONDS) as app:
        session = gr.State(Session, delete_callback=callbacks.close_session)
        gr.HTML(HEADER, js_on_load=None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                controls = _controls(examples, default_model, store.choices(default_model))
                with gr.Row():
                    run_btn = gr.Button("Run", variant="primary", elem_id="run")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
                with gr.Row():
                    one_btn = gr.Button("Compare: 1 worker", size="sm", elem_id="compare-one")
                    indep_btn = gr.Button("Compare: independent workers", size="sm", elem_id="compare-independent")
                message = gr.HTML("", elem_id="message", js_on_load=None)
            with gr.Column(scale=3, min_width=420):
                stats = gr.HTML(render.stats_html(None), elem_id="stats", js_on_load=None)
                answer = gr.HTML(render.answer_html(None), elem_id="answer", js_on_load=None)
                with gr.Row(equal_height=False):
                    lanes = [gr.HTML(render.lane_html(WORKER_NAMES[w], w, []), elem_id=f"lane-{w}", visible=w < 2,
                                     max_height=320, autoscroll=True, min_width=260, js_on_load=None)
                             for w in range(MAX_WORKERS)]
                gr.Markdown("**Shared history**: finished steps, in the order they finished, coloured by author.")
                history = gr.HTML(render.history_html([], [], True), elem_id="history", max_height=300,
                                  autoscroll=True, js_on_load=None)
        with gr.Row(equal_height=False):
            with gr.Column(min_width=360):
                with gr.Row():
                    layer = gr.Dropdown([("mean over layers", MEAN_LAYER)], value=MEAN_LAYER, label="Heatmap layer",
                                        elem_id="layer", interactive=True, min_width=160)
                    step = gr.Slider(1, 2, value=1, step=1, label="Heatmap step (once a run ends)",
                                     interactive=False, elem_id="heatmap-step", min_width=200)
                heatmap = gr.Plot(charts.attention_heatmap(None, [], []), elem_id="heatmap", show_label=False)
            with gr.Column(min_width=360):
                timeline = gr.Plot(charts.attention_timeline([], []), elem_id="timeline", show_label=False)
        with gr.Row(equal_height=False):
            with gr.Column(min_width=360):
                gr.Markdown("**The cache as a worker sees it**: its blocks in view order, with positions and text.")
                view_worker = gr.Radio([(WORKER_NAMES[w], w) for w in range(2)], value=0, label="Worker",
                                       elem_id="view-worker")
                view = gr.HTML(render.view_html([], [], [], 0), elem_id="view", max_height=420, js_on_load=None)
            with gr.Column(min_width=360):
                gr.Markdown("**Compare**: runs of this session side by side.")
                compare = gr.HTML(render.compare_html([]), elem_id="compare", js_on_load=None)
                gr.Markdown("**Keep**: download the last run, or replay a saved trace without a model.")
                with gr.Row():
                    trace_btn = gr.DownloadButton("Trace (JSON)", interactive=False, size="sm", elem_id="download-trace")
                    csv_btn = gr.DownloadButton("Attention (CSV)", interactive=False, size="sm", elem_id="download-csv")
                with gr.Row():
                    upload = gr.UploadButton("Load a trace…", file_types=[".json"], type="filepath", size="sm",
                                             elem_id="load-trace")
                    example_btn = gr.Button("Replay the example run", size="sm", elem_id="replay-example",
                                            visible=EXAMPLE_TRACE.is_file())

        wiring = Wiring(store, controls, session, upload, cadence, outputs=dict(
            message=message, stats=stats, answer=answer, lanes=lanes, history=history, heatmap=heatmap,
            timeline=timeline, view=view, view_worker=view_worker, layer=layer, step=step, compare=compare,
            trace=trace_btn, csv=csv_btn))
        inputs = controls.components() | {session}
        engine_events = dict(outputs=wiring.event_outputs, concurrency_limit=concurrency_limit, concurrency_id="engine",
                             show_progress="hidden")
        run_btn.click(wiring.run_clicked, inputs=inputs, **engine_events)
        controls.problem.submit(wiring.run_clicked, inputs=inputs, **engine_events)
        one_btn.click(wiring.compare_one_clicked, inputs=inputs, **engine_events)
        indep_btn.click(wiring.compare_independent_clicked, inputs=inputs, **engine_events)
        replay_events = dict(outputs=wiring.event_outputs, concurrency_limit=4, concurrency_id="replay",
                             show_progress="hidden")
        upload.upload(wiring.trace_uploaded, inputs={session, upload}, **replay_events)
        example_btn.click(wiring.example_clicked, inputs=session, **replay_events)
        # Stop and the chart choices bypass the queue: they must work while runs fill it.
        instant = dict(concurrency_limit=None, queue=False, show_progress="hidden")
        stop_btn.click(callbacks.stop, inputs=session, outputs=message, **instant)
        layer.input(callbacks.select_layer, inputs=[session, layer], outputs=heatmap, **instant)
        step.input(callbacks.select_step, inputs=[session, step], outputs=heatmap, **instant)
        view_worker.input(callbacks.select_view, inputs=[session, view_worker], outputs=view, **instant)
    return app


def _controls(examples: list[dict], default_model: str, model_choices: list[str]) -> Controls:
    problem = gr.Textbox(examples[0]["problem"] if examples else "", label="Problem", lines=4, max_lines=10,
                         elem_id="problem")
    if examples:
        gr.Examples([[e["problem"]] for e in examples], inputs=[problem], label="Examples",
                    example_labels=[e["title"] for e in examples])
    num_workers = gr.Slider(1, MAX_WORKERS, value=2, step=1, label="Workers", elem_id="workers")
    layout = gr.Radio(list(LAYOUTS), value="combined", label="Cache layout", elem_id="layout",
                      info="combined = the paper's; contiguous = token-wise; interleaved = step-wise")
    max_new_tokens = gr.Slider(16, 1024, value=192, step=16, label="Max new tokens per worker",
                               elem_id="max-new-tokens")
    with gr.Accordion("Sampling, checks and model", open=False):
        temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.05, label="Temperature (0 = greedy)", elem_id="temperature")
        top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p", elem_id="top-p")
        seed = gr.Number(0, precision=0, label="Seed", elem_id="seed")
        check_interval = gr.Number(0, precision=0, label="Collaboration check every N steps (0 = never)",
                                   elem_id="check-interval")
        model = gr.Dropdown(model_choices, value=default_model, allow_custom_value=True, elem_id="model",
                            label="Model: a fetched one, 'default' (embedded SmolLM2-135M), a local path or a hub id")
    return Controls(problem, num_workers, layout, max_new_tokens, temperature, top_p, seed, check_interval, model)


class Wiring:
    """Adapter between Gradio events and the callbacks: reads controls, turns Frames into updates."""

    def __init__(self, store, controls: Controls, session: gr.State, upload: gr.UploadButton, cadence: Cadence,
                 outputs: dict):
        self.store, self.controls, self.session, self.upload, self.cadence = store, controls, session, upload, cadence
        self.outputs = outputs
        self.output_list = [outputs[k] for k in ("message", "stats", "answer")] + outputs["lanes"] + [
            outputs[k] for k in ("history", "heatmap", "timeline", "view", "view_worker", "layer", "step", "compare",
                                 "trace", "csv")] + [controls.problem, controls.num_workers, controls.layout]
        # Runs and replays also write the session back (the same object). Gradio only times out a
        # State it has seen written: without this, a closed page's Session, its run log and files
        # would stay until the server stops, instead of being dropped an hour after the page closed.
        self.event_outputs = self.output_list + [session]
        self.runner = on_gpu(callbacks.run)

    def run_clicked(self, data: dict):
        yield from self._run(data, None)

    def compare_one_clicked(self, data: dict):
        yield from self._run(data, "one")

    def compare_independent_clicked(self, data: dict):
        yield from self._run(data, "independent")

    def trace_uploaded(self, data: dict):
        session = data[self.session]
        for frame in callbacks.replay(session, data[self.upload], self.cadence):
            yield self.updates(frame) + [session]

    def example_clicked(self, session: Session):
        for frame in callbacks.replay(session, str(EXAMPLE_TRACE), self.cadence):
            yield self.updates(frame) + [session]

    def _run(self, data: dict, baseline: str | None):
        try:
            settings = self.controls.read(data)
            if baseline:
                settings = settings.baseline(baseline)
        except HogwildError as exc:
            yield self.updates(Frame(message=render.message_html(callbacks.sentence(exc)))) + [gr.skip()]
            return
        session = data[self.session]
        for frame in self.runner(session, self.store, settings, self.cadence):
            yield self.updates(frame) + [session]

    def updates(self, frame: Frame) -> list:
        """One value per output component; gr.skip() where the frame leaves a panel alone."""
        def value(v):
            return gr.skip() if v is None else v

        W = frame.num_workers
        lanes = []
        for w in range(MAX_WORKERS):
            html = frame.lanes[w] if frame.lanes is not None and w < len(frame.lanes) else None
            if W is None:
                lanes.append(value(html))
            else:
                lanes.append(gr.update(visible=w < W, value=html if html is not None else ""))
        view_worker = layer = step = gr.skip()
        if W is not None:
            view_worker = gr.update(choices=[(WORKER_NAMES[w], w) for w in range(W)], value=0)
        if frame.num_layers is not None:
            layer = gr.update(choices=[("mean over layers", MEAN_LAYER)] +
                              [(f"layer {i}", i) for i in range(frame.num_layers)], value=MEAN_LAYER)
            step = gr.update(interactive=False)
        if frame.num_steps:
            step = gr.update(minimum=1, maximum=max(frame.num_steps, 2), value=frame.num_steps, interactive=True)
        trace = csv = gr.skip()
        if frame.files:
            trace = gr.update(value=frame.files[0], interactive=True)
            csv = gr.update(value=frame.files[1], interactive=True)
        shown = [gr.skip()] * 3
        if frame.settings is not None:
            s = frame.settings
            shown = [s.problem, s.num_workers, s.layout if s.layout in LAYOUTS else gr.skip()]
        return [value(frame.message), value(frame.stats), value(frame.answer), *lanes, value(frame.history),
                value(frame.heatmap), value(frame.timeline), value(frame.view), view_worker, layer, step,
                value(frame.compare), trace, csv, *shown]


def launch(app: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None, share: bool = False,
           concurrency_limit: int = 1, max_queue: int = MAX_QUEUE, **kwargs):
    app.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue)
    return app.launch(server_name=host, server_port=port, share=share, css_paths=[ASSETS / "style.css"],
                      max_file_size="64mb", **kwargs)
