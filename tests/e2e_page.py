"""Helpers for the browser tests: Debian's Chromium through Playwright, measurements of boxes
on the page, a host page embedding the app with the README's snippet, and a synthetic 8-worker
trace (many blocks, long words) to replay without a model."""

import contextlib
import functools
import json
import os
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.page import CHROMIUM, CHROMIUM_ARGS     # the page benchmark drives the same browser
from demo.records import LanePiece, PassRecord
from demo.traces import pass_to_json

NAMES = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi"]


def launch_chromium(playwright):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def boxes(page_or_frame, selector: str) -> list[dict]:
    """Bounding boxes (x, y, width, height) of every element matching selector, in the viewport."""
    return page_or_frame.evaluate(
        """s => [...document.querySelectorAll(s)].map(e => { const r = e.getBoundingClientRect();
              return {x: r.x, y: r.y, width: r.width, height: r.height}; })""", selector)


def box(page_or_frame, selector: str, timeout: float = 30000) -> dict:
    """The bounding box of the first element matching selector, once it is on the page (Gradio
    renders a page's parts one after another: the lanes can be there before the Run button)."""
    page_or_frame.wait_for_selector(selector, state="attached", timeout=timeout)
    return boxes(page_or_frame, selector)[0]


def overlapping(rects: list[dict], slack: float = 0.5) -> list[tuple[int, int]]:
    """Pairs of rectangles that overlap by more than `slack` px in both directions."""
    pairs = []
    for i, a in enumerate(rects):
        for j in range(i + 1, len(rects)):
            b = rects[j]
            dx = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
            dy = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
            if dx > slack and dy > slack:
                pairs.append((i, j))
    return pairs


def inside(rect: dict, width: float, height: float) -> bool:
    return rect["x"] >= 0 and rect["y"] >= 0 and rect["x"] + rect["width"] <= width + 0.5 \
        and rect["y"] + rect["height"] <= height + 0.5


def readme_embed_snippet(readme: str, url: str) -> str:
    """The README's embed snippet (its html block that listens for the app's height), for `url`."""
    blocks = [b for b in re.findall(r"```html\n(.*?)```", readme, re.DOTALL) if "hogwild-height" in b]
    assert len(blocks) == 1, f"expected one html block with hogwild-height in the README, found {len(blocks)}"
    assert "https://YOUR-SPACE.hf.space" in blocks[0]
    return blocks[0].replace("https://YOUR-SPACE.hf.space", url.rstrip("/"))


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):      # no request lines in the test output
        pass


@contextlib.contextmanager
def serving(folder):
    """Serve `folder` on a free port of 127.0.0.1 (another origin than the app's) and yield its URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def write_eight_worker_trace(path, num_blocks: int = 200, num_passes: int = 24) -> str:
    """A valid trace of 8 workers with a 4k-token cache: the widest heatmap and lane grid the page meets."""
    W = len(NAMES)
    blocks = [{"id": 0, "kind": "prompt", "owner": None, "segment": "prompt", "length": 260,
               "text": "<|im_start|>system\nYou are one of 8 assistants.<|im_end|>\n<|im_start|>user\nAdd.<|im_end|>\n"},
              {"id": 1, "kind": "header", "owner": None, "segment": "header_others", "length": 11, "text": "### others"},
              {"id": 2, "kind": "header", "owner": None, "segment": "header_own", "length": 8, "text": "### mine"}]
    for b in range(3, num_blocks):
        owner = b % W
        blocks.append({"id": b, "kind": "step", "owner": owner, "segment": "history", "length": 19,
                       "text": f"**{NAMES[owner]} [{b // W}]:** I add the numbers in my part and check them.\n\n"})
    B = len(blocks)
    words = "Let us split the multiplication into tens and units, then verify: 17 × 24 = 408 is correct. "
    passes = []
    for i in range(num_passes):
        row = [round(1.0 / B, 5)] * B
        passes.append(PassRecord(
            pass_number=i + 1, phase="work", seconds=0.1, elapsed=round(0.1 * (i + 1), 4), cache_tokens=4096,
            cache_bytes=4096 * 46080, tokens=[1] * W,
            pieces=[[LanePiece(f"**{NAMES[w]} [{i + 1}]:** ", True), LanePiece(words * 2, False)] for w in range(W)],
            flushed=[], attention=[row] * W, shares=[[0.2, 0.5, 0.3]] * W))
    settings = {"problem": "Eight workers, many blocks.", "num_workers": W, "layout": "combined",
                "max_new_tokens": 512, "temperature": 0.0, "top_p": 1.0, "seed": 0, "check_interval": 0,
                "model": "synthetic", "max_answer_tokens": 48}
    trace = {"format": "hogwild-trace", "version": 1, "status": "finished", "answer": "42",
             "elapsed": passes[-1].elapsed, "workers": [], "blocks": blocks, "views": [],
             "last_attention_by_layer": None, "steps": [pass_to_json(record) for record in passes],
             "meta": {"settings": settings, "model": "synthetic", "worker_names": NAMES, "num_layers": 2,
                      "label": "Hogwild! 8 workers, combined", "machine": "a test machine", "date": "2026-01-01"}}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(trace, f)
    return str(path)
