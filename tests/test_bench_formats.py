"""The weight-format benchmark runs end to end on the embedded model (tiny settings)."""

import json

import pytest

from benchmarks import formats


@pytest.mark.slow
def test_formats_benchmark_reports_every_format_and_greedy_agreement(tmp_path, capsys):
    out = tmp_path / "formats.json"
    assert formats.main(["--model", "default", "--formats", "float32,int8", "--context", "64", "--rounds", "1",
                         "--threads", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [r["weights"] for r in data["formats"]] == ["float32", "int8"]
    for row in data["formats"]:
        assert row["load_seconds"] > 0 and row["load_peak_gb"] > 0
        assert set(row["passes"]) == {"1", "2", "4"}
        assert all(row["passes"][w][m] > 0 for w in row["passes"] for m in ("hogwild", "dynamic", "static", "floor"))
    float32, int8 = data["formats"]
    assert float32["greedy_equal_to_float32"] == formats.GREEDY_TOKENS
    assert 0 <= int8["greedy_equal_to_float32"] <= formats.GREEDY_TOKENS
    assert "first 48 of 48 greedy tokens equal float32's" in capsys.readouterr().out


@pytest.mark.slow
def test_kernel_table_times_every_kernel(monkeypatch):
    rows = formats.kernel_table("default", batch_sizes=(2,), repeats=1)
    assert {r["shape"] for r in rows} == {"576x576", "576x192", "576x1536", "1536x576", "576x49152"}
    for row in rows:
        assert row["float32"] > 0 and row["int8 per token (Int8Linear, fbgemm)"] > 0
        assert row["torch._int_mm (int8 x int8 only)"] > 0
