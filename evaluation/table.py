"""Runs (records.EvalRun) -> tidy tables: accuracy per (task set, method row, budget), and paired comparisons.

Method rows. A single-worker record gives "single" at each budget B (B passes) and, for each team
size W it was probed for, "single, Wx tokens" at B (its probe at W x B passes: the same total
tokens as a team of W at B, the paper's equal-compute line). An independent record gives "vote"
(majority of W answers; only W >= 3: at W = 2 it is a tie-break, not a vote), "any" (some worker
right: an upper bound, not a method) and "mean worker" (each worker's own accuracy, averaged).
A Hogwild! record gives its layout (and "planned split" for the ablation).

Two accuracies: "all parts" (a problem counts if every part is right; problems are independent
draws, so the Wilson interval applies) and, for multi-part problems, "per question" (the paper's
GSM8K x 5 scoring: the share of questions right; questions of one problem are not independent,
so its interval is a bootstrap over problems).

Paired comparisons (`paired_table`): at each budget, each Hogwild! row against each baseline row
of the same W on the problems both ran: the exact McNemar test on all-parts outcomes, and the
per-question difference with a paired bootstrap interval over problems."""

import functools
import random

import numpy as np
import pandas as pd

from analysis.answers import parts_given
from hogwild_core.prompts import ANSWER_PROMPTS

from .records import EvalRun, Probe
from .scoring import mcnemar_exact, wilson_interval

METRICS = ("redundancy", "impersonations", "copied_prompts", "self_repeats", "parts_started")
COLUMNS = ("task_set", "method", "layout", "W", "split", "row", "budget", "passes_used", "n", "correct",
           "accuracy", "ci_low", "ci_high", "part_accuracy", "part_ci_low", "part_ci_high",
           "mean_tokens", "mean_seconds", "mean_wasted_tokens", "mean_passes",
           *(f"mean_{m}" for m in METRICS), "distinct_first_parts", "short_answers")
BOOTSTRAP_SAMPLES = 2000


# ---- outcomes: (row, budget) -> per problem --------------------------------------------------------
def _outcomes(probe: Probe, kind: str) -> tuple[bool, float | None]:
    """(all parts right, share of questions right or None) of one probe for one row kind."""
    parts = probe.part_correct
    if kind == "any":
        worker_parts = probe.worker_part_correct
        share = (None if not worker_parts else
                 sum(any(w[q] for w in worker_parts) for q in range(len(worker_parts[0]))) / len(worker_parts[0]))
        return probe.any_correct, share
    if kind == "mean worker":
        verdicts = probe.worker_correct or [probe.correct]
        worker_parts = probe.worker_part_correct
        share = None if not worker_parts else sum(sum(w) / len(w) for w in worker_parts) / len(worker_parts)
        return sum(verdicts) / len(verdicts), share          # a fraction of workers: a mean, not a count
    return probe.correct, (sum(parts) / len(parts) if parts else None)


def rows_of(run: EvalRun, budgets: list[int] | None = None):
    """(row name, W of the comparison, budget, probe, kind) rows of one run; a run answered with
    another prompt than the plain one has it at the end of its row names ("single, listed answer")."""
    suffix = answer_suffix(run.answer_prompt)
    for row, W, budget, probe, kind in _plain_rows(run, budgets):
        yield row + suffix, W, budget, probe, kind


def answer_suffix(answer_prompt: str) -> str:
    return "" if answer_prompt == "plain" else f", {answer_prompt} answer"


def answer_prompt_of(row: str) -> str:
    """The answer prompt a row name ends with ("plain" for none)."""
    return next((p for p in ANSWER_PROMPTS if p != "plain" and row.endswith(answer_suffix(p))), "plain")


def plain_row_of(row: str) -> str:
    """The row name without its answer prompt: the same runs answered with the plain one."""
    return row[:len(row) - len(answer_suffix(answer_prompt_of(row)))]


def _plain_rows(run: EvalRun, budgets: list[int] | None):
    budgets = budgets or sorted({p.budget for p in run.probes})
    W = run.workers
    if run.method == "single":
        sizes = sorted(set(run.team_sizes))
        for b in budgets:
            if (probe := run.probe_at(b)) is not None:
                yield "single", 1, b, probe, "answer"
            for size in sizes:
                if (probe := run.probe_at(size * b)) is not None:
                    yield f"single, {size}x tokens", size, b, probe, "answer"
        return
    for probe in run.probes:
        if probe.budget not in budgets:
            continue
        if run.method == "independent":
            if W >= 3:
                yield f"independent W={W}, vote", W, probe.budget, probe, "answer"
            yield f"independent W={W}, any", W, probe.budget, probe, "any"
            yield f"independent W={W}, mean worker", W, probe.budget, probe, "mean worker"
        else:
            planned = ", planned split" if run.split == "planned" else ""
            yield f"hogwild {run.layout} W={W}{planned}", W, probe.budget, probe, "answer"


def outcomes_by_row(records: list[EvalRun], budgets: list[int] | None = None) -> dict:
    """(task set, row, W, budget) -> {problem id: (all parts, per question, probe, run)}."""
    table: dict = {}
    # A single run probed for a team size (--single-also 4) that no team among these runs has
    # gives no comparison: its "single, Wx tokens" row would stand on its own, on fewer problems.
    team_sizes = {r.workers for r in records if r.method != "single"}
    for run in records:
        for row, W, budget, probe, kind in rows_of(run, budgets):
            if run.method == "single" and W > 1 and W not in team_sizes:
                continue
            key = (run.task_set, row, W, budget)
            table.setdefault(key, {})[run.problem_id] = (*_outcomes(probe, kind), probe, run)
    return table


# ---- intervals ---------------------------------------------------------------------------------------
def bootstrap_interval(values: list[float], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of `values` (one per problem), resampling problems."""
    if not values:
        return (0.0, 1.0)
    n = len(values)
    picks = _resamples(n, samples, seed)                        # (samples, n) indices into values
    chosen = np.asarray(values, dtype=np.float64)[picks]        # (samples, n)
    sums = np.zeros(samples)
    for j in range(n):          # left to right, as sum() adds: the same float rounding, the same interval
        sums += chosen[:, j]
    means = np.sort(sums / n)
    return float(means[int(0.025 * samples)]), float(means[int(0.975 * samples) - 1])


@functools.lru_cache(maxsize=128)
def _resamples(n: int, samples: int, seed: int) -> np.ndarray:
    """The problems each resample draws: those of random.Random(seed).choice drawn n at a time, the
    draws depending only on n, so one table's rows share them (and the page opens in a second)."""
    rng = random.Random(seed)
    positions = range(n)
    return np.array([[rng.choice(positions) for _ in range(n)] for _ in range(samples)], dtype=np.intp)


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def complete_only(records: list[EvalRun]) -> list[EvalRun]:
    """Records of the problems every method of their task set has run on: an interrupted
    evaluation must not compare methods on different problems."""
    return complete_for(records, None)


def complete_for(records: list[EvalRun], methods: set | None) -> list[EvalRun]:
    """Runs of the given methods ((method, layout, workers, split) tuples, EvalRun.method_key;
    None: all there are) on the problems where every one of them has run."""
    chosen = [r for r in records if methods is None or r.method_key in methods]
    wanted: dict[str, set] = {}
    seen: dict[tuple, set] = {}
    for r in chosen:
        wanted.setdefault(r.task_set, set()).add(r.method_key)
        seen.setdefault((r.task_set, r.problem_id), set()).add(r.method_key)
    if methods is not None:
        wanted = {task_set: set(methods) for task_set in wanted}
    return [r for r in chosen if seen[(r.task_set, r.problem_id)] == wanted[r.task_set]]


# ---- the tables -----------------------------------------------------------------------------------------
def build_table(records: list[EvalRun], budgets: list[int] | None = None) -> pd.DataFrame:
    rows = []
    for (task_set, row, W, budget), by_problem in sorted(outcomes_by_row(records, budgets).items()):
        items = list(by_problem.values())
        probes = [probe for _, _, probe, _ in items]
        run = items[0][3]
        n = len(items)
        correct = sum(all_right for all_right, _, _, _ in items)
        low, high = wilson_interval(round(correct), n)
        shares = [share for _, share, _, _ in items if share is not None]
        part_low, part_high = bootstrap_interval(shares) if shares else (None, None)
        # Whether the workers' first steps differ: a team's metric (not the single run's, whatever
        # team size its equal-compute row stands for).
        distinct = [p.metrics.get("distinct_first_parts") for p in probes] if run.workers > 1 else []
        out = {"task_set": task_set, "method": run.method, "layout": run.layout, "W": W,
               "split": run.split, "row": row, "budget": budget,
               "passes_used": probes[0].budget, "n": n, "correct": round(correct, 4),
               "accuracy": round(correct / n, 4), "ci_low": round(low, 4), "ci_high": round(high, 4),
               "part_accuracy": _mean(shares),
               "part_ci_low": None if part_low is None else round(part_low, 4),
               "part_ci_high": None if part_high is None else round(part_high, 4),
               "mean_tokens": _mean(p.tokens for p in probes),
               "mean_seconds": _mean(p.seconds for p in probes),
               "mean_wasted_tokens": _mean(p.wasted_tokens for p in probes),
               "mean_passes": _mean(p.passes for p in probes),
               "distinct_first_parts": _mean(d for d in distinct if d is not None),
               # answers that leave some question out ("26" for five): None for one-answer problems
               "short_answers": (_mean(parts_given(p.answer, len(run.parts)) < len(run.parts) for p in probes)
                                 if len(run.parts) > 1 else None)}
        for m in METRICS:
            out[f"mean_{m}"] = _mean(p.metrics.get(m) for p in probes)
        rows.append(out)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def problem_groups(records: list[EvalRun]) -> list[tuple[set, set]]:
    """[(methods, problems)]: each set of methods that ran together on some problem, with every
    problem on which all of them ran; the most problems first (the main comparison), then the
    most methods. A set seen on one problem only, inside a larger set, is a run cut off mid-problem
    (its remaining methods not run yet): it is no group of its own."""
    methods_by_problem: dict[tuple, frozenset] = {}
    for r in records:
        key = (r.task_set, r.problem_id)
        methods_by_problem[key] = methods_by_problem.get(key, frozenset()) | {r.method_key}
    seen = list(methods_by_problem.values())
    cut_off = {g for g in seen if seen.count(g) == 1 and any(g < other for other in seen)}
    out = []
    for group in set(seen) - cut_off:
        problems = {(r.task_set, r.problem_id) for r in complete_for(records, set(group))}
        if problems:
            out.append((set(group), problems))
    return sorted(out, key=lambda g: (-len(g[1]), -len(g[0]), sorted(g[0])))


def grouped_table(records: list[EvalRun], budgets: list[int] | None = None) -> pd.DataFrame:
    """build_table once per set of problems that the same methods ran on (an ablation run on a
    subset is tabled with the baselines on that subset), largest set first; columns "group" (its
    index) and "problems" (how many problems it covers). `problem_groups` gives the sets."""
    tables = []
    for methods, _ in problem_groups(records):
        subset = complete_for(records, methods)
        table = build_table(subset, budgets)
        problems = len({(r.task_set, r.problem_id) for r in subset})
        # A single run's equal-compute probe exists only where it ran with that team size
        # (--single-also): a row on some of the group's problems would pass for all of them.
        table = table[~(table["row"].str.startswith("single, ") & (table["n"] < problems))].reset_index(drop=True)
        table.insert(0, "problems", problems)
        table.insert(0, "group", len(tables))
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=["group", "problems", *COLUMNS])
    return pd.concat(tables, ignore_index=True)


def paired_table(records: list[EvalRun], budgets: list[int] | None = None) -> pd.DataFrame:
    """Each Hogwild! row against each baseline row of its W (single, single Wx tokens,
    independent vote / any / mean worker) at each budget, on the problems both have."""
    outcomes = outcomes_by_row(records, budgets)
    rows = []
    for (task_set, row, W, budget), mine in sorted(outcomes.items()):
        for (other_set, base, base_W, base_budget), theirs in sorted(outcomes.items()):
            if other_set != task_set or base_budget != budget or not _is_baseline_of(row, W, base, base_W):
                continue
            if (stats := _pair_stats(mine, theirs)) is not None:
                rows.append({"task_set": task_set, "budget": budget, "hogwild": row, "baseline": base, **stats})
    return pd.DataFrame(rows)


def _is_baseline_of(row: str, W: int, base: str, base_W: int) -> bool:
    """Whether row `base` (of team size base_W) is a baseline the Hogwild! row `row` (of W) is
    paired with: one worker at any W, the other baselines at the same W, answered with the same prompt."""
    prompt = answer_prompt_of(row)
    if not row.startswith("hogwild") or base.startswith("hogwild") or answer_prompt_of(base) != prompt:
        return False
    return base == "single" + answer_suffix(prompt) or base_W == W


def prompt_table(records: list[EvalRun], budgets: list[int] | None = None) -> pd.DataFrame:
    """Each row answered with another prompt against the same row answered with the plain one, at
    each budget: the same runs (one transcript, two forced answers), so the difference is the
    answer prompt's alone. Columns as `settings_table`'s ("mine": the other prompt, "theirs": plain)."""
    outcomes = outcomes_by_row(records, budgets)
    rows = []
    for (task_set, row, W, budget), here in sorted(outcomes.items()):
        plain = plain_row_of(row)
        if plain == row:
            continue
        there = outcomes.get((task_set, plain, W, budget))
        if there is not None and (stats := _pair_stats(here, there, ("mine", "theirs"))) is not None:
            rows.append({"task_set": task_set, "budget": budget, "mine": row, "theirs": plain, **stats})
    return pd.DataFrame(rows)


def _pair_stats(mine: dict, theirs: dict, names: tuple[str, str] = ("hogwild", "baseline")) -> dict | None:
    """Two rows' outcomes ({problem: (all parts, per question, ...)}) on the problems both have:
    all-parts shares and the exact McNemar test, the mean per-question difference (mine minus
    theirs) with its paired bootstrap interval; None if they share no problem. `names` prefix
    the share and count columns."""
    common = sorted(set(mine) & set(theirs))
    if not common:
        return None
    a = [mine[p][0] for p in common]          # bool, or a fraction of workers ("mean worker")
    b = [theirs[p][0] for p in common]
    exact = all(isinstance(x, bool) for x in a + b)      # McNemar needs right/wrong on both sides
    only_mine = sum(x and not y for x, y in zip(a, b)) if exact else None
    only_theirs = sum(y and not x for x, y in zip(a, b)) if exact else None
    diffs = [mine[p][1] - theirs[p][1] for p in common if mine[p][1] is not None and theirs[p][1] is not None]
    low, high = bootstrap_interval(diffs) if diffs else (None, None)
    first, second = names
    return {"n": len(common),
            f"{first}_all_parts": round(sum(float(x) for x in a) / len(a), 4),
            f"{second}_all_parts": round(sum(float(y) for y in b) / len(b), 4),
            f"only_{first}_right": only_mine,
            f"only_{second}_right": only_theirs,
            "mcnemar_p": round(mcnemar_exact(only_mine, only_theirs), 4) if exact else None,
            "per_question_diff": _mean(diffs),
            "diff_ci_low": None if low is None else round(low, 4),
            "diff_ci_high": None if high is None else round(high, 4)}


def settings_table(mine: list[EvalRun], theirs: list[EvalRun], budgets: list[int] | None = None) -> pd.DataFrame:
    """The same problems run under two settings (e.g. an engine option on and off): at each budget,
    each row of `mine` against the same row of `theirs`, and each Hogwild! row of `mine` against
    each baseline row of `theirs` of its W (a method with the option against the baselines without
    it), paired on the problems both ran. Columns as `paired_table`'s, with "mine" and "theirs"
    where it has "hogwild" and "baseline"."""
    a, b = outcomes_by_row(mine, budgets), outcomes_by_row(theirs, budgets)
    rows = []
    for (task_set, row, W, budget), here in sorted(a.items()):
        for (other_set, base, base_W, base_budget), there in sorted(b.items()):
            if other_set != task_set or base_budget != budget:
                continue
            if (base == row or _is_baseline_of(row, W, base, base_W)) and (stats := _pair_stats(here, there, ("mine", "theirs"))) is not None:
                rows.append({"task_set": task_set, "budget": budget, "mine": row, "theirs": base, **stats})
    return pd.DataFrame(rows)


def line_label(row) -> str:
    return row["row"]
