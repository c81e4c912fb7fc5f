"""Does int8 cost accuracy? The first N GSM8K test questions, one worker, greedy, plain `generate`
(batched, left-padded), once per weight format; accuracy with Wilson intervals, agreement, and an
exact McNemar test on the paired outcomes.

    python -m experiments.weight_quality --model qwen2.5-coder-1.5b --formats int8,bfloat16 \
        --limit 100 --out docs/weights

Writes OUT/quality.json (figures and settings) and OUT/quality-<format>.jsonl (every question,
the model's full text, its extracted answer, whether it finished). A run resumes: questions
already in a format's file are not generated again."""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from evaluation.scoring import mcnemar_exact, wilson_interval

SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


def generate_batch(model, tokenizer, questions: list[str], max_new_tokens: int) -> list[tuple[str, bool]]:
    """(text, finished) per question; finished: the model ended its answer before the budget."""
    prompts = [tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM},
                                              {"role": "user", "content": q}],
                                             add_generation_prompt=True, tokenize=False) for q in questions]
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    eos = set(model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list)
              else [model.generation_config.eos_token_id])
    results = []
    for row in out[:, batch["input_ids"].shape[1]:].tolist():
        finished = any(t in eos for t in row)
        if finished:
            row = row[:next(i for i, t in enumerate(row) if t in eos)]
        results.append((tokenizer.decode(row, skip_special_tokens=True), finished))
    return results


def run_format(name: str, weights: str, tasks, out: Path, batch_size: int, max_new_tokens: int) -> list[dict]:
    from hogwild_core import load_model
    from analysis.answers import extract_answer, is_correct
    from hogwild_core.weights import format_of

    path = out / f"quality-{weights}.jsonl"
    done = {}
    if path.exists():
        done = {r["id"]: r for r in map(json.loads, path.read_text().splitlines()) if r}
    todo = [t for t in tasks if t.id not in done]
    if todo:
        began = time.perf_counter()
        model, tokenizer = load_model(name, weights=weights)
        print(f"{weights}: loaded as {format_of(model)} in {time.perf_counter() - began:.0f} s", flush=True)
        todo.sort(key=lambda t: len(t.problem))        # similar lengths share a batch: less padding
        with open(path, "a") as f:
            for i in range(0, len(todo), batch_size):
                chunk = todo[i:i + batch_size]
                began = time.perf_counter()
                for task, (text, finished) in zip(chunk, generate_batch(model, tokenizer, [t.problem for t in chunk],
                                                                         max_new_tokens)):
                    answer = extract_answer(text) if "\\boxed{" in text else None
                    record = {"id": task.id, "reference": task.answer, "answer": answer,
                              "correct": is_correct(answer, task.answer), "finished": finished, "text": text}
                    done[task.id] = record
                    f.write(json.dumps(record) + "\n")
                f.flush()
                print(f"{weights}: {len(done)}/{len(tasks)} ({time.perf_counter() - began:.0f} s for {len(chunk)})",
                      flush=True)
        del model
    return [done[t.id] for t in tasks]


def summary(by_format: dict[str, list[dict]]) -> dict:
    names = list(by_format)
    figures = {}
    for name, rows in by_format.items():
        right = sum(r["correct"] for r in rows)
        figures[name] = {"correct": right, "n": len(rows), "accuracy": right / len(rows),
                         "wilson95": wilson_interval(right, len(rows)), "finished": sum(r["finished"] for r in rows)}
    paired = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pairs = list(zip(by_format[a], by_format[b]))
            only_a = sum(x["correct"] and not y["correct"] for x, y in pairs)
            only_b = sum(y["correct"] and not x["correct"] for x, y in pairs)
            same_answer = sum(x["answer"] == y["answer"] for x, y in pairs)
            same_text = sum(x["text"] == y["text"] for x, y in pairs)
            paired[f"{a} vs {b}"] = {"only_first_right": only_a, "only_second_right": only_b,
                                     "same_outcome": len(pairs) - only_a - only_b, "same_answer": same_answer,
                                     "same_text": same_text, "mcnemar_p": mcnemar_exact(only_a, only_b)}
    return {"formats": figures, "paired": paired}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.weight_quality", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="qwen2.5-coder-1.5b")
    p.add_argument("--formats", default="int8,bfloat16")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--max-new-tokens", type=int, default=768)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default="docs/weights")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from evaluation.errors import EvaluationError
    from evaluation.tasks import load_tasks
    from machine import machine_description

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        tasks = load_tasks("gsm8k", args.limit)
    except EvaluationError as exc:
        raise SystemExit(f"python -m experiments.weight_quality: {exc}") from None
    by_format = {w: run_format(args.model, w, tasks, out, args.batch_size, args.max_new_tokens)
                 for w in args.formats.split(",")}
    result = summary(by_format)
    result["settings"] = {"model": args.model, "questions": f"GSM8K test, first {args.limit}", "decoding": "greedy",
                          "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "system": SYSTEM,
                          "machine": machine_description(), "torch_threads": torch.get_num_threads(),
                          "torch": torch.__version__}
    (out / "quality.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("formats", "paired")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
