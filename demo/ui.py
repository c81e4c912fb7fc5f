"""The page: layout first, then the wiring, gathered at the end of `build_ui`. Two tabs: the
run-and-replay page, and saved evaluations (demo/eval_tab.py, which lays out and wires its own).

`build_ui(store)` returns a gr.Blocks that opens on the gallery's featured recording;
`launch(app, ...)` starts it with the queue and the stylesheet. Callbacks live in demo/callbacks.py and know nothing of Gradio; `Wiring` is the
thin adapter that reads the controls into PageSettings and turns Frames into updates, by name."""

import json
from dataclasses import dataclass, fields
from pathlib import Path

import gradio as gr

from hogwild_core import LAYOUTS, MAX_WORKERS, WORKER_NAMES, HogwildError

from . import callbacks, charts, render
from .callbacks import MEAN_LAYER, Cadence, Frame, Session
from .eval_tab import build_evaluation_tab
from .evaluations import EVAL_ROOT
from .gallery import GALLERY, GalleryEntry, load_gallery
from .gpu import on_gpu
from .lifecycle import SessionBusy
from .settings import DEFAULT_MODEL, PageSettings, parse_settings
from .static_chart import heatmap_svg

ASSETS = Path(__file__).resolve().parent.parent / "assets"
PAPER = "https://arxiv.org/abs/2504.06261"
MAX_QUEUE = 10                # visitors waiting for a slot; the next one is told the queue is full
CACHE_SECONDS = (3600, 3600)  # every hour, delete served files older than an hour
PAGE_HEIGHT = 3300            # px: the first tab is shorter in a 1000 px wide iframe (README; tests/test_e2e_app.py)
HEADER = f"""<div class="hw-header"><div class="hw-intro"><h1>Hogwild! Inference: parallel workers, one shared KV cache</h1>
<p>Several workers of one model write at the same time and read each other's tokens as they appear.
Below: a recorded run. Pick a problem and press Run to start your own. Paper:
<a href="{PAPER}" target="_blank" rel="noopener">arXiv 2504.06261</a>.</p></div>{render.layouts_svg()}</div>"""
# On a narrow screen the lanes are far below Run: bring them into view when a run starts.
SHOW_LANES = "() => { if (window.innerWidth < 800) document.getElementById('lanes')?.scrollIntoView({block: 'start'}); }"
HUMAN_PLACEHOLDER = ("Write as a worker, e.g. \"I take part (c). Alice, check Bob's (b).\" Enter sends; a line that "
                     "ends a sentence becomes your step in the shared history.")
# Each lane follows its newest text (the grid is redrawn on every update).
FOLLOW_LANES = """const follow = () => element.querySelectorAll('.hw-lane-body').forEach(b => { b.scrollTop = b.scrollHeight; });
new MutationObserver(follow).observe(element, {childList: true, subtree: true}); follow();"""


@dataclass
class Controls:
    """The run's input widgets, one per PageSettings field."""
    problem: gr.Textbox
    num_workers: gr.Slider
    layout: gr.Radio
    max_new_tokens: gr.Slider
    temperature: gr.Slider
    top_p: gr.Slider
    seed: gr.Number
    check_interval: gr.Number
    model: gr.Textbox
    join: gr.Checkbox

    def components(self) -> set:
        return {getattr(self, f.name) for f in fields(self)}

    def read(self, data: dict) -> PageSettings:
        return parse_settings({f.name: data[getattr(self, f.name)] for f in fields(self)})


def load_examples(path: Path = ASSETS / "examples.json") -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def build_ui(store, *, default_model: str = DEFAULT_MODEL, cadence: Cadence = Cadence(),
             concurrency_limit: int = 1, gallery_folder: Path = GALLERY,
             eval_folder: Path = EVAL_ROOT, model_note: str = "") -> gr.Blocks:
    examples = load_examples()
    entries, _ = load_gallery(gallery_folder)
    opening = _opening(entries[0]) if entries else Frame()
    # delete_cache: Gradio keeps a copy of every file it serves (each run's trace); drop them after
    # an hour so a public app's disk use stays bounded.
    # fill_width: no side padding, so a 1000 px iframe still has room for the two columns
    with gr.Blocks(title="Hogwild! Inference demo", analytics_enabled=False, delete_cache=CACHE_SECONDS,
                   fill_width=True) as app:
        session = gr.State(Session, delete_callback=callbacks.close_session)
        gr.HTML(HEADER, js_on_load=None, elem_id="header")
        gr.HTML(render.model_note_html(model_note), js_on_load=None, elem_id="model-note", visible=bool(model_note))
        # Two tabs (gr.Tab fills in the gr.Tabs around it): the page as it was, and saved evaluations.
        with gr.Tab("Run and replay", id="run-tab", elem_id="run-tab"):
            with gr.Row(equal_height=False, elem_id="main"):
                with gr.Column(scale=1, min_width=300, elem_id="setup"):
                    with gr.Row(elem_id="run-bar"):
                        run_btn = gr.Button("Run", variant="primary", elem_id="run", min_width=90)
                        stop_btn = gr.Button("Stop", variant="secondary", elem_id="stop", interactive=False,
                                             min_width=90)
                    activity = gr.HTML(render.activity_html(""), elem_id="activity", js_on_load=None)
                    message = gr.HTML("", elem_id="message", js_on_load=None)
                    controls = _controls(examples, default_model, store.choices(default_model), opening.settings)
                    gr.Markdown("**Compare** the last finished run with the same problem without the shared cache "
                                "(the controls show what runs):", elem_id="compare-note")
                    with gr.Row():
                        one_btn = gr.Button("Compare: 1 worker (after a run)", size="sm", elem_id="compare-one",
                                            interactive=False)
                        indep_btn = gr.Button("Compare: independent workers (after a run)", size="sm",
                                              elem_id="compare-independent", interactive=False)
                with gr.Column(scale=3, min_width=420, elem_id="output"):
                    with gr.Row(elem_id="gallery-bar", equal_height=True):
                        gallery = gr.Radio([(e.title, i) for i, e in enumerate(entries)], value=0 if entries else None,
                                           label="Recorded runs", elem_id="gallery", scale=3)
                        replay_btn = gr.Button("Replay", size="sm", elem_id="gallery-replay", scale=0, min_width=80,
                                               interactive=bool(entries))
                        upload = gr.UploadButton("Load a trace…", file_types=[".json"], type="filepath", size="sm",
                                                 elem_id="load-trace", scale=0, min_width=120)
                    caption = gr.HTML(render.gallery_html(entries[0] if entries else None), elem_id="gallery-caption",
                                      js_on_load=None)
                    replay_message = gr.HTML("", elem_id="replay-message", js_on_load=None)
                    stats = gr.HTML(opening.stats or render.stats_html(None), elem_id="stats", js_on_load=None)
                    answer = gr.HTML(opening.answer or render.answer_html(None), elem_id="answer", js_on_load=None)
                    lanes = gr.HTML(render.lanes_html(opening.lanes or [render.lane_html(WORKER_NAMES[w], w, [])
                                                                         for w in range(2)]),
                                    elem_id="lanes", js_on_load=FOLLOW_LANES)
                    # Shown while "Join as a worker" is ticked: the visitor's line goes into their lane.
                    with gr.Column(visible=False, elem_id="human") as human:
                        with gr.Row(equal_height=True):
                            human_text = gr.Textbox(show_label=False, lines=1, max_lines=4, scale=5,
                                                    elem_id="human-text", placeholder=HUMAN_PLACEHOLDER)
                            human_send = gr.Button("Send", variant="primary", size="sm", scale=0, min_width=80,
                                                   elem_id="human-send")
                        human_message = gr.HTML("", elem_id="human-message", js_on_load=None)
                    gr.Markdown("**Shared history**: finished steps, in the order they finished, coloured by author.")
                    history = gr.HTML(opening.history or render.history_html([], [], True), elem_id="history",
                                      autoscroll=True, js_on_load=None)
            with gr.Row(equal_height=False, elem_id="charts"):
                with gr.Column(min_width=360):
                    with gr.Row():
                        layer = gr.Dropdown([("mean over layers", MEAN_LAYER)], value=MEAN_LAYER, label="Heatmap layer",
                                            elem_id="layer", interactive=True, min_width=160)
                        heatmap_pass = gr.Slider(1, max(opening.num_passes or 2, 2), value=opening.heatmap_pass or 1,
                                                 step=1, label="Heatmap pass (once a run ends)",
                                                 interactive=bool(opening.num_passes), elem_id="heatmap-pass",
                                                 min_width=200)
                    with gr.Column(elem_id="heatmap-box"):
                        heatmap = gr.Plot(opening.heatmap or charts.attention_heatmap(None, [], []), elem_id="heatmap",
                                          show_label=False)
                        # the opening heatmap as SVG in the page itself, shown until plotly.js has drawn
                        gr.HTML(heatmap_svg(opening.heatmap, charts.HEATMAP_HEIGHT - 12) if opening.heatmap else "",
                                elem_id="heatmap-first", padding=False, js_on_load=None)
                with gr.Column(min_width=360):
                    timeline = gr.Plot(opening.timeline or charts.attention_timeline([], []), elem_id="timeline",
                                       show_label=False)
            with gr.Row(equal_height=False):
                with gr.Column(min_width=360):
                    gr.Markdown("**The cache as a worker sees it**: its blocks in view order, with positions and text "
                                "(the shared prompt is folded).")
                    view_worker = gr.Radio(list(_worker_choices(opening.worker_names or WORKER_NAMES[:opening.num_workers or 2])),
                                           value=0, label="Worker", elem_id="view-worker")
                    view = gr.HTML(opening.view or render.view_html([], [], [], 0), elem_id="view", js_on_load=None)
                with gr.Column(min_width=360):
                    gr.Markdown("**Compare**: runs of this session side by side.")
                    compare = gr.HTML(render.compare_html([]), elem_id="compare", js_on_load=None)
                    gr.Markdown("**Keep**: download the last run (named after its layout, workers and date).")
                    with gr.Row():
                        trace_btn = gr.DownloadButton("Trace (JSON)", interactive=False, size="sm",
                                                      elem_id="download-trace")
                        csv_btn = gr.DownloadButton("Attention (CSV)", interactive=False, size="sm",
                                                    elem_id="download-csv")
        build_evaluation_tab(eval_folder)

        wiring = Wiring(store, controls, session, upload, cadence, entries, outputs=dict(
            message=message, stats=stats, answer=answer, lanes=lanes, history=history, heatmap=heatmap,
            timeline=timeline, view=view, view_worker=view_worker, layer=layer, heatmap_pass=heatmap_pass,
            compare=compare,
            trace=trace_btn, csv=csv_btn, activity=activity, run=run_btn, stop=stop_btn, one=one_btn,
            independent=indep_btn, replay_message=replay_message, caption=caption, gallery=gallery))
        inputs = controls.components() | {session}
        engine_events = dict(outputs=wiring.run_outputs, concurrency_limit=concurrency_limit, concurrency_id="engine",
                             show_progress="minimal", show_progress_on=activity)
        # Pressing Run answers at once, outside the queue (lanes, status, buttons); the run itself queues.
        pressed = dict(outputs=wiring.pressed_outputs, queue=False, show_progress="hidden")
        run_btn.click(None, js=SHOW_LANES)
        run_btn.click(wiring.run_pressed, inputs=inputs, **pressed).then(wiring.run_clicked, inputs=inputs,
                                                                          **engine_events)
        controls.problem.submit(wiring.run_pressed, inputs=inputs, **pressed).then(wiring.run_clicked, inputs=inputs,
                                                                                   **engine_events)
        one_btn.click(wiring.compare_one_clicked, inputs=session, **engine_events)
        indep_btn.click(wiring.compare_independent_clicked, inputs=session, **engine_events)
        replay_events = dict(outputs=wiring.replay_outputs, concurrency_limit=4, concurrency_id="replay",
                             show_progress="hidden")
        upload.upload(wiring.trace_uploaded, inputs={session, upload}, **replay_events)
        gallery.input(wiring.gallery_clicked, inputs=[session, gallery], **replay_events)
        replay_btn.click(wiring.gallery_clicked, inputs=[session, gallery], **replay_events)
        app.load(wiring.page_opened, inputs=[session, gallery], **replay_events)
        # Stop and the chart choices bypass the queue: they must work while runs fill it.
        instant = dict(concurrency_limit=None, queue=False, show_progress="hidden")
        stop_btn.click(wiring.stop_clicked, inputs=session, outputs=[message, stop_btn], api_name="stop", **instant)
        layer.input(callbacks.select_layer, inputs=[session, layer], outputs=heatmap, **instant)
        heatmap_pass.input(callbacks.select_pass, inputs=[session, heatmap_pass], outputs=heatmap, **instant)
        view_worker.input(callbacks.select_view, inputs=[session, view_worker], outputs=view, **instant)
        controls.join.change(wiring.join_changed, inputs=controls.join, outputs=human, **instant)
        sent = dict(inputs=[session, human_text], outputs=[human_message, lanes, human_text], **instant)
        human_send.click(wiring.line_sent, api_name="send_line", **sent)
        human_text.submit(wiring.line_sent, api_name=False, **sent)
    return app


def _controls(examples: list[dict], default_model: str, model_choices: list[str],
              shown: PageSettings | None = None) -> Controls:
    """The settings widgets; `shown`: the settings of the recording the page opens on."""
    problem = gr.Textbox(shown.problem if shown else examples[0]["problem"] if examples else "", label="Problem",
                         lines=4, max_lines=10, elem_id="problem")
    if examples:
        gr.Examples([[e["problem"]] for e in examples], inputs=[problem], label="Examples",
                    example_labels=[e["title"] for e in examples])
    num_workers = gr.Slider(1, MAX_WORKERS, value=shown.num_workers if shown else 2, step=1, label="Workers",
                            elem_id="workers")
    layout = gr.Radio(list(LAYOUTS), value=shown.layout if shown and shown.layout in LAYOUTS else "combined",
                      label="Cache layout", elem_id="layout",
                      info="combined = the paper's; contiguous = token-wise; interleaved = step-wise")
    join_slot = gr.Column()     # "Join as a worker" sits here; it is made last (the run API's last input)
    max_new_tokens = gr.Slider(16, 1024, value=192, step=16, label="Max new tokens per worker",
                               elem_id="max-new-tokens")
    with gr.Accordion("Sampling, checks and model", open=False):
        # Sampling by default: workers with identical views write identical text when greedy.
        temperature = gr.Slider(0.0, 2.0, value=PageSettings.temperature, step=0.05, label="Temperature (0 = greedy)",
                                elem_id="temperature")
        top_p = gr.Slider(0.05, 1.0, value=PageSettings.top_p, step=0.05, label="Top-p", elem_id="top-p")
        seed = gr.Number(0, precision=0, label="Seed", elem_id="seed")
        check_interval = gr.Number(0, precision=0, label="Collaboration check every N passes (0 = never)",
                                   elem_id="check-interval")
        model = gr.Dropdown(model_choices, value=default_model, allow_custom_value=True, elem_id="model",
                            label="Model: a fetched one, 'default' (embedded SmolLM2-135M), a local path or a hub id")
    with join_slot:
        join = gr.Checkbox(False, label="Join as a worker", elem_id="join",
                           info='You get a lane ("You") and a text box; the model workers read what you send. '
                                "You count as one of the workers.")
    return Controls(problem, num_workers, layout, max_new_tokens, temperature, top_p, seed, check_interval, model, join)


class Wiring:
    """Adapter between Gradio events and the callbacks: reads controls, turns Frames into updates.

    Every update is by name: `updates(frame)` gives {output name: value} for what the frame
    changes and nothing else (Gradio leaves an output that an event's dict omits as it is), and
    `_send` maps names to components at the last moment. An event's outputs are the named
    components it may change: `PANELS`, the message box of its kind (a run's under Run, a
    replay's by the gallery) and, for engine runs and replays, the session."""

    # What a Frame can change besides its message: panels, their choosers, the downloads, the three
    # settings a replay or a compare run shows in the controls, the status line, the buttons, the caption.
    PANELS = ("stats", "answer", "lanes", "history", "heatmap", "timeline", "view", "view_worker", "layer",
              "heatmap_pass", "compare", "trace", "csv", "problem", "num_workers", "layout", "activity", "run",
              "stop", "one", "independent", "caption")

    def __init__(self, store, controls: Controls, session: gr.State, upload: gr.UploadButton, cadence: Cadence,
                 entries: list[GalleryEntry], outputs: dict):
        self.store, self.controls, self.session, self.upload, self.cadence = store, controls, session, upload, cadence
        self.entries = entries
        self.components = {**outputs, "problem": controls.problem, "num_workers": controls.num_workers,
                           "layout": controls.layout, "session": session}
        panels = [self.components[name] for name in self.PANELS]
        # Runs and replays also write the session back (the same object). Gradio only times out a
        # State it has seen written: without this, a closed page's Session, its run log and files
        # would stay until the server stops, instead of being dropped an hour after the page closed.
        self.pressed_outputs = [outputs["message"], *panels]
        self.run_outputs = self.pressed_outputs + [session]
        self.replay_outputs = [outputs["replay_message"], *panels, session]
        self.runner = on_gpu(callbacks.run)

    def _send(self, named: dict) -> dict:
        """{name: value} -> {component: value}, what a Gradio event returns (gr.skip() for nothing:
        Gradio reads an empty dict as a missing value)."""
        return {self.components[name]: value for name, value in named.items()} if named else gr.skip()

    def run_pressed(self, data: dict) -> dict:
        try:
            settings = self.controls.read(data)
        except HogwildError:
            return gr.skip()                   # the run event says what is wrong
        try:
            return self._send(self.updates(callbacks.pressed(data[self.session], settings)))
        except SessionBusy:
            return gr.skip()                   # a live run holds the session: its run event says so

    def run_clicked(self, data: dict):
        try:
            settings = self.controls.read(data)
        except HogwildError as exc:
            yield self._send(self.updates(Frame(message=render.message_html(callbacks.sentence(exc)), running=False,
                                                activity="")))
            return
        yield from self._run(data[self.session], settings)

    def compare_one_clicked(self, session: Session):
        yield from self._compare(session, "one")

    def compare_independent_clicked(self, session: Session):
        yield from self._compare(session, "independent")

    def stop_clicked(self, session: Session) -> list:
        return [callbacks.stop(session), gr.update(interactive=False)]

    def join_changed(self, join: bool):
        return gr.update(visible=bool(join))

    def line_sent(self, session: Session, text: str) -> list:
        """The visitor's line: a message next to the box, the lanes at once, the box emptied."""
        message, frame = callbacks.send_line(session, text)
        if frame is None:
            return [message, gr.skip(), gr.skip()]
        return [message, gr.skip() if frame.lanes is None else render.lanes_html(frame.lanes), ""]

    def trace_uploaded(self, data: dict):
        yield from self._replay(data[self.session], data[self.upload], None,
                                '<div class="hw-gallery hw-muted">Replaying a trace you loaded; its times and '
                                'speeds are from the machine that recorded it.</div>')

    def gallery_clicked(self, session: Session, index):
        if not self.entries:
            return
        entry = self.entries[index if isinstance(index, int) and 0 <= index < len(self.entries) else 0]
        yield from self._replay(session, entry.path, _recording(entry), render.gallery_html(entry))

    def page_opened(self, session: Session, index) -> dict:
        """The page opens on the featured recording, already drawn; this gives the session its log
        (and the downloads), without drawing it again."""
        if not self.entries:
            return self._send({"session": session})
        entry = self.entries[index if isinstance(index, int) and 0 <= index < len(self.entries) else 0]
        frame = callbacks.load_recording(session, entry.path, _recording(entry))
        return self._send({**self.updates(frame, message="replay_message"), "session": session})

    def _replay(self, session: Session, path, recording: dict | None, caption: str):
        for frame in callbacks.replay(session, path, self.cadence, recording):
            if frame.lanes is not None and caption:     # the panels change: so does the caption
                frame.caption, caption = caption, ""
            yield self._send({**self.updates(frame, message="replay_message"), "session": session})

    def _compare(self, session: Session, baseline: str):
        if session.base is None:
            yield self._send(self.updates(Frame(message=render.message_html("Finish a run first: the compare buttons "
                                                                            "rerun it."), running=False)))
            return
        settings = session.base.baseline(baseline)
        session.lifecycle.withdraw()           # its clock starts when it begins, not at an older Run press
        yield from self._run(session, settings, show_settings=True)

    def _run(self, session: Session, settings: PageSettings, show_settings: bool = False):
        """The run's frames as updates; show_settings: the first also shows its settings in the
        controls (a compare run, whose settings the visitor did not choose)."""
        for frame in self.runner(session, self.store, settings, self.cadence):
            if show_settings:
                frame.settings, show_settings = settings, False
            yield self._send({**self.updates(frame), "session": session})

    def updates(self, frame: Frame, message: str = "message") -> dict:
        """{output name: value} for what `frame` changes; `message` names the box its message goes to."""
        out = {}

        def put(name: str, value) -> None:
            if value is not None:
                out[name] = value

        put(message, frame.message)
        for name in ("stats", "answer", "history", "heatmap", "timeline", "view", "compare", "caption"):
            put(name, getattr(frame, name))
        if frame.lanes is not None:
            out["lanes"] = render.lanes_html(frame.lanes)
        if frame.num_workers is not None:
            names = frame.worker_names or WORKER_NAMES[:frame.num_workers]
            out["view_worker"] = gr.update(choices=list(_worker_choices(names)), value=0)
        if frame.num_layers is not None:
            out["layer"] = gr.update(choices=[("mean over layers", MEAN_LAYER)] +
                                     [(f"layer {i}", i) for i in range(frame.num_layers)], value=MEAN_LAYER)
            out["heatmap_pass"] = gr.update(interactive=False)
        if frame.num_passes:
            out["heatmap_pass"] = gr.update(minimum=1, maximum=max(frame.num_passes, 2),
                                            value=frame.heatmap_pass or frame.num_passes, interactive=True)
        if frame.files:
            out["trace"] = gr.update(value=frame.files[0], interactive=True)
            out["csv"] = gr.update(value=frame.files[1], interactive=True)
        if frame.settings is not None:
            s = frame.settings
            out.update(problem=s.problem, num_workers=s.num_workers)
            if s.layout in LAYOUTS:            # "independent" is a compare run's, not a choice of the control
                out["layout"] = s.layout
        if frame.activity is not None:
            out["activity"] = render.activity_html(frame.activity)
        if frame.running is not None:
            out["run"], out["stop"] = gr.update(interactive=not frame.running), gr.update(interactive=frame.running)
            labels = frame.compare_labels
            if frame.running or labels:
                for i, name in enumerate(("one", "independent")):
                    out[name] = gr.update(interactive=not frame.running, **({"value": labels[i]} if labels else {}))
        return out


def _worker_choices(names):
    return [(name, w) for w, name in enumerate(names)]


def _recording(entry: GalleryEntry) -> dict:
    return {"machine": entry.machine, "date": entry.date, "model": entry.model}


def _opening(entry: GalleryEntry) -> Frame:
    """The featured recording, drawn once when the page is built: a visitor's first screen."""
    session = Session()
    try:
        return callbacks.open_recording(session, entry.path, _recording(entry))
    finally:
        session.close()


def launch(app: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None, share: bool = False,
           concurrency_limit: int = 1, max_queue: int = MAX_QUEUE, **kwargs):
    app.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue)
    return app.launch(server_name=host, server_port=port, share=share, css_paths=[ASSETS / "style.css"],
                      head_paths=[ASSETS / "embed.html"], max_file_size="64mb", **kwargs)
