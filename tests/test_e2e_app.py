"""End to end: start the real app (`python app.py`) on localhost and measure the page in headless
Chromium as a visitor meets it: at 1440x900, on a phone (390x844) and inside an iframe.

* it opens on the gallery's recording within 2 s;
* Run shows the chosen lanes and a status within 0.5 s; Stop ends the run within one pass;
* 8 lanes sit at most 4 per row without overflowing text; heatmap tick labels never overlap;
* messages appear in the viewport next to what caused them;
* embedded with the README's snippet, the iframe takes the page's height, keeps it through a
  replay and follows a switch of tab;
* on a phone Run and the status are on the first screen and Run brings the lanes into view.

One server and one browser for the module. Needs Debian's /usr/bin/chromium and the playwright
Python package (no browser is downloaded). Saves screenshots to artifacts/e2e/ (and the README's
docs/screenshot.png when HOGWILD_UPDATE_SCREENSHOT=1)."""

import os
import re
import time
from pathlib import Path

import pytest

from demo.ui import PAGE_HEIGHT
from tests.appserver import ROOT, running_app
from tests.e2e_page import (box, boxes, inside, launch_chromium, overlapping, readme_embed_snippet, serving,
                             write_eight_worker_trace)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROBLEM = 'What is 17 * 24 + 5? ${6*7} {{value}} <img src=x onerror="window.__injected=1"><script>window.__injected=2</script>'
LANE_SECONDS, STOP_SECONDS = 90, 20
OPEN_SECONDS, CHART_SECONDS, PRESS_SECONDS, STOPPED_SECONDS = 2.0, 1.5, 0.5, 1.0
FOOTER_MARGIN = 40       # px below the footer in a page that fits its iframe (16 measured)
SHOTS = ROOT / "artifacts" / "e2e"
MEASURED: dict = {}
# ms from navigation start to the first frame with a heatmap visible (the SVG stand-in or plotly's)
# and to plotly's own drawing
FIRST_CHART_CLOCK = """window.__firstChart = {};
(function tick() {
  const seen = s => [...document.querySelectorAll(s)].some(e => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; });
  const c = window.__firstChart, now = performance.now();
  if (c.chart === undefined && seen('#heatmap-first svg rect, #heatmap .heatmaplayer')) c.chart = now;
  if (c.plotly === undefined && document.querySelector('#heatmap .heatmaplayer')) c.plotly = now;
  if (c.plotly === undefined) requestAnimationFrame(tick);
})();"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app, on a free port on 127.0.0.1; always killed afterwards."""
    with running_app(tmp_path_factory.mktemp("app") / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        try:
            yield chromium
        finally:
            chromium.close()
    print("measured:", MEASURED)


def save_small(source: Path, target: Path, width: int = 1000) -> None:
    """A copy for the README: narrower and with a 256-colour palette, so the repository stays small."""
    from PIL import Image

    image = Image.open(source).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)


def tokens_in(page, lane: str) -> int:
    match = re.search(r"· (\d+) tokens", page.inner_text(lane))
    return int(match.group(1)) if match else 0


def passes_shown(page) -> int:
    match = re.search(r"passes\s+(\d+)", page.inner_text("#stats"))
    return int(match.group(1)) if match else 0


SLACK = 2.0     # machines of our kind differ: the whole suite ran 1.8x slower on an AVX2-only EPYC


def budget(seconds: float) -> float:
    """A latency target on a quiet machine of the faster kind, times SLACK, stretched by how
    oversubscribed this one is (the load is recorded next to each measurement, and every figure is
    printed): a failure means a regression, not a slower or busier machine."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    MEASURED.setdefault("load_per_core", []).append(round(load, 2))
    return seconds * SLACK * max(1.0, load)


def upload(page, path: str) -> None:
    """Load a trace as a visitor does: the button opens a file chooser."""
    with page.expect_file_chooser() as chooser:
        page.click("#load-trace")
    chooser.value.set_files(path)


def wait_for_text(page, selector: str, text: str, seconds: float) -> float:
    started = time.monotonic()
    page.wait_for_function("([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)",
                           arg=[selector, text], timeout=seconds * 1000)
    return time.monotonic() - started


def test_opens_on_the_recording_and_eight_lanes_and_ticks_fit(browser, server, tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.add_init_script(FIRST_CHART_CLOCK)
    started = time.monotonic()
    page.goto(server)
    page.wait_for_function("""() => (document.querySelector('#stats')?.innerText || '').includes('Recording')
        && (document.querySelector('#lane-0 .hw-lane-body')?.innerText || '').length > 40""",
                           timeout=30000, polling=20)
    MEASURED["open_s"] = round(time.monotonic() - started, 2)
    assert MEASURED["open_s"] < budget(OPEN_SECONDS), MEASURED
    # the first chart: the opening heatmap drawn as SVG in the page's HTML, until plotly.js
    # (loaded after the page, 2-3 s to evaluate and draw here) has drawn the interactive one over it.
    # Timed in the page, at the frame it is first visible (from navigation start): plotly's
    # evaluation then blocks the page's thread for seconds, and a check from here would wait it out.
    page.wait_for_selector("#heatmap .heatmaplayer", timeout=30000)
    clock = page.evaluate("window.__firstChart")
    MEASURED["charts_s"], MEASURED["plotly_s"] = round(clock["chart"] / 1000, 2), round(clock["plotly"] / 1000, 2)
    assert MEASURED["charts_s"] < budget(CHART_SECONDS), MEASURED
    assert not page.locator("#heatmap-first").is_visible()       # the stand-in is gone, nothing overlaps
    assert "recorded on" in page.inner_text("#stats") and "RECORDING" in page.inner_text("#gallery-caption").upper()
    assert page.locator(".hw-diagram").is_visible()
    # nothing raw: step labels are labels, chat markers are tags, the prompt is folded
    assert "**Alice" not in page.inner_text("#lanes") and page.locator("#lanes .hw-step").count() > 3
    assert "<|im_start|>" not in page.inner_text("#view")
    assert page.locator("#view details.hw-prompt").count() == 1
    assert not page.locator("#view details.hw-prompt").evaluate("d => d.open")
    # the heatmap opens on the last pass in which every worker wrote, not on an answer pass
    title = page.text_content("#heatmap .gtitle")
    assert f"pass {last_pass_all_wrote()}" in title, title
    assert not page.is_enabled("#stop") and not page.is_enabled("#compare-one")

    # a bad trace: the message is next to the upload button and inside the viewport
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "hogwild-trace",')
    upload(page, str(bad))
    wait_for_text(page, "#replay-message", "not valid JSON", 15)
    message = box(page, "#replay-message .hw-msg")
    assert inside(message, 1440, 900), message

    # eight workers, 200 blocks, 4k tokens: lanes at most 4 per row, no overflow, ticks apart
    upload(page, write_eight_worker_trace(tmp_path / "eight.json"))
    wait_for_text(page, "#replay-message", "Finished after", 30)
    lanes = boxes(page, "#lanes .hw-lane")
    assert len(lanes) == 8
    rows = {}
    for lane in lanes:
        rows.setdefault(round(lane["y"]), []).append(lane)
    assert max(len(r) for r in rows.values()) <= 4 and len(rows) == 2, rows
    assert min(lane["width"] for lane in lanes) > 200
    overflowing = page.evaluate("""() => [...document.querySelectorAll('#lanes .hw-lane-body')]
        .filter(b => b.scrollWidth > b.clientWidth + 1).length""")
    assert overflowing == 0
    page.wait_for_function("document.querySelector('#heatmap .gtitle').textContent.includes('pass 24')")
    ticks = boxes(page, "#heatmap .xtick text") + boxes(page, "#heatmap .ytick text")
    assert len(ticks) >= 8 + 10 and not overlapping(ticks), overlapping(ticks)
    titles = boxes(page, "#heatmap .gtitle") + boxes(page, "#heatmap .xtitle")
    assert not overlapping(titles + boxes(page, "#heatmap .xtick text"))
    timeline = boxes(page, "#timeline .legend") + boxes(page, "#timeline .gtitle")
    assert len(timeline) == 2 and not overlapping(timeline)
    page.close()


def test_run_shows_lanes_at_once_and_stop_ends_it(browser, server):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(server)
    # the page settles first: a press while the opening charts are still being drawn waits for them
    # (1.7 s measured in CI at 1.1-1.4 load per core), which is the opening's time, not the press's
    page.wait_for_selector("#heatmap .heatmaplayer", timeout=30000)
    page.fill("#problem textarea", "   ")
    page.click("#run")
    wait_for_text(page, "#message", "empty", 10)
    message = box(page, "#message .hw-msg")
    assert inside(message, 1440, 900), message          # next to Run, on the first screen

    page.fill("#problem textarea", PROBLEM)
    page.fill("#workers input[type=number]", "4")
    page.press("#workers input[type=number]", "Enter")
    page.check("#layout input[value=combined]")
    # timed in the page, from the click event itself to the lanes and status being on screen
    page.evaluate("""() => document.querySelector('#run').addEventListener('click',
        () => { window.__pressedAt = performance.now(); }, {capture: true, once: true})""")
    page.click("#run")
    shown = page.wait_for_function("""() => window.__pressedAt !== undefined
        && document.querySelectorAll('#lanes .hw-lane').length === 4
        && (document.querySelector('#activity')?.innerText || '').match(/Run pressed|Reading the prompt|Running/)
        && performance.now() - window.__pressedAt""", timeout=10000, polling=10)
    MEASURED["press_s"] = round(shown.json_value() / 1000, 2)
    assert MEASURED["press_s"] < budget(PRESS_SECONDS), MEASURED
    MEASURED["press_status"] = page.inner_text("#activity").replace("\n", " | ")[:80]
    assert page.is_enabled("#stop") and not page.is_enabled("#run")

    deadline = time.monotonic() + LANE_SECONDS
    while min(tokens_in(page, f"#lane-{w}") for w in range(4)) < 6:
        assert time.monotonic() < deadline, f"lanes did not fill: {page.inner_text('#message')}"
        time.sleep(0.3)
    # timed in the page: from the click event (and the pass count shown then) to the status "stopped"
    page.evaluate("""() => document.querySelector('#stop').addEventListener('click', () => {
        window.__stopAt = performance.now();
        window.__passesAtStop = Number(((document.querySelector('#stats')?.innerText || '')
                                       .match(/passes\\s+(\\d+)/) || [0, 0])[1]);
    }, {capture: true, once: true})""")
    page.click("#stop")
    stopped = page.wait_for_function("""() => window.__stopAt !== undefined
        && (document.querySelector('#stats')?.innerText || '').includes('stopped')
        && performance.now() - window.__stopAt""", timeout=STOP_SECONDS * 1000, polling=10)
    MEASURED["stop_s"] = round(stopped.json_value() / 1000, 2)
    shown = page.evaluate("window.__passesAtStop")
    wait_for_text(page, "#message", "Stopped after", STOP_SECONDS)
    final = int(re.search(r"Stopped after (\d+) passes", page.inner_text("#message")).group(1))
    MEASURED["passes_after_stop"] = final - shown
    # The page shows the pass count up to 0.3 s late (its text cadence: 2-3 passes of 4 workers here),
    # so this bounds the lag plus the passes after Stop; that at most one pass runs after Stop is
    # checked on the engine's own count in test_demo_callbacks.py.
    assert final - shown <= 4, (shown, final)
    assert MEASURED["stop_s"] < budget(STOPPED_SECONDS), MEASURED
    assert not page.is_enabled("#stop") and page.is_enabled("#run")
    assert page.is_enabled("#compare-independent")
    assert page.inner_text("#compare-independent") == "Compare: 4 independent workers"
    assert "stopped" in page.inner_text("#compare")
    with page.expect_download(timeout=15000) as download:
        page.click("#download-trace")
    name = download.value.suggested_filename
    assert re.fullmatch(r"hogwild-combined-4-workers-\d{4}-\d\d-\d\d-\d{4}\.json", name), name
    # the problem's markup reached the page as text, not as elements
    view = page.text_content("#view details.hw-prompt")         # the folded prompt holds the problem
    assert "<img src=x" in view and "${6*7} {{value}}" in view
    assert page.evaluate("window.__injected") is None
    assert page.locator("#view img, #view script, #lanes img, #lanes script").count() == 0

    # the heatmap's pass slider moves a finished run's heatmap
    page.fill("#heatmap-pass input[type=number]", "2")
    page.press("#heatmap-pass input[type=number]", "Enter")
    page.wait_for_function("document.querySelector('#heatmap .gtitle').textContent.includes('pass 2')",
                           timeout=10000)
    page.close()


def iframe_fit(page, inner) -> dict:
    """The iframe's height on the host page, and the height of the page inside it: its scroll
    height and where its content ends (the footer's bottom)."""
    return {"iframe": page.evaluate("document.getElementById('hogwild').getBoundingClientRect().height"),
            "scroll": inner.evaluate("document.documentElement.scrollHeight"),
            "content": inner.evaluate("document.querySelector('footer').getBoundingClientRect().bottom"
                                      " + window.scrollY")}


def fits(fit: dict) -> bool:
    """The whole page shows (no inner scrolling) and the iframe is no taller than the page."""
    return fit["scroll"] <= fit["iframe"] + 1 and 0 <= fit["iframe"] - fit["content"] < FOOTER_MARGIN


def wait_until_fitted(page, inner, seconds: float, until=lambda fit: True) -> dict:
    """Poll (the host page's script cannot read the app's frame: another origin) until the iframe
    fits the page and `until(fit)` holds."""
    deadline = time.monotonic() + seconds
    while True:
        fit = iframe_fit(page, inner)
        if fits(fit) and until(fit):
            return fit
        assert time.monotonic() < deadline, fit
        time.sleep(0.2)


def test_the_readme_embed_sizes_its_iframe_to_the_page(browser, server, tmp_path):
    """The README's snippet, on a host page of another origin: the iframe grows from its 900 px to
    the page's height, in two columns; a replay keeps it; a switch of tab moves it; a message that
    does not come from the iframe's window changes nothing."""
    snippet = readme_embed_snippet((ROOT / "README.md").read_text(encoding="utf-8"), server)
    (tmp_path / "host.html").write_text(f"<!doctype html><html><body style='margin:0'>{snippet}</body></html>",
                                        encoding="utf-8")
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    with serving(tmp_path) as host:
        page.goto(host + "host.html")
        page.frame_locator("#hogwild").locator("#lane-0").wait_for(timeout=30000)
        inner = next(f for f in page.frames if f.url.startswith(server))
        inner.wait_for_function("(document.querySelector('#stats')?.innerText || '').includes('Recording')")
        inner.wait_for_selector("#heatmap .heatmaplayer", timeout=30000)      # drawn: the height is final
        inner.wait_for_selector("#timeline .main-svg", timeout=30000)
        before = wait_until_fitted(page, inner, 10)
        setup, output = box(inner, "#setup"), box(inner, "#output")
        assert setup["x"] + setup["width"] <= output["x"], "the page fell back to one column"
        assert 1000 < before["iframe"] <= PAGE_HEIGHT, before

        page.evaluate("window.postMessage({'hogwild-height': 200}, '*')")      # from the host's own window
        time.sleep(0.5)
        assert iframe_fit(page, inner) == before

        inner.click("#gallery-replay")
        wait_for_text(inner, "#replay-message", "Finished after", 60)
        fits_after = []
        for _ in range(3):
            fits_after.append(iframe_fit(page, inner))
            time.sleep(0.5)
        MEASURED["iframe_fits"] = [before, *fits_after]
        assert all(fit == before for fit in fits_after), MEASURED["iframe_fits"]

        inner.click("button[role=tab]:has-text('Evaluation')")
        other = wait_until_fitted(page, inner, 15, until=lambda fit: abs(fit["iframe"] - before["iframe"]) > 100)
        inner.click("button[role=tab]:has-text('Run and replay')")
        back = wait_until_fitted(page, inner, 15, until=lambda fit: fit["iframe"] == before["iframe"])
        MEASURED["iframe_tabs"] = [before["iframe"], other["iframe"], back["iframe"]]
        assert back == before, (before, back)
    page.close()


def test_a_phone_shows_run_and_status_first_and_brings_the_lanes_into_view(browser, server):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(server)
    page.wait_for_selector("#lane-0")
    for selector in ("#run", "#activity"):
        rect = box(page, selector)
        assert inside(rect, 390, 844), (selector, rect)
    for chart in ("#heatmap", "#timeline"):        # titles and axis titles are not clipped
        page.locator(chart).scroll_into_view_if_needed()
        page.wait_for_selector(f"{chart} .main-svg", timeout=30000)
        svg = box(page, f"{chart} .main-svg")
        for part in boxes(page, f"{chart} .gtitle") + boxes(page, f"{chart} .xtitle"):
            assert part["x"] >= svg["x"] - 0.5 and part["x"] + part["width"] <= svg["x"] + svg["width"] + 0.5, \
                (chart, part, svg)
    page.evaluate("window.scrollTo(0, 0)")
    page.fill("#workers input[type=number]", "1")
    page.press("#workers input[type=number]", "Enter")
    page.fill("#max-new-tokens input[type=number]", "16")
    page.press("#max-new-tokens input[type=number]", "Enter")
    page.click("#run")
    page.wait_for_function("document.querySelectorAll('#lanes .hw-lane').length === 1", timeout=10000)
    time.sleep(0.5)
    lanes = box(page, "#lanes")
    assert lanes["y"] < 844 and lanes["y"] + lanes["height"] > 0, lanes
    wait_for_text(page, "#message", "after", LANE_SECONDS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "phone.png"))
    page.close()


def last_pass_all_wrote() -> int:
    """From the featured recording itself: the last pass whose attention rows are all non-empty."""
    from demo.gallery import load_gallery
    from demo.traces import read_trace
    passes = read_trace(str(load_gallery()[0][0].path)).passes
    return max(i + 1 for i, record in enumerate(passes)
               if record.attention and all(any(row) for row in record.attention))


def test_screenshot_of_the_recording(browser, server):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(server)
    page.wait_for_function("(document.querySelector('#stats')?.innerText || '').includes('Recording')")
    page.wait_for_selector("#heatmap .heatmaplayer")
    time.sleep(1.0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "screenshot.png"), full_page=True)
    if os.environ.get("HOGWILD_UPDATE_SCREENSHOT") == "1":
        save_small(SHOTS / "screenshot.png", ROOT / "docs" / "screenshot.png")
    page.close()


def test_the_evaluation_tab_opens_a_saved_evaluation_and_a_run_of_a_clicked_row(browser, server):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(server)
    page.wait_for_selector("#lane-0")
    page.get_by_role("tab", name="Evaluation").click(force=True)
    # Gradio's table draws its rows as grid cells (its <td>s are hidden copies for measuring)
    page.wait_for_selector("#eval-table", timeout=60000)
    page.locator("#eval-table").scroll_into_view_if_needed()
    first_method = page.locator("#eval-table [role=gridcell]:visible", has_text="hogwild").first
    first_method.wait_for(timeout=60000)
    page.wait_for_selector("#eval-figure .main-svg", timeout=30000)
    assert page.inner_text("#eval-summary").strip(), "the summary line is empty"
    first_method.click()
    page.wait_for_selector("#eval-lanes .hw-lane", timeout=30000)
    assert page.locator("#eval-lanes .hw-lane").count() >= 1 and page.locator("#lanes #eval-lane-0").count() == 0
    assert "budget" in page.inner_text("#eval-answer") and "not recorded" in page.inner_text("#eval-note")
    page.wait_for_selector("#eval-download-trace:not([disabled])", timeout=10000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "evaluation.png"), full_page=True)
    page.close()


VISITOR_LINE = "I take part (c): 6 + 7 = 13. <b>Alice</b>, check Bob's (b)."


def test_a_visitor_joins_sends_a_line_and_the_workers_read_it(browser, server):
    """Join, run, send a line: it is in the lane at once, then in the history, in Alice's view of
    the cache, and the model workers' attention on its block is non-zero in the heatmap's data."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(server)
    page.wait_for_selector("#heatmap .heatmaplayer", timeout=30000)       # the page is drawn: its height is final
    page.wait_for_selector("#timeline .main-svg", timeout=30000)
    time.sleep(0.5)
    height = page.evaluate("document.documentElement.scrollHeight")
    page.check("#join input[type=checkbox]")
    page.wait_for_selector("#human-text textarea", state="visible", timeout=10000)
    assert page.evaluate("document.documentElement.scrollHeight") == height, "the box takes the lanes' room"
    page.fill("#human-text textarea", "hello.")
    page.click("#human-send")
    wait_for_text(page, "#human-message", "Nothing is running", 10)
    text, message = box(page, "#human-text"), box(page, "#human-message .hw-msg")
    assert 0 <= message["y"] - (text["y"] + text["height"]) < 60, (text, message)     # right under the box

    page.fill("#problem textarea", "Compute (a) 2 + 3, (b) 4 + 5 and (c) 6 + 7, then add the three results.")
    page.fill("#workers input[type=number]", "3")
    page.press("#workers input[type=number]", "Enter")
    page.check("#layout input[value=combined]")
    page.fill("#max-new-tokens input[type=number]", "96")
    page.press("#max-new-tokens input[type=number]", "Enter")
    page.click("#run")
    page.wait_for_function("document.querySelectorAll('#lanes .hw-lane').length === 3", timeout=10000)
    assert "You" in page.inner_text("#lane-2 .hw-lane-head")
    assert "#AA4499" in page.get_attribute("#lane-2", "style")           # the visitor's own colour
    deadline = time.monotonic() + LANE_SECONDS
    while min(tokens_in(page, f"#lane-{w}") for w in range(2)) < 4:
        assert time.monotonic() < deadline, f"lanes did not fill: {page.inner_text('#message')}"
        time.sleep(0.3)
    page.fill("#human-text textarea", "")
    page.click("#human-send")
    wait_for_text(page, "#human-message", "empty", 10)
    page.fill("#human-text textarea", VISITOR_LINE)
    page.press("#human-text textarea", "Enter")                    # Enter sends, as Send does
    MEASURED["visitor_line_shown_s"] = wait_for_text(page, "#lane-2", "6 + 7 = 13", 5)
    wait_for_text(page, "#human-message", "Sent", 5)
    assert page.input_value("#human-text textarea") == ""
    wait_for_text(page, "#message", "after", LANE_SECONDS * 2)
    assert "Finished after" in page.inner_text("#message") or "Stopped after" in page.inner_text("#message")
    assert VISITOR_LINE in page.inner_text("#lane-2") and "You · step 1" in page.inner_text("#lane-2")
    assert page.locator("#lanes b:text-is('Alice')").count() == 1          # only the lane's name: the markup is text
    history = page.inner_text("#history")
    assert "You · block" in history and VISITOR_LINE in history
    page.check("#view-worker input[value='0']")
    wait_for_text(page, "#view", "6 + 7 = 13", 10)
    page.wait_for_selector("#heatmap .heatmaplayer", timeout=30000)
    masses = page.evaluate("""() => {
        const plot = document.querySelector('#heatmap .js-plotly-plot'), trace = plot.data[0];
        const columns = trace.text[0].map((t, b) => t.includes(': You,') && t.includes('6 + 7 = 13') ? b : -1)
                                     .filter(b => b >= 0);
        return columns.map(b => [trace.z[0][b], trace.z[1][b], trace.text[0][b]]);
    }""")
    assert masses and all(alice > 0 and bob > 0 for alice, bob, _ in masses), masses
    MEASURED["visitor_block_mass"] = [(a, b) for a, b, _ in masses]
    page.fill("#human-text textarea", "Too late.")
    page.click("#human-send")
    wait_for_text(page, "#human-message", "Nothing is running", 10)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "visitor.png"), full_page=True)
    page.close()
