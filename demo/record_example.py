"""Record a run for the gallery (what the page opens on and replays):

    python -m demo.record_example --out assets/gallery/NAME.json [--workers 3] [--tokens 160]
        [--model default] [--title ...] [--caption ...] [--featured] [--index assets/gallery/index.json]

It runs the model through the same callback the page uses, so the file is an ordinary trace, as a
visitor's download would be. It then prints the gallery index entry for it (machine from
/proc/cpuinfo or the GPU, date, model, measured tokens/s); with --index it also adds the entry to
that index, replacing one for the same file."""

import argparse
import json
import os
import shlex
import shutil
import sys
from datetime import datetime, timezone

import torch

from machine import machine_description

from .callbacks import QUIET, Session, run
from .gallery import GALLERY, add_to_index, index_entry, sampled_speed
from .models import ModelStore
from .settings import PageSettings
from .traces import trace_passes
from .ui import load_examples


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--example", type=int, default=0, help="index into assets/examples.json")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--layout", default="combined")
    parser.add_argument("--tokens", type=int, default=160)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="default", help="'default', a local path or a hub id")
    parser.add_argument("--out", default=str(GALLERY / "recording.json"), help="where to write the trace")
    parser.add_argument("--title", default=None, help="gallery title (default: from the settings)")
    parser.add_argument("--caption", default="", help="one line: what to look for in this run")
    parser.add_argument("--featured", action="store_true", help="the page opens on this one")
    parser.add_argument("--index", default=None, help="add the entry to this index.json (its folder must hold --out)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = PageSettings(problem=load_examples()[args.example]["problem"], num_workers=args.workers,
                           layout=args.layout, max_new_tokens=args.tokens, temperature=args.temperature,
                           model=args.model)
    store = ModelStore(device="cuda" if torch.cuda.is_available() else None)
    session = Session()
    final = list(run(session, store, settings, QUIET))[-1]
    if not final.files:
        raise SystemExit(f"the run did not produce a trace: {final.message}")
    shutil.copy(final.files[0], args.out)
    session.close()
    with open(args.out, encoding="utf-8") as f:
        data = json.load(f)
    tokens, speed = sampled_speed(data)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    entry = index_entry(
        os.path.basename(args.out), title=args.title or f"{settings.label} ({data['meta']['model']})",
        caption=args.caption or f"{tokens} tokens at {speed:.1f} tokens/s, prompt included.",
        model=data["meta"]["model"], machine=machine_description(gpu=gpu),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        command="python -m demo.record_example " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        featured=args.featured)
    entry["tokens_per_second"] = round(speed, 2)
    print(f"{args.out}: {len(trace_passes(data))} passes, {tokens} tokens in {data['elapsed']:.1f} s "
          f"({speed:.1f} tokens/s), answer {data['answer']!r}")
    for worker in data["workers"]:
        print(f"--- {worker['name']}\n{worker['text']}")
    print(json.dumps(entry, indent=2, ensure_ascii=False))
    if args.index:
        add_to_index(args.index, entry)


if __name__ == "__main__":
    main()
