"""Command line: python -m hogwild_core "problem" --workers 3 --layout combined

Streams each worker's text to the terminal, one colour per worker, in pieces of about a line,
then prints the final answer. Bad input exits with status 2 and a one-line message."""

import argparse
import sys

from .config import BASELINE_LAYOUTS, LAYOUTS, MAX_WORKERS, EngineConfig
from .errors import HogwildError

# ANSI colours of the Okabe-Ito palette (colour-blind safe), one per worker.
COLOURS = ("38;2;0;114;178", "38;2;230;159;0", "38;2;0;158;115", "38;2;204;121;167",
           "38;2;86;180;233", "38;2;213;94;0", "38;2;240;228;66", "38;2;150;150;150")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hogwild_core", description=__doc__.splitlines()[0])
    p.add_argument("problem", help="the problem text")
    p.add_argument("--workers", type=int, default=2, help=f"number of workers, 1-{MAX_WORKERS}")
    p.add_argument("--layout", default="combined", choices=LAYOUTS + BASELINE_LAYOUTS)
    p.add_argument("--model", default=None, help="a fetched catalog model (python -m model_catalog list), "
                   "a local path or a hub id (default: embedded SmolLM2-135M)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=EngineConfig.temperature)
    p.add_argument("--top-p", type=float, default=EngineConfig.top_p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check-interval", type=int, default=0, help="insert a redundancy check every N passes")
    p.add_argument("--attention", default="fast", choices=("fast", "reference"))
    p.add_argument("--device", default=None, help="e.g. cpu, cuda, cuda:1")
    p.add_argument("--device-map", default=None, help='e.g. "auto" to spread a large model over GPUs')
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code from the hub (off by default)")
    p.add_argument("--no-color", action="store_true")
    return p.parse_args(argv)


class LanePrinter:
    """Buffers each worker's text and prints it in coloured pieces of about a line."""

    def __init__(self, names, out, colour: bool, width: int = 72):
        self.names, self.out, self.colour, self.width = names, out, colour, width
        self.buffers = [""] * len(names)

    def feed(self, w: int, text: str) -> None:
        self.buffers[w] += text
        while "\n" in self.buffers[w] or len(self.buffers[w]) >= self.width:
            text = self.buffers[w]
            cut = text.find("\n") + 1
            if not 0 < cut <= self.width:   # no line break in reach: break at the last space
                cut = text.rfind(" ", 0, self.width) + 1 or self.width
            self._print(w, self.buffers[w][:cut])
            self.buffers[w] = self.buffers[w][cut:]

    def flush(self) -> None:
        for w, text in enumerate(self.buffers):
            if text:
                self._print(w, text)
            self.buffers[w] = ""

    def _print(self, w: int, text: str) -> None:
        text = text.rstrip("\n")
        if not text.strip():
            return
        tag = f"{self.names[w]:>6} | "
        if self.colour:
            tag, text = f"\033[{COLOURS[w]}m{tag}", f"{text}\033[0m"
        print(tag + text, file=self.out, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        config = EngineConfig(num_workers=args.workers, layout=args.layout, max_new_tokens=args.max_new_tokens,
                              temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                              check_interval=args.check_interval, attention=args.attention)
        if not args.problem.strip():
            raise HogwildError("the problem text is empty")
        from .engine import HogwildEngine
        from .loading import load_model
        from .prompts import WORKER_NAMES

        model, tokenizer = load_model(args.model, device=args.device, device_map=args.device_map,
                                      trust_remote_code=args.trust_remote_code)
        engine = HogwildEngine(model, tokenizer, config)
        printer = LanePrinter(WORKER_NAMES[:args.workers], sys.stdout,
                              colour=sys.stdout.isatty() and not args.no_color)
        for event in engine.generate(args.problem):
            for w in range(args.workers):
                printer.feed(w, event.text(w))      # each event carries only the new text
        printer.flush()
        print(f"\nFinal answer: {engine.answer if engine.answer is not None else '(none)'}")
        return 0
    except HogwildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
