"""Run a list of gallery recordings and prompt-study runs with ONE model load (the 1.5B model
takes minutes to load on this machine): each line of the plan file is either

    gallery <arguments of experiments.record_gallery>
    study <arguments of experiments.collaboration>   (its --model is ignored: the plan's model runs)

    python -m experiments.plan --model qwen2.5-coder-1.5b experiments/plan_gallery.txt"""

import argparse
import shlex

import torch

from demo.models import ModelStore
from evaluation.errors import EvaluationError
from hogwild_core import load_model

from . import collaboration, record_gallery


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("plan")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, tokenizer = load_model(args.model)
    store = ModelStore()
    store.put(args.model, model, tokenizer)
    with open(args.plan, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    for line in lines:
        kind, *rest = shlex.split(line)
        print(f"=== {line}", flush=True)
        if kind == "gallery":
            record_gallery.main(["--model", args.model, *rest], store=store)
        elif kind == "study":
            collaboration.main(["--model", args.model, *rest], loaded=(model, tokenizer))
        else:
            raise SystemExit(f"unknown plan line: {line}")


if __name__ == "__main__":
    try:
        main()
    except (record_gallery.RecordingError, EvaluationError) as exc:
        raise SystemExit(f"python -m experiments.plan: {exc}") from None
