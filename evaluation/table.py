"""Records -> one tidy table: a row per (task set, method, layout, W, budget).

Independent workers give two rows: "independent (vote)" (majority vote, the method) and
"independent (any)" (some worker was right: an upper bound, not a method)."""

import pandas as pd

from .scoring import wilson_interval

METRICS = ("redundancy", "impersonations", "copied_prompts", "self_repeats", "parts_started")
COLUMNS = ("task_set", "method", "layout", "W", "budget", "n", "correct", "accuracy", "ci_low", "ci_high",
           "part_accuracy", "part_ci_low", "part_ci_high", "mean_tokens", "mean_seconds", "mean_wasted_tokens", "mean_passes",
           *(f"mean_{m}" for m in METRICS), "distinct_first_parts")


def _rows(record: dict):
    """(method label, probe, correct) rows of one record."""
    for probe in record["probes"]:
        if record["method"] == "independent":
            yield "independent (vote)", probe, probe["correct"]
            yield "independent (any)", probe, probe["any_correct"]
        else:
            yield record["method"], probe, probe["correct"]


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def complete_only(records: list[dict]) -> list[dict]:
    """Records of the problems every method of their task set has run on: an interrupted
    evaluation must not compare methods on different problems."""
    methods: dict[str, set] = {}
    seen: dict[tuple, set] = {}
    for r in records:
        method = (r["method"], r["layout"], r["workers"], r["seed"])
        methods.setdefault(r["task_set"], set()).add(method)
        seen.setdefault((r["task_set"], r["problem_id"]), set()).add(method)
    return [r for r in records if seen[(r["task_set"], r["problem_id"])] == methods[r["task_set"]]]


def build_table(records: list[dict]) -> pd.DataFrame:
    groups: dict[tuple, list] = {}
    for record in records:
        for method, probe, correct in _rows(record):
            key = (record["task_set"], method, record["layout"], record["workers"], probe["budget"])
            groups.setdefault(key, []).append((probe, bool(correct)))
    rows = []
    for (task_set, method, layout, W, budget), items in sorted(groups.items()):
        probes = [p for p, _ in items]
        n, correct = len(items), sum(c for _, c in items)
        low, high = wilson_interval(correct, n)
        parts = [x for p in probes for x in p.get("part_correct") or []]
        # parts of one problem are not independent draws: this interval is on the optimistic side
        part_low, part_high = wilson_interval(sum(parts), len(parts)) if parts else (None, None)
        # with one worker "every worker started a different part" says nothing
        distinct = [p["metrics"].get("distinct_first_parts") for p in probes] if W > 1 else []
        row = {"task_set": task_set, "method": method, "layout": layout, "W": W, "budget": budget, "n": n,
               "correct": correct, "accuracy": round(correct / n, 4), "ci_low": round(low, 4),
               "ci_high": round(high, 4), "part_accuracy": _mean(parts),
               "part_ci_low": None if part_low is None else round(part_low, 4),
               "part_ci_high": None if part_high is None else round(part_high, 4),
               "mean_tokens": _mean(p["tokens"] for p in probes),
               "mean_seconds": _mean(p["seconds"] for p in probes),
               "mean_wasted_tokens": _mean(p["wasted_tokens"] for p in probes),
               "mean_passes": _mean(p["passes"] for p in probes),
               "distinct_first_parts": _mean(d for d in distinct if d is not None)}
        for m in METRICS:
            row[f"mean_{m}"] = _mean(p["metrics"].get(m) for p in probes)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def line_label(row) -> str:
    if row["method"] == "single":
        return "single"
    if row["method"] == "hogwild":
        return f"hogwild {row['layout']} W={row['W']}"
    return f"{row['method']} W={row['W']}"
