"""python -m benchmarks.page [--model qwen2.5-coder-1.5b] [--workers 4] [--passes 160]
    [--threads 1,2] [--chart-seconds 1.5,4.5] [--rounds 2] [--json out.json]

What a visitor's stats line shows, against the engine alone, in one process on the same weights.
The run is the page's opening problem (the featured recording's) at W workers, combined layout,
the page's other defaults; each configuration is measured three ways, to the same pass count:

* engine: `HogwildEngine.start` then `run_pass` in a loop (the most the page could show);
* loop: the page's run loop (`demo.callbacks.run`), its frames rendered in Python, no server;
* page: the app served on 127.0.0.1 (this process, `demo.build_ui`), driven in headless Chromium
  as a visitor: Workers and layout set, Run pressed, the stats line read once it shows the passes.

Figure: tokens per second per worker, sampled tokens over the time since start (the prompt
included), as the page's stats line computes it; each level's ratio to the engine at the same
threads. Configurations: torch threads x seconds between chart redraws (the page's Cadence),
in ABBA order over rounds, so a drift of the machine falls on both sides. Chromium runs on the
same cores: on a 2-core machine it competes with the server, as it does for a visitor running
`python app.py` and a browser on one laptop. Needs Debian's /usr/bin/chromium and playwright."""

import argparse
import json
import re
import socket
import statistics
import sys
import time

import torch

from hogwild_core import HogwildEngine

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def per_worker_speed(sampled: list[int], seconds: float) -> float:
    """Mean over workers of sampled tokens per second."""
    return sum(sampled) / len(sampled) / max(seconds, 1e-9)


def engine_speed(store, settings, passes: int) -> dict:
    """The engine alone: start (the prompt) and `passes` passes; the page's engine config."""
    model, tokenizer = store.get(settings.model)
    engine = HogwildEngine(model, tokenizer, settings.engine_config(), prompt_cache=store.prompt_cache(settings.model))
    started = time.perf_counter()
    engine.start(settings.problem)
    sampled = [0] * settings.num_workers
    done = 0
    while done < passes and not engine.done:
        event = engine.run_pass()
        done += 1
        for w, token in enumerate(event.tokens):
            sampled[w] += token is not None
    seconds = time.perf_counter() - started
    return {"passes": done, "seconds": seconds, "sampled": sampled, "tok_s": per_worker_speed(sampled, seconds)}


def loop_speed(store, settings, passes: int, cadence) -> dict:
    """The page's run loop with every frame it yields, until `passes` passes; then closed (as a
    page that goes away closes it)."""
    from demo import callbacks

    session = callbacks.Session()
    try:
        callbacks.pressed(session, settings)
        frames = callbacks.run(session, store, settings, cadence)
        count = 0
        for _ in frames:
            count += 1
            log = session.run_log
            if log is not None and len(log.passes) >= passes:
                break
        frames.close()
        log = session.run_log
        return {"passes": len(log.passes), "seconds": log.elapsed, "frames": count, "sampled": list(log.sampled),
                "tok_s": per_worker_speed(log.sampled, log.elapsed)}
    finally:
        session.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page_speed(browser, store, settings, passes: int, cadence, model_name: str) -> dict:
    """Serve the app with `cadence`, press Run as a visitor, read the stats line at `passes`."""
    from demo import build_ui, launch

    app = build_ui(store, default_model=model_name, cadence=cadence)
    port = free_port()
    launch(app, port=port, prevent_thread_lock=True, quiet=True)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#heatmap .heatmaplayer", timeout=60000)      # the page has settled
        page.fill("#workers input[type=number]", str(settings.num_workers))
        page.press("#workers input[type=number]", "Enter")
        page.check(f"#layout input[value={settings.layout}]")
        page.click("#run")
        page.wait_for_function(      # the live run's line (the opening recording's says "finished")
            """n => { const t = document.querySelector('#stats')?.innerText || '';
                      return /status\\s+running/.test(t) && Number((t.match(/passes\\s+(\\d+)/) || [0, 0])[1]) >= n; }""",
            arg=passes, timeout=600000, polling=50)
        stats = page.inner_text("#stats")
        page.click("#stop")
        page.wait_for_function("() => (document.querySelector('#stats')?.innerText || '').includes('stopped')",
                               timeout=60000)
    finally:
        page.close()
        app.close()
    shown = [float(x) for x in re.findall(r"([\d.]+) tok/s", stats)]
    seconds, count = re.search(r"time\s+([\d.]+) s", stats), re.search(r"passes\s+(\d+)", stats)
    if len(shown) < settings.num_workers or seconds is None or count is None:
        raise RuntimeError(f"the stats line did not read as expected: {stats[:400]!r}")
    return {"passes": int(count.group(1)), "seconds": float(seconds.group(1)),
            "tok_s": statistics.mean(shown[:settings.num_workers])}


def opening_settings(model: str, workers: int, passes: int):
    """The page's opening problem (the featured recording's) at `workers`, combined layout."""
    from demo.gallery import load_gallery
    from demo.settings import PageSettings
    from demo.traces import read_trace

    entries, _ = load_gallery()
    problem = read_trace(entries[0].path).data["meta"]["settings"]["problem"]
    return PageSettings(problem=problem, num_workers=workers, layout="combined",
                        max_new_tokens=max(PageSettings.max_new_tokens, passes + 16), model=model)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--passes", type=int, default=160)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--chart-seconds", default="1.5,4.5")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levels", default="engine,loop,page")
    parser.add_argument("--json")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from demo import ModelStore
    from demo.callbacks import Cadence
    from machine import machine_description

    threads = [int(t) for t in args.threads.split(",")]
    charts = [float(c) for c in args.chart_seconds.split(",")]
    levels = args.levels.split(",")
    settings = opening_settings(args.model, args.workers, args.passes)
    store = ModelStore()
    store.get(args.model)
    engine_speed(store, settings, 8)     # untimed: the prompt's cache (the page keeps one too) and warm kernels
    configs = [(level, t, c) for t in threads for level in levels for c in (charts if level != "engine" else [None])]
    results: dict[tuple, list[dict]] = {c: [] for c in configs}
    browser = None
    with _playwright(needed="page" in levels) as p:
        if p is not None:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for r in range(args.rounds):
            for level, t, c in (configs if r % 2 == 0 else configs[::-1]):
                torch.set_num_threads(t)
                cadence = Cadence(chart_seconds=c) if c is not None else None
                if level == "engine":
                    result = engine_speed(store, settings, args.passes)
                elif level == "loop":
                    result = loop_speed(store, settings, args.passes, cadence)
                else:
                    result = page_speed(browser, store, settings, args.passes, cadence, args.model)
                results[(level, t, c)].append(result)
                print(f"round {r + 1} {level:6} threads={t} charts={c}: {result['tok_s']:.2f} tok/s per worker "
                      f"({result['passes']} passes in {result['seconds']:.1f} s)", flush=True)
        if browser is not None:
            browser.close()
    print(f"\n{machine_description()}, torch {torch.__version__}, {args.model}, W={args.workers}, "
          f"{args.passes} passes, the page's opening problem; median of {args.rounds} rounds")
    print("| level | threads | charts every | tok/s per worker | x engine |\n|---|---|---|---|---|")
    rows = []
    for level, t, c in configs:
        tok_s = statistics.median(x["tok_s"] for x in results[(level, t, c)])
        engine = statistics.median(x["tok_s"] for x in results[("engine", t, None)]) if "engine" in levels else None
        ratio = tok_s / engine if engine else None
        rows.append({"level": level, "threads": t, "chart_seconds": c, "tok_s": tok_s, "x_engine": ratio,
                     "runs": results[(level, t, c)]})
        print(f"| {level} | {t} | {'-' if c is None else f'{c} s'} | {tok_s:.2f} | "
              f"{'-' if ratio is None else f'{ratio:.2f}'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_description(), "model": args.model, "workers": args.workers,
                       "passes": args.passes, "rows": rows}, f, indent=1)
    return 0


class _playwright:
    """playwright's sync context when the page level is measured, else None."""

    def __init__(self, needed: bool):
        self.needed, self._cm = needed, None

    def __enter__(self):
        if not self.needed:
            return None
        from playwright.sync_api import sync_playwright

        self._cm = sync_playwright()
        return self._cm.__enter__()

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc) if self._cm is not None else False


if __name__ == "__main__":
    sys.exit(main())
