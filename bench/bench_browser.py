"""Pages as a user gets them: a real `streamlit run app.py` and the system Chromium
(Playwright), against a seeded database; AppTest figures for the same pages beside them.

    .venv/bin/python bench/bench_browser.py [--rounds 5] [--trials 10000 --jobs 1000]
    .venv/bin/python bench/bench_browser.py --base /work/wt/start-base   # before/after

One database is seeded (bench/seed_trials.py: trials, jobs with progress events), an
administrator created through the CLI, and one chat conversation with a priced option;
each server gets its own copy. Timed, each from ``page.goto`` until the page has
finished drawing (no running indicator, no skeleton or stale element; Plotly charts laid
out) — what a person waits for:

- login form visible: a new browser context (no cookie) until the "Log in" button is
  shown (what the user first waits for);
- login form: the same, until the page has also finished drawing;
- Trials page: the table of the newest trials;
- compare 10: ``/trials?compare=<10 ids>``: the comparison table and its charts;
- chat with a result: the chat page, the conversation picked in the sidebar, until its
  priced option (metric and chart) is drawn;
- chat pricing request: on a settled chat page, a pricing request typed in the chat
  (offline planner) from pressing Enter until its result (price metric and chart) is
  drawn and the page has settled ("browser-settled"); beside it "server-done", from the
  same Enter until the server had stored the turn's last message and finished its job
  (timestamps in the database, same host clock). Their ratio and difference (the
  browser's and the page's own overhead) are reported per round.

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
PRICING_REQUEST = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
PAGES = (
    "login form visible",
    "login form",
    "Trials page",
    "compare 10",
    "chat with a result",
    "chat pricing request",
)


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
    if os.environ.get("BENCH_DATABASE_URL"):  # --scale: an already seeded database
        env["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    (data_dir / "metrics").mkdir(parents=True, exist_ok=True)
    return env


def start_server(tree: Path, data_dir: Path) -> tuple[subprocess.Popen, str]:
    from tests.browser.conftest import free_port, streamlit_command

    port = free_port()
    log = (data_dir / "streamlit.log").open("wb")
    process = subprocess.Popen(
        streamlit_command(port),
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
# Nothing running or waiting to be redrawn, and the charts drawn: checked on every
# animation frame (Playwright's expect() re-checks after 100, 250, 500, then every 1000
# ms, which would add up to a second to the times measured).
SETTLED = """([busy, count]) => {
  if (document.querySelector(busy)) return false;
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const images = [...document.querySelectorAll('[data-testid="stImage"] img')];
  return plots.length + images.length >= count && plots.every((p) => p._fullLayout)
    && images.every((i) => i.complete && i.naturalWidth > 0);
}"""


def settled(page, charts: int = 0) -> None:
    page.wait_for_function(SETTLED, arg=[BUSY, charts], polling="raf", timeout=180_000)


def visible(locator) -> None:
    """Wait until ``locator`` is visible (checked on every animation frame)."""
    locator.first.wait_for(state="visible", timeout=180_000)


class Visitor:
    """One server seen from Chromium: a logged-in context for the pages behind login."""

    def __init__(self, browser, url: str, compare_ids: list[int], database: Path):
        self.browser, self.url, self.compare_ids = browser, url, compare_ids
        self.database = database
        self.server_done: list[float] = []  # per pricing request, seconds after Enter
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
        from tests.browser.conftest import HAS_COOKIE

        page.wait_for_function(HAS_COOKIE)  # the browser ran the cookie writer

    def visit(self, name: str) -> float:

        if name in ("login form", "login form visible"):
            context = self._new_context()
            page = context.new_page()
            started = time.perf_counter()
            page.goto(self.url)
            visible(page.get_by_role("button", name="Log in"))
            if name == "login form":
                settled(page)
            elapsed = time.perf_counter() - started
            context.close()
            return elapsed
        if name == "chat pricing request":
            return self._pricing_request()
        page = self.context.new_page()
        started = time.perf_counter()
        if name == "Trials page":
            page.goto(f"{self.url}/trials")
            visible(page.get_by_test_id("stDataFrame"))
            settled(page)
        elif name == "compare 10":
            ids = ",".join(map(str, self.compare_ids))
            page.goto(f"{self.url}/trials?compare={ids}")
            visible(page.get_by_text(f"Comparing {len(self.compare_ids)} trials"))
            settled(page, charts=1)
        elif name == "chat with a result":
            page.goto(self.url)  # the chat page is the default page
            radio = page.get_by_test_id("stSidebar").get_by_test_id("stRadio")
            visible(radio)
            settled(page)
            radio.get_by_test_id("stRadioOption").filter(has_text=CONVERSATION).click()
            visible(page.get_by_test_id("stMetric").filter(has_text="price"))
            settled(page, charts=1)
        else:
            raise ValueError(name)
        elapsed = time.perf_counter() - started
        page.close()
        return elapsed

    def _pricing_request(self) -> float:
        """Enter -> result drawn and settled (returned); Enter -> the server's turn done
        (appended to ``server_done``)."""
        from playwright.sync_api import expect

        page = self.context.new_page()
        page.goto(self.url)  # the chat page, no conversation open
        box = page.get_by_test_id("stChatInputTextArea")
        expect(box).to_be_visible()
        settled(page)
        box.fill(PRICING_REQUEST)
        pressed_wall = time.time()
        started = time.perf_counter()
        box.press("Enter")
        visible(page.get_by_test_id("stMetric").filter(has_text="price"))
        settled(page, charts=1)
        elapsed = time.perf_counter() - started
        self.server_done.append(turn_finished(self.database) - pressed_wall)
        page.close()
        return elapsed


def _epoch(stamp) -> float:
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(str(stamp))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def turn_finished(database: Path) -> float:
    """When the newest conversation's turn was done on the server (epoch seconds): its
    last message stored and the jobs its messages started finished."""
    with sqlite3.connect(database) as connection:
        [(conversation_id,)] = connection.execute(
            "SELECT id FROM conversations ORDER BY id DESC LIMIT 1"
        ).fetchall()
        stamps = [
            row[0]
            for row in connection.execute(
                "SELECT created_at FROM chat_messages WHERE conversation_id = ?",
                (conversation_id,),
            )
        ]
        stamps += [
            row[0]
            for row in connection.execute(
                "SELECT finished_at FROM jobs WHERE finished_at IS NOT NULL AND id IN "
                "(SELECT job_id FROM chat_messages WHERE conversation_id = ?)",
                (conversation_id,),
            )
        ]
    return max(_epoch(stamp) for stamp in stamps)


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
def pricing():
    at.query_params.clear()
    at.session_state["conversation_id"] = None
    at.switch_page("pages/chat.py").run()
    at.chat_input(key="chat_prompt").set_value(sys.argv[4]).run()
    assert not at.exception and any(m.label == "price" for m in at.metric)
figures = {"login form": timed(new_app), "Trials page": timed(trials),
           "compare 10": timed(compare_ten), "chat with a result": timed(chat),
           "chat pricing request": timed(pricing)}
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
            PRICING_REQUEST,
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


# --- the Trials page at scale (--scale) -----------------------------------------------
#
#   .venv/bin/python bench/bench_browser.py --scale \
#       --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mlt_scale \
#       --base /work/wt/scale-base --base-database-url postgresql+psycopg://...mlt_scale_base
#
# One server per checkout over an already seeded database (bench/seed_trials.py; the base's
# copy migrated down to the base's schema), both visited by one Chromium, alternating
# which goes first in each round. Each round, from a fresh page:
# - first view: ``goto /trials`` until the table, its "Showing 1–50 of N" caption and
#   both summary charts (static images here, Vega-Lite charts at ec228c3) are drawn and
#   nothing is running;
# - filter: pick the "Model family" ``SCALE_FAMILY`` until the caption's total changes;
# - page: "Next" until the caption says "Showing 51–100";
# - sort: "Sort by" metric value until the caption is back on "Showing 1–50"
#   (a new order starts on page 1);
# each also as the server process's CPU seconds (its own and its children's) over the
# same interval. Peak RSS is the server process's high-water mark (VmHWM) at the end.

SCALE_STEPS = ("first view", "filter", "page", "sort")
SCALE_FAMILY = "boosting"
CAPTION = '[data-testid="stCaptionContainer"]'
# Checked on every animation frame, as SETTLED is: Playwright's expect() re-checks after
# 100, 250, 500 and then every 1,000 ms, so a step timed with it ends at its next check
# (up to a second late; the scale figures before 2026-12-05 14:00 were timed so).
SHOWING_TEXT = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
  .map((c) => c.textContent).find((t) => t.includes('Showing')) || ''"""
SHOWING = f"""([text, unlike]) => {{
  const shown = ({SHOWING_TEXT})();
  return shown.includes(text) && (unlike === null || shown !== unlike);
}}"""
TABLE_DRAWN = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
  .some((d) => d.getBoundingClientRect().height > 0 && d.querySelector('canvas'))"""


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (Linux /proc; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            out += [child, *_descendants(child)]
    return out


def _server_cpu(pid: int) -> float:
    """CPU seconds of the server process and its live children (the executor's
    workers)."""
    return _process_cpu(pid) + sum(_process_cpu(child) for child in _descendants(pid))


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _charts_on(page) -> int:
    return page.locator(".js-plotly-plot").count()


def scale_round(context, url: str, pid: int, charts: int) -> dict[str, tuple[float, float]]:
    """One visit of the Trials page and three interactions; (wall s, server CPU s) each."""
    out: dict[str, tuple[float, float]] = {}
    page = context.new_page()

    def timed(step: str, act, done, prepare=None) -> None:
        if prepare is not None:  # not timed: e.g. opening a dropdown
            prepare()
        cpu, started = _server_cpu(pid), time.perf_counter()
        act()
        done()
        settled(page)
        if charts:
            from tests.browser.conftest import SUMMARY_CHARTS_DRAWN

            page.wait_for_function(SUMMARY_CHARTS_DRAWN, arg=charts, timeout=180_000)
        out[step] = (time.perf_counter() - started, _server_cpu(pid) - cpu)

    def first_view() -> None:
        page.wait_for_function(TABLE_DRAWN, polling="raf", timeout=180_000)
        showing("Showing 1–50 of")

    def showing(text: str, unlike: str | None = None) -> None:
        """Until the table's caption holds ``text`` (and differs from ``unlike``)."""
        page.wait_for_function(SHOWING, arg=[text, unlike], polling="raf", timeout=180_000)

    timed("first view", lambda: page.goto(f"{url}/trials"), first_view)
    before = page.evaluate(SHOWING_TEXT)

    def open_choices(label: str, option: str):
        """Open a select's list (not timed), as the browser tests do."""
        from tests.browser.conftest import open_select

        return lambda: open_select(page, label, option)

    def pick(option: str):
        return lambda: page.get_by_role("option", name=option, exact=True).click()

    timed(
        "filter",
        pick(SCALE_FAMILY),
        lambda: showing("Showing 1–50 of", unlike=before),
        open_choices("Model family", SCALE_FAMILY),
    )
    timed(
        "page",
        lambda: page.get_by_role("button", name="Next").click(),
        lambda: showing("Showing 51–100 of"),
    )
    timed(
        "sort",
        pick("metric value"),
        lambda: showing("Showing 1–50 of"),
        open_choices("Sort by", "metric value"),
    )
    page.close()
    return out


def scale_main(args) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS

    expect.set_options(timeout=180_000)
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    trees = {"after": (ROOT, args.database_url)}
    if args.base is not None:
        trees = {"before": (args.base.resolve(), args.base_database_url), **trees}
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        for label, (tree, database_url) in trees.items():
            data = workdir / label
            data.mkdir()
            os.environ["BENCH_DATABASE_URL"] = database_url
            servers[label] = start_server(tree, data)
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            contexts = {}
            for label, (_, url) in servers.items():
                # the scale rounds time no chat turn, so the turn database is not read
                visitor = Visitor(browser, url, [], workdir / label / "app.db")
                contexts[label] = visitor.context
            charts = {label: 2 for label in servers}  # both summary charts, whichever kind
            for label in servers:  # warm: first script runs, caches
                scale_round(
                    contexts[label], servers[label][1], servers[label][0].pid, charts[label]
                )
            load_before = os.getloadavg()[0]
            for round_index in range(args.rounds):
                order = list(servers) if round_index % 2 == 0 else list(reversed(servers))
                for label in order:
                    process, url = servers[label]
                    for step, figure in scale_round(
                        contexts[label], url, process.pid, charts[label]
                    ).items():
                        times.setdefault((label, step), []).append(figure)
                print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
            load_after = os.getloadavg()[0]
            peaks = {label: _peak_rss_mb(process.pid) for label, (process, _) in servers.items()}
            browser.close()
    finally:
        for process, _ in servers.values():
            stop_server(process)
    print(
        f"Trials page in Chromium (headless, software WebGL), {args.rounds} rounds, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{load_before:.1f} → {load_after:.1f}\n"
    )
    labels = list(servers)
    header = [f"{label}: wall s" for label in labels] + [
        f"{label}: server CPU s" for label in labels
    ]
    print("| step (median, min–max) | " + " | ".join(header) + " |")
    print("|---|" + "---|" * len(header))
    for step in SCALE_STEPS:
        cells = []
        for index in (0, 1):
            for label in labels:
                values = [figure[index] for figure in times[(label, step)]]
                cells.append(
                    f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"
                )
        print(f"| {step} | " + " | ".join(cells) + " |")
    print(
        "| peak RSS of the Streamlit process (VmHWM) | "
        + " | ".join(f"{peaks[label]:.0f} MB" for label in labels)
        + " |"
        + " |" * len(labels)
    )


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
    parser.add_argument("--scale", action="store_true", help="the Trials page at scale")
    parser.add_argument("--database-url", help="--scale: the seeded database (after)")
    parser.add_argument("--base-database-url", help="--scale: the base's copy of it")
    args = parser.parse_args()
    if args.scale:
        scale_main(args)
        return
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
                label: Visitor(
                    browser, url, compare_ids, workdir / label.replace(" ", "-") / "app.db"
                )
                for label, (_, url) in servers.items()
            }
            for visitor in visitors.values():  # warm: first script runs, caches
                for name in PAGES:
                    visitor.visit(name)
                visitor.server_done.clear()
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
        series += [apptest[label].get(name, []) for label in labels]
        cells = [
            f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})" if v else "—" for v in series
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(
        "\nChat pricing request, per round: browser-settled vs server-done (seconds after "
        "Enter), their ratio and difference (medians, min–max)\n"
    )
    print("| checkout | browser-settled | server-done | ratio | difference |")
    print("|---|---|---|---|---|")
    for label in labels:
        browser_times = times[(label, "chat pricing request")]
        server_times = visitors[label].server_done
        ratios = [b / s for b, s in zip(browser_times, server_times, strict=True)]
        differences = [b - s for b, s in zip(browser_times, server_times, strict=True)]
        cells = [
            f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})"
            for v in (browser_times, server_times, ratios, differences)
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
