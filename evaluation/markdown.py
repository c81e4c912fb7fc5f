"""Tables -> Markdown, for docs: the accuracy table of one set of problems as method rows x budget
columns, and the paired comparisons at each budget. Pure functions of the tables that
`table.grouped_table` and `table.paired_table` return, so the published text is what
`python -m evaluation --report-only` recounts from results.jsonl (it writes OUT/report.md)."""

import pandas as pd


def _share(value, low, high) -> str:
    if value is None or pd.isna(value):
        return "-"
    if low is None or pd.isna(low):
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def accuracy_markdown(table: pd.DataFrame, y: str = "part_accuracy") -> str:
    """One group of `grouped_table` (or a `build_table`): a row per method row, a column per
    budget; y "part_accuracy" (questions right, bootstrap interval) or "accuracy" (all parts
    right, Wilson interval)."""
    low, high = ("part_ci_low", "part_ci_high") if y == "part_accuracy" else ("ci_low", "ci_high")
    budgets = sorted(table["budget"].unique())
    lines = ["| method | " + " | ".join(f"{b} passes" for b in budgets) + " |",
             "|---|" + "---|" * len(budgets)]
    for row in sorted(table["row"].unique(), key=_row_order):
        cells = []
        for b in budgets:
            hit = table[(table["row"] == row) & (table["budget"] == b)]
            cells.append(_share(*hit[[y, low, high]].iloc[0]) if len(hit) else "-")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_markdown(table: pd.DataFrame, budget: int) -> str:
    """Tokens and collaboration metrics of each method row at one budget."""
    at = table[table["budget"] == budget]
    lines = ["| method | tokens | redundancy | self-repeats | impersonations | questions started | different first questions | wasted tokens | answers leaving questions out |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(at["row"].unique(), key=_row_order):
        r = at[at["row"] == row].iloc[0]
        lines.append(f"| {row} | {_number(r['mean_tokens'], 0)} | {_number(r['mean_redundancy'])} | "
                     f"{_number(r['mean_self_repeats'], 1)} | {_number(r['mean_impersonations'], 1)} | "
                     f"{_number(r['mean_parts_started'], 1)} | {_number(r['distinct_first_parts'])} | "
                     f"{_number(r['mean_wasted_tokens'], 0)} | {_number(r['short_answers'])} |")
    return "\n".join(lines)


def paired_markdown(paired: pd.DataFrame, names: tuple[str, str] = ("hogwild", "baseline"),
                    headers: tuple[str, str] = ("Hogwild! row", "baseline"),
                    short: tuple[str, str] = ("Hogwild!", "baseline")) -> str:
    """Each Hogwild! row against each baseline, per budget: questions right (difference and its
    paired bootstrap interval) and all parts right (discordant pairs and exact McNemar p). `names`:
    the table's column prefixes (`table.settings_table` has "mine"/"theirs"); `headers` and `short`:
    what the columns call the two rows."""
    first, second = names
    lines = [f"| budget | {headers[0]} | {headers[1]} | n | questions right: difference [95% CI] | "
             f"all right: only {short[0]} / only {short[1]} | McNemar p |",
             "|---|---|---|---|---|---|---|"]
    for _, r in paired.sort_values(["budget", first, second]).iterrows():
        diff = "-" if r["per_question_diff"] is None or pd.isna(r["per_question_diff"]) else \
            f"{r['per_question_diff']:+.2f} [{r['diff_ci_low']:+.2f}, {r['diff_ci_high']:+.2f}]"
        discordant = "-" if pd.isna(r[f"only_{first}_right"]) else \
            f"{int(r[f'only_{first}_right'])} / {int(r[f'only_{second}_right'])}"
        p = "-" if pd.isna(r["mcnemar_p"]) else f"{r['mcnemar_p']:.2f}"
        lines.append(f"| {r['budget']} | {r[first]} | {r[second]} | {r['n']} | {diff} | {discordant} | {p} |")
    return "\n".join(lines)


def against_markdown(pairs: pd.DataFrame, theirs: pd.DataFrame, name: str, differences: list[str]) -> str:
    """The same problems under two settings: `pairs` (`table.settings_table`), `theirs` (a
    `build_table` of the other folder's runs on those problems, for its metrics), the other
    folder's name and the settings that differ."""
    budget = theirs["budget"].max()
    return "\n".join([
        f"### Against {name} (the same problems; settings that differ: {', '.join(differences) or 'none'})", "",
        f"Each row here against the same row there, and each Hogwild! row here against the baselines there; "
        f"questions right, here minus there:", "",
        paired_markdown(pairs, ("mine", "theirs"), ("here", "there"), ("here", "there")), "",
        f"There, on these problems, at {budget} passes, per run:", "", metrics_markdown(theirs, budget), ""])


def prompts_markdown(pairs: pd.DataFrame) -> str:
    """`table.prompt_table`: each row answered with another prompt against the plain answer of the
    same runs."""
    return "\n".join([
        "### Answer prompts (the same runs, the forced answer asked for another way)", "",
        "Each row answered with another prompt against the same runs answered with the plain one; questions "
        "right, other minus plain:", "",
        paired_markdown(pairs, ("mine", "theirs"), ("answered so", "plain answer"), ("so", "plain")), ""])


def report_markdown(table: pd.DataFrame, paired: pd.DataFrame) -> str:
    """Every group of a grouped table: questions right, all right, and the metrics at the largest
    budget; then the paired comparisons."""
    parts = []
    for group in sorted(table["group"].unique()):
        sub = table[table["group"] == group]
        title = f"### Problems of group {group}: {sub['problems'].iloc[0]} ({', '.join(sorted(sub['task_set'].unique()))})"
        parts += [title, "", "Questions right (share of each problem's questions; 95% bootstrap interval over problems):", "",
                  accuracy_markdown(sub, "part_accuracy"), "",
                  "All questions of a problem right (95% Wilson interval):", "", accuracy_markdown(sub, "accuracy"), "",
                  f"At {sub['budget'].max()} passes, per run:", "", metrics_markdown(sub, sub["budget"].max()), ""]
    if len(paired):
        parts += ["### Paired comparisons (the same problems)", "", paired_markdown(paired), ""]
    return "\n".join(parts)


def _number(value, digits: int = 2) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _row_order(row: str) -> tuple:
    """single first, then its equal-compute rows, independent rows, Hogwild! rows."""
    rank = 0 if row == "single" else 1 if row.startswith("single") else 2 if row.startswith("independent") else 3
    return rank, row
