"""Browser fixtures: a real `streamlit run app.py` server on a free port with its own data
directory and SQLite database, and the system Chromium driven by Playwright.

Without /usr/bin/chromium (or Playwright) the tests skip with the reason, unless
MLTRAINER_REQUIRE_SERVICES=1, which turns the skip into a failure. On a failure the
page's screenshot and HTML are saved under test-artifacts/<test>/ (git-ignored), with
the server's log.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import services_required

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("MLTRAINER_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts"
# The README's screenshots are refreshed only on request (MLTRAINER_UPDATE_SCREENSHOTS=1):
# a test run must not rewrite tracked files. Otherwise they go with the other artifacts.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("MLTRAINER_UPDATE_SCREENSHOTS") == "1"
    else ARTIFACTS / "screenshots"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 120
AUTH_COOKIE = "mltrainer_auth"
# The browser ran the cookie writer after a login: only then does another address (a
# new page load) find the user logged in.
HAS_COOKIE = f"document.cookie.split('; ').some(c => c.startsWith('{AUTH_COOKIE}=v1.'))"


def _unavailable(reason: str) -> None:
    if services_required():
        pytest.fail(reason + " and MLTRAINER_REQUIRE_SERVICES=1")
    pytest.skip(reason)


def streamlit_command(port: int) -> list[str]:
    """``streamlit run app.py`` headless on 127.0.0.1:``port`` (tests and bench/ alike)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


# The Trials page's summary charts drawn: static SVG images loaded, or (after the
# "Interactive charts" toggle) Vega-Lite charts with their marks in the DOM.
SUMMARY_CHARTS_DRAWN = """(count) => {
  const images = [...document.querySelectorAll('[data-testid="stImage"] img')];
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return images.length + charts.length >= count
    && images.every((i) => i.complete && i.naturalWidth > 0)
    && charts.every((c) => c.querySelector('canvas, svg .mark-group, svg .marks'));
}"""


def open_select(page, label: str, option: str, attempts: int = 10):
    """Open the select labelled ``label`` as a person does (a click), again until
    ``option`` shows; return that option. Focus plus ArrowDown is not used: Chromium
    sometimes leaves the list closed after it, the input focused and no rerun (seen on
    the Trials page, about 1 in 6)."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(attempts):
        if not choice.is_visible():
            box.locator("input").click()
        try:
            choice.wait_for(timeout=3_000)
            return choice
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: again
            page.keyboard.press("Escape")
    raise AssertionError(f"the {label!r} select did not show {option!r}")


def choose_option(page, label: str, option: str, attempts: int = 3) -> None:
    """Pick ``option`` in the select labelled ``label``: open it, click the option; again
    when the list closed before the click (a rerun that redraws the select drops it)."""
    for _ in range(attempts):
        try:
            open_select(page, label, option).click(timeout=3_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: again
            page.keyboard.press("Escape")
    raise AssertionError(f"could not pick {option!r} in the {label!r} select")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    env: dict[str, str]
    data_dir: Path
    log: Path

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        """Run `python -m engine ...` against this server's database."""
        done = subprocess.run(
            [sys.executable, "-m", "engine", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        _unavailable(f"Chromium is not installed at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the Playwright Python package is not installed")
    return CHROMIUM


def start_server(
    data_dir: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, Server]:
    """`streamlit run app.py` on a free port over ``data_dir`` (its database, cookie key
    and metrics live there, so a second server on the same folder is a restart).
    ``extra_env`` is added to its environment (a Claude key and base URL, for example)."""
    port, metrics_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("ANTHROPIC_API_KEY", "REDIS_URL", "MLTRAINER_COOKIE_KEY")
    }
    env.update(
        {
            "MLTRAINER_DATA_DIR": str(data_dir / "data"),
            "DATABASE_URL": f"sqlite:///{data_dir / 'data' / 'app.db'}",
            "MLTRAINER_METRICS_PORT": str(metrics_port),
            "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "metrics"),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
    )
    (data_dir / "metrics").mkdir(exist_ok=True)
    log = data_dir / f"streamlit-{port}.log"
    command = streamlit_command(port)
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)
    return process, Server(url, env, data_dir, log)


def stop_server(process: subprocess.Popen) -> None:
    # the server and the executor's worker processes share its process group
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


# Package scope, not session: the server and browser are gone once this package's tests
# end. A live sync Playwright leaves its event loop marked running in the main thread,
# and any later test that opens its own (tests/foundation/test_serve.py) would fail.
@pytest.fixture(scope="package")
def server(chromium_path, tmp_path_factory):
    process, started = start_server(tmp_path_factory.mktemp("browser-app"))
    try:
        yield started
    finally:
        stop_server(process)


@pytest.fixture(scope="package")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, server, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    yield page
    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if failed:
        folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(folder / "page.png"), full_page=True)
            (folder / "page.html").write_text(page.content())
        except Exception as error:  # the page may be gone; keep the server log anyway
            (folder / "screenshot-error.txt").write_text(repr(error))
        shutil.copy(server.log, folder / "streamlit.log")
    context.close()
