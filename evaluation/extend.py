"""Probe a folder's single runs for more team sizes without running them again, where that is exact.

    python -m evaluation.extend --single-also 4 docs/eval/qwen1.5b-gsm8k-x5

A single run is probed at W x each budget for every team size W it was run for ("single, Wx
tokens", the equal-compute line). A run whose reasoning ended at pass P has one answer for every
budget at or beyond P, so a new team size whose budgets all lie there needs no pass: the run gets
those probes (`probing.extend_single`). The other runs are named, and left as they are: they must
be made again. In results.jsonl only the extended runs' lines change (through a temporary file)."""

import argparse
import sys
from pathlib import Path

from .errors import EvaluationError
from .probing import extend_single
from .records import EvalRun
from .store import RESULTS, ResultStore, pooled_sources, read_settings


def extend_runs(runs: list[EvalRun], budgets: tuple[int, ...], team_sizes: tuple[int, ...]
                ) -> tuple[list[EvalRun], list[str], list[str]]:
    """(the single runs that gained probes; a line per run extended; a line per run that needs a rerun)."""
    changed, extended, refused = [], [], []
    for run in runs:
        if run.method != "single":
            continue
        try:
            new = extend_single(run, budgets, team_sizes)
        except EvaluationError as exc:
            refused.append(f"{run.task_set} ({run.answer_prompt} answer): {exc}")
            continue
        if new is not run:
            added = sorted({p.budget for p in new.probes} - {p.budget for p in run.probes})
            extended.append(f"{run.task_set}/{run.problem_id[:12]} ({run.answer_prompt} answer): probes at "
                            f"{', '.join(map(str, added))} passes, from its end at pass {new.probe_at(added[0]).passes}")
            changed.append(new)
    return changed, extended, refused


def extend_folder(folder: Path, team_sizes: tuple[int, ...]) -> tuple[list[str], list[str]]:
    folder = Path(folder)
    settings = read_settings(folder)
    if settings is None or not (folder / RESULTS).is_file():
        raise EvaluationError(f"{folder} has no settings.json and results.jsonl")
    if pooled_sources(folder, settings) is not None:
        raise EvaluationError(f"{folder} pools other folders: extend its sources")
    budgets = settings.get("budgets")
    if not (isinstance(budgets, list) and budgets and all(isinstance(b, int) and b > 0 for b in budgets)):
        raise EvaluationError(f"{folder}/settings.json has no budgets")
    store = ResultStore(folder)
    changed, extended, refused = extend_runs(store.load(), tuple(budgets), team_sizes)
    if changed:
        store.replace(changed)
    return extended, refused


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.extend", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--single-also", required=True,
                   help="comma-separated team sizes to probe the single runs for, e.g. 4")
    args = p.parse_args(argv)
    try:
        sizes = tuple(int(s) for s in args.single_also.split(",") if s.strip())
    except ValueError:
        p.error(f"--single-also takes whole numbers, e.g. 4; got {args.single_also!r}")
    if not sizes or any(s < 2 for s in sizes):
        p.error("--single-also takes team sizes of 2 or more")
    try:
        extended, refused = extend_folder(args.folder, sizes)
    except EvaluationError as exc:
        raise SystemExit(f"python -m evaluation.extend: {exc}") from None
    for line in extended:
        print("extended", line)
    for line in refused:
        print("needs a rerun", line)
    print(f"{len(extended)} runs extended, {len(refused)} need a rerun", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
