"""Results on disk: one JSON line per (task set, problem, method, layout, W, seed), appended as
each run finishes, so an interrupted evaluation continues where it stopped.

The output folder also holds settings.json (model, budgets, temperature, ...): resuming with
different settings would mix incomparable runs, so it is refused."""

import json
import os
from pathlib import Path

from .errors import EvaluationError

RESULTS = "results.jsonl"
SETTINGS = "settings.json"
KEY_FIELDS = ("task_set", "problem_id", "method", "layout", "workers", "split", "seed")
KEY_DEFAULTS = {"split": "chosen"}   # records from before the field existed
DESCRIPTIVE = ("machine", "date", "note")    # where, when, and a reader's note: never compared
SETTING_DEFAULTS = {"finish": "eos"}   # settings of folders from before the setting existed


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


def key_of(record: dict) -> tuple:
    return tuple(record[f] if f in record else KEY_DEFAULTS[f] for f in KEY_FIELDS)


class ResultStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / RESULTS

    def check_settings(self, settings: dict) -> None:
        """Write settings.json, or refuse if the folder holds results made with other settings."""
        path = self.folder / SETTINGS
        if path.exists() and self.path.exists() and self.path.stat().st_size:
            old = json.loads(path.read_text())
            changed = sorted(k for k in set(old) | set(settings)
                             if k not in DESCRIPTIVE and _setting(old, k) != _setting(settings, k))
            if changed:
                raise EvaluationError(f"{self.folder} holds results made with other settings ({', '.join(changed)}); "
                                 "use another --out folder")
            if "note" in old and "note" not in settings:
                settings = {**settings, "note": old["note"]}
            first = str(old.get("date", "")).split(" to ")[0]
            if first and settings.get("date") and first != settings["date"]:
                settings = {**settings, "date": f"{first} to {settings['date']}"}
        path.write_text(json.dumps(settings, indent=2) + "\n")

    def load(self) -> list[dict]:
        """Every complete record. A line cut off by an interruption is dropped from the file."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            raw = raw[:raw.rfind(b"\n") + 1]
            with open(self.path, "r+b") as f:
                f.truncate(len(raw))
        return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]

    def done_keys(self) -> set[tuple]:
        return {key_of(r) for r in self.load()}

    def append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
