"""The Trials table in Chromium over a seeded database: a filter, then the next page,
then a new order each show the rows the database's own query gives, with the charts of
the filtered trials beside them. Timing-independent: every step waits for the caption
that names its rows. (How fast: bench/bench_browser.py --scale.)"""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from tests.browser.conftest import (
    ROOT,
    SUMMARY_CHARTS_DRAWN,
    choose_option,
    start_server,
    stop_server,
)
from tests.browser.test_app_flow import ADMIN, PASSWORD, expect, log_in, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CAPTION = '[data-testid="stCaptionContainer"]'


@pytest.fixture(scope="module")
def seeded_server(chromium_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("trials-scale")
    (folder / "data").mkdir()
    database = folder / "data" / "app.db"
    process, server = start_server(folder)
    try:
        subprocess.run(
            [
                sys.executable,
                "bench/seed_trials.py",
                "--database-url",
                f"sqlite:///{database}",
                "--trials",
                "700",
                "--jobs",
                "5",
                "--events-per-job",
                "5",
            ],
            cwd=ROOT,
            env=server.env,
            check=True,
            capture_output=True,
        )
        server.cli("create-user", ADMIN, "--role", "admin", stdin=PASSWORD + "\n")
        yield server, database
    finally:
        stop_server(process)


def oracle(database, where: str, order: str, offset: int, limit: int = 10) -> list[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            f"SELECT id FROM trials WHERE superseded = 0 AND {where} "  # noqa: S608 - test constants
            f"ORDER BY {order} LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
    return [str(row[0]) for row in rows]


def count(database, where: str) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            f"SELECT count(*) FROM trials WHERE superseded = 0 AND {where}"  # noqa: S608
        ).fetchone()[0]


def shown_ids(page, want: list[str]) -> list[str]:
    """The trial ids of the first rows the grid draws (its accessible table), once its
    first row is ``want``'s (the grid redraws after the caption that names the page)."""
    rows = page.get_by_test_id("stDataFrame").first.locator("table tbody tr")
    expect()(rows.first.locator("td").first).to_have_text(want[0])
    expect()(rows.nth(len(want) - 1)).to_be_attached()
    return [rows.nth(i).locator("td").first.inner_text().strip() for i in range(len(want))]


def caption(page, text: str):
    return page.locator(CAPTION).filter(has_text=text)


def test_filter_then_page_then_sort_shows_the_right_rows(page, seeded_server):
    server, database = seeded_server
    log_in(page, server, ADMIN)
    page.goto(f"{server.url}/trials")
    expect()(caption(page, "Showing 1–50 of 700 trials")).to_be_visible()
    settle(page)
    page.wait_for_function(SUMMARY_CHARTS_DRAWN, arg=2)
    newest = "created_at DESC, id DESC"
    want = oracle(database, "1 = 1", newest, 0)
    assert shown_ids(page, want) == want

    choose_option(page, "Model family", "boosting")
    boosting = count(database, "family = 'boosting'")
    assert 50 < boosting < 700
    expect()(caption(page, f"Showing 1–50 of {boosting} trials")).to_be_visible()
    settle(page)
    page.wait_for_function(SUMMARY_CHARTS_DRAWN, arg=2)
    want = oracle(database, "family = 'boosting'", newest, 0)
    assert shown_ids(page, want) == want

    page.get_by_role("button", name="Next").click()
    expect()(caption(page, f"Showing 51–100 of {boosting} trials")).to_be_visible()
    settle(page)
    want = oracle(database, "family = 'boosting'", newest, 50)
    assert shown_ids(page, want) == want

    choose_option(page, "Sort by", "metric value")  # a new order starts on page 1
    expect()(caption(page, f"Showing 1–50 of {boosting} trials")).to_be_visible()
    settle(page)
    by_metric = "metric_value DESC, id DESC"  # SQLite puts the failed (NULL) ones last
    want = oracle(database, "family = 'boosting'", by_metric, 0)
    assert shown_ids(page, want) == want
    page.wait_for_function(SUMMARY_CHARTS_DRAWN, arg=2)  # (their numbers: AppTest)

    # the static images first; the interactive (Vega-Lite) charts on the toggle
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 0
    page.get_by_text("Interactive charts").click()
    expect()(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(2)
    page.wait_for_function(SUMMARY_CHARTS_DRAWN, arg=2)
    assert page.locator('[data-testid="stImage"]').count() == 0
