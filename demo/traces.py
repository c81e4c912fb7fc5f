"""Trace files: a run saved as JSON (settings, every worker's tokens, per-pass attention
statistics) and read back for replay without a model; and the attention table as CSV.

The file keeps the keys of its version 1: the list of pass records is "steps" and each record's
pass number is "step". Only this module knows those keys: `pass_to_json` and `pass_from_json`
map a records.PassRecord to and from its JSON object, and everything else reads PassRecords
(`read_trace` gives them with the file's JSON as a `Trace`; `trace_passes` reads them from JSON
that did not come through it). The CSV, which nothing reads back, says "pass".

A trace is untrusted input (anyone can upload one), so `read_trace` checks size, syntax and
every field it will use, and says exactly what is wrong in a TraceError."""

import csv
import io
import json
import math
import os
from dataclasses import dataclass

from hogwild_core import HogwildError, MAX_WORKERS

from .records import HistoryStep, LanePiece, PassRecord, RunLog

FORMAT, VERSION = "hogwild-trace", 1
MAX_TRACE_BYTES = 32 * 1024 * 1024
STATUSES = ("running", "finished", "stopped", "failed")
SETTING_KEYS = ("problem", "num_workers", "layout", "max_new_tokens", "temperature", "top_p", "seed",
                "check_interval", "model")


class TraceError(HogwildError):
    """A trace file that cannot be replayed, and why."""


@dataclass(frozen=True)
class Trace:
    """A checked trace: its JSON (meta, blocks, views, ...) and its pass records, read once."""
    data: dict
    passes: list[PassRecord]


def trace_dict(log: RunLog) -> dict:
    return {
        "format": FORMAT, "version": VERSION, "meta": log.meta, "status": log.status,
        "answer": log.answer, "elapsed": log.elapsed, "workers": log.workers, "blocks": log.blocks,
        "views": log.views, "last_attention_by_layer": log.last_attention_by_layer,
        "steps": [pass_to_json(record) for record in log.passes],
    }


def pass_to_json(record: PassRecord) -> dict:
    """A pass record as the trace file keeps it (format version 1: the pass number under "step")."""
    return {
        "step": record.pass_number, "phase": record.phase, "seconds": record.seconds, "elapsed": record.elapsed,
        "cache_tokens": record.cache_tokens, "cache_bytes": record.cache_bytes, "tokens": list(record.tokens),
        "pieces": [[[piece.text, piece.inserted] for piece in lane] for lane in record.pieces],
        "flushed": [[step.block_id, step.owner, step.text] for step in record.flushed],
        "attention": record.attention, "shares": record.shares,
    }


def pass_from_json(record, index: int, num_workers: int) -> PassRecord:
    """The pass record of a trace's "steps"[index] (a run of `num_workers` workers), each field
    checked; a TraceError says which one is wrong."""
    path, W = f"steps[{index}]", num_workers
    _need(isinstance(record, dict), path, "expected an object")
    _present(record, ("attention", "shares"), f"{path}.")
    _need(_is_int(record.get("step")), f"{path}.step", "expected an integer")
    _need(record.get("phase") in ("work", "answer"), f"{path}.phase", "expected 'work' or 'answer'")
    for key in ("elapsed", "seconds"):
        _need(_is_number(record.get(key)) and record[key] >= 0, f"{path}.{key}", "expected a number >= 0")
    for key in ("cache_tokens", "cache_bytes"):
        _need(_is_int(record.get(key)), f"{path}.{key}", "expected an integer")
    tokens = record.get("tokens")
    _need(isinstance(tokens, list) and len(tokens) == W and all(t is None or _is_int(t) for t in tokens),
          f"{path}.tokens", f"expected {W} token ids or nulls, one per worker")
    pieces = record.get("pieces")
    _need(isinstance(pieces, list) and len(pieces) == W, f"{path}.pieces", f"expected {W} lists, one per worker")
    for w, lane in enumerate(pieces):
        _need(isinstance(lane, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                             and isinstance(p[1], bool) for p in lane),
              f"{path}.pieces[{w}]", "expected [text, inserted] pairs")
    flushed = record.get("flushed")
    _need(isinstance(flushed, list) and all(isinstance(f, list) and len(f) == 3 and _is_int(f[0])
                                            and _is_owner(f[1], W) and isinstance(f[2], str) for f in flushed),
          f"{path}.flushed", "expected [block id, owner, text] entries")
    _check_matrix(record.get("attention"), W, f"{path}.attention", depth=2)
    shares = record.get("shares")
    _need(shares is None or (isinstance(shares, list) and len(shares) == W and all(
        s is None or (isinstance(s, list) and len(s) == 3 and all(_is_number(x) for x in s)) for s in shares)),
        f"{path}.shares", f"expected null or {W} entries of [own, others, shared]")
    return PassRecord(
        pass_number=record["step"], phase=record["phase"], seconds=record["seconds"], elapsed=record["elapsed"],
        cache_tokens=record["cache_tokens"], cache_bytes=record["cache_bytes"], tokens=list(tokens),
        pieces=[[LanePiece(text, inserted) for text, inserted in lane] for lane in pieces],
        flushed=[HistoryStep(block_id, owner, text) for block_id, owner, text in flushed],
        attention=record["attention"], shares=shares)


def trace_passes(data: dict) -> list[PassRecord]:
    """A trace's pass records, in order (each checked as `read_trace` checks it), for JSON that did
    not come through `read_trace` (which returns them already)."""
    W = len(data["meta"]["worker_names"])
    return [pass_from_json(record, i, W) for i, record in enumerate(data["steps"])]


def write_trace(log: RunLog, path: str) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(trace_dict(log), f, ensure_ascii=False, separators=(",", ":"))
    return path


def attention_csv(log: RunLog) -> str:
    """One row per (pass, worker, block) with the worker's attention mass on that block."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["pass", "phase", "worker", "worker_name", "block", "block_kind", "block_owner", "mass"])
    names = log.meta["worker_names"]
    kinds = {b["id"]: b["kind"] for b in log.blocks}
    owners = {b["id"]: b["owner"] for b in log.blocks}
    for record in log.passes:
        for w, row in enumerate(record.attention or []):
            if not any(row):
                continue     # the worker did not run in this pass
            for block, mass in enumerate(row):
                owner = owners.get(block)
                writer.writerow([record.pass_number, record.phase, w, names[w], block, kinds.get(block, ""),
                                 "" if owner is None else names[owner], mass])
    return out.getvalue()


def write_attention_csv(log: RunLog, path: str) -> str:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(attention_csv(log))
    return path


def read_trace(path: str) -> Trace:
    """Load and check a trace file; raise TraceError with a clear reason."""
    if not path or not os.path.isfile(path):
        raise TraceError("no trace file was received; choose a .json trace saved by this app")
    size = os.path.getsize(path)
    if size > MAX_TRACE_BYTES:
        raise TraceError(f"the trace file is {size / 2**20:.1f} MB; the limit is {MAX_TRACE_BYTES // 2**20} MB")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except UnicodeDecodeError:
        raise TraceError("the trace file is not text (UTF-8 JSON); choose a .json trace saved by this app") from None
    except json.JSONDecodeError as exc:
        raise TraceError(f"the trace file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise TraceError("the trace file is nested too deeply to be a trace") from None
    except ValueError:      # e.g. an integer literal longer than Python will convert (4300 digits)
        raise TraceError("the trace file holds a number too long to be part of a trace") from None
    return Trace(data, check_trace(data))


def log_from_trace(data: dict) -> RunLog:
    """A RunLog with the trace's meta and final snapshot but no passes yet (replay adds them)."""
    return RunLog(meta=data["meta"], blocks=data["blocks"], views=data["views"], workers=data["workers"],
                  last_attention_by_layer=data["last_attention_by_layer"], answer=data["answer"],
                  status="running")


def check_trace(data) -> list[PassRecord]:
    """Check every field of a trace's JSON that replay uses; its pass records, in order."""
    _need(isinstance(data, dict), "", "the file holds JSON but not a trace object")
    _need(data.get("format") == FORMAT, "format", f"not a Hogwild trace (expected format {FORMAT!r})")
    _need(data.get("version") == VERSION, "version", f"unsupported version {data.get('version')!r}; this app reads {VERSION}")
    meta = _field(data, "meta", dict)
    settings = _field(meta, "settings", dict, "meta.")
    for key in SETTING_KEYS:
        _need(key in settings, f"meta.settings.{key}", "missing")
    names = _field(meta, "worker_names", list, "meta.")
    W = len(names)
    _need(1 <= W <= MAX_WORKERS and all(isinstance(n, str) for n in names), "meta.worker_names",
          f"expected 1 to {MAX_WORKERS} names")
    _need(settings["num_workers"] == W, "meta.settings.num_workers", "does not match meta.worker_names")
    _need(isinstance(settings["layout"], str), "meta.settings.layout", "expected a string")
    _need(_is_int(meta.get("num_layers")) and meta["num_layers"] >= 1, "meta.num_layers", "expected a positive integer")
    for key in ("model", "label"):
        _need(isinstance(meta.get(key, ""), str), f"meta.{key}", "expected a string")
    external = meta.get("external_workers", [])       # a visitor's lane (traces from before it have none)
    _need(isinstance(external, list) and all(_is_int(x) and 0 < x < W for x in external), "meta.external_workers",
          f"expected a list of worker indices from 1 to {W - 1}")
    _need(data.get("status") in STATUSES, "status", f"expected one of {', '.join(STATUSES)}")
    _present(data, ("answer", "last_attention_by_layer"), "")
    _need(data.get("answer") is None or isinstance(data["answer"], str), "answer", "expected a string or null")
    blocks = _field(data, "blocks", list)
    for i, block in enumerate(blocks):
        path = f"blocks[{i}]"
        _need(isinstance(block, dict), path, "expected an object")
        _need(block.get("id") == i, f"{path}.id", f"expected {i} (blocks are listed by id)")
        _present(block, ("owner",), f"{path}.")
        _need(isinstance(block.get("kind"), str), f"{path}.kind", "expected a string")
        _need(_is_owner(block.get("owner"), W), f"{path}.owner", f"expected a worker index below {W} or null")
        _need(_is_int(block.get("length")), f"{path}.length", "expected an integer")
        _need(isinstance(block.get("text"), str), f"{path}.text", "expected a string")
    views = _field(data, "views", list)
    _need(len(views) in (0, W), "views", f"expected one view per worker ({W})")
    for w, view in enumerate(views):
        _need(isinstance(view, list), f"views[{w}]", "expected a list")
        for j, entry in enumerate(view):
            ok = (isinstance(entry, list) and len(entry) == 4 and all(_is_int(x) for x in entry[:3])
                  and 0 <= entry[0] < len(blocks) and isinstance(entry[3], str))
            _need(ok, f"views[{w}][{j}]", "expected [block id, start, length, text]")
    workers = _field(data, "workers", list)
    _need(len(workers) in (0, W), "workers", f"expected one entry per worker ({W})")
    for w, worker in enumerate(workers):
        _need(isinstance(worker, dict) and isinstance(worker.get("text"), str)
              and isinstance(worker.get("tokens"), list), f"workers[{w}]", "expected {name, tokens, text, inserted}")
    _check_matrix(data.get("last_attention_by_layer"), W, "last_attention_by_layer", depth=3)
    return [pass_from_json(record, i, W) for i, record in enumerate(_field(data, "steps", list))]


def _check_matrix(value, W: int, path: str, depth: int) -> None:
    """None, or [W][B] (depth 2) / [L][W][B] (depth 3) finite numbers."""
    if value is None:
        return
    layers = [value] if depth == 2 else value
    _need(isinstance(layers, list), path, "expected a list or null")
    for layer in layers:
        _need(isinstance(layer, list) and len(layer) == W, path, f"expected {W} rows, one per worker")
        for row in layer:
            _need(isinstance(row, list) and all(_is_number(x) for x in row), path, "expected rows of numbers")


def _field(obj: dict, key: str, kind: type, prefix: str = ""):
    _need(isinstance(obj.get(key), kind), prefix + key, f"missing or not a {kind.__name__}")
    return obj[key]


def _present(obj: dict, keys: tuple, prefix: str) -> None:
    """Keys whose value may be null must still be there."""
    for key in keys:
        _need(key in obj, prefix + key, "missing (null is allowed, absence is not)")


def _need(ok: bool, path: str, message: str) -> None:
    if not ok:
        raise TraceError(f"bad trace file: {path + ': ' if path else ''}{message}")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool)) and math.isfinite(x)


def _is_owner(x, W: int) -> bool:
    return x is None or (_is_int(x) and 0 <= x < W)
