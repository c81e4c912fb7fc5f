"""The prompt study's table, rebuilt from what the runs wrote (nothing typed in by hand):

    python -m experiments.report experiments/results/collaboration-*.jsonl --gallery assets/gallery

Study rows (experiments/collaboration.py) keep each worker's pieces; gallery traces keep each
pass's pieces. Both are cut into steps and scored by analysis.metrics here, the same way."""

import argparse
import json
from pathlib import Path

from analysis import metrics
from demo.traces import trace_passes
from hogwild_core.prompts import problem_parts

from .collaboration import parts_correct
from .record_gallery import problem_and_answer


def scored(pieces: list[list], num_workers: int, problem: str, references: list[str], answer: str | None) -> dict:
    right = parts_correct(answer, references)
    report = metrics.report_of_pieces(pieces, num_workers, problem_parts(problem) or None, all(right))
    return {**report.as_dict(), "parts_right": f"{sum(right)}/{len(right)}"}


def study_rows(path: Path) -> list[dict]:
    from .collaboration import multipart_problems
    problems = {p["id"]: p for p in multipart_problems(3)}
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if "pieces" not in r:
            continue        # written before the rows kept their pieces: cannot be re-scored
        item = problems[r["problem_id"]]
        rows.append({"source": "study", "problem": r["problem_id"], "prompts": r["variant"],
                     "W": r["num_workers"], "layout": r["layout"], "budget": r["passes"],
                     "T": r["temperature"], "answer": r["answer"], "seconds": r["seconds"],
                     **scored(r["pieces"], r["num_workers"], item["problem"], r["references"], r["answer"])})
    return rows


def gallery_rows(folder: Path) -> list[dict]:
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    rows = []
    for entry in index:
        if "command" not in entry or "--problem" not in entry["command"]:
            continue
        problem_name = entry["command"].split("--problem", 1)[1].split()[0]
        problem, expected = problem_and_answer(problem_name)
        trace = json.loads((folder / entry["file"]).read_text(encoding="utf-8"))
        W = len(trace["meta"]["worker_names"])
        pieces = metrics.pieces_from_records([record.pieces for record in trace_passes(trace)], W)
        settings = trace["meta"]["settings"]
        rows.append({"source": f"gallery {entry['file']}", "problem": problem_name, "prompts": "v2", "W": W,
                     "layout": settings["layout"], "budget": settings["max_new_tokens"],
                     "T": settings["temperature"], "answer": trace["answer"], "seconds": entry.get("seconds"),
                     **scored(pieces, W, problem, expected.split(", "), trace["answer"])})
    return rows


COLUMNS = ("source", "problem", "prompts", "W", "layout", "T", "budget", "num_steps", "redundancy",
           "impersonations", "copied_prompts", "self_repeats", "first_parts", "parts_started",
           "answer", "parts_right", "seconds")


def markdown(rows: list[dict]) -> str:
    def cell(row, key):
        value = row.get(key)
        if key == "redundancy":
            return f"{value:.0%}"
        if key == "answer":
            return "`" + str(value or "")[:40].replace("|", "/") + "`"
        return str(value)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r, k) for k in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="*", type=Path)
    parser.add_argument("--gallery", type=Path)
    args = parser.parse_args(argv)
    rows = [r for path in args.results for r in study_rows(path)]
    if args.gallery:
        rows += gallery_rows(args.gallery)
    print(markdown(rows))


if __name__ == "__main__":
    main()
