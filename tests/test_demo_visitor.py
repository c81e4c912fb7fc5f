"""A visitor who joins the workers, through the page's callbacks on tiny random models: the lane
"You", lines that appear at once and reach the cache at the next pass, their block in the history,
heatmap and cache view, a trace that replays the lane, and every bad Send answered with a message."""

import pytest

from demo import callbacks, render
from demo.callbacks import Cadence, Session
from demo.models import ModelStore
from demo.settings import PageSettings, SettingsError, parse_settings
from demo.visitor import MAX_VISITOR_CHARS, VISITOR_NAME, VisitorDesk
from tests.pass_records import pass_record

EVERY_PASS = Cadence(text_seconds=0.0, chart_seconds=0.0, replay_frames=1000, replay_delay=0.0)
LINE = "I take part (c): 6 + 7 = 13. <b>Alice</b>, check Bob's (b)."
pytestmark = pytest.mark.usefixtures("one_thread", "files_in_tmp")


@pytest.fixture
def store(tiny_models, tokenizer):
    store = ModelStore()
    store.put("default", tiny_models("llama", 2), tokenizer)
    return store


def joined(**changes):
    base = dict(problem="Compute (a) 2 + 3, (b) 4 + 5 and (c) 6 + 7.", num_workers=3, layout="combined",
                max_new_tokens=16, max_answer_tokens=3, join=True)
    return PageSettings(**{**base, **changes})


def run_and_send(session, store, settings, line=LINE, after_passes=3):
    """Run through the page's callback; send `line` once `after_passes` passes are in the log.
    Returns (frames, what Send returned)."""
    frames, sent = [], None
    for frame in callbacks.run(session, store, settings, EVERY_PASS):
        frames.append(frame)
        if sent is None and session.run_log is not None and len(session.run_log.passes) >= after_passes:
            sent = callbacks.send_line(session, line)
    return frames, sent


@pytest.mark.parametrize("layout", ["contiguous", "interleaved", "combined"])
def test_a_sent_line_is_in_the_lane_at_once_then_in_the_cache_history_and_heatmap(store, layout):
    session = Session()
    pressed = callbacks.pressed(Session(), joined(layout=layout))
    assert pressed.worker_names == ["Alice", "Bob", VISITOR_NAME] and 'id="lane-2"' in pressed.lanes[2]
    frames, (message, at_once) = run_and_send(session, store, joined(layout=layout))
    assert "Sent" in message and "hw-info" in message
    you = at_once.lanes[2]
    assert "hw-unsent" in you and render.unsent_html(LINE.strip()) in you          # shown at once, escaped
    assert "<b>Alice</b>" not in you and "&lt;b&gt;Alice&lt;/b&gt;" in you
    log = session.run_log
    assert log.meta["worker_names"] == ["Alice", "Bob", "You"] and log.meta["external_workers"] == [2]
    assert log.meta["settings"]["join"] is True
    assert LINE in log.lane_text(2) and log.lane_text(2).startswith("**You [1]:** ")
    assert log.workers[2]["text"] == log.lane_text(2)
    assert all(token is None for record in log.passes for token in record.tokens[2:])
    written = next(i for i, record in enumerate(log.passes) if record.pieces[2])
    assert written == 3, "the line goes in with the pass after Send"
    block = next(b["id"] for b in log.blocks if b["owner"] == 2 and LINE in b["text"])
    later = [s for s in log.passes[written + 1:] if s.attention and all(any(r) for r in s.attention[:2])]
    assert later and all(s.attention[w][block] > 0 for s in later for w in (0, 1)), "the model workers read it"
    last = frames[-1]
    assert "hw-unsent" not in last.lanes[2] and "You · step 1" in last.lanes[2]
    if layout != "contiguous":
        assert [owner for _, owner, text in log.history if LINE in text] == [2]
        assert "You · block" in last.history
    assert any(entry[0] == block for entry in log.views[0]), "Alice's view of the cache holds the visitor's block"
    assert "You" in str(last.heatmap.data[0].text) and callbacks.default_pass(log) >= written


def test_the_trace_records_the_visitors_lane_and_replays_it(store):
    live = Session()
    frames, _ = run_and_send(live, store, joined())
    final = frames[-1]
    replayed = Session()
    again = list(callbacks.replay(replayed, final.files[0], EVERY_PASS))
    assert again[0].worker_names == ["Alice", "Bob", "You"]
    assert again[-1].lanes == final.lanes and again[-1].history == final.history
    assert replayed.run_log.meta["external_workers"] == [2] and replayed.visitor is None
    assert "Nothing is running" in callbacks.send_line(replayed, "hello.")[0]


def test_bad_lines_get_a_message_and_change_nothing(store):
    session = Session()
    assert "Nothing is running" in callbacks.send_line(session, "hello.")[0]
    run = callbacks.run(session, store, joined(max_new_tokens=40), EVERY_PASS)
    while session.run_log is None or not session.run_log.passes:
        next(run)
    for text, words in (("", "empty"), ("   \n", "empty"), (None, "empty"),
                        ("x" * (MAX_VISITOR_CHARS + 1), f"at most {MAX_VISITOR_CHARS}")):
        message, frame = callbacks.send_line(session, text)
        assert words in message and "hw-error" in message and frame is None
    assert callbacks.send_line(session, "x" * MAX_VISITOR_CHARS)[1] is not None
    callbacks.stop(session)
    list(run)
    assert "Nothing is running" in callbacks.send_line(session, "hello.")[0]
    other = Session()                                      # a run the visitor did not join
    run = callbacks.run(other, store, joined(join=False), EVERY_PASS)
    while other.run_log is None:
        next(run)
    assert "no lane for you" in callbacks.send_line(other, "hello.")[0]
    run.close()


def test_after_the_final_answer_began_a_line_is_refused(store):
    session = Session()
    run = callbacks.run(session, store, joined(max_new_tokens=4, max_answer_tokens=8), EVERY_PASS)
    for _ in run:
        if session.run_log is not None and session.run_log.passes and session.run_log.passes[-1].phase == "answer":
            break
    message, frame = callbacks.send_line(session, "Too late?")
    assert "final answer" in message and frame is None
    list(run)


def test_a_line_the_engine_refuses_stays_in_the_lane_with_the_reason():
    desk = VisitorDesk(2)
    desk.send("first.")
    assert desk.hand_over() == ["first."] and desk.unrecorded() == [("first.", "")]
    desk.refuse("first.", "no room")
    desk.send("second.")
    desk.close("the run had stopped")
    assert desk.unrecorded() == [("first.", "no room"), ("second.", "the run had stopped")]
    assert not desk.send("third.") and "not written: no room" in render.unsent_html("first.", "no room")


def test_joining_needs_two_workers_and_baselines_leave_the_visitor_out():
    with pytest.raises(SettingsError, match="at least 2 workers"):
        parse_settings({"problem": "p", "num_workers": 1, "join": True})
    with pytest.raises(SettingsError, match="ticked"):
        parse_settings({"problem": "p", "join": "yes"})
    settings = parse_settings({"problem": "p", "num_workers": 3, "join": True})
    assert settings.engine_config().external_workers == ("You",) and "you and 2" in settings.label
    assert settings.baseline("one").join is False and settings.baseline("one").num_workers == 1
    independent = settings.baseline("independent")
    assert independent.num_workers == 2 and not independent.join and independent.label == "2 independent workers"
    assert parse_settings({"problem": "p"}).join is False


def test_the_visitor_has_a_colour_of_their_own():
    from demo import charts
    from demo.palette import VISITOR_COLOUR, WORKER_COLOURS, worker_colour
    names = ["Alice", "Bob", "You"]
    assert worker_colour(2, names) == VISITOR_COLOUR not in WORKER_COLOURS
    assert worker_colour(2) == WORKER_COLOURS[2] and worker_colour(1, names) == WORKER_COLOURS[1]
    assert VISITOR_COLOUR in render.lane_html("You", 2, [], worker_names=names)
    blocks = [{"id": 0, "kind": "step", "owner": 2, "length": 4, "text": "**You [1]:** hi."}]
    assert VISITOR_COLOUR in charts.block_labels(blocks, names, 1)[0][0]
    assert VISITOR_COLOUR in render.history_html([[0, 2, "**You [1]:** hi."]], names, True)


def test_the_heatmap_opens_on_the_last_pass_every_model_worker_wrote():
    from demo.records import RunLog
    log = RunLog(meta={"settings": {"layout": "combined"}, "worker_names": ["Alice", "Bob", "You"],
                       "num_layers": 1, "external_workers": [2]})
    log.passes = [pass_record(3, pass_number=i + 1, attention=rows) for i, rows in enumerate(
        ([[1.0], [1.0], [1.0]], [[1.0], [1.0], [0.0]], [[1.0], [0.0], [0.0]]))]
    assert callbacks.default_pass(log) == 2


def test_the_page_has_the_box_and_send_skips_the_queue():
    import gradio as gr

    from demo.ui import Wiring, build_ui
    page = build_ui(ModelStore())
    ids = {getattr(block, "elem_id", None): block for block in page.blocks.values()}
    assert {"join", "human", "human-text", "human-send", "human-message"} <= set(ids)
    assert ids["human"].visible is False and ids["join"].value is False
    sent = [d for d in page.fns.values() if d.name == "line_sent"]
    assert len(sent) == 2 and not any(d.queue for d in sent) and all(d.concurrency_limit is None for d in sent)
    assert {d.api_name for d in sent} >= {"send_line"}
    wiring = Wiring.__new__(Wiring)
    assert wiring.join_changed(True) == gr.update(visible=True)
    message, lanes, box = wiring.line_sent(Session(), "hello.")
    assert "Nothing is running" in message and lanes == box == gr.skip()
