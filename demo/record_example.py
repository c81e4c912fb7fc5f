"""Record the example trace shipped in assets/ (what "Replay the example run" plays):

    python -m demo.record_example [--workers 3] [--tokens 160] [--out assets/example_trace.json]

It runs the real default model through the same callback the page uses, so the file is an
ordinary trace, as a visitor's download would be."""

import argparse
import json
import shutil

import torch

from .callbacks import Cadence, Session, run
from .models import ModelStore
from .settings import RunSettings
from .ui import ASSETS, load_examples

QUIET = Cadence(text_seconds=1e9, chart_seconds=1e9)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--example", type=int, default=0, help="index into assets/examples.json")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--layout", default="combined")
    parser.add_argument("--tokens", type=int, default=160)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ASSETS / "example_trace.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = RunSettings(problem=load_examples()[args.example]["problem"], num_workers=args.workers,
                           layout=args.layout, max_new_tokens=args.tokens, temperature=args.temperature)
    session = Session()
    final = list(run(session, ModelStore(), settings, QUIET))[-1]
    if not final.files:
        raise SystemExit(f"the run did not produce a trace: {final.message}")
    shutil.copy(final.files[0], args.out)
    session.close()
    with open(args.out, encoding="utf-8") as f:
        data = json.load(f)
    print(f"{args.out}: {len(data['steps'])} steps, answer {data['answer']!r}")
    for worker in data["workers"]:
        print(f"--- {worker['name']}\n{worker['text']}")


if __name__ == "__main__":
    main()
