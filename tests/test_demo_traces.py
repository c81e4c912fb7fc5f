"""Trace files: round trip, the CSV table, and clear errors for malformed or oversized files."""

import copy
import csv
import io
import json
import os
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from demo import callbacks, traces
from demo.callbacks import Cadence, Session
from demo.models import ModelStore
from demo.records import HistoryStep, LanePiece, PassRecord, RunLog, attention_shares
from demo.settings import PageSettings
from demo.traces import (TraceError, attention_csv, check_trace, log_from_trace, pass_from_json, pass_to_json,
                         read_trace, trace_passes, write_trace)
from tests.pass_records import pass_record

FAST = Cadence(text_seconds=0.0, chart_seconds=0.0, replay_frames=1000, replay_delay=0.0)
ONE_FRAME = Cadence(replay_frames=1, replay_delay=0.0)
pytestmark = pytest.mark.usefixtures("files_in_tmp")


@pytest.fixture(scope="module")
def trace_file(tiny_models, tokenizer, tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    store = ModelStore()
    store.put("default", tiny_models("qwen3", 2), tokenizer)
    session = Session()
    settings = PageSettings(problem="Add 3 and 4.", num_workers=2, layout="combined", max_new_tokens=16,
                           max_answer_tokens=3)
    final = list(callbacks.run(session, store, settings, FAST))[-1]
    torch.set_num_threads(before)
    yield final.files[0], final.files[1], session
    session.close()


def test_attention_shares_split_own_others_shared():
    owners = [None, 0, 1, 1]
    assert attention_shares([0.5, 0.2, 0.2, 0.1], owners, 0) == [0.2, 0.3, 0.5]
    assert attention_shares([0.5, 0.2, 0.2, 0.1], owners, 1) == [0.3, 0.2, 0.5]
    assert attention_shares([0.0, 0.0, 0.0, 0.0], owners, 1) is None


def test_run_log_merges_pieces_of_the_same_kind():
    log = RunLog(meta={"settings": {"layout": "combined"}, "worker_names": ["Alice"], "num_layers": 1})
    for pieces in ([("**A [1]:**", True)], [(" Hi", False)], [(" there", False), ("**A [2]:**", True)]):
        log.add_pass(pass_record(1, pieces=[pieces], tokens=[1], elapsed=1.0))
    assert log.lanes[0] == [("**A [1]:**", True), (" Hi there", False), ("**A [2]:**", True)]
    assert log.lanes[0][1].text == " Hi there" and not log.lanes[0][1].inserted
    assert log.sampled == [3] and log.lane_text(0) == "**A [1]:** Hi there**A [2]:**"


def test_a_trace_holds_settings_tokens_and_attention(trace_file):
    path, _, session = trace_file
    checked = read_trace(path)
    data, passes = checked.data, checked.passes
    assert data["format"] == "hogwild-trace" and data["meta"]["settings"]["num_workers"] == 2
    assert data["meta"]["settings"]["problem"] == "Add 3 and 4."
    transcript = data["workers"][0]["tokens"]
    assert passes == trace_passes(data)          # the records read once equal those read from the JSON
    sampled = [r.tokens[0] for r in passes if r.tokens[0] is not None]
    assert sampled and all(t in transcript for t in sampled)
    row = passes[0].attention[0]
    assert abs(sum(row) - 1.0) < 1e-3 and len(data["last_attention_by_layer"]) == 2
    assert passes == session.run_log.passes
    assert [r.pass_number for r in passes] == list(range(1, len(passes) + 1))
    assert data["steps"][0]["step"] == 1 and "pass_number" not in data["steps"][0]    # the file keeps its keys


ASSETS = Path(__file__).resolve().parent.parent / "assets"
RECORDED_TRACES = sorted(p for p in ASSETS.rglob("*.json") if p.name not in ("index.json", "examples.json"))
TRACE_KEYS = {"step", "phase", "seconds", "elapsed", "cache_tokens", "cache_bytes", "tokens", "pieces", "flushed",
              "attention", "shares"}


def test_a_pass_record_survives_a_trace_file_unchanged(tmp_path):
    names = ["Alice", "Bob", "Carol"]
    log = RunLog(meta={"settings": {k: 0 for k in traces.SETTING_KEYS} | {"num_workers": 3, "layout": "combined"},
                       "worker_names": names, "num_layers": 2, "model": "m", "label": "x"}, status="finished")
    log.blocks = [{"id": 0, "kind": "prompt", "owner": None, "segment": "prompt", "length": 4, "text": "hi"},
                  {"id": 1, "kind": "step", "owner": 1, "segment": "history", "length": 3, "text": "**Bob [1]:** 7"}]
    records = [
        PassRecord(pass_number=1, phase="work", seconds=0.1234, elapsed=1.5, cache_tokens=7, cache_bytes=4096,
                   tokens=[5, None, 0], pieces=[[LanePiece("**Alice [1]:**", True), LanePiece(" Hi", False)], [],
                                                [LanePiece(" \u00e9\n", False)]],
                   flushed=[], attention=[[0.5, 0.5], [0.0, 0.0], [1.0, 0.0]],
                   shares=[[0.0, 0.0, 1.0], None, [0.0, 0.0, 1.0]]),
        PassRecord(pass_number=2, phase="answer", seconds=0.0, elapsed=2.0, cache_tokens=9, cache_bytes=8192,
                   tokens=[None, 3, None], pieces=[[], [LanePiece("7", False)], []],
                   flushed=[HistoryStep(1, 1, "**Bob [1]:** 7")], attention=None, shares=None),
    ]
    for record in records:
        log.add_pass(record)
    back = read_trace(write_trace(log, str(tmp_path / "t.json"))).passes
    assert back == records and back[1].flushed[0].owner == 1 and back[0].pieces[0][0].inserted is True
    assert all(pass_from_json(pass_to_json(r), i, 3) == r for i, r in enumerate(records))
    assert set(pass_to_json(records[0])) == TRACE_KEYS


@pytest.mark.parametrize("path", RECORDED_TRACES, ids=lambda p: p.name)
def test_a_trace_recorded_before_pass_records_still_reads(path):
    """The recordings under assets/ were written as plain dicts: they read as PassRecords, and
    written back they are the same JSON (the file format did not change)."""
    checked = read_trace(str(path))
    original = json.loads(path.read_text(encoding="utf-8"))["steps"]
    log = log_from_trace(checked.data)
    for record in checked.passes:
        log.add_pass(record)
    assert len(log.passes) == len(original) > 0 and all(isinstance(r, PassRecord) for r in log.passes)
    assert [pass_to_json(r) for r in log.passes] == original
    assert log.elapsed == original[-1]["elapsed"] and sum(log.sampled) > 0


def test_the_csv_has_one_row_per_pass_worker_block(trace_file):
    path, csv_path, session = trace_file
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert rows[0].keys() == {"pass", "phase", "worker", "worker_name", "block", "block_kind", "block_owner", "mass"}
    first = session.run_log.passes[0]
    assert len([r for r in rows if r["pass"] == str(first.pass_number)]) == sum(len(a) for a in first.attention)
    assert rows[0]["block_kind"] == "prompt" and rows[0]["block_owner"] == ""
    assert attention_csv(session.run_log) == open(csv_path, encoding="utf-8", newline="").read()


def test_not_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "hogwild-trace",')
    with pytest.raises(TraceError, match=r"not valid JSON \(line 1"):
        read_trace(str(bad))
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TraceError, match="not text"):
        read_trace(str(bad))


def test_oversized(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    big.write_text(" " * 2048)
    monkeypatch.setattr(traces, "MAX_TRACE_BYTES", 1024)
    with pytest.raises(TraceError, match="the limit is"):
        read_trace(str(big))


def test_missing_file():
    with pytest.raises(TraceError, match="no trace file"):
        read_trace(None)


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.clear(), "format"),
    (lambda d: d.update(format="other"), "not a Hogwild trace"),
    (lambda d: d.update(version=99), "unsupported version"),
    (lambda d: d["meta"].update(worker_names=["A", "B", "C"]), "does not match"),
    (lambda d: d["steps"][0].update(tokens=[1]), "steps[0].tokens"),
    (lambda d: d["steps"][1]["pieces"][0].append(["x", "yes"]), "steps[1].pieces[0]"),
    (lambda d: d["steps"][0].update(attention=[[0.1, "x"], [0.2]]), "steps[0].attention"),
    (lambda d: d["steps"][0].update(elapsed=-1), "steps[0].elapsed"),
    (lambda d: d["blocks"][0].update(owner=7), "blocks[0].owner"),
    (lambda d: d["views"][0].append([999, 0, 1, "x"]), "views[0]"),
    (lambda d: d.update(status="exploded"), "status"),
])
def test_malformed_traces_say_where(trace_file, edit, words):
    data = json.load(open(trace_file[0], encoding="utf-8"))
    edit(data)
    with pytest.raises(TraceError) as info:
        check_trace(data)
    assert words in str(info.value)


ODD_VALUES = (None, "x", -1, 1.5, True, [], {}, [[]], [None], float("inf"))


def test_any_odd_field_is_a_clear_error_or_replays(trace_file, tmp_path):
    """Every field of the trace, replaced by odd values: a TraceError or a replay that works."""
    original = json.load(open(trace_file[0], encoding="utf-8"))
    paths = [(k,) for k in original] + [("meta", k) for k in original["meta"]] + \
            [("meta", "settings", k) for k in original["meta"]["settings"]] + \
            [("steps", 0, k) for k in original["steps"][0]] + [("blocks", 0, k) for k in original["blocks"][0]] + \
            [("workers", 0, k) for k in original["workers"][0]]
    for path in paths:
        for value in ODD_VALUES:
            data = copy.deepcopy(original)
            target = data
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            file = tmp_path / "odd.json"
            file.write_text(json.dumps(data))
            frames = list(callbacks.replay(Session(), str(file), ONE_FRAME))
            assert frames[-1].message, path


def test_replay_to_csv_is_the_same_table(trace_file):
    path, csv_path, _ = trace_file
    session = Session()
    list(callbacks.replay(session, path, FAST))
    assert attention_csv(session.run_log) == open(csv_path, encoding="utf-8", newline="").read()
    assert list(csv.reader(io.StringIO(attention_csv(session.run_log))))[1][3] == "Alice"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=20)


def replay_file(path) -> list:
    session = Session()
    try:
        return list(callbacks.replay(session, str(path), ONE_FRAME))
    finally:
        session.close()


@settings(max_examples=150, deadline=None)
@given(content=st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode()),
                         st.sampled_from([b"1" * 5000, b"[" * 100000, b"NaN", b'{"format": "hogwild-trace"}',
                                          b"\xef\xbb\xbf{}", "\u2028".encode()])))
def test_any_file_is_a_trace_error(content):
    """Bytes or JSON that are not a trace: a TraceError, never another exception."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "upload.json")
        with open(path, "wb") as f:
            f.write(content)
        with pytest.raises(TraceError):
            read_trace(path)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 4096), limit=st.integers(1, 4096))
def test_oversized_files_are_refused_before_reading(size, limit):
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(traces, "MAX_TRACE_BYTES", limit):
        path = os.path.join(folder, "big.json")
        with open(path, "wb") as f:
            f.write(b"[" * size)           # never parsed when too big: the nesting would be refused
        with pytest.raises(TraceError, match="the limit is" if size > limit else "nested|not valid"):
            read_trace(path)


def draw_path(draw, data) -> list:
    """A random path from the root of `data` to one of its values, at any depth."""
    path, node = [], data
    while isinstance(node, (dict, list)) and node and (not path or draw(st.booleans())):
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        node = node[key]
    return path


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_change_to_a_trace_is_a_clear_error_or_replays(trace_file, data):
    """A valid trace with one value anywhere replaced (or removed): the replay either refuses it
    with a message or plays it to the end. Nothing else escapes to the page."""
    original = json.load(open(trace_file[0], encoding="utf-8"))
    path = draw_path(data.draw, original)
    target = original
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans(), label="remove") and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(JSON, label="value")
    with tempfile.TemporaryDirectory() as folder:
        file = os.path.join(folder, "odd.json")
        with open(file, "w", encoding="utf-8") as f:
            json.dump(original, f)
        frames = replay_file(file)
    last = frames[-1].message
    assert last and ("hw-error" in last) == (len(frames) == 1), last
    if len(frames) > 1:
        assert " after " in last and "passes" in last


EVIL = '<script>window.x=1</script><img src=x onerror=alert(1)><a href="javascript:alert(2)">'


def poisoned(value, key=None):
    """Every string of a trace with markup appended; keys that must match stay as they are."""
    if isinstance(value, dict):
        return {k: poisoned(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [poisoned(v) for v in value]
    if isinstance(value, str) and key not in ("format", "layout", "status", "phase"):
        return value + EVIL
    return value


def test_a_hostile_trace_replays_as_text(trace_file, tmp_path):
    """Worker names, block kinds, texts, answer, label, model: all markup in a trace reaches the
    panels and the charts escaped."""
    data = json.load(open(trace_file[0], encoding="utf-8"))
    data = poisoned(data)
    for record in data["steps"]:       # pieces are [text, inserted] pairs: keep the flags
        record["pieces"] = [[[text, flag] for text, flag in lane] for lane in record["pieces"]]
    data["meta"]["settings"]["layout"] = "combined"
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(data))
    frames = replay_file(path)
    assert "Finished after" in frames[-1].message
    shown = []
    for frame in frames:
        shown += [frame.message, frame.stats, frame.answer, frame.history, frame.view, frame.compare,
                  *(frame.lanes or [])]
        shown += [figure.to_json() for figure in (frame.heatmap, frame.timeline) if figure is not None]
    text = " ".join(s for s in shown if s)
    assert "&lt;script&gt;" in text and "Alice" in text
    for markup in ("<script", "<img", "<a href", "\\u003cscript", "\\u003cimg", "\\u003ca href"):
        assert markup not in text, markup
