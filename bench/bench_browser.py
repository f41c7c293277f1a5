"""Pages as a user gets them: a real `streamlit run app.py` and the system Chromium
(Playwright), against a seeded database; AppTest figures for the same pages beside them.

    .venv/bin/python bench/bench_browser.py [--rounds 5] [--trials 10000 --jobs 1000]
    .venv/bin/python bench/bench_browser.py --base /work/wt/start-base   # before/after

One database is seeded (bench/seed_trials.py: trials, jobs with progress events), an
administrator created through the CLI, and one chat conversation with a priced option;
each server gets its own copy. Timed, each from ``page.goto`` until the page has
finished drawing (no running indicator, no skeleton or stale element; Plotly charts laid
out) — what a person waits for:

- login form: a new browser context (no cookie) until the "Log in" button is shown;
- Trials page: the table of the newest trials;
- compare 10: ``/trials?compare=<10 ids>``: the comparison table and its charts;
- chat with a result: the chat page, the conversation picked in the sidebar, until its
  priced option (metric and chart) is drawn.

Chromium runs headless with ``--disable-gpu`` as the browser tests do, so WebGL is
software-rendered, as on most office machines without a usable GPU. With ``--base DIR``
a second server runs the other checkout on a copy of the same data; each round visits
every page on both servers, alternating which goes first. The AppTest column runs the
same pages through Streamlit's AppTest in this process (server time only, no browser).
Medians, min–max beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN, PASSWORD = "root", "Correct-h0rse-1"
OPTION = {"spot": 100, "strike": 105, "maturity_years": 0.5, "rate": 0.03, "volatility": 0.2}
CONVERSATION = "Bench: price a call"
HAS_COOKIE = "document.cookie.split('; ').some(c => c.startsWith('mltrainer_auth=v1.'))"
PAGES = ("login form", "Trials page", "compare 10", "chat with a result")


def seed(data_dir: Path, trials: int, jobs: int, events: int) -> tuple[list[int], int]:
    """Seed ``data_dir`` (SQLite); return the ids of 10 trials with progress curves and
    the chat conversation's id."""
    env = _env(data_dir)
    python = sys.executable
    subprocess.run(
        [
            python,
            "bench/seed_trials.py",
            "--database-url",
            env["DATABASE_URL"],
            "--trials",
            str(trials),
            "--jobs",
            str(jobs),
            "--events-per-job",
            str(events),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [python, "-m", "engine", "create-user", ADMIN, "--role", "admin"],
        cwd=ROOT,
        env=env,
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    script = f"""
from engine.runtime import install
install()
from engine.actions import UserRef, call
from engine.chat import conversations
from storage.repositories import conversations as repo, users
record = users.get_user({ADMIN!r})
user = UserRef(record.id, record.username, record.role)
conversation = conversations.start(user, {CONVERSATION!r})
repo.add_message(conversation.id, "user", "Price a call, spot 100, strike 105, 6 months")
outcome = call("price_option", {OPTION!r}, user)
repo.add_message(conversation.id, "assistant", "Pricing it with Black-Scholes.")
repo.add_message(conversation.id, "tool", outcome.result.summary, job_id=outcome.job_id,
    payload={{"action": "price_option", "params": {OPTION!r}, "status": outcome.status,
              "job_id": outcome.job_id}})
"""
    subprocess.run([python, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True)
    with sqlite3.connect(data_dir / "app.db") as connection:
        rows = connection.execute(
            "SELECT id FROM trials WHERE job_id IS NOT NULL ORDER BY id DESC LIMIT 10"
        ).fetchall()
        [(conversation_id,)] = connection.execute(
            "SELECT id FROM conversations WHERE title = ?", (CONVERSATION,)
        ).fetchall()
    return [row[0] for row in rows], conversation_id


def _env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("ANTHROPIC_API_KEY", "REDIS_URL", "MLTRAINER_COOKIE_KEY")
    }
    env.update(
        MLTRAINER_DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'app.db'}",
        MLTRAINER_METRICS_PORT="0",
        PROMETHEUS_MULTIPROC_DIR=str(data_dir / "metrics"),
        MLTRAINER_JOB_STALE_SECONDS="86400",  # seeded jobs have no worker
        PYTHONUNBUFFERED="1",
    )
    (data_dir / "metrics").mkdir(parents=True, exist_ok=True)
    return env


def start_server(tree: Path, data_dir: Path) -> tuple[subprocess.Popen, str]:
    from tests.browser.conftest import free_port

    port = free_port()
    log = (data_dir / "streamlit.log").open("wb")
    process = subprocess.Popen(
        [
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
        ],
        cwd=tree,
        env=_env(data_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return process, url
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not start in {tree}; see {data_dir}/streamlit.log")
        time.sleep(0.25)


def stop_server(process: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


BUSY = '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSkeleton"], [data-stale="true"]'
# Every Plotly chart on the page laid out (react-plotly sets _fullLayout when drawn).
CHARTS_DRAWN = """(count) => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.length >= count && plots.every((p) => p._fullLayout);
}"""


def settled(page, charts: int = 0) -> None:
    from playwright.sync_api import expect

    expect(page.locator(BUSY)).to_have_count(0, timeout=180_000)
    if charts:
        page.wait_for_function(CHARTS_DRAWN, arg=charts, timeout=180_000)
    expect(page.locator(BUSY)).to_have_count(0, timeout=180_000)


class Visitor:
    """One server seen from Chromium: a logged-in context for the pages behind login."""

    def __init__(self, browser, url: str, compare_ids: list[int]):
        self.browser, self.url, self.compare_ids = browser, url, compare_ids
        self.context = self._new_context()
        page = self.context.new_page()
        page.goto(url)
        self._log_in(page)
        page.close()

    def _new_context(self):
        context = self.browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(180_000)
        return context

    def _log_in(self, page) -> None:
        from playwright.sync_api import expect

        form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Log in"))
        expect(form).to_be_visible()
        settled(page)
        form.get_by_label("Username").fill(ADMIN)
        form.get_by_label("Password", exact=True).fill(PASSWORD)
        form.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        page.wait_for_function(HAS_COOKIE)  # the browser ran the cookie writer

    def visit(self, name: str) -> float:
        from playwright.sync_api import expect

        if name == "login form":
            context = self._new_context()
            page = context.new_page()
            started = time.perf_counter()
            page.goto(self.url)
            expect(page.get_by_role("button", name="Log in")).to_be_visible()
            settled(page)
            elapsed = time.perf_counter() - started
            context.close()
            return elapsed
        page = self.context.new_page()
        started = time.perf_counter()
        if name == "Trials page":
            page.goto(f"{self.url}/trials")
            expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
            settled(page)
        elif name == "compare 10":
            ids = ",".join(map(str, self.compare_ids))
            page.goto(f"{self.url}/trials?compare={ids}")
            expect(page.get_by_text(f"Comparing {len(self.compare_ids)} trials")).to_be_visible()
            settled(page, charts=1)
        elif name == "chat with a result":
            page.goto(self.url)  # the chat page is the default page
            radio = page.get_by_test_id("stSidebar").get_by_test_id("stRadio")
            expect(radio).to_be_visible()
            settled(page)
            radio.get_by_test_id("stRadioOption").filter(has_text=CONVERSATION).click()
            expect(page.get_by_test_id("stMetric").filter(has_text="price")).to_be_visible()
            settled(page, charts=1)
        else:
            raise ValueError(name)
        elapsed = time.perf_counter() - started
        page.close()
        return elapsed


APPTEST = """
import json, statistics, sys, time
from engine.runtime import install
install()
from tests.foundation.apptest_helpers import log_in, new_app
rounds, compare, conversation = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def timed(fn):
    fn()  # warm
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out
at = log_in(new_app(), "root")
def trials():
    at.query_params.clear()
    at.switch_page("pages/trials.py").run()
    assert not at.exception and at.dataframe
def compare_ten():
    at.query_params["compare"] = compare
    at.switch_page("pages/trials.py").run()
    assert not at.exception and at.get("plotly_chart")
def chat():
    at.query_params.clear()
    at.session_state["conversation_id"] = conversation
    at.switch_page("pages/chat.py").run()
    assert not at.exception and any(m.label == "price" for m in at.metric)
figures = {"login form": timed(new_app), "Trials page": timed(trials),
           "compare 10": timed(compare_ten), "chat with a result": timed(chat)}
print(json.dumps(figures))
"""


def apptest_figures(
    tree: Path, data_dir: Path, compare_ids: list[int], conversation_id: int, rounds: int
) -> dict[str, list[float]]:
    """The same pages through AppTest (server time only, no browser), in a process on
    ``tree`` over ``data_dir``."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            APPTEST,
            str(rounds),
            ",".join(map(str, compare_ids)),
            str(conversation_id),
        ],
        cwd=tree,
        env=_env(data_dir),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"AppTest run failed in {tree}:\n{done.stderr[-3000:]}")
    figures: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--events-per-job", type=int, default=1_000)
    parser.add_argument("--base", type=Path, help="a checkout to compare with (before)")
    parser.add_argument(
        "--chromium", default=os.environ.get("MLTRAINER_CHROMIUM", "/usr/bin/chromium")
    )
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS

    expect.set_options(timeout=180_000)  # a first script run boots the app

    workdir = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    seeded = workdir / "seeded"
    started = time.perf_counter()
    compare_ids, conversation_id = seed(seeded, args.trials, args.jobs, args.events_per_job)
    print(
        f"seeded in {time.perf_counter() - started:.0f} s; compare ids {compare_ids}",
        file=sys.stderr,
    )
    trees = (
        {"this tree": ROOT} if args.base is None else {"before": args.base.resolve(), "after": ROOT}
    )
    servers = {}
    try:
        for label, tree in trees.items():
            data = workdir / label.replace(" ", "-")
            shutil.copytree(seeded, data)
            servers[label] = start_server(tree, data)
        times: dict[tuple[str, str], list[float]] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            visitors = {
                label: Visitor(browser, url, compare_ids) for label, (_, url) in servers.items()
            }
            for visitor in visitors.values():  # warm: first script runs, caches
                for name in PAGES:
                    visitor.visit(name)
            load_before = os.getloadavg()[0]
            for round_index in range(args.rounds):
                order = list(visitors) if round_index % 2 == 0 else list(reversed(visitors))
                for name in PAGES:
                    for label in order:
                        times.setdefault((label, name), []).append(visitors[label].visit(name))
                print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
            load_after = os.getloadavg()[0]
            browser.close()
    finally:
        for process, _ in servers.values():
            stop_server(process)
    apptest = {
        label: apptest_figures(
            tree, workdir / label.replace(" ", "-"), compare_ids, conversation_id, args.rounds
        )
        for label, tree in trees.items()
    }
    print(
        f"Chromium (headless, software WebGL), {args.trials:,} trials, {args.jobs:,} jobs × "
        f"{args.events_per_job:,} events, {args.rounds} rounds, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{load_before:.1f} → {load_after:.1f}\n"
    )
    labels = list(trees)
    header = [f"Chromium, {label}" for label in labels] + [f"AppTest, {label}" for label in labels]
    print("| page (median s, min–max) | " + " | ".join(header) + " |")
    print("|---|" + "---|" * len(header))
    for name in PAGES:
        series = [times[(label, name)] for label in labels]
        series += [apptest[label][name] for label in labels]
        cells = [f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})" for v in series]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
