"""Callbacks on tiny random-weight models: live frames, Stop, bad input, sessions, replay."""

import copy
import gc
import os
import time
import weakref

import pytest
import torch

from demo import callbacks
from demo.callbacks import Cadence, Session
from demo.lifecycle import RunState
from demo.models import ModelStore
from demo.records import RunLog, PassRecorder
from demo.settings import PageSettings
from hogwild_core import UnsupportedModelError
from tests.pass_records import pass_record

EVERY_PASS = Cadence(text_seconds=0.0, chart_seconds=0.0, replay_frames=1000, replay_delay=0.0)
PROBLEM = "What is 2+2? <script>alert(1)</script>"
pytestmark = pytest.mark.usefixtures("one_thread", "files_in_tmp")


@pytest.fixture
def store(tiny_models, tokenizer):
    store = ModelStore()
    store.put("default", tiny_models("llama", 2), tokenizer)
    return store


def settings(**changes):
    base = dict(problem=PROBLEM, num_workers=2, layout="combined", max_new_tokens=12, max_answer_tokens=3)
    return PageSettings(**{**base, **changes})


@pytest.mark.parametrize("layout", ["contiguous", "interleaved", "combined", "independent"])
def test_a_run_fills_every_panel_and_ends_with_files(store, layout):
    session = Session()
    frames = list(callbacks.run(session, store, settings(num_workers=3, layout=layout), EVERY_PASS))
    pressed, last = frames[0], frames[-1]
    # at once, before the model or the prompt: the lanes of the chosen workers and a status
    assert pressed.num_workers == 3 and len(pressed.lanes) == 3 and pressed.running and pressed.activity
    first = next(f for f in frames if f.num_layers is not None)
    assert first.num_workers == 3 and first.num_layers == 2 and "Running" in first.message
    assert len(last.lanes) == 3 and all("tokens" in lane for lane in last.lanes)
    assert last.heatmap.data and last.timeline.data and "attends to" in last.view
    assert "Finished after" in last.message and session.comparisons[0]["run"] in last.compare
    log = session.run_log
    assert log.status == "finished" and len(log.passes) == len(frames) - frames.index(first) - 2
    assert not last.running and last.heatmap_pass == callbacks.default_pass(log)
    assert os.path.basename(last.files[0]).startswith(f"hogwild-{layout}-3-workers-20")
    assert log.meta["machine"] and log.meta["date"]
    assert all(log.sampled)
    trace, table = last.files
    assert trace.endswith(".json") and table.endswith(".csv")
    assert ("No finished steps" in last.history or "#1" in last.history) == (layout in ("interleaved", "combined"))


def test_lanes_hold_each_workers_text_as_the_engine_decoded_it(store):
    session = Session()
    list(callbacks.run(session, store, settings(), EVERY_PASS))
    log = session.run_log
    for w, worker in enumerate(log.workers):
        assert log.lane_text(w) == worker["text"]
    inserted = [text for text, flag in log.lanes[0] if flag]
    assert inserted[0].startswith("**Alice [1]:**") and any("boxed{" in t for t in inserted)


def test_history_lists_finished_steps_in_the_order_they_finished(tiny_models, tokenizer):
    """Scripted tokens end paragraphs, so steps move into the history; the log follows them."""
    from hogwild_core import EngineConfig, HogwildEngine
    from tests.drive import forced_tokens, script_ids

    engine = HogwildEngine(tiny_models("llama", 2), tokenizer, EngineConfig(
        num_workers=3, layout="combined", max_new_tokens=30, max_answer_tokens=2, collect_attention=True))
    engine.start("Count the apples.")
    recorder, log = PassRecorder(engine), RunLog(meta={"settings": {"layout": "combined"},
                                                       "worker_names": ["Alice", "Bob", "Carol"], "num_layers": 2})
    script = script_ids(tokenizer)
    while not engine.done:
        event = engine.run_pass(force=forced_tokens(script, len(log.passes), 3))
        log.add_pass(recorder.record(event, 0.0))
    recorder.snapshot(log, event)
    assert len(log.history) >= 6
    blocks = log.blocks
    assert [block_id for block_id, _, _ in log.history] == [b for record in log.passes for b in record_ids(record)]
    assert {block_id for block_id, _, _ in log.history} == {b["id"] for b in blocks if b["kind"] == "step"}
    for block_id, owner, text in log.history:
        assert (owner, text) == (blocks[block_id]["owner"], blocks[block_id]["text"])
    for w in range(3):
        assert log.lane_text(w) == engine.worker_text(w)


def record_ids(record):
    return [step.block_id for step in record.flushed]


def test_stop_ends_the_run_within_one_pass(store):
    session = Session()
    run = callbacks.run(session, store, settings(max_new_tokens=200), EVERY_PASS)
    next(run), next(run)
    passes_when_stopped = len(session.run_log.passes)
    callbacks.stop(session)
    rest = list(run)
    assert len(session.run_log.passes) <= passes_when_stopped + 1
    assert session.run_log.status == "stopped" and "Stopped after" in rest[-1].message
    assert "stopped" in rest[-1].compare


def test_one_thing_at_a_time_per_session(store):
    session = Session()
    run = callbacks.run(session, store, settings(max_new_tokens=200), EVERY_PASS)
    while next(run).num_layers is None:
        pass
    (refused,) = list(callbacks.replay(session, "whatever.json", EVERY_PASS))
    assert "press Stop first" in refused.message and refused.lanes is None
    assert session.lifecycle.state is RunState.RUNNING and session.run_log.status == "running"
    run.close()                                 # the page went away mid-run
    assert session.lifecycle.state is RunState.IDLE


@pytest.mark.parametrize("model, words", [("{tmp}/no-such-model", "does not exist"),
                                          ("no-such-org/no-such-model-xyz", "offline")])
def test_bad_input_only_shows_a_message(store, tmp_path, model, words):
    session = Session()
    started = time.monotonic()
    frames = list(callbacks.run(session, store, settings(model=model.format(tmp=tmp_path)), EVERY_PASS))
    assert time.monotonic() - started < 10, "a missing model fails at once, without retries"
    assert all(f.lanes is None and f.heatmap is None and f.files is None for f in frames[1:])
    assert words in frames[-1].message and "hw-error" in frames[-1].message and frames[-1].running is False
    assert session.run_log is None


def test_an_unsupported_model_is_reported(tokenizer, store):
    from tests.conftest import make_tiny_model

    sliding = make_tiny_model("mistral", len(tokenizer), 1)
    sliding.config.sliding_window = 16
    store.put("sliding", sliding, tokenizer)
    with pytest.raises(UnsupportedModelError):
        from hogwild_core import HogwildEngine
        HogwildEngine(sliding, tokenizer)
    frames = list(callbacks.run(Session(), store, settings(model="sliding"), EVERY_PASS))
    assert len(frames) == 2 and "hw-error" in frames[-1].message and frames[-1].lanes is None


def test_a_problem_too_long_for_the_context_is_reported(store):
    frames = list(callbacks.run(Session(), store, settings(problem="word " * 5000), EVERY_PASS))
    assert "too long" in frames[-1].message and frames[-1].lanes is None


def test_each_session_keeps_its_own_run(store):
    alice_session, bob_session = Session(), Session()
    list(callbacks.run(alice_session, store, settings(num_workers=1), EVERY_PASS))
    run = callbacks.run(bob_session, store, settings(num_workers=3), EVERY_PASS)
    next(run)
    callbacks.stop(alice_session)      # another visitor's Stop does not touch this run
    list(run)
    assert bob_session.run_log.status == "finished" and bob_session.run_log.num_workers == 3
    assert alice_session.run_log.num_workers == 1 and len(alice_session.comparisons) == 1
    assert alice_session.downloads.folder != bob_session.downloads.folder
    bob_session.close()


def test_replay_shows_the_same_panels_without_a_model(store):
    live = Session()
    final = list(callbacks.run(live, store, settings(num_workers=3), EVERY_PASS))[-1]
    replayed = Session()
    frames = list(callbacks.replay(replayed, final.files[0], EVERY_PASS))
    again = frames[-1]
    assert again.lanes == final.lanes and again.history == final.history and again.view == final.view
    assert replayed.run_log.status == "finished" and replayed.run_log.answer == live.run_log.answer
    assert frames[0].settings.problem == PROBLEM and frames[0].settings.num_workers == 3
    assert again.heatmap.data[0].z == final.heatmap.data[0].z
    assert "Finished after" in again.message


def test_a_bad_trace_only_shows_a_message(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{ not json")
    frames = list(callbacks.replay(Session(), str(path), EVERY_PASS))
    assert len(frames) == 1 and "not valid JSON" in frames[0].message and frames[0].lanes is None


def test_layer_and_view_choices(store):
    session = Session()
    list(callbacks.run(session, store, settings(), EVERY_PASS))
    mean = callbacks.heatmap_of(session)
    layer1 = callbacks.select_layer(session, 1)
    assert "layer 1" in layer1.layout.title.subtitle.text and "mean" in mean.layout.title.subtitle.text
    assert layer1.data[0].z != mean.data[0].z
    assert "Bob attends" in callbacks.select_view(session, 1)
    assert "Alice attends" in callbacks.select_view(session, 0)


def test_the_heatmap_can_show_any_pass_once_a_run_ends(store):
    session = Session()
    final = list(callbacks.run(session, store, settings(num_workers=3), EVERY_PASS))[-1]
    passes = session.run_log.passes
    assert final.num_passes == len(passes)
    third = callbacks.select_pass(session, 3)
    assert third.layout.title.text.endswith("pass 3")
    assert [list(r) for r in third.data[0].z] == [[v for v in row] if any(row) else [None] * len(row)
                                                  for row in passes[2].attention]
    callbacks.select_layer(session, 1)
    assert "last pass only" in callbacks.heatmap_of(session).layout.title.subtitle.text
    assert "layer 1" in callbacks.select_pass(session, len(passes)).layout.title.subtitle.text


def test_choices_before_any_run_do_not_fail():
    session = Session()
    assert not callbacks.select_layer(session, 3).data
    assert not callbacks.select_pass(session, 2).data
    assert "Start a run" in callbacks.select_view(session, 1)


def test_an_unexpected_failure_at_start_is_a_message(store, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("weights on the moon")

    monkeypatch.setattr(callbacks, "HogwildEngine", broken)
    frame = list(callbacks.run(Session(), store, settings(), EVERY_PASS))[-1]
    assert "RuntimeError" in frame.message and "moon" in frame.message and frame.lanes is None


def test_a_failure_mid_run_keeps_what_was_made(store, monkeypatch):
    from hogwild_core import HogwildEngine

    real_pass, calls = HogwildEngine.run_pass, []

    def flaky(self, force=None):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return real_pass(self, force)

    monkeypatch.setattr(HogwildEngine, "run_pass", flaky)
    session = Session()
    final = list(callbacks.run(session, store, settings(), EVERY_PASS))[-1]
    assert session.run_log.status == "failed" and len(session.run_log.passes) == 2
    assert "failed after 2 passes" in final.message and "Out of memory" in final.message and final.files


def test_a_tokenizer_without_a_chat_template_is_noted_in_the_page(tiny_models, tokenizer, store):
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    store.put("plain", tiny_models("llama", 2), plain)
    frames = list(callbacks.run(Session(), store, settings(model="plain"), EVERY_PASS))
    assert "Note: the tokenizer has no chat template" in next(f for f in frames if f.num_layers).message
    assert "Finished after" in frames[-1].message and "no chat template" in frames[-1].message


def test_a_run_that_fills_the_context_ends_with_the_answer_prompt(tokenizer, store):
    from tests.conftest import make_tiny_model

    short = make_tiny_model("qwen3", len(tokenizer), 1)
    short.config.max_position_embeddings = limit = 640   # the prompt takes about 400 tokens
    store.put("short", short, tokenizer)
    session = Session()
    final = list(callbacks.run(session, store, settings(model="short", num_workers=3, max_new_tokens=4096,
                                                        max_answer_tokens=6), Cadence()))[-1]
    log = session.run_log
    assert log.status == "finished" and "Finished after" in final.message and "hw-error" not in final.message
    assert log.passes[-1].phase == "answer" and len(log.passes) < 4096
    assert any(inserted and "Time is up" in text for text, inserted in log.lanes[0])
    assert '<span class="hw-ins">' in final.lanes[0] and "Time is up" in final.lanes[0]     # in the page
    assert max(sum(length for _, _, length, _ in view) for view in log.views) <= limit


def test_same_seed_same_lanes(store):
    """Sampling at temperature > 0 through the callbacks: a seed fixes every worker's tokens."""
    def lanes(seed):
        session = Session()
        list(callbacks.run(session, store, settings(num_workers=3, temperature=0.9, top_p=0.95, seed=seed),
                           Cadence()))
        session.close()
        return [worker["tokens"] for worker in session.run_log.workers], [session.run_log.lane_text(w) for w in range(3)]

    assert lanes(7) == lanes(7)
    assert lanes(7) != lanes(8)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def tensor_bytes() -> int:
    gc.collect()
    return sum(t.untyped_storage().nbytes() for t in gc.get_objects() if issubclass(type(t), torch.Tensor))


def test_twenty_runs_in_a_row_give_memory_back(store, monkeypatch):
    """Finished, stopped and abandoned runs all release their engine and its KV cache; a session
    keeps one run's files and a bounded comparison table, however long the visit."""
    made, real = [], callbacks.HogwildEngine

    def tracked(*args, **kwargs):
        engine = real(*args, **kwargs)
        made.append(weakref.ref(engine))
        return engine

    monkeypatch.setattr(callbacks, "HogwildEngine", tracked)
    session = Session()
    list(callbacks.run(session, store, settings(num_workers=4), Cadence()))   # warm-up: lazy buffers, allocator pools
    prompts = store.prompt_cache(settings().model)       # the model's prompt prefixes, kept on purpose
    base_tensors, base_rss = tensor_bytes() - prompts.nbytes(), rss_bytes()
    for i in range(20):
        run = callbacks.run(session, store, settings(num_workers=1 + i % 4, seed=i, temperature=0.8), EVERY_PASS)
        if i % 5 == 3:
            next(run), next(run)
            run.close()                         # the visitor closed the tab mid-run
        elif i % 5 == 4:
            next(run), next(run)
            callbacks.stop(session)
            list(run)
        else:
            list(run)
    gc.collect()
    assert len(made) == 21 and all(ref() is None for ref in made), "an engine (and its KV cache) outlived its run"
    # Exact: every tensor a run made (cache segments, logits, attention) is gone, less the prompt
    # prefixes the model's PromptCache keeps (one per worker count here, within its bound).
    assert tensor_bytes() - prompts.nbytes() == base_tensors
    assert 0 < len(prompts) <= prompts.max_entries
    # RSS also counts arenas that glibc and torch keep for reuse after free: measured, it grows
    # about 15 MB over the first 20 runs of differently shaped batches, then stays flat to 60 runs.
    # The bound catches a leak of Python records or figures, which grows with every run.
    assert rss_bytes() - base_rss < 48 * 2**20
    assert len(session.comparisons) == callbacks.MAX_COMPARISONS
    folder = session.downloads.folder
    assert len(os.listdir(folder)) == 2      # the last run's trace and table only
    session.close()
    assert not os.path.exists(folder)


def test_the_clock_starts_at_the_click_and_counts_the_prompt(store):
    session = Session()
    callbacks.pressed(session, settings())
    time.sleep(0.3)                                  # the wait in the queue
    frames = list(callbacks.run(session, store, settings(), EVERY_PASS))
    assert session.run_log.passes[0].elapsed >= 0.3
    assert "prompt included" in frames[-1].message
    assert float(session.comparisons[-1]["time (s)"]) >= 0.3


def test_the_heatmap_opens_on_the_last_pass_every_worker_wrote():
    from demo.records import RunLog
    log = RunLog(meta={"settings": {"layout": "combined"}, "worker_names": ["Alice", "Bob"], "num_layers": 1})
    rows = {1: [[0.5, 0.5], [0.5, 0.5]], 2: [[0.5, 0.5], [0.4, 0.6]], 3: [[0.5, 0.5], [0.0, 0.0]], 4: None}
    log.passes = [pass_record(2, pass_number=k, attention=v) for k, v in rows.items()]
    log.status = "finished"
    assert callbacks.default_pass(log) == 2
    session = Session()
    session.run_log = log
    log.blocks = [{"id": 0, "kind": "prompt", "owner": None, "length": 3, "text": ""},
                  {"id": 1, "kind": "step", "owner": 1, "length": 3, "text": ""}]
    assert callbacks.heatmap_of(session).layout.title.text.endswith("pass 2")


def test_compare_buttons_name_what_they_run(store):
    session = Session()
    final = list(callbacks.run(session, store, settings(num_workers=3), EVERY_PASS))[-1]
    assert final.compare_labels == ["Compare: 1 worker", "Compare: 3 independent workers"]
    assert session.base.num_workers == 3
    list(callbacks.run(session, store, session.base.baseline("one"), EVERY_PASS))
    assert session.base.num_workers == 3          # a baseline is not what the next compare reruns


def test_the_page_opens_on_a_recording_in_one_frame(store):
    live = Session()
    final = list(callbacks.run(live, store, settings(num_workers=3), EVERY_PASS))[-1]
    shown = Session()
    frame = callbacks.open_recording(shown, final.files[0], {"machine": "cpu X", "date": "2026-01-02", "model": "M"})
    assert frame.lanes == final.lanes and frame.num_workers == 3 and frame.settings.num_workers == 3
    assert "recorded on cpu X, 2026-01-02 with M" in frame.stats and frame.message == ""
    assert shown.run_log.status == "finished" and shown.lifecycle.state is RunState.IDLE


def test_a_run_pressed_during_a_replay_ends_it_without_a_last_frame(store, tmp_path):
    live = Session()
    final = list(callbacks.run(live, store, settings(num_workers=2), EVERY_PASS))[-1]
    session = Session()
    replay = callbacks.replay(session, final.files[0], Cadence(replay_frames=1000, replay_delay=0.0))
    next(replay)
    assert session.lifecycle.state is RunState.REPLAYING
    callbacks.pressed(session, settings())
    assert session.lifecycle.should_stop and session.lifecycle.preempted
    assert list(replay) == [] and session.lifecycle.state is RunState.WAITING     # the press waits for its slot


def test_stop_during_a_replay_ends_it_with_its_last_frame(store):
    live = Session()
    final = list(callbacks.run(live, store, settings(num_workers=2), EVERY_PASS))[-1]
    session = Session()
    replay = callbacks.replay(session, final.files[0], Cadence(replay_frames=1000, replay_delay=0.0))
    next(replay)
    assert "Stopping after" in callbacks.stop(session)
    (last,) = list(replay)
    assert "Stopped after" in last.message and last.running is False and session.run_log.status == "stopped"
    assert session.lifecycle.state is RunState.IDLE


def test_downloads_are_named_after_the_run():
    meta = {"settings": {"layout": "combined"}, "worker_names": ["Alice", "Bob", "Carol"]}
    assert callbacks.download_name(RunLog(meta=dict(meta, date="2026-11-29 14:05 UTC"))) == \
        "hogwild-combined-3-workers-2026-11-29-1405"
    replayed = RunLog(meta=dict(meta, worker_names=["Alice"], recording={"date": "2026-01-02"}))
    assert callbacks.download_name(replayed) == "hogwild-combined-1-worker-2026-01-02"
    odd = RunLog(meta=dict(meta, settings={"layout": "../<x>"}))
    assert callbacks.download_name(odd) == "hogwild-x-3-workers-undated"


def test_stop_while_waiting_for_a_slot_cancels_the_run(store):
    session = Session()
    callbacks.pressed(session, settings())
    assert "will not start" in callbacks.stop(session)
    (frame,) = list(callbacks.run(session, store, settings(), EVERY_PASS))
    assert "before it started" in frame.message and frame.running is False and session.run_log is None
    assert len(list(callbacks.run(session, store, settings(), EVERY_PASS))) > 3     # the next Run runs


def test_loading_the_opening_recording_draws_nothing_but_enables_its_controls(store):
    live = Session()
    final = list(callbacks.run(live, store, settings(num_workers=3), EVERY_PASS))[-1]
    session = Session()
    frame = callbacks.load_recording(session, final.files[0], {"machine": "m", "date": "2026-01-02"})
    assert frame.lanes is None and frame.heatmap is None and frame.stats is None
    assert frame.num_passes == len(live.run_log.passes) and frame.heatmap_pass == callbacks.default_pass(session.run_log)
    assert os.path.basename(frame.files[0]).startswith("hogwild-combined-3-workers-20")
    assert callbacks.select_pass(session, 2).layout.title.text.endswith("pass 2")
    assert "Bob attends" in callbacks.select_view(session, 1)
