"""Probe a folder's single runs for more team sizes without running them again, where that is exact.

    python -m evaluation.extend --single-also 4 docs/eval/qwen1.5b-gsm8k-x5

A single run is probed at W x each budget for every team size W it was run for ("single, Wx
tokens", the equal-compute line). A run whose reasoning ended at pass P has one answer for every
budget at or beyond P, so a new team size whose budgets all lie there needs no pass: the run gets
those probes (`probing.extend_single`). The other runs are named, and left as they are: they must
be made again. In results.jsonl only the extended runs' lines change (through a temporary file).

    python -m evaluation.extend --single-also 4 --from runs/again docs/eval/qwen1.5b-gsm8k-x5-dry

`--from FOLDER`: those runs made again, into FOLDER, with the larger team size (`python -m
evaluation ... --single-also 4 --out FOLDER`). A rerun takes the recorded run's place only if it
continues it: the same transcript, pass by pass, up to the recorded run's last budget, and the same
probes at every budget both have (the clock aside). That holds on the machine kind that made the
record (same seeds, same kernels); on another kind a rerun is another sample, and is refused."""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .errors import EvaluationError
from .probing import extend_single
from .records import EvalRun
from .store import RESULTS, ResultStore, changed_settings, pooled_sources, read_settings


def _name(run: EvalRun) -> str:
    return f"{run.task_set}/{run.problem_id[:12]} ({run.answer_prompt} answer)"


def continues(recorded: EvalRun, again: EvalRun) -> bool:
    """Whether `again` is `recorded` run further: the same run key, each worker's transcript
    pieces equal up to the recorded run's last probed budget, and equal probes (the clock aside)
    at every budget the recorded run was probed at."""
    if again.key != recorded.key:
        return False
    cap = max(p.budget for p in recorded.probes)
    upto = lambda run: [[piece for piece in lane if piece[2] <= cap] for lane in run.pieces]
    if upto(recorded) != upto(again):
        return False
    timeless = lambda p: replace(p, seconds=0.0)
    theirs = {p.budget: timeless(p) for p in again.probes}
    return all(theirs.get(p.budget) == timeless(p) for p in recorded.probes)


def extend_runs(runs: list[EvalRun], budgets: tuple[int, ...], team_sizes: tuple[int, ...],
                reruns: list[EvalRun] = ()) -> tuple[list[EvalRun], list[str], list[str]]:
    """(the single runs to put in place of the recorded ones; a line per run extended; a line
    per run that needs a rerun). A run that cannot be extended in place takes its rerun from
    `reruns` when that continues it and has every budget."""
    again = {run.key: run for run in reruns}
    changed, extended, refused = [], [], []
    for run in runs:
        if run.method != "single":
            continue
        try:
            new = extend_single(run, budgets, team_sizes)
        except EvaluationError as exc:
            rerun = again.get(run.key)
            if rerun is None:
                refused.append(f"{_name(run)}: {exc}")
                continue
            if not continues(run, rerun):
                refused.append(f"{_name(run)}: {exc}; its rerun does not continue it (another transcript or other probes)")
                continue
            sizes = tuple(sorted(set(run.team_sizes) | set(rerun.team_sizes)))
            try:
                new = extend_single(replace(rerun, team_sizes=sizes), budgets, team_sizes)
            except EvaluationError as exc2:
                refused.append(f"{_name(run)}: its rerun continues it but falls short: {exc2}")
                continue
            changed.append(new)
            extended.append(f"{_name(run)}: its rerun, which continues it to {max(p.budget for p in new.probes)} passes")
            continue
        if new is not run:
            added = sorted({p.budget for p in new.probes} - {p.budget for p in run.probes})
            extended.append(f"{_name(run)}: probes at {', '.join(map(str, added))} passes, "
                            f"from its end at pass {new.probe_at(added[0]).passes}")
            changed.append(new)
    return changed, extended, refused


def extend_folder(folder: Path, team_sizes: tuple[int, ...], reruns_from: Path | None = None
                  ) -> tuple[list[str], list[str]]:
    folder = Path(folder)
    settings = read_settings(folder)
    if settings is None or not (folder / RESULTS).is_file():
        raise EvaluationError(f"{folder} has no settings.json and results.jsonl")
    if pooled_sources(folder, settings) is not None:
        raise EvaluationError(f"{folder} pools other folders: extend its sources")
    budgets = settings.get("budgets")
    if not (isinstance(budgets, list) and budgets and all(isinstance(b, int) and b > 0 for b in budgets)):
        raise EvaluationError(f"{folder}/settings.json has no budgets")
    reruns = []
    if reruns_from is not None:
        theirs = read_settings(reruns_from)
        if theirs is None or not (Path(reruns_from) / RESULTS).is_file():
            raise EvaluationError(f"{reruns_from} has no settings.json and results.jsonl")
        differ = changed_settings(settings, theirs)
        if differ:
            raise EvaluationError(f"{reruns_from} was run with other settings ({', '.join(differ)})")
        reruns = ResultStore(reruns_from).load()
    store = ResultStore(folder)
    changed, extended, refused = extend_runs(store.load(), tuple(budgets), team_sizes, reruns)
    if changed:
        store.replace(changed)
    return extended, refused


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.extend", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--single-also", required=True,
                   help="comma-separated team sizes to probe the single runs for, e.g. 4")
    p.add_argument("--from", dest="reruns_from", type=Path, default=None, metavar="FOLDER",
                   help="runs made again with the larger team size, to take where they continue the recorded ones")
    args = p.parse_args(argv)
    try:
        sizes = tuple(int(s) for s in args.single_also.split(",") if s.strip())
    except ValueError:
        p.error(f"--single-also takes whole numbers, e.g. 4; got {args.single_also!r}")
    if not sizes or any(s < 2 for s in sizes):
        p.error("--single-also takes team sizes of 2 or more")
    try:
        extended, refused = extend_folder(args.folder, sizes, args.reruns_from)
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
