"""Hogwild! Inference demo: `python app.py` serves it on http://127.0.0.1:7860, offline, on the
capable model (Qwen2.5-Coder-1.5B, int8) when it is fetched, else on the embedded SmolLM2-135M;
`--fetch` first fetches the capable model. On a Hugging Face Space the host comes from
GRADIO_SERVER_NAME, and HOGWILD_FETCH=1 asks for the fetch."""

import argparse
import logging
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"   # before gradio is imported: no phoning home
MAX_QUEUE = 10      # as demo.ui.MAX_QUEUE; repeated so that --help needs no gradio import


def positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {number}")
    return number


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--model", default=os.environ.get("HOGWILD_MODEL", "auto"),
                        help="'auto' (the capable catalog model if fetched, else the embedded one), 'default' "
                             "(embedded SmolLM2-135M), a fetched catalog model (see python -m model_catalog "
                             "list), a local path or a hub id; env HOGWILD_MODEL")
    parser.add_argument("--fetch", action="store_true", default=os.environ.get("HOGWILD_FETCH") == "1",
                        help="with --model auto: fetch the capable model first (1.1 GB from PyPI, quick if there); "
                             "if that fails, start on the embedded model; env HOGWILD_FETCH=1")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--lock-model", action="store_true", help="visitors cannot load other models")
    parser.add_argument("--concurrency", type=positive, default=1, help="runs served at the same time")
    parser.add_argument("--max-queue", type=positive, default=MAX_QUEUE,
                        help=f"visitors who may wait for a free slot (default {MAX_QUEUE}); the next is told "
                             "the queue is full")
    parser.add_argument("--threads", type=int, default=max(1, min(4, (os.cpu_count() or 2) // 2)),
                        help="CPU threads for torch (default: half the cores, at most 4; small models gain "
                             "little from more, and oversubscribed cores make them much slower)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("demo").setLevel(logging.INFO)     # runs closed by their page, failures
    import torch

    torch.set_num_threads(args.threads)
    from demo import ModelStore, build_ui, launch, startup_model
    from hogwild_core import HogwildError

    started = startup_model(args.model, fetch=args.fetch)
    if started.note:
        logging.getLogger("demo").info(started.note)
    store = ModelStore(device="cuda" if torch.cuda.is_available() else None,
                       locked_to=started.name if args.lock_model else None)
    try:
        store.get(started.name)   # load once, up front; sessions share the weights read-only
    except HogwildError as exc:
        raise SystemExit(f"app.py: {exc}") from None
    app = build_ui(store, default_model=started.name, concurrency_limit=args.concurrency, model_note=started.note)
    launch(app, host=args.host, port=args.port, share=args.share, concurrency_limit=args.concurrency,
           max_queue=args.max_queue)


if __name__ == "__main__":
    main()
