"""benchmarks/dry_cost.py runs and prints its table (tiny sizes; no timed assertions)."""

from benchmarks.dry_cost import main, measure


def test_dry_cost_measures_both_forms(capsys):
    lists_ms, arrays_ms = measure(2, 50, repeats=2)
    assert lists_ms > 0 and arrays_ms > 0
    main(["--cases", "2/40,3/30", "--repeats", "1"])
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 3 and rows[1].split()[:2] == ["2", "40"] and rows[2].endswith("x")
