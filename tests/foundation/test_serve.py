"""`streamlit run app.py` really serves: health endpoint, login page, metrics endpoint."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            return urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError as error:
            last_error = error
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer: {last_error}")


@pytest.mark.slow
@pytest.mark.browser
def test_streamlit_serves_the_app_and_metrics(tmp_path):
    app_port, metrics_port = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        MLTRAINER_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        MLTRAINER_METRICS_PORT=str(metrics_port),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    # A file, not a pipe: nobody reads a pipe while waiting, and a full one (64 KiB of
    # logs) would block the server.
    log_path = tmp_path / "server.log"
    server_log = log_path.open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(app_port),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(f"http://127.0.0.1:{app_port}/_stcore/health") == "ok"
        # app.py (migrations, metrics server) runs when a browser session connects.
        wait_for(f"http://127.0.0.1:{app_port}/")
        _open_session(app_port)
        body = wait_for(f"http://127.0.0.1:{metrics_port}/metrics")
        # boot() migrated the database in the app process: its queries were measured
        count_line = next(
            line
            for line in body.splitlines()
            if line.startswith("mltrainer_db_query_duration_seconds_count")
        )
        assert float(count_line.split()[-1]) > 0
        assert (tmp_path / "serve.db").exists()
    except BaseException:
        tail = log_path.read_bytes()[-4000:].decode(errors="replace")
        print(f"--- server log (tail) ---\n{tail}")
        raise
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        server_log.close()


def _open_session(port: int) -> None:
    """Connect a real browser session so Streamlit runs app.py."""
    chromium = "/usr/bin/chromium"
    if not os.path.exists(chromium):
        if os.environ.get("MLTRAINER_REQUIRE_SERVICES") == "1":
            pytest.fail("system Chromium is missing; .ci/run installs it")
        pytest.skip("system Chromium is not installed (the CI script installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_text("Create the first administrator").wait_for(timeout=180_000)
        browser.close()
