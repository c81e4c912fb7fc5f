"""Saved evaluations for the page's Evaluation tab: list the folders under docs/eval, load one
(its runs as evaluation.records.EvalRun, its table over complete problems, its settings), and turn
one run, cut at one budget, into the page's own run record (`demo.records.RunLog`, as a live run
or a replayed trace is) so the lanes show it and its trace file can be downloaded and replayed.

Contract: files are only read, never changed (an evaluation may still be writing its
results.jsonl, so a cut-off last line is skipped here, not truncated as evaluation.store does);
anything wrong with a folder or a record comes out as an EvalError with a sentence for the page.

What an evaluation run holds and a RunLog cannot get from it: token ids, attention, the cache's
blocks and size, per-pass times and the text of the forced answer (only the answer read from it
is kept). The log marks those as placeholders (NOT_RECORDED) instead of inventing them."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evaluation.errors import EvaluationError
from evaluation.records import EvalRun, Probe
from evaluation.store import RESULTS, SETTINGS, pooled_runs, pooled_sources, read_runs, read_settings
from evaluation.table import answer_prompt_of, answer_suffix, grouped_table, line_label, paired_table, problem_groups
from hogwild_core import MAX_WORKERS, WORKER_NAMES, EngineConfig

from .records import LanePiece, PassRecord, RunLog

EVAL_ROOT = Path(__file__).resolve().parent.parent / "docs" / "eval"
FEATURED = "qwen1.5b-gsm8k-x5-0-31"     # opened first when present: the largest run of the paper's protocol
UNKNOWN_TOKEN = -1      # the log says "a token was sampled here"; evaluations keep text, not ids
MACHINE_CHARS = 100    # the summary line's share for the machine; settings.json holds the whole description
NOT_RECORDED = ("converted from an evaluation record, which keeps each worker's text per pass but no token ids, "
                "attention, cache blocks or sizes, per-pass times or the forced answer's text: the attention "
                "charts, cache view and shared history are empty, token ids are -1, the KV cache size reads 0, "
                "the layer count reads 1 and the time is the budget's total (passes plus forced answer) spread evenly over the passes")
TABLE_COLUMNS = ["problems", "task set", "method", "budget", "n", "all parts right", "accuracy", "95% CI",
                 "questions right", "95% CI (questions)", "tokens", "seconds", "redundancy"]
PAIRED_COLUMNS = ["task set", "budget", "Hogwild!", "baseline", "n", "Hogwild! all parts", "baseline all parts",
                  "only Hogwild! right", "only baseline right", "McNemar p", "questions: difference", "95% CI"]


class EvalError(ValueError):
    """An evaluation folder or record that cannot be shown, and why."""


@dataclass(frozen=True)
class Evaluation:
    name: str
    settings: dict
    records: list[EvalRun]       # the runs of the problems counted in the table
    table: pd.DataFrame          # evaluation.table.grouped_table of them (a part per set of problems)
    paired: pd.DataFrame         # evaluation.table.paired_table of them
    groups: list[tuple[set, set]]  # table group -> (methods, problems), as evaluation.table.problem_groups
    num_problems: int
    num_left_out: int            # records of problems on which no whole set of methods has run yet
    num_skipped_lines: int       # cut-off or unreadable lines of results.jsonl


def list_evaluations(root: Path = EVAL_ROOT) -> list[str]:
    """Names of the folders under root with both results.jsonl and settings.json, or pooling
    others (evaluation.store), sorted."""
    try:
        folders = [p for p in Path(root).iterdir() if p.is_dir()]
    except OSError:
        return []
    return sorted(p.name for p in folders
                  if (p / SETTINGS).is_file() and ((p / RESULTS).is_file() or _is_pooled(p)))


def _is_pooled(folder: Path) -> bool:
    try:
        return pooled_sources(folder, read_settings(folder)) is not None
    except EvaluationError:
        return True         # listed, so that opening it says what is wrong


def read_records(path: Path) -> tuple[list[EvalRun], int]:
    """(runs, number of lines skipped): lines that are not a run, and a last line without its
    newline (a run still being written). The file is left as it is."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise EvalError(f"cannot read {Path(path).name}: {exc.strerror or exc}") from None
    runs, bad = read_runs(raw, Path(path).name)
    cut_off = 1 if raw and not raw.endswith(b"\n") and raw.rsplit(b"\n", 1)[-1].strip() else 0
    return runs, len(bad) + cut_off


def load_evaluation(name: str, root: Path = EVAL_ROOT) -> Evaluation:
    if name not in list_evaluations(root):      # also keeps a name from walking out of root
        raise EvalError(f"no saved evaluation named {name!r} (a folder under docs/eval with results.jsonl "
                        "and settings.json)")
    folder = Path(root) / name
    try:
        settings = json.loads((folder / SETTINGS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"{name}/settings.json cannot be read ({exc})") from None
    if not isinstance(settings, dict):
        raise EvalError(f"{name}/settings.json is not a JSON object")
    records, skipped = _records_of(name, folder, settings)
    budgets = settings.get("budgets") if isinstance(settings.get("budgets"), list) else None
    try:
        groups = problem_groups(records)
        table, paired = grouped_table(records, budgets), paired_table(records, budgets)
    except (KeyError, TypeError, ValueError) as exc:
        raise EvalError(f"{name}/results.jsonl holds records this page cannot tabulate ({exc!r})") from None
    problems = {p for _, group in groups for p in group}
    counted = [r for r in records if (r.task_set, r.problem_id) in problems]
    return Evaluation(name, settings, counted, table, paired, groups, len(problems), len(records) - len(counted), skipped)


def _records_of(name: str, folder: Path, settings: dict) -> tuple[list[EvalRun], int]:
    """A folder's records, or its sources' for a pooled one (a run in two sources is refused)."""
    try:
        sources = pooled_sources(folder, settings)
        if sources is None:
            return read_records(folder / RESULTS)
        parts = [read_records(source / RESULTS) for source in sources]
        return pooled_runs([records for records, _ in parts], sources), sum(n for _, n in parts)
    except EvaluationError as exc:
        raise EvalError(f"{name}: {exc}") from None


def summary_line(ev: Evaluation) -> str:
    """Model, machine, settings and counts, one line of plain text."""
    s = ev.settings
    model = s.get("model", "not recorded")
    model = "default (embedded SmolLM2-135M-Instruct)" if model == "default" else str(model)
    budgets = ", ".join(str(b) for b in s.get("budgets", [])) or "not recorded"
    parts = [f"model {model}", f"machine {_short(str(s.get('machine') or 'not recorded'))}", f"budgets {budgets} passes",
             f"temperature {s.get('temperature', '?')}", f"forced answer at most {s.get('max_answer_tokens', '?')} tokens",
             f"n = {ev.num_problems} problems{_task_sets(ev)} ({len(ev.records)} runs)"]
    notes = [str(s["note"])] if s.get("note") else []     # e.g. that an older protocol is superseded
    if isinstance(s.get("pooled_from"), list):
        notes.insert(0, "pooled from " + ", ".join(map(str, s["pooled_from"])))
    if ev.num_left_out:
        notes.append(f"{ev.num_left_out} runs of problems not every method has run yet are left out")
    if ev.num_skipped_lines:
        notes.append(f"{ev.num_skipped_lines} unreadable or cut-off line(s) skipped (a run may still be writing)")
    return " · ".join(parts) + ("; " + "; ".join(notes) if notes else "")


def _short(text: str, limit: int = MACHINE_CHARS) -> str:
    """A machine description cut at a word to about `limit` characters: pooled folders describe
    each source's machines at length, and settings.json keeps the whole text."""
    text = text.replace("; ", " | ")        # "; " starts the line's notes
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:(") + " … (settings.json has the rest)"


def _task_sets(ev: Evaluation) -> str:
    names = sorted({r.task_set for r in ev.records})
    return f" in {len(names)} task sets" if len(names) > 1 else ""


def _interval(low, high) -> str:
    return "" if pd.isna(low) else f"[{low:.2f}, {high:.2f}]"


def _rounded(value, digits: int = 2):
    return None if pd.isna(value) else round(float(value), digits)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table as shown: one row per method row and budget, rounded, the intervals as text."""
    rows = [{"problems": int(r["problems"]), "task set": r["task_set"], "method": line_label(r),
             "budget": int(r["budget"]), "n": int(r["n"]), "all parts right": _rounded(r["correct"]),
             "accuracy": round(r["accuracy"], 2), "95% CI": _interval(r["ci_low"], r["ci_high"]),
             "questions right": _rounded(r["part_accuracy"]),
             "95% CI (questions)": _interval(r["part_ci_low"], r["part_ci_high"]),
             "tokens": None if pd.isna(r["mean_tokens"]) else round(r["mean_tokens"]),
             "seconds": _rounded(r["mean_seconds"], 1), "redundancy": _rounded(r["mean_redundancy"])}
            for _, r in table.iterrows()]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def display_paired(paired: pd.DataFrame) -> pd.DataFrame:
    """The paired comparisons as shown."""
    rows = [{"task set": r["task_set"], "budget": int(r["budget"]), "Hogwild!": r["hogwild"], "baseline": r["baseline"],
             "n": int(r["n"]), "Hogwild! all parts": _rounded(r["hogwild_all_parts"]),
             "baseline all parts": _rounded(r["baseline_all_parts"]),
             "only Hogwild! right": None if pd.isna(r["only_hogwild_right"]) else int(r["only_hogwild_right"]),
             "only baseline right": None if pd.isna(r["only_baseline_right"]) else int(r["only_baseline_right"]),
             "McNemar p": _rounded(r["mcnemar_p"], 3), "questions: difference": _rounded(r["per_question_diff"]),
             "95% CI": _interval(r["diff_ci_low"], r["diff_ci_high"])}
            for _, r in paired.iterrows()] if len(paired) else []
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def row_label(table: pd.DataFrame, i: int) -> str:
    r = table.iloc[i]
    return f"{r['task_set']} · {line_label(r)} · budget {r['budget']}"


def runs_of_row(ev: Evaluation, i: int) -> list[EvalRun]:
    """The runs behind table row i (an independent team's vote, any and mean-worker rows share
    theirs; both single-worker rows share the single run's), on the row's problems, by problem."""
    if not 0 <= i < len(ev.table):
        raise EvalError(f"the table has no row {i}")
    row = ev.table.iloc[i]
    _, problems = ev.groups[int(row["group"])]
    runs = [r for r in ev.records if r.task_set == row["task_set"] and r.method == row["method"]
            and r.layout == row["layout"] and r.split == row["split"]
            and (r.workers == row["W"] or r.method == "single")
            and r.answer_prompt == answer_prompt_of(row["row"])
            and (r.task_set, r.problem_id) in problems]
    return sorted(runs, key=lambda r: (r.problem_id, r.seed))


def row_passes(ev: Evaluation, i: int) -> int:
    """Where row i's runs were cut: its budget, or W x the budget for the equal-compute single row."""
    return int(ev.table.iloc[i]["passes_used"])


def probe_of(run: EvalRun, budget: int) -> Probe:
    probe = run.probe_at(budget)
    if probe is None:
        raise EvalError(f"problem {run.problem_id} has no probe at budget {budget}")
    return probe


def run_label(run: EvalRun, budget: int) -> str:
    probe = probe_of(run, budget)
    verdict = "right" if probe.correct else ("some worker right" if probe.any_correct else "wrong")
    seed = f" (seed {run.seed})" if run.seed else ""
    return f"problem {run.problem_id}{seed} · {verdict} · answer {probe.answer!r}"


def log_of_run(run: EvalRun, budget: int, settings: dict | None = None, name: str = "",
               row: str | None = None) -> RunLog:
    """One run cut at `budget` as the page's run record: one work-phase PassRecord per pass made,
    each worker's pieces of that pass (the opener, pass 0, goes with the first), the answer read
    at the cut. Fields an evaluation does not record hold placeholders, named in meta.prompt_note."""
    settings = settings or {}
    probe = probe_of(run, budget)
    W = run.workers
    if not 1 <= W <= MAX_WORKERS:
        raise EvalError(f"problem {run.problem_id}: {W} workers is more than the page shows")
    passes = probe.passes
    seconds = float(probe.seconds or 0.0)
    model = run.model or str(settings.get("model") or "")
    run_settings = {"problem": run.problem, "num_workers": W, "layout": run.layout,
                    "max_new_tokens": max([p.budget for p in run.probes] or [budget]),
                    "temperature": settings.get("temperature", 0.0), "top_p": EngineConfig.top_p,
                    "seed": run.seed, "check_interval": 0, "model": model,
                    "max_answer_tokens": settings.get("max_answer_tokens", EngineConfig.max_answer_tokens)}
    label = f"evaluation {name}: problem {run.problem_id}, {row or _row_of(run)}, {budget} passes"
    meta = {"settings": run_settings, "model": model, "worker_names": list(WORKER_NAMES[:W]),
            "num_layers": 1, "label": label.replace("evaluation : ", "evaluation: "), "prompt_note": NOT_RECORDED}
    # a replay says where a run was recorded; without this it would read as a live run's times
    machine = run.machine or settings.get("machine")
    meta["machine"] = machine if isinstance(machine, str) else "a machine not recorded"
    if isinstance(settings.get("date"), str):
        meta["date"] = settings["date"]
    log = RunLog(meta=meta, answer=probe.answer,
                 status="finished" if run.ended_at is not None and run.ended_at <= budget else "stopped")
    by_pass: list[list[list[LanePiece]]] = [[[] for _ in range(W)] for _ in range(passes)]
    for w, lane in enumerate(run.pieces):
        for text, inserted, when in lane:
            p = max(when, 1)                     # the opener (pass 0) goes with the first pass
            if p <= passes:
                by_pass[p - 1][w].append(LanePiece(text, inserted))
    for p, lanes in enumerate(by_pass, 1):
        tokens = [UNKNOWN_TOKEN if any(not piece.inserted for piece in lane) else None for lane in lanes]
        log.add_pass(PassRecord(pass_number=p, phase="work", seconds=round(seconds / passes, 4),
                                elapsed=round(seconds * p / passes, 4), cache_tokens=0, cache_bytes=0,
                                tokens=tokens, pieces=lanes, flushed=[], attention=None, shares=None))
    return log


def _row_of(run: EvalRun) -> str:
    """The run's method as a short label (when no table row names it)."""
    suffix = answer_suffix(run.answer_prompt)
    if run.method == "single":
        return "single" + suffix
    if run.method == "independent":
        return f"independent W={run.workers}{suffix}"
    planned = ", planned split" if run.split == "planned" else ""
    return f"hogwild {run.layout} W={run.workers}{planned}{suffix}"


def trace_name(ev: Evaluation, run: EvalRun, budget: int) -> str:
    """The download's file name: which evaluation, problem, method and budget."""
    answer = "" if run.answer_prompt == "plain" else f"-{run.answer_prompt}-answer"
    name = f"eval-{ev.name}-{run.problem_id}-{run.method}-{run.layout}-W{run.workers}{answer}-budget{budget}.json"
    return name.replace("/", "_").replace(":", "_").replace(os.sep, "_")
