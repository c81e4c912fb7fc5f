"""Results on disk: one JSON line per (task set, problem, method, layout, W, seed), appended as
each run finishes, so an interrupted evaluation continues where it stopped.

The output folder also holds settings.json (model, budgets, temperature, ...): resuming with
different settings would mix incomparable runs, so it is refused.

A pooled folder holds no runs of its own: its settings.json names sibling folders (`pooled_from`)
whose results are read together, e.g. the same protocol run on two sets of problems on two kinds
of machine. Pooling checks what resuming checks: equal settings, and no run in two sources."""

import json
import os
from pathlib import Path

from .errors import EvaluationError
from .records import EvalRun, RecordError, run_from_json, run_to_json

RESULTS = "results.jsonl"
SETTINGS = "settings.json"
DESCRIPTIVE = ("machine", "date", "note")    # where, when, and a reader's note: never compared
SETTING_DEFAULTS = {"finish": "eos"}   # settings of folders from before the setting existed
POOLED_FROM = "pooled_from"     # settings.json of a pooled folder: the sibling folders it reads


def read_settings(folder: Path) -> dict | None:
    """The settings a folder's results were made with (its settings.json), or None if it has none
    that can be read."""
    try:
        settings = json.loads((Path(folder) / SETTINGS).read_text())
    except (OSError, ValueError):
        return None
    return settings if isinstance(settings, dict) else None


def _setting(settings: dict, key: str):
    """A setting's value, or what folders from before the setting existed ran with."""
    return settings.get(key, SETTING_DEFAULTS.get(key))


def changed_settings(old: dict, new: dict) -> list[str]:
    """The settings that differ between two folders, less the descriptive ones."""
    return sorted(k for k in set(old) | set(new)
                  if k not in DESCRIPTIVE + (POOLED_FROM,) and _setting(old, k) != _setting(new, k))


def pool_settings(folders: list[Path]) -> dict:
    """settings.json for a folder pooling `folders` (siblings, each with results): their common
    settings, each source's machine and dates, and the sources' names."""
    if len(folders) < 2:
        raise EvaluationError("pooling needs at least two folders")
    names, sources = [], []
    for folder in map(Path, folders):
        settings = read_settings(folder)
        if settings is None or not (folder / RESULTS).is_file():
            raise EvaluationError(f"{folder} has no settings.json and results.jsonl to pool")
        if POOLED_FROM in settings:
            raise EvaluationError(f"{folder} is itself pooled: pool its sources instead")
        if folder.resolve().parent != Path(folders[0]).resolve().parent:
            raise EvaluationError("pooled folders must sit side by side (in one parent folder)")
        if folder.name in names:
            raise EvaluationError(f"{folder.name} named twice")
        names.append(folder.name)
        sources.append(settings)
    for name, settings in zip(names[1:], sources[1:]):
        changed = changed_settings(sources[0], settings)
        if changed:
            raise EvaluationError(f"{names[0]} and {name} were run with other settings ({', '.join(changed)}): "
                                  "their runs are not comparable")
    pooled = {k: v for k, v in sources[0].items() if k not in DESCRIPTIVE}
    pooled["machine"] = "; ".join(f"{n}: {s.get('machine', 'not recorded')}" for n, s in zip(names, sources))
    pooled["date"] = "; ".join(f"{n}: {s.get('date', 'not recorded')}" for n, s in zip(names, sources))
    pooled[POOLED_FROM] = names
    return pooled


def pooled_sources(folder: Path, settings: dict | None) -> list[Path] | None:
    """The folders a pooled folder reads (siblings named in its settings), or None if it is not
    pooled. A name that is not a plain sibling folder is refused, so settings cannot point outside,
    and so is a source without results."""
    names = (settings or {}).get(POOLED_FROM)
    if names is None:
        return None
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise EvaluationError(f"{Path(folder).name}/{SETTINGS}: {POOLED_FROM} must list folder names")
    parent = Path(folder).resolve().parent
    out = []
    for name in names:
        if name in ("", ".", "..") or Path(name).name != name:
            raise EvaluationError(f"{Path(folder).name}/{SETTINGS}: {name!r} is not a sibling folder's name")
        if not (parent / name / RESULTS).is_file():
            raise EvaluationError(f"{Path(folder).name} pools {name}, which has no {RESULTS} here")
        out.append(parent / name)
    return out


def read_runs(raw: bytes, where: str = RESULTS) -> tuple[list[EvalRun], list[str]]:
    """The runs of a results file's bytes, and a sentence for each line that is not one. A last
    line without its newline is a run still being written: it is left out, and not counted."""
    lines = raw.split(b"\n")[:-1]          # the part after the last newline is cut off mid-write
    runs, bad = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            runs.append(run_from_json(json.loads(line)))
        except RecordError as exc:
            bad.append(f"{where} line {number}: {exc}")
        except (ValueError, RecursionError):
            bad.append(f"{where} line {number}: not valid JSON")
    return runs, bad


class ResultStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / RESULTS

    def check_settings(self, settings: dict) -> None:
        """Write settings.json, or refuse if the folder holds results made with other settings."""
        path = self.folder / SETTINGS
        if POOLED_FROM in (read_settings(self.folder) or {}):
            raise EvaluationError(f"{self.folder} pools other folders and holds no runs of its own: "
                                  "run into one of its sources")
        if path.exists() and self.path.exists() and self.path.stat().st_size:
            old = json.loads(path.read_text())
            changed = changed_settings(old, settings)
            if changed:
                raise EvaluationError(f"{self.folder} holds results made with other settings ({', '.join(changed)}); "
                                 "use another --out folder")
            if "note" in old and "note" not in settings:
                settings = {**settings, "note": old["note"]}
            first = str(old.get("date", "")).split(" to ")[0]
            if first and settings.get("date") and first != settings["date"]:
                settings = {**settings, "date": f"{first} to {settings['date']}"}
        path.write_text(json.dumps(settings, indent=2) + "\n")

    def load(self) -> list[EvalRun]:
        """Every complete run (of every source, for a pooled folder). A line cut off by an
        interruption is dropped from the file; any other line that is not a run is an error."""
        sources = pooled_sources(self.folder, read_settings(self.folder))
        if sources is not None:
            return pooled_runs([ResultStore(source).load() for source in sources], sources)
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            raw = raw[:raw.rfind(b"\n") + 1]
            with open(self.path, "r+b") as f:
                f.truncate(len(raw))
        runs, bad = read_runs(raw, str(self.path))
        if bad:
            raise EvaluationError(bad[0] + (f" (and {len(bad) - 1} more lines)" if len(bad) > 1 else ""))
        return runs

    def done_keys(self) -> set[tuple]:
        return {run.key for run in self.load()}

    def append(self, run: EvalRun) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(_line(run))
            f.flush()
            os.fsync(f.fileno())

    def replace(self, runs: list[EvalRun]) -> None:
        """Put `runs` in place of the folder's runs with their keys, each on its line; every other
        line is kept byte for byte. Through a temporary file: an interruption leaves the old file
        or the new one, never half of it."""
        by_key = {run.key: run for run in runs}
        lines = self.path.read_bytes().split(b"\n")[:-1]
        found = set()
        temporary = self.path.with_name(RESULTS + ".new")
        with open(temporary, "wb") as f:
            for line in lines:
                key = run_from_json(json.loads(line)).key if line.strip() else None
                if key in by_key:
                    found.add(key)
                    f.write(_line(by_key[key]).encode("utf-8"))
                else:
                    f.write(line + b"\n")
            f.flush()
            os.fsync(f.fileno())
        if found != set(by_key):
            temporary.unlink()
            raise EvaluationError(f"{self.path}: no run {sorted(set(by_key) - found)[0]} to replace")
        os.replace(temporary, self.path)


def _line(run: EvalRun) -> str:
    return json.dumps(run_to_json(run), ensure_ascii=False) + "\n"


def pooled_runs(parts: list[list[EvalRun]], sources: list[Path]) -> list[EvalRun]:
    """The sources' runs together; a run found in two of them is refused (it would count twice)."""
    seen: dict[tuple, str] = {}
    out = []
    for runs, source in zip(parts, sources):
        for run in runs:
            if run.key in seen:
                raise EvaluationError(f"the run {run.key} is in both {seen[run.key]} and {Path(source).name}")
            seen[run.key] = Path(source).name
            out.append(run)
    return out
