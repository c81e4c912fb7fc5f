"""End to end: start the real app (`python app.py`) on localhost, drive it in headless Chromium,
start a 2-worker run, watch both lanes fill and the heatmap render, press Stop; then replay
the bundled example trace in the same views.

Needs Debian's /usr/bin/chromium (installed by .ci/run) and the playwright Python package;
no browser is downloaded. Saves a screenshot to artifacts/e2e/ (and to docs/screenshot.png
when HOGWILD_UPDATE_SCREENSHOT=1, which is how the README's picture is made)."""

import os
import re
import time
from pathlib import Path

import pytest

from tests.appserver import ROOT, running_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PROBLEM = 'What is 17 * 24 + 5? ${6*7} {{value}} <img src=x onerror="window.__injected=1"><script>window.__injected=2</script>'
LANE_SECONDS, STOP_SECONDS = 60, 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app, on a free port on 127.0.0.1; always killed afterwards."""
    with running_app(tmp_path_factory.mktemp("app") / "app.log") as url:
        yield url


def save_small(source: Path, target: Path, width: int = 1000) -> None:
    """A copy for the README: narrower and with a 256-colour palette, so the repository stays small."""
    from PIL import Image

    image = Image.open(source).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright; skipped only if it is not installed."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def tokens_in(page, lane: str) -> int:
    match = re.search(r"· (\d+) tokens", page.inner_text(lane))
    return int(match.group(1)) if match else 0


def test_two_workers_run_live_and_stop(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 1500})
    page.goto(server)
    page.wait_for_selector("#run")
    page.fill("#problem textarea", "   ")
    page.click("#run")
    page.wait_for_function("document.querySelector('#message').innerText.includes('empty')", timeout=10000)
    assert "No run yet" in page.inner_text("#stats")

    page.fill("#problem textarea", PROBLEM)
    page.fill("#workers input[type=number]", "2")
    page.press("#workers input[type=number]", "Enter")
    page.check("#layout input[value=combined]")
    page.click("#run")

    deadline = time.monotonic() + LANE_SECONDS
    while min(tokens_in(page, "#lane-0"), tokens_in(page, "#lane-1")) < 6:
        assert time.monotonic() < deadline, f"lanes did not fill: {page.inner_text('#message')}"
        time.sleep(0.3)
    for lane in ("#lane-0", "#lane-1"):
        assert len(page.inner_text(f"{lane} .hw-text")) > 40
    assert not page.is_visible("#lane-2")
    page.wait_for_selector("#heatmap .js-plotly-plot .heatmaplayer", timeout=LANE_SECONDS * 1000)
    page.wait_for_selector("#view .hw-vblock", timeout=LANE_SECONDS * 1000)

    page.click("#stop")
    page.wait_for_function("document.querySelector('#message').innerText.includes('Stopped after')",
                           timeout=STOP_SECONDS * 1000)
    steps = re.search(r"Stopped after (\d+) steps", page.inner_text("#message")).group(1)
    time.sleep(1.5)
    assert "stopped" in page.inner_text("#stats") and f"\n{steps}\n" in page.inner_text("#stats")
    assert "stopped" in page.inner_text("#compare")

    # the problem's markup reached the page as text, not as elements
    view = page.inner_text("#view")
    assert "&lt;img" not in view and "<img src=x" in view and "${6*7} {{value}}" in view
    assert page.evaluate("window.__injected") is None
    assert page.locator("#view img, #view script").count() == 0

    # replay the bundled trace in the same views, without the model
    page.click("#replay-example")
    page.wait_for_function("document.querySelector('#message').innerText.includes('Finished after')",
                           timeout=STOP_SECONDS * 1000)
    assert page.is_visible("#lane-2") and tokens_in(page, "#lane-2") > 20
    assert "#3" in page.inner_text("#history") and "replay" in page.inner_text("#stats")
    assert "Compute three things" in page.input_value("#problem textarea")   # the run's own settings
    page.wait_for_selector("#heatmap .js-plotly-plot .heatmaplayer")
    page.fill("#heatmap-step input[type=number]", "120")
    page.press("#heatmap-step input[type=number]", "Enter")
    page.wait_for_function("document.querySelector('#heatmap .gtitle').textContent.includes('step 120 ')",
                           timeout=10000)

    shots = ROOT / "artifacts" / "e2e"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "screenshot.png"), full_page=True)
    if os.environ.get("HOGWILD_UPDATE_SCREENSHOT") == "1":
        save_small(shots / "screenshot.png", ROOT / "docs" / "screenshot.png")


def test_the_app_works_inside_an_iframe(browser, server):
    """As on a paper page: the app loads in an iframe, and its height settles instead of growing."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_content(f'<iframe src="{server}" width="1000" height="800" style="border:0"></iframe>')
    frame = page.frame_locator("iframe")
    frame.locator("#run").wait_for(timeout=30000)
    frame.locator("#replay-example").click()
    frame.locator("#lane-2").wait_for(timeout=30000)
    inner = next(f for f in page.frames if f.url.startswith(server))
    inner.wait_for_function("document.querySelector('#message').innerText.includes('Finished after')",
                            timeout=STOP_SECONDS * 1000)
    heights = []
    for _ in range(3):
        heights.append(inner.evaluate("document.documentElement.scrollHeight"))
        time.sleep(1.0)
    assert heights[0] == heights[-1] and heights[0] < 6000, heights
