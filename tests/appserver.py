"""Start the real app (`python app.py`) on a free port on 127.0.0.1 for a test module, and
always kill it (its whole process group) afterwards."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.page import free_port

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 120


@contextlib.contextmanager
def running_app(log_path: Path, *args: str, env: dict | None = None):
    """Yield the app's URL once it answers; extra command-line args are passed to app.py, `env`
    adds environment variables."""
    port = free_port()
    # HOGWILD_MODEL=default: the embedded model, even where the capable one was fetched (the
    # app's own default, "auto", would pick it), so the tests see the page CI sees.
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HOGWILD_MODEL="default", **(env or {}))
    env.pop("GRADIO_SERVER_NAME", None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--threads", "1", *args], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if urllib.request.urlopen(url, timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not answer within {START_SECONDS} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
