"""The gallery: recorded runs the page opens on, listed in `assets/gallery/index.json`.

The index is a JSON list of entries

    {"file": "name.json", "title": ..., "caption": ..., "model": ..., "machine": ...,
     "date": ..., "command": ..., "featured": true|false}

and each file is an ordinary trace (written by demo/traces.py) in the same folder. `load_gallery`
checks every entry and the trace it names, skips a broken one with a logged reason (the page
still opens on the others), and lists the featured entry first."""

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .traces import TraceError, read_trace, trace_passes

log = logging.getLogger(__name__)
GALLERY = Path(__file__).resolve().parent.parent / "assets" / "gallery"
TEXT_KEYS = ("file", "title", "caption", "model", "machine", "date", "command")


@dataclass(frozen=True)
class GalleryEntry:
    path: str            # the trace file, absolute
    title: str
    caption: str         # one line: what to look for in this run
    model: str
    machine: str
    date: str
    command: str         # how it was recorded
    featured: bool = False

    @property
    def recorded(self) -> str:
        return f"recorded on {self.machine}, {self.date}"


class GalleryError(ValueError):
    """An index entry that cannot be used, and why."""


def load_gallery(folder: Path = GALLERY) -> tuple[list[GalleryEntry], list[str]]:
    """(usable entries, featured first; one sentence per skipped entry). A missing or unreadable
    index gives no entries and one problem; it never raises."""
    index = Path(folder) / "index.json"
    try:
        with open(index, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as exc:
        return [], [f"{index}: cannot read the gallery index ({exc})"]
    if not isinstance(raw, list):
        return [], [f"{index}: expected a JSON list of entries"]
    entries, problems = [], []
    for i, item in enumerate(raw):
        try:
            entries.append(parse_entry(item, Path(folder)))
        except (GalleryError, TraceError) as exc:
            problems.append(f"{index} entry {i}: {exc}")
    for problem in problems:
        log.warning("gallery: skipped %s", problem)
    entries.sort(key=lambda e: not e.featured)     # stable: the index's order otherwise
    return entries, problems


def parse_entry(item, folder: Path) -> GalleryEntry:
    if not isinstance(item, dict):
        raise GalleryError("expected an object")
    for key in TEXT_KEYS:
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise GalleryError(f"{key!r} is missing or not a non-empty string")
    name = item["file"]
    if os.path.basename(name) != name or not name.endswith(".json"):
        raise GalleryError(f"'file' must be a .json file name in the gallery folder; got {name!r}")
    featured = item.get("featured", False)
    if not isinstance(featured, bool):
        raise GalleryError("'featured' must be true or false")
    path = folder / name
    if not path.is_file():
        raise GalleryError(f"the trace {name!r} is not in {folder}")
    read_trace(str(path))       # a broken trace is skipped here, not found out by a visitor
    return GalleryEntry(path=str(path), title=item["title"].strip(), caption=item["caption"].strip(),
                        model=item["model"].strip(), machine=item["machine"].strip(), date=item["date"].strip(),
                        command=item["command"].strip(), featured=featured)


def index_entry(file: str, *, title: str, caption: str, model: str, machine: str, date: str, command: str,
                featured: bool = False) -> dict:
    """An index.json entry with the fields parse_entry reads."""
    return {"file": file, "title": title, "caption": caption, "model": model, "machine": machine, "date": date,
            "command": command, "featured": featured}


def add_to_index(path, entry: dict) -> None:
    """Add (or replace, by file name) an entry of the index at `path`; a featured entry
    un-features the others. The recorder (experiments.record_gallery) writes the index through this."""
    entries = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    entries = [e for e in entries if e.get("file") != entry["file"]]
    if entry.get("featured"):
        for other in entries:
            other["featured"] = False
    entries.append(entry)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1, ensure_ascii=False)
        f.write("\n")


def sampled_speed(trace: dict) -> tuple[int, float]:
    """(tokens the model sampled, not those inserted; those per second of the run, prompt included)."""
    tokens = sum(t is not None for record in trace_passes(trace) for t in record.tokens)
    return tokens, tokens / max(trace["elapsed"], 1e-9)
