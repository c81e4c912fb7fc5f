"""What the buttons do: named functions over a per-session `Session` and a PageSettings.

Each callback yields `Frame`s: plain values for the panels (None = leave that panel as it is).
The UI module turns frames into Gradio updates; nothing here imports gradio, so the
callbacks run in tests without a browser. Live runs and replays feed the same RunLog and are
drawn by the same `frame_of`, so a replayed trace looks like the run that made it. What the
session is doing (waiting for a slot, reading the prompt, running, stopping, replaying) is its
`Lifecycle` (demo/lifecycle.py): `run` and `replay` are the two ways in, and every change of
state is one of its transitions. A visitor
who joined a run sends lines with `send_line`; the run loop gives them to the engine between
passes (demo/visitor.py)."""

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from hogwild_core import HogwildEngine, HogwildError
from machine import machine_description
from hogwild_core.view import has_history

from . import charts, render
from .collaboration import collaboration_html, report_of
from .downloads import Downloads
from .lifecycle import Lifecycle, RunState, SessionBusy
from .records import RunLog, PassRecorder
from .settings import PageSettings, parse_settings
from .traces import Trace, TraceError, log_from_trace, read_trace, write_attention_csv, write_trace
from .visitor import VisitorDesk, text_problem

log = logging.getLogger(__name__)
MEAN_LAYER = -1
MAX_COMPARISONS = 12    # rows kept in a session's comparison table: a long visit stays small
PREFILL_POLL = 0.25     # seconds between "reading the prompt" updates


@dataclass(frozen=True)
class Cadence:
    """How often a live run redraws: text panels are cheap, charts are not. Charts every 4.5 s,
    not 1.5: 10-16% more tokens/s on the page at W=4 with the 1.5B on 2 cores, browser included
    (`python -m benchmarks.page`, docs/weights.md)."""
    text_seconds: float = 0.3
    chart_seconds: float = 4.5
    replay_frames: int = 40        # a replay is drawn in about this many frames
    replay_delay: float = 0.05
    replay_chart_every: int = 4    # of which every n-th redraws the charts


QUIET = Cadence(text_seconds=1e9, chart_seconds=1e9)    # a recording script's run: no redraws meanwhile


class Session:
    """One browser session's state. Made fresh per page load by gr.State; never shared."""

    def __init__(self):
        self.run_log: RunLog | None = None
        self.lifecycle = Lifecycle()     # what the session is doing: run, replay, waiting, ...
        self.layer = MEAN_LAYER
        self.heatmap_pass: int | None = None   # the pass the heatmap shows (1-based); None = the latest
        self.view_worker = 0
        self.comparisons: list[dict] = []
        self.downloads = Downloads("hogwild-session-")   # the last run's trace and attention table
        self.base: PageSettings | None = None     # the last finished live run: what the compare buttons rerun
        self.visitor: VisitorDesk | None = None  # the live run's visitor lane, if the visitor joined it

    def add_comparison(self, row: dict) -> None:
        self.comparisons = (self.comparisons + [row])[-MAX_COMPARISONS:]

    def close(self) -> None:
        self.downloads.close()


def close_session(session) -> None:
    """gr.State delete_callback: remove the session's files when it ends."""
    if isinstance(session, Session):
        session.close()


@dataclass
class Frame:
    message: str | None = None
    num_workers: int | None = None     # set when the lanes or the worker choices change
    worker_names: list[str] | None = None  # with num_workers: the workers' names (a visitor is "You")
    num_layers: int | None = None      # set when the layer choices change
    lanes: list[str] | None = None
    history: str | None = None
    stats: str | None = None
    answer: str | None = None
    heatmap: object | None = None
    timeline: object | None = None
    view: str | None = None
    compare: str | None = None
    files: list[str] | None = None     # [trace.json, attention.csv]
    settings: PageSettings | None = None  # shown in the controls (a replay shows the run's own)
    num_passes: int | None = None      # set when a run ends: the heatmap can show any of its passes
    heatmap_pass: int | None = None    # the pass the heatmap shows when a run ends
    running: bool | None = None        # set when a run or replay starts (True) or ends (False)
    compare_labels: list[str] | None = None   # the compare buttons' labels, when they can be used
    activity: str | None = None        # one line next to Run: what is happening now
    caption: str | None = None         # the gallery caption (a live run says it is not a recording)


def pressed(session: Session, settings: PageSettings) -> Frame:
    """What the page shows the instant Run is pressed, before the run's queue slot comes: the
    lanes for the chosen workers and a status. Cheap: no model, no engine. A replay in progress
    gives way; raises SessionBusy during a live run (the page ignores that press)."""
    session.lifecycle.press()
    return pressed_frame(settings)


def pressed_frame(settings: PageSettings, waiting: str = "waiting for a free slot…") -> Frame:
    names = settings.worker_names
    return Frame(num_workers=settings.num_workers, worker_names=names, running=True, message="",
                 lanes=[render.lane_html(n, w, [], worker_names=names) for w, n in enumerate(names)],
                 stats=render.pending_html(settings.label), activity=f"Run pressed: {waiting}",
                 answer=render.answer_html(None), caption=render.gallery_html(None, live=True))


def run(session: Session, store, settings: PageSettings, cadence: Cadence = Cadence()):
    """Run the engine on settings, yielding frames as it goes; ends within one pass of Stop.
    Its clock starts when Run was pressed, so every time shown includes the wait and the prefill."""
    try:
        started = session.lifecycle.begin_run()
    except SessionBusy as exc:
        yield Frame(message=render.message_html(str(exc)))
        return
    if started is None:       # Stop pressed while the run waited for its slot
        yield Frame(message=render.message_html("Stopped before it started.", "info"), running=False, activity="")
        return
    yield from _closing(session, _run(session, store, settings, cadence, started), session.lifecycle.end_run)


def replay(session: Session, path: str | None, cadence: Cadence = Cadence(), recording: dict | None = None,
           drawn: bool = True):
    """Play a saved trace through the same panels, without a model: the one way a recording
    reaches a session (the gallery, Replay, an uploaded trace, the recording the page opens on).
    `recording` (machine, date, model) says where it was made; without it the trace's own meta is
    used. drawn=False gives the session the whole recording at once in a frame that draws nothing."""
    try:
        session.lifecycle.begin_replay()
    except SessionBusy as exc:
        yield Frame(message=render.message_html(str(exc)))
        return
    yield from _closing(session, _replay(session, path, cadence, recording, drawn), session.lifecycle.end_replay)


def _closing(session: Session, frames, end):
    """Yield `frames`, then end the run or replay however it ends (finished, failed, closed)."""
    try:
        yield from frames
    except GeneratorExit:      # Gradio closes the generator when the page goes away or cancels
        passes = len(session.run_log.passes) if session.run_log is not None else 0
        log.info("a run was closed by its page (tab closed or cancelled) at pass %d; its slot is free", passes)
        raise
    finally:
        end()


def _run(session: Session, store, settings: PageSettings, cadence: Cadence, started: float):
    W = settings.num_workers
    names = settings.worker_names
    session.visitor = VisitorDesk(W - 1) if settings.join else None
    first = pressed_frame(settings, "loading the model…" if not store.is_loaded(settings.model)
                          else "preparing the workers…")
    yield _with(first, message=render.message_html(f"Running {settings.label}…", "info"))
    try:
        model, tokenizer = store.get(settings.model)
        engine = HogwildEngine(model, tokenizer, settings.engine_config(), prompt_cache=store.prompt_cache(settings.model))
        for activity in _prefill(engine, settings.problem, started):
            yield Frame(activity=activity)
    except HogwildError as exc:
        _close_visitor(session, "the run did not start")
        yield Frame(message=render.message_html(sentence(exc)), running=False, activity="", stats=render.stats_html(None))
        return
    except Exception as exc:  # an odd model can fail in ways the engine does not name
        log.exception("could not start a run")
        _close_visitor(session, "the run did not start")
        yield Frame(message=render.message_html(f"Could not start the run ({type(exc).__name__}): {sentence(exc)}"),
                    running=False, activity="", stats=render.stats_html(None))
        return
    run_log = RunLog(meta={"settings": settings.as_dict(), "model": store.key(settings.model),
                           "worker_names": names, "num_layers": engine.num_layers, "label": settings.label,
                           "prompt_note": engine.prompt_note, "machine": machine_description(),
                           "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                           "external_workers": list(range(engine.config.num_model_workers, W))})
    session.run_log, session.view_worker, session.layer, session.heatmap_pass = run_log, 0, MEAN_LAYER, None
    session.lifecycle.prompt_read()
    if session.visitor is not None:
        session.visitor.ready = True
    recorder = PassRecorder(engine)
    recorder.snapshot(run_log)
    yield _with(frame_of(session, charts_too=True, activity=_activity(run_log, started)),
                message=render.message_html(f"Running {settings.label}…{_note(run_log)}", "info"),
                num_workers=W, worker_names=names, num_layers=engine.num_layers)
    last_text = last_chart = time.perf_counter()
    event, failure = None, None
    try:
        while not engine.done:
            if session.lifecycle.should_stop:
                break
            _hand_over(session.visitor, engine)
            event = engine.run_pass()
            run_log.add_pass(recorder.record(event, time.perf_counter() - started))
            if session.visitor is not None:
                session.visitor.recorded()
                if engine.done or engine.phase != "work":
                    session.visitor.close("the run had moved to its final answer")
            now = time.perf_counter()
            if session.lifecycle.should_stop:
                break
            if now - last_chart >= cadence.chart_seconds:
                recorder.snapshot(run_log, event)
                last_chart = last_text = now
                yield frame_of(session, charts_too=True, activity=_activity(run_log, started))
            elif now - last_text >= cadence.text_seconds:
                last_text = now
                yield frame_of(session, activity=_activity(run_log, started))
    except Exception as exc:  # keep the page alive and say what happened; the log has the traceback
        log.exception("run failed")
        failure = exc
    run_log.status = "failed" if failure else ("finished" if engine.done else "stopped")
    _close_visitor(session, f"the run had {run_log.status}")
    if run_log.status == "stopped":     # say so at once; the charts and files follow
        yield Frame(stats=render.stats_html(run_log), activity="Stopped; drawing the charts and saving the trace…")
    recorder.snapshot(run_log, event)
    session.add_comparison(comparison_row(run_log))
    if not failure and settings.layout != "independent" and settings.num_workers > 1:
        session.base = settings
    yield _finish(session, run_log, failure)


def _hand_over(desk: VisitorDesk | None, engine) -> None:
    """Between two passes: the visitor's lines sent since the last pass go to the engine, which
    writes them in the next one. A line it refuses stays in the lane, with the reason."""
    if desk is None:
        return
    for line in desk.hand_over():
        try:
            engine.write(desk.worker, line)
        except HogwildError as exc:
            desk.refuse(line, sentence(exc).rstrip("."))


def _close_visitor(session: Session, reason: str) -> None:
    if session.visitor is not None:
        session.visitor.close(reason)


def send_line(session: Session, text) -> tuple[str, Frame | None]:
    """Send pressed (or Enter in the box): the visitor's line goes to their lane at once and into
    the cache at the next pass. Returns the message next to the box and, if the line was taken,
    a frame (with the lanes, once the run has them); None: refused, the box keeps the line."""
    problem = text_problem(text)
    desk = session.visitor
    live = session.lifecycle.is_live
    if problem is None and not live:
        problem = 'Nothing is running: tick "Join as a worker", press Run, then send your line.'
    elif problem is None and desk is None:
        problem = 'This run has no lane for you: tick "Join as a worker" before pressing Run.'
    elif problem is None and not desk.is_open:
        problem = "The run has moved to its final answer: it takes no more text."
    if problem is None and not desk.send(text.strip()):
        problem = "The run has moved to its final answer: it takes no more text."
    if problem is not None:
        return render.message_html(problem), None
    if not desk.ready:      # the lanes still show the press; the run's first frame shows the line
        return render.message_html("Sent: the workers are reading the prompt; your line goes in with their first "
                                   "pass.", "info"), Frame()
    return (render.message_html("Sent: your lane shows it now, and the model workers read it from the next pass.",
                                "info"), Frame(lanes=_lanes(session)))


def _prefill(engine, problem: str, started: float):
    """Start the engine (it reads the whole prompt, the slow part before the first pass) in a
    thread, yielding a status line meanwhile; re-raise whatever start raised."""
    outcome: dict = {}

    def start():
        try:
            engine.start(problem)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=start, name="hogwild-prefill", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(PREFILL_POLL)
        prompt = engine.prompt_tokens()
        if thread.is_alive():
            what = f"{len(prompt)} tokens" if prompt is not None else "tokenizing"
            yield f"Reading the prompt: {what} ({time.perf_counter() - started:.1f} s since Run)"
    if "error" in outcome:
        raise outcome["error"]


def _activity(run_log: RunLog, started: float) -> str:
    passes = len(run_log.passes)
    if not passes:
        prompt = run_log.blocks[0]["length"] if run_log.blocks else 0
        return f"Prompt read ({prompt} tokens) in {time.perf_counter() - started:.1f} s; the workers start writing."
    phase = "writing the final answer" if run_log.passes[-1].phase == "answer" else "writing"
    return f"Running: pass {passes}, {phase}. The time below counts from Run, prompt included."


def _replay(session: Session, path: str | None, cadence: Cadence, recording: dict | None, drawn: bool):
    try:
        trace = read_trace(path)
    except TraceError as exc:
        yield Frame(message=render.message_html(sentence(exc)))
        return
    data, records = trace.data, trace.passes
    replay_log = _recording_log(data, recording)
    if not drawn:
        yield _loaded(session, replay_log, trace)
        return
    views, by_layer = replay_log.views, replay_log.last_attention_by_layer
    replay_log.views, replay_log.last_attention_by_layer = [], None
    session.run_log, session.view_worker, session.layer, session.heatmap_pass = replay_log, 0, MEAN_LAYER, None
    session.visitor = None
    W = replay_log.num_workers
    yield _with(frame_of(session, charts_too=True, activity="Replaying a recorded run…"),
                message=render.message_html("Replaying the saved run…", "info"),
                num_workers=W, worker_names=list(replay_log.meta["worker_names"]),
                num_layers=replay_log.meta["num_layers"], settings=_settings_of(replay_log))
    per_frame = max(1, math.ceil(len(records) / cadence.replay_frames))
    for i, record in enumerate(records):
        if session.lifecycle.should_stop:
            break
        replay_log.add_pass(record)
        if (i + 1) % per_frame == 0 and i + 1 < len(records):
            charts_too = ((i + 1) // per_frame) % cadence.replay_chart_every == 0
            yield frame_of(session, charts_too=charts_too, activity="Replaying a recorded run…")
            time.sleep(cadence.replay_delay)
    if session.lifecycle.preempted:
        return
    stopped = len(replay_log.passes) < len(records)
    replay_log.status = "stopped" if stopped else data["status"]
    replay_log.views, replay_log.last_attention_by_layer = views, by_layer
    yield _finish(session, replay_log, None)


def _recording_log(data: dict, recording: dict | None) -> RunLog:
    """A RunLog for a trace's replay, labelled with where and when it was recorded."""
    replay_log = log_from_trace(data)
    meta = replay_log.meta
    recording = recording or {"machine": meta.get("machine"), "date": meta.get("date")}
    replay_log.meta = dict(meta, label=f"replay: {meta.get('label', 'saved run')}",
                           recording={k: v for k, v in recording.items() if isinstance(v, str)})
    return replay_log


def load_recording(session: Session, path: str, recording: dict | None = None) -> Frame:
    """Give the session a recording the page already shows (its pass slider, layers and views
    then work on it), without drawing anything: cheap, so a page that opens competes little with
    a visitor's first Run. The frame carries the downloads and the heatmap's pass only; a session
    that is busy already is left alone."""
    if session.lifecycle.is_busy:
        return Frame()
    *_, last = replay(session, path, recording=recording, drawn=False)
    return last


def _loaded(session: Session, loaded: RunLog, trace: Trace) -> Frame:
    """The whole recording in the session at once; the frame enables its pass slider and downloads."""
    for record in trace.passes:
        loaded.add_pass(record)
    loaded.status = trace.data["status"]
    session.run_log, session.view_worker, session.layer, session.heatmap_pass = loaded, 0, MEAN_LAYER, None
    session.visitor = None
    frame = Frame(num_passes=len(loaded.passes), heatmap_pass=default_pass(loaded))
    try:
        frame.files = _write_files(session, loaded)
    except OSError:
        pass        # the page works without the downloads
    return frame


def _write_files(session: Session, run_log: RunLog) -> list[str]:
    session.downloads.clear()
    name = download_name(run_log)
    return [write_trace(run_log, session.downloads.path(f"{name}.json")),
            write_attention_csv(run_log, session.downloads.path(f"{name}-attention.csv"))]


def open_recording(session: Session, path: str, recording: dict | None = None) -> Frame:
    """A recording shown finished, in one frame: what the page opens on (Replay animates it)."""
    instant = Cadence(replay_frames=1, replay_delay=0.0)
    frames = list(replay(session, path, instant, recording))
    first, last = frames[0], frames[-1]
    if len(frames) == 1:    # the trace was refused: its message says why
        return first
    return _with(last, num_workers=first.num_workers, worker_names=first.worker_names, num_layers=first.num_layers,
                 settings=first.settings, message="")


def stop(session: Session) -> str:
    """Ask the running loop to end (it checks before and after every pass), or a run that waits
    for its slot not to start."""
    before = session.lifecycle.stop()
    if before is RunState.IDLE:
        return render.message_html("Nothing is running.", "info")
    if before in (RunState.WAITING, RunState.CANCELLED):
        return render.message_html("Stopping: the run will not start.", "info")
    return render.message_html("Stopping after the current pass…", "info")


def select_layer(session: Session, layer) -> object:
    session.layer = MEAN_LAYER if layer is None else int(layer)
    return heatmap_of(session)


def select_pass(session: Session, pass_number) -> object:
    session.heatmap_pass = None if pass_number is None or session.lifecycle.is_busy else int(pass_number)
    return heatmap_of(session)


def select_view(session: Session, worker) -> str:
    session.view_worker = 0 if worker is None else int(worker)
    return view_of(session)


def frame_of(session: Session, charts_too: bool = False, activity: str = "") -> Frame:
    """The panels as the session's log stands now. Text panels always; charts if asked."""
    run_log = session.run_log
    names = run_log.meta["worker_names"]
    frame = Frame(
        lanes=_lanes(session),
        history=render.history_html(run_log.history, names, has_history(run_log.layout)),
        stats=render.stats_html(run_log) + collaboration_html(report_of(run_log)),
        answer=render.answer_html(run_log), activity=activity or None)
    if charts_too:
        frame.heatmap = heatmap_of(session)
        frame.timeline = charts.attention_timeline(run_log.passes, names)
        frame.view = view_of(session)
    return frame


def _lanes(session: Session) -> list[str]:
    """Every lane as the session's log stands now; the visitor's with the lines not in it yet."""
    run_log, desk = session.run_log, session.visitor
    names = run_log.meta["worker_names"]
    return [render.lane_html(n, w, run_log.lanes[w], run_log.sampled[w], worker_names=names,
                             unsent=desk.unrecorded() if desk is not None and desk.worker == w else ())
            for w, n in enumerate(names)]


def heatmap_of(session: Session):
    run_log = session.run_log
    if run_log is None:
        return charts.attention_heatmap(None, [], [])
    names = run_log.meta["worker_names"]
    passes = run_log.passes
    if session.heatmap_pass is not None and 1 <= session.heatmap_pass <= len(passes):
        shown = passes[session.heatmap_pass - 1]
    elif run_log.status == "running" or session.layer != MEAN_LAYER:   # per-layer data: the last pass only
        shown = next((s for s in reversed(passes) if s.attention), None)
    else:
        shown = passes[default_pass(run_log) - 1] if passes else None
    if shown is None or not shown.attention:
        return charts.attention_heatmap(None, run_log.blocks, names)
    matrix, which = shown.attention, "mean over layers"
    by_layer = run_log.last_attention_by_layer
    if session.layer != MEAN_LAYER:
        if shown is not passes[-1]:
            which = "mean over layers (per-layer data is kept for the last pass only)"
        elif by_layer is not None and 0 <= session.layer < len(by_layer):
            matrix, which = by_layer[session.layer], f"layer {session.layer}"
        else:
            which = "mean over layers (per-layer data not available yet)"
    return charts.attention_heatmap(matrix, run_log.blocks, names,
                                    title=f"Attention per cache block, pass {shown.pass_number}", subtitle=which)


def default_pass(run_log: RunLog) -> int:
    """The pass (1-based) a finished run's heatmap opens on: the last one in which every worker
    wrote (after it, only the answerer may run); the last pass with attention otherwise."""
    passes = run_log.passes
    external = set(run_log.meta.get("external_workers") or ())   # a visitor writes now and then: not counted
    for i in range(len(passes) - 1, -1, -1):
        rows = passes[i].attention
        if rows and all(any(row) for w, row in enumerate(rows) if w not in external):
            return i + 1
    return next((i + 1 for i in range(len(passes) - 1, -1, -1) if passes[i].attention), max(len(passes), 1))


def view_of(session: Session) -> str:
    run_log = session.run_log
    if run_log is None or not run_log.views:
        return render.view_html([], [], [], 0)
    w = min(session.view_worker, len(run_log.views) - 1)
    return render.view_html(run_log.views[w], run_log.blocks, run_log.meta["worker_names"], w)


def comparison_row(run_log: RunLog) -> dict:
    return {"run": run_log.meta.get("label", ""), "answer": run_log.answer or "—",
            "sequential passes": len(run_log.passes), "tokens": sum(run_log.sampled),
            "time (s)": f"{run_log.elapsed:.1f}", "status": run_log.status}


def _finish(session: Session, run_log: RunLog, failure: Exception | None) -> Frame:
    frame = frame_of(session, charts_too=True)
    frame.compare = render.compare_html(session.comparisons)
    frame.num_passes = len(run_log.passes)
    frame.heatmap_pass = default_pass(run_log)
    frame.running = False
    frame.activity = ""
    frame.compare_labels = compare_labels(session.base)
    try:
        frame.files = _write_files(session, run_log)
    except OSError as exc:
        failure = failure or exc
    if failure is not None:
        frame.message = render.message_html(f"The run failed after {len(run_log.passes)} passes: {sentence(failure)}")
    else:
        verb = {"finished": "Finished", "stopped": "Stopped"}.get(run_log.status, run_log.status.capitalize())
        frame.message = render.message_html(
            f"{verb} after {len(run_log.passes)} passes in {run_log.elapsed:.1f} s"
            f"{'' if run_log.meta.get('recording') else ' (from Run, prompt included)'}. "
            f"Downloads: Keep, below.{_note(run_log)}", "info")
    return frame


def download_name(run_log: RunLog) -> str:
    """'hogwild-combined-3-workers-2026-11-29-1405': the run's layout, workers and date."""
    stamp = run_log.meta.get("date") or (run_log.meta.get("recording") or {}).get("date") or ""
    d = "".join(c for c in str(stamp) if c.isdigit())
    when = f"{d[:4]}-{d[4:6]}-{d[6:8]}" + (f"-{d[8:12]}" if len(d) >= 12 else "") if len(d) >= 8 else ""
    W = run_log.num_workers
    parts = ["hogwild", str(run_log.layout), f"{W}-worker{'s' if W != 1 else ''}", when or "undated"]
    return "-".join("".join(c for c in p if c.isalnum() or c == "-") for p in parts)


def compare_labels(base: PageSettings | None) -> list[str] | None:
    """The compare buttons' labels for the last finished run; None: nothing to compare yet."""
    if base is None:
        return None
    return [f"Compare: {base.baseline('one').label}", f"Compare: {base.baseline('independent').label}"]


def _note(run_log: RunLog) -> str:
    """What the visitor should know about how the prompt was built (e.g. no chat template)."""
    note = run_log.meta.get("prompt_note")
    return f" Note: {note}." if isinstance(note, str) and note else ""


def _settings_of(run_log: RunLog) -> PageSettings | None:
    try:
        return parse_settings(run_log.meta["settings"])
    except HogwildError:
        return None     # the trace replays all the same; the controls keep what they hold


def _with(frame: Frame, **changes) -> Frame:
    for key, value in changes.items():
        setattr(frame, key, value)
    return frame


def sentence(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
