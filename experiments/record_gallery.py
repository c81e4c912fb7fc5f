"""Record one run of the page's gallery (assets/gallery/), exactly as the page would run it:

    python -m experiments.record_gallery --model qwen2.5-coder-1.5b --problem parts3 \
        --workers 3 --layout combined --tokens 192 --seed 0 --name parts3-w3-combined

The run goes through the page's own callback (demo.callbacks.run), so the file is an ordinary
trace, as a visitor's download would be. Nothing is edited afterwards: the trace, its measured
speed and its collaboration metrics are what the run produced. The index entry (title, caption,
model, machine, date, the command that regenerates it) is added to assets/gallery/index.json,
replacing an entry of the same name (demo.gallery.add_to_index; a featured entry un-features
the others).

With --join the last worker is a visitor ("You"); --say LINE sends LINE through the page's own
Send (demo.callbacks.send_line) once --say-at passes are recorded. --control FILE also records
the same run with the visitor silent (same seed) and saves its trace there, outside the gallery,
so a caption can say what the line changed."""

import argparse
import datetime
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

import torch

from demo.callbacks import QUIET, Cadence, Session, run, send_line
from demo.gallery import GALLERY, add_to_index, index_entry, sampled_speed
from demo.models import ModelStore
from demo.settings import PageSettings
from demo.traces import trace_passes
from analysis import metrics
from machine import machine_description
from hogwild_core.prompts import problem_parts
from hogwild_core.weights import format_of

class RecordingError(RuntimeError):
    """A recording that could not be made as asked (the visitor's line refused, no trace written)."""


PROBLEMS = {
    "parts3": ("Compute three things and add them up: (a) 17 × 24, (b) the sum of the whole numbers "
               "from 1 to 30, (c) 2 to the power 10. What is (a) + (b) + (c)?", "1897"),
    "cases": ("How many whole numbers from 1 to 100 are divisible by 3 or by 5? Split it into cases: "
              "(a) count the multiples of 3, (b) count the multiples of 5, (c) count the multiples of 15, "
              "then combine the three counts.", "47"),
    "two": ("Answer both questions. (a) A train travels at 60 km per hour for 2.5 hours. How far does it "
            "go? (b) A rectangle is 12 cm long and 7 cm wide. What is its perimeter?", "150, 38"),
}


def problem_and_answer(name: str) -> tuple[str, str]:
    """A gallery problem: one of PROBLEMS, "example-K": the page's example K (assets/examples.json;
    its answer is not known here, ""), "gsm3-K": problem K of the prompt study's seeded set of
    three GSM8K test questions (experiments/collaboration.py), or "gsm5-K": problem K of the
    evaluation's development set gsm8k-x5-dev (five questions; never one of the evaluated problems)."""
    if name.startswith("example-"):
        from demo.ui import load_examples
        return load_examples()[int(name.split("-")[1])]["problem"], ""
    if name.startswith("gsm3-"):
        from .collaboration import multipart_problems
        item = multipart_problems(3)[int(name.split("-")[1])]
        return item["problem"], ", ".join(item["answers"])
    if name.startswith("gsm5-"):
        from evaluation.tasks import load_tasks
        k = int(name.split("-")[1])
        task = load_tasks("gsm8k-x5-dev", k + 1)[k]
        return task.problem, ", ".join(task.answer) if isinstance(task.answer, list) else str(task.answer)
    return PROBLEMS[name]


def machine(weights: str = "float32") -> str:
    """The machine line of an entry; `weights`: the format the model ran in (weights.format_of)."""
    return f"{machine_description()}, {torch.get_num_threads()} torch thread(s), CPU {weights}"


def report_of(trace: dict, problem: str) -> dict:
    """Collaboration metrics of a trace, read from its per-pass records only."""
    W = len(trace["meta"]["worker_names"])
    pieces = metrics.pieces_from_records([record.pieces for record in trace_passes(trace)], W)
    return metrics.report_of_pieces(pieces, W, problem_parts(problem) or None).as_dict()


def record_run(store: ModelStore, settings: PageSettings, say: str, say_at: int, out: Path) -> float:
    """One run through the page's callback, its trace copied to `out`; the visitor (if they
    joined) sends `say` once `say_at` passes are recorded. Returns the wall time in seconds."""
    session, began = Session(), time.perf_counter()
    frames = run(session, store, settings, Cadence(text_seconds=0.0, chart_seconds=1e9) if say else QUIET)
    final = None
    for final in frames:
        if say and session.run_log is not None and len(session.run_log.passes) >= say_at:
            message, taken = send_line(session, say)
            if taken is None:
                raise RecordingError(f"the visitor's line was refused: {message}")
            say = ""
    wall = time.perf_counter() - began
    if final is None or not final.files:
        raise RecordingError(f"the run did not produce a trace: {final.message if final else 'no frames'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(final.files[0], out)
    session.close()
    return wall


def main(argv=None, store: ModelStore | None = None) -> dict:
    """Record one gallery run; `store` may hold the model already (several runs, one load)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--problem", default="parts3", help=f"one of {sorted(PROBLEMS)}, example-K, gsm3-K or gsm5-K")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--layout", default="combined")
    parser.add_argument("--tokens", type=int, default=192)
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", required=True)
    parser.add_argument("--title", default="")
    parser.add_argument("--caption", default="")
    parser.add_argument("--featured", action="store_true")
    parser.add_argument("--join", action="store_true", help="the last worker is a visitor, 'You'")
    parser.add_argument("--say", default="", help="with --join: the line the visitor sends")
    parser.add_argument("--say-at", type=int, default=4, help="send it once this many passes are recorded")
    parser.add_argument("--control", default="", help="with --say: also record the silent run, to this file")
    args = parser.parse_args(argv)
    if (args.say or args.control) and not args.join:
        parser.error("--say and --control need --join")
    torch.set_num_threads(args.threads)
    problem, expected = problem_and_answer(args.problem)
    settings = PageSettings(problem=problem, num_workers=args.workers, layout=args.layout,
                           max_new_tokens=args.tokens, temperature=args.temperature, top_p=args.top_p,
                           seed=args.seed, model=args.model, join=args.join)
    store = store or ModelStore()
    store.get(args.model)       # loaded before the run, as on a running page: its time is not the run's
    GALLERY.mkdir(parents=True, exist_ok=True)
    out = GALLERY / f"{args.name}.json"
    if args.control:
        record_run(store, settings, "", 0, Path(args.control))
    wall = record_run(store, settings, args.say, args.say_at, out)
    trace = json.loads(out.read_text(encoding="utf-8"))
    _, speed = sampled_speed(trace)
    command = "python -m experiments.record_gallery " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    entry = {**index_entry(out.name, title=args.title or settings.label, caption=args.caption, model=args.model,
                           machine=machine(format_of(store.get(args.model)[0])),
                           date=datetime.date.today().isoformat(), command=command, featured=args.featured),
             "tokens_per_second": round(speed, 2), "seconds": round(wall, 1), "expected_answer": expected,
             "answer": trace["answer"], "metrics": report_of(trace, problem)}
    if args.say:
        entry["visitor"] = {"line": args.say, "after_passes": args.say_at, "control": args.control or None}
    add_to_index(GALLERY / "index.json", entry)
    print(json.dumps({k: v for k, v in entry.items() if k != "command"}, indent=1, ensure_ascii=False))
    for worker in trace["workers"]:
        print(f"--- {worker['name']}\n{worker['text']}")
    return entry


if __name__ == "__main__":
    try:
        main()
    except RecordingError as exc:
        raise SystemExit(f"python -m experiments.record_gallery: {exc}") from None
