"""Command line: python -m evaluation --tasks multipart-2 --limit 10 --budgets 32,64,128

Runs every (problem, method) not yet in OUT/results.jsonl, appending as it goes, then writes
OUT/table.csv, OUT/table.json and OUT/accuracy.html (part_accuracy.html for multi-part sets; PNGs
too when kaleido is installed)."""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import pandas as pd

from hogwild_core.config import FINISH_RULES
from hogwild_core.prompts import ANSWER_PROMPTS
from machine import machine_description

from .errors import EvaluationError
from .methods import METHOD_NAMES, build_methods
from .records import EvalRun, run_key
from .store import RESULTS, SETTINGS, ResultStore, changed_settings, pool_settings, pooled_runs, read_settings
from .tasks import TASK_SETS, load_tasks


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


DEFAULT_BUDGETS = (32, 64, 128, 256)


def _saved_budgets(out: Path) -> list[int] | None:
    """The budgets an evaluation folder was run with (its settings.json), or None."""
    budgets = (read_settings(out) or {}).get("budgets")
    return budgets if isinstance(budgets, list) and all(isinstance(b, int) for b in budgets) else None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="multipart-2",
                   help=f"comma-separated task sets: {', '.join(TASK_SETS)}, or a .jsonl file")
    p.add_argument("--limit", type=int, default=None, help="first N problems of each task set")
    p.add_argument("--skip", type=int, default=0,
                   help="leave out the first N of those problems (to share a run between processes, each with "
                        "its own --out; results.jsonl files of equal settings.json concatenate)")
    p.add_argument("--budgets", type=_ints, default=None,
                   help="lock-step passes, e.g. 32,64,128 (default 32,64,128,256; with --report-only: "
                        "the budgets in OUT/settings.json)")
    p.add_argument("--workers", type=_ints, default=[2, 4], help="worker counts for the parallel methods")
    p.add_argument("--methods", default="single,independent,combined",
                   help=f"comma-separated: {', '.join(METHOD_NAMES)} (planned: the combined layout with the split "
                        "given in the prompt, an ablation)")
    p.add_argument("--single-also", type=_ints, default=[],
                   help="team sizes the single worker is also probed for (W x each budget), beyond --workers")
    p.add_argument("--model", default=None, help="name, local path or hub id (default: embedded SmolLM2-135M)")
    p.add_argument("--device", default=None, help="e.g. cuda")
    p.add_argument("--device-map", default=None, help='e.g. "auto" to spread a large model over GPUs')
    p.add_argument("--temperature", type=float, default=0.6,
                   help="sampling temperature of the work phase (answers are always greedy); at 0, "
                        "independent workers with the same prompt write the same text")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (and the multi-part selection)")
    p.add_argument("--max-answer-tokens", type=int, default=48)
    p.add_argument("--finish", choices=FINISH_RULES, default="boxed",
                   help="how reasoning may end before a budget: boxed (the paper's rule, every method: no end "
                        "of text while reasoning; a final \\boxed{} with every question's answer ends it, for the "
                        "whole team) or eos (a worker's end of text stops it; the protocol before 2026-12-01)")
    p.add_argument("--answer-prompts", default="plain", metavar="NAME,NAME",
                   help=f"how the forced answers are asked for ({', '.join(ANSWER_PROMPTS)}): each cut of a run is "
                        "probed with each, so they are compared on the same transcripts (rows of the others end "
                        "in ', <name> answer'; OUT/prompts.csv pairs them with the first)")
    p.add_argument("--engine", action="append", default=[], metavar="FIELD=VALUE",
                   help="another EngineConfig field for every run, e.g. redundancy_check=false (repeatable)")
    p.add_argument("--out", type=Path, default=Path("eval-results"))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--report-only", action="store_true", help="rebuild the table and figure from OUT")
    p.add_argument("--pool", default=None, metavar="FOLDER,FOLDER",
                   help="with --report-only: make OUT a pooled folder that reads these folders' runs together "
                        "(siblings of OUT, run with equal settings); later --report-only on OUT reads them again")
    p.add_argument("--against", type=Path, default=None, metavar="FOLDER",
                   help="with --report-only: also pair OUT's runs with FOLDER's on the problems both ran "
                        "(the same methods under other settings, e.g. an engine option off): OUT/against.csv "
                        "and a section of OUT/report.md")
    args = p.parse_args(argv)
    if args.against is not None and not args.report_only:
        p.error("--against goes with --report-only")
    if args.pool is not None and not args.report_only:
        p.error("--pool goes with --report-only (a pooled folder holds no runs of its own)")
    if args.pool is not None:
        args.pool = [Path(f.strip()) for f in args.pool.split(",") if f.strip()]
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    if args.skip < 0 or (args.limit is not None and args.skip >= args.limit):
        p.error("--skip must be at least 0 and below --limit")
    if args.budgets is None and args.report_only:
        args.budgets = _saved_budgets(args.pool[0] if args.pool else args.out)
    args.budgets = sorted(set(args.budgets if args.budgets is not None else DEFAULT_BUDGETS))
    if not args.budgets or args.budgets[0] < 1:
        p.error("--budgets needs positive pass counts")
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    args.answer_prompts = [a.strip() for a in args.answer_prompts.split(",") if a.strip()]
    unknown = [a for a in args.answer_prompts if a not in ANSWER_PROMPTS]
    if not args.answer_prompts or unknown or len(set(args.answer_prompts)) != len(args.answer_prompts):
        p.error(f"--answer-prompts takes distinct names among {', '.join(ANSWER_PROMPTS)}")
    if args.answer_prompts[0] != "plain":
        p.error("--answer-prompts must start with plain (the protocol's prompt; the others are paired with it)")
    if (problem := engine_problem(args.engine)) is not None:
        p.error(problem)
    return args


# EngineConfig fields the evaluation sets from its own options (--engine may not set them)
SET_BY_EVALUATION = {"num_workers": "--workers", "layout": "--methods", "split": "--methods",
                     "max_new_tokens": "--budgets", "temperature": "--temperature", "seed": "--seed",
                     "max_answer_tokens": "--max-answer-tokens", "finish": "--finish",
                     "answer_parts": "the task set", "answer_prompt": "--answer-prompts"}


def engine_problem(pairs: list[str]) -> str | None:
    """What is wrong with --engine FIELD=VALUE pairs (None: nothing), checked before any model loads."""
    from dataclasses import fields

    from hogwild_core import ConfigError, EngineConfig

    known = {f.name for f in fields(EngineConfig)}
    for pair in pairs:
        field = pair.partition("=")[0].strip()
        if "=" not in pair or not field:
            return f"--engine takes FIELD=VALUE; got {pair!r}"
        if field in SET_BY_EVALUATION:
            return f"--engine {field}: set by {SET_BY_EVALUATION[field]}, not by --engine"
        if field not in known:
            return f"--engine {field}: no such EngineConfig field"
    try:
        EngineConfig(**dict(engine_overrides(pairs)))
    except ConfigError as exc:
        return f"--engine: {exc}"
    return None


def settings_of(args) -> dict:
    settings = {"model": args.model or "default", "budgets": args.budgets, "temperature": args.temperature,
                "max_answer_tokens": args.max_answer_tokens, "finish": args.finish, "machine": machine_description(),
                "date": time.strftime("%Y-%m-%d")}
    if args.engine:
        settings["engine"] = dict(engine_overrides(args.engine))
    if args.answer_prompts != ["plain"]:
        settings["answer_prompts"] = args.answer_prompts
    return settings


def engine_overrides(pairs: list[str]) -> tuple[tuple[str, object], ...]:
    """["redundancy_check=false", "repeat_ngram=0"] -> (("redundancy_check", False), ("repeat_ngram", 0))."""
    out = []
    for pair in pairs:
        field, _, text = pair.partition("=")
        value = {"true": True, "false": False}.get(text.lower(), text)
        if isinstance(value, str):
            try:
                value = int(text)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    pass
        out.append((field.strip(), value))
    return tuple(out)


def run(args) -> list[EvalRun]:
    """Run what is missing from OUT; returns every record there."""
    import torch
    from tqdm import tqdm

    from hogwild_core import PromptCache, load_model

    from .probing import RunSettings, run_task_prompts

    try:
        methods = build_methods(args.methods, args.workers)
    except ValueError as exc:
        raise SystemExit(f"python -m evaluation: {exc}") from None
    tasks = [t for name in args.tasks for t in load_tasks(name, args.limit, args.seed)[args.skip:]]
    store = ResultStore(args.out)
    store.check_settings(settings_of(args))
    done = store.done_keys()
    todo = [(t, m) for t in tasks for m in methods
            if run_key(t.task_set, t.id, m.name, m.layout, m.num_workers, m.split, args.seed) not in done]
    print(f"{len(tasks)} problems x {len(methods)} methods: {len(todo)} runs to do, "
          f"{len(tasks) * len(methods) - len(todo)} already in {store.path}", file=sys.stderr)
    if todo:
        if args.threads:
            torch.set_num_threads(args.threads)
        model, tokenizer = load_model(args.model, device=args.device, device_map=args.device_map)
        team_sizes = tuple(sorted({m.num_workers for m in methods if m.num_workers > 1} | set(args.single_also)))
        settings = RunSettings(tuple(args.budgets), args.temperature, args.seed, args.max_answer_tokens, team_sizes,
                               engine_overrides(args.engine), args.finish, tuple(args.answer_prompts))
        prompt_cache = PromptCache()
        with tqdm(todo, desc="runs", unit="run", file=sys.stderr, dynamic_ncols=True) as bar:
            for task, method in bar:
                bar.set_postfix_str(f"{task.task_set}/{task.id[:12]} {method.label}")
                for record in run_task_prompts(model, tokenizer, task, method, settings, prompt_cache,
                                               model_name=args.model or "default", machine=machine_description()):
                    store.append(record)
    wanted = {t.task_set for t in tasks}
    return [r for r in store.load() if r.task_set in wanted]


def report(records: list[EvalRun], out: Path, budgets: list[int] | None = None,
           against: Path | None = None) -> None:
    """table.csv/json (every method row, on each set of problems the same methods ran on),
    paired.csv (each Hogwild! row against each baseline of its W, on the problems both ran),
    report.md (both as Markdown) and the figures (of the largest set of problems); with `against`,
    against.csv and a report section pairing these runs with that folder's (`settings_table`)."""
    from .figure import accuracy_figure
    from .markdown import against_markdown, prompts_markdown, report_markdown
    from .table import build_table, complete_only, grouped_table, paired_table, prompt_table, settings_table

    table = grouped_table(records, budgets)
    if table.empty:
        print("no complete problems yet", file=sys.stderr)
        return
    table.to_csv(out / "table.csv", index=False)
    table.to_json(out / "table.json", orient="records", indent=1)
    paired = paired_table(records, budgets)
    paired.to_csv(out / "paired.csv", index=False)
    text = report_markdown(table, paired)
    by_prompt = prompt_table(records, budgets)       # each row with its own plain answers: the same runs
    if len(by_prompt):
        by_prompt.to_csv(out / "prompts.csv", index=False)
        text += "\n" + prompts_markdown(by_prompt)
    if against is not None:
        theirs = ResultStore(against).load()
        mine = complete_only(records)          # a problem cut off mid-way is no pair of its own
        pairs = settings_table(mine, theirs, budgets)
        if pairs.empty:
            raise EvaluationError(f"{against} has no run of these methods on these problems")
        pairs.to_csv(out / "against.csv", index=False)
        mine_keys = {(r.task_set, r.problem_id, r.method_key) for r in mine}
        shared = [r for r in theirs if (r.task_set, r.problem_id, r.method_key) in mine_keys]
        differences = changed_settings(read_settings(against) or {}, read_settings(out) or {})
        text += "\n" + against_markdown(pairs, build_table(shared, budgets), against.name, differences)
        print(pairs.to_string(index=False))
    (out / "report.md").write_text(text, encoding="utf-8")
    main_table = table[table["problems"] == table["problems"].iloc[0]]
    figures = {"accuracy": accuracy_figure(main_table, "All parts right vs. budget")}
    if main_table["part_accuracy"].notna().any():
        figures["part_accuracy"] = accuracy_figure(main_table, "Questions right vs. budget", y="part_accuracy")
    for name, figure in figures.items():
        figure.write_html(out / f"{name}.html", include_plotlyjs="cdn")
        try:
            import kaleido  # noqa: F401
            figure.write_image(out / f"{name}.png", width=1000, height=520)
        except Exception:       # no kaleido (or no browser for it): the HTML is the figure
            pass
    shown = table[["problems", "task_set", "row", "budget", "n", "accuracy", "ci_low", "ci_high",
                   "part_accuracy", "part_ci_low", "part_ci_high", "mean_tokens", "mean_seconds", "mean_redundancy"]]
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(shown.to_string(index=False))
        if len(paired):
            print(paired.to_string(index=False))


def write_pool(out: Path, folders: list[Path]) -> list[EvalRun]:
    """OUT/settings.json naming the folders OUT pools (checked: equal settings, side by side with OUT,
    no run in two of them); returns their records."""
    settings = pool_settings(folders)
    if Path(out).resolve().parent != Path(folders[0]).resolve().parent:
        raise EvaluationError(f"{out} must sit beside the folders it pools")
    if (Path(out) / RESULTS).exists():
        raise EvaluationError(f"{out} holds runs of its own: a pooled folder must not")
    records = pooled_runs([ResultStore(f).load() for f in folders], folders)   # refuses a run counted twice
    old = read_settings(out) or {}
    if "note" in old:
        settings["note"] = old["note"]
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / SETTINGS).write_text(json.dumps(settings, indent=2) + "\n")
    return records


def main(argv=None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    try:
        if args.pool:
            records = write_pool(args.out, args.pool)
        else:
            records = ResultStore(args.out).load() if args.report_only else run(args)
    except EvaluationError as exc:
        raise SystemExit(f"python -m evaluation: {exc}") from None
    try:
        report(records, args.out, args.budgets, args.against)
    except EvaluationError as exc:
        raise SystemExit(f"python -m evaluation: {exc}") from None
    print(f"{len(records)} runs in {args.out} ({time.perf_counter() - began:.0f} s, "
          f"{platform.machine()}, python {platform.python_version()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
