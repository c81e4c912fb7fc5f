"""The gallery: entries are checked, broken ones skipped with a reason, the featured one first."""

import json
import re
import shutil

from demo.gallery import GALLERY, index_entry, load_gallery, parse_entry
from machine import machine_description

ENTRY = dict(title="t", caption="c", model="m", machine="cpu", date="2026-01-01", command="python -m x")


def write_index(folder, entries):
    (folder / "index.json").write_text(json.dumps(entries))


def test_the_shipped_gallery_has_a_featured_recording():
    entries, problems = load_gallery()
    assert not problems and entries and entries[0].featured
    assert "1.5B" in entries[0].title and entries[0].caption


def test_broken_entries_are_skipped_with_a_reason_and_the_featured_one_comes_first(tmp_path):
    trace = sorted(p for p in GALLERY.glob("*.json") if p.name != "index.json")[0]
    shutil.copy(trace, tmp_path / "a.json")
    shutil.copy(trace, tmp_path / "b.json")
    (tmp_path / "broken.json").write_text("{")
    write_index(tmp_path, [
        index_entry("a.json", **ENTRY),
        {**index_entry("b.json", **ENTRY), "featured": True, "title": "featured"},
        index_entry("missing.json", **ENTRY),
        index_entry("broken.json", **ENTRY),
        index_entry("../a.json", **ENTRY),
        {**index_entry("a.json", **ENTRY), "caption": ""},
        {**index_entry("a.json", **ENTRY), "featured": "yes"},
        "not an object",
    ])
    entries, problems = load_gallery(tmp_path)
    assert [e.title for e in entries] == ["featured", "t"]
    assert len(problems) == 6
    joined = "\n".join(problems)
    for words in ("missing.json", "not valid JSON", "file name in the gallery folder", "'caption'", "'featured'",
                  "expected an object"):
        assert words in joined, words
    assert entries[0].recorded == "recorded on cpu, 2026-01-01"


def test_a_missing_or_odd_index_gives_no_entries_and_says_why(tmp_path):
    entries, problems = load_gallery(tmp_path)
    assert entries == [] and "cannot read" in problems[0]
    write_index(tmp_path, {"file": "a.json"})
    assert load_gallery(tmp_path) == ([], [f"{tmp_path / 'index.json'}: expected a JSON list of entries"])


def test_machine_description_names_the_cpu_and_its_cores(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nmodel name\t: AMD  EPYC 7B13\n")
    described = machine_description(str(cpuinfo))
    assert described.startswith("AMD EPYC 7B13, ") and "core" in described
    assert machine_description(str(tmp_path / "none")).count(",") == 1
    cpuinfo.write_text("model name\t: AMD EPYC\nflags\t: fpu sse4_2 avx avx2 fma\n"
                       "model name\t: AMD EPYC\nflags\t: fpu avx512f\n")        # the first processor's
    assert re.fullmatch(r"AMD EPYC, \d+ cores?, AVX2", machine_description(str(cpuinfo)))
    cpuinfo.write_text("model name\t: AMD EPYC\nflags\t: avx2 avx512f avx512_vnni avx512_bf16\n")
    assert machine_description(str(cpuinfo)).endswith(", AVX-512 BF16")
    assert machine_description(gpu="NVIDIA H200") == "NVIDIA H200"


def test_parse_entry_needs_every_text_field(tmp_path):
    import pytest

    from demo.gallery import GalleryError
    with pytest.raises(GalleryError, match="'model'"):
        parse_entry({k: v for k, v in index_entry("a.json", **ENTRY).items() if k != "model"}, tmp_path)


def test_the_recorders_add_or_replace_an_index_entry(tmp_path):
    from demo.gallery import add_to_index
    index = tmp_path / "index.json"
    add_to_index(str(index), {**index_entry("a.json", **ENTRY), "featured": True})
    add_to_index(str(index), {**index_entry("b.json", **ENTRY), "featured": True})
    add_to_index(str(index), {**index_entry("a.json", **ENTRY), "title": "again"})
    entries = json.loads(index.read_text())
    assert [(e["file"], e["featured"], e["title"]) for e in entries] == [("b.json", True, "t"), ("a.json", False, "again")]
