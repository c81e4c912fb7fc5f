"""Many visitors against the real app (`python app.py --concurrency 2 --max-queue 1`), through
real clients and no browser: two runs at once each get their own results, a full queue tells
the next visitor so at once, a closed tab, a cancelled job or Stop frees its slot, and a visitor
who joins the workers sends a line into their own run while another visitor's run goes on.

gradio_client plays the visitors; a closed tab is played by raw HTTP, the way a browser's page
talks to the queue (join, then read the event stream) and then vanishes."""

import json
import re
import time
import uuid

import httpx
import pytest
from gradio_client import Client

from tests.appserver import running_app

pytestmark = pytest.mark.slow

# (problem, workers, layout, max new tokens, temperature, top-p, seed, check interval, model, join):
# the run API's parameters, in PageSettings order (see test_demo_app.py)
ALICE_ALONE = ("Add 17 and 25.", 1, "contiguous", 24, 0.0, 1.0, 0, 0, "default", False)
THREE_WORKERS = ("Multiply 6 by 7.", 3, "interleaved", 24, 0.0, 1.0, 0, 0, "default", False)
LONG = ("Count from 1 to 500, one number per line.", 4, "combined", 1024, 0.0, 1.0, 0, 0, "default", False)
SHORT = ("What is 2+2?", 1, "combined", 16, 0.0, 1.0, 0, 0, "default", False)
JOINED = ("Compute (a) 2 + 3, (b) 4 + 5 and (c) 6 + 7.", 3, "combined", 96, 0.0, 1.0, 0, 0, "default", True)
LINE = "I take part (c): 6 + 7 = 13. Alice, check part (b)."
RUN, SEND = "/run_clicked", "/send_line"
LANES, HISTORY, VIEW = 3, 4, 7       # positions in the run's outputs
FREED_SECONDS = 10     # a freed slot is taken by the next visitor within this (measured: about 2 s)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app, its log, and the folder where its sessions keep their files. GRADIO_IS_E2E_TEST is
    Gradio's own switch for its tests: a closed page's state is dropped after 1 s, not an hour."""
    folder = tmp_path_factory.mktemp("app")
    files = folder / "tmp"
    files.mkdir()
    with running_app(folder / "app.log", "--concurrency", "2", "--max-queue", "1",
                     env={"TMPDIR": str(files), "GRADIO_IS_E2E_TEST": "1"}) as url:
        yield url, folder / "app.log", files


@pytest.fixture
def visitor():
    """Make gradio_client visitors; their heartbeat threads are closed after the test."""
    made = []

    def make(url: str) -> Client:
        made.append(Client(url, verbose=False))
        return made[-1]

    yield make
    for client in made:
        client.close()


def result_of(outputs) -> dict:
    """What a run showed, minus timings: its lanes, history, cache view and final message."""
    message = outputs[0]
    return {"lanes": outputs[LANES], "history": outputs[HISTORY],
            "view": outputs[VIEW], "answer": outputs[2], "passes": message.split(" passes")[0]}


def wait_until(condition, seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what} did not happen within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def started(job) -> bool:
    return bool(job.outputs())


def test_two_visitors_at_once_each_get_their_own_run(server, visitor):
    url, _, _ = server
    alone = {}
    for settings in (ALICE_ALONE, THREE_WORKERS):          # each run by itself first: the reference
        alone[settings] = result_of(visitor(url).predict(*settings, api_name=RUN))
    jobs = {settings: visitor(url).submit(*settings, api_name=RUN) for settings in (ALICE_ALONE, THREE_WORKERS)}
    first, done = {}, {}
    while len(done) < len(jobs):
        now = time.monotonic()
        for settings, job in jobs.items():
            if settings not in first and started(job):
                first[settings] = now
            if settings not in done and job.done():
                done[settings] = now
        time.sleep(0.02)
    assert first[ALICE_ALONE] < done[THREE_WORKERS] and first[THREE_WORKERS] < done[ALICE_ALONE], "runs did not overlap"
    for settings, job in jobs.items():
        together = result_of(job.result())
        assert "Finished after" in together["passes"]
        assert together == alone[settings], f"{settings[0]!r} changed when run next to another visitor"
        assert together["lanes"].count('class="hw-lane"') == settings[1]
    alice, three = (result_of(jobs[s].result()) for s in (ALICE_ALONE, THREE_WORKERS))
    assert ALICE_ALONE[0] in alice["view"] and THREE_WORKERS[0] not in alice["view"]
    assert THREE_WORKERS[0] in three["view"] and ALICE_ALONE[0] not in three["view"]
    assert re.findall(r"<b>(\w+)</b>", three["lanes"]) == ["Alice", "Bob", "Carol"]
    assert re.findall(r"<b>(\w+)</b>", alice["lanes"]) == ["Alice"]


class Tab:
    """A browser page running one run: holds the heartbeat a page keeps open, joins the queue,
    reads its event stream; closing it drops both connections, as closing a tab does."""

    def __init__(self, url: str, values: tuple):
        config = httpx.get(url + "config").json()
        run = next(d for d in config["dependencies"] if d["api_name"] == RUN.lstrip("/"))
        kinds = {c["id"]: c["type"] for c in config["components"]}
        given = iter(values)
        data = [None if kinds[i] == "state" else next(given) for i in run["inputs"]]
        session = uuid.uuid4().hex
        api = url + config["api_prefix"].lstrip("/") + "/"
        self._streams = [httpx.stream("GET", api + f"heartbeat/{session}", timeout=60)]
        self._streams[0].__enter__()
        joined = httpx.post(api + "queue/join", json={"data": data, "fn_index": run["id"], "session_hash": session,
                                                      "event_data": None, "trigger_id": None})
        joined.raise_for_status()
        self._streams.append(httpx.stream("GET", api + "queue/data", params={"session_hash": session}, timeout=60))
        self._lines = self._streams[1].__enter__().iter_lines()

    def wait_for(self, message: str) -> None:
        for line in self._lines:
            if line.startswith("data:") and json.loads(line[5:])["msg"] == message:
                return
        raise AssertionError(f"the event stream ended before {message}")

    def close(self) -> None:
        for stream in self._streams:
            stream.__exit__(None, None, None)


def test_a_full_queue_says_so_and_closed_tabs_cancel_and_stop_free_their_slots(server, visitor):
    url, log_path, _ = server
    tab = Tab(url, LONG)                                    # slot 1
    tab.wait_for("process_generating")
    stopper = visitor(url)
    stopped = stopper.submit(*LONG, api_name=RUN)          # slot 2
    wait_until(lambda: started(stopped), 30, "the second run's start")
    waiting = visitor(url).submit(*LONG, api_name=RUN)     # the one place in the queue
    wait_until(lambda: waiting.status().code.name == "IN_QUEUE", 10, "queueing")

    refused_at = time.monotonic()
    with pytest.raises(Exception, match="(?i)queue is full"):
        visitor(url).submit(*SHORT, api_name=RUN).result(timeout=30)
    assert time.monotonic() - refused_at < 10, "the extra visitor waited instead of being told"

    tab.close()                                             # the first visitor closes the tab
    took = wait_until(lambda: started(waiting), FREED_SECONDS, "the queued run's start after a tab closed")
    print(f"slot freed and taken {took:.1f} s after the tab closed")
    wait_until(lambda: "closed by its page" in log_path.read_text(), 5, "the server closing the abandoned run")

    pressed = time.monotonic()
    assert "Stopping" in stopper.predict(api_name="/stop")  # Stop skips the full queue
    assert "Stopped after" in stopped.result(timeout=FREED_SECONDS)[0]
    assert time.monotonic() - pressed < FREED_SECONDS

    refill = visitor(url).submit(*LONG, api_name=RUN)      # both slots busy again
    wait_until(lambda: started(refill), FREED_SECONDS, "a run in the slot Stop freed")
    waiting.cancel()                                        # an API client cancels its job
    short = visitor(url).submit(*SHORT, api_name=RUN)
    assert "Finished after" in short.result(timeout=60)[0], "cancelling did not free the slot"
    refill.cancel()


def test_a_closed_page_gives_its_session_back(server):
    """A page that ran something and closed: its session (run log, trace files) is dropped once
    Gradio's closed-page timeout passes (1 s here, an hour in service), not kept until the server stops."""
    url, _, files = server
    sessions = lambda: set(files.glob("hogwild-session-*"))
    before = sessions()
    tab = Tab(url, SHORT)
    tab.wait_for("process_completed")
    (made,) = sessions() - before                           # its trace and table live here
    assert len(list(made.iterdir())) == 2
    tab.close()
    wait_until(lambda: not made.exists(), 10, "the closed page's session being dropped")


def test_a_visitor_joins_their_run_while_another_runs(server, visitor):
    """One visitor runs three model workers; another joins a run of their own as "You" and sends a
    line mid-run: it reaches their lane and history, and nothing of it reaches the other run."""
    url, _, _ = server
    other = visitor(url).submit(*THREE_WORKERS[:3], 192, *THREE_WORKERS[4:], api_name=RUN)
    wait_until(lambda: started(other), 30, "the other visitor's run")
    joiner = visitor(url)
    assert "Nothing is running" in joiner.predict(LINE, api_name=SEND)[0]
    job = joiner.submit(*JOINED, api_name=RUN)
    wait_until(lambda: len(job.outputs()) >= 3, 60, "the joined run's first passes")
    message, lanes, box = joiner.predict(LINE, api_name=SEND)
    assert not other.done(), "the other visitor's run should still be going"
    assert "Sent" in message and box == ""
    assert LINE in lanes or "reading the prompt" in message       # at once, or with the first pass
    joined = result_of(job.result(timeout=300))
    assert "Finished after" in joined["passes"]
    assert re.findall(r"<b>(\w+)</b>", joined["lanes"]) == ["Alice", "Bob", "You"]
    assert LINE in joined["lanes"] and LINE in joined["history"] and "You · block" in joined["history"]
    alone = result_of(other.result(timeout=300))
    assert "Finished after" in alone["passes"] and LINE not in alone["lanes"] + alone["history"]
    assert "Nothing is running" in joiner.predict("Too late.", api_name=SEND)[0]
