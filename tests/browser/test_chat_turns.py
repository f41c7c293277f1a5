"""Chat turns in a real Chromium against `streamlit run app.py` (issue 21): with a rejected
Claude key the turn ends (no "Working…" left) and the offline planner answers the same
request on a click; a background job's tool message flips from queued to its final
status without a reload. Claude is the local fake Messages API (tests/llm/fake_anthropic.py)
reached through the real SDK by the server. Every step waits for a condition."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import start_server, stop_server
from tests.browser.test_app_flow import PASSWORD, chat, expect, log_in, settle
from tests.llm.fake_anthropic import FakeAnthropic

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PRICING = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
AMERICAN = "Price an American put, spot 50, strike 55, 1 year, volatility 30%, rate 4%"
RUNNING = '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSkeleton"]'


@pytest.fixture(scope="module")
def rejected_key_server(chromium_path, tmp_path_factory):
    """The app with a Claude key the (fake) API rejects with 401."""
    with FakeAnthropic(valid_keys={"sk-ant-the-right-one"}) as fake:
        process, started = start_server(
            tmp_path_factory.mktemp("browser-claude"),
            {
                "ANTHROPIC_API_KEY": "sk-ant-revoked",
                "ANTHROPIC_BASE_URL": fake.url,
                "MLTRAINER_CLAUDE_MAX_RETRIES": "0",
            },
        )
        try:
            started.cli("create-user", "claudia", "--role", "analyst", stdin=PASSWORD + "\n")
            yield started, fake
        finally:
            stop_server(process)


def test_a_rejected_key_ends_the_turn_and_the_offline_planner_answers(page, rejected_key_server):
    server, fake = rejected_key_server
    x = expect()
    log_in(page, server, "claudia")
    settle(page)
    chat(page, PRICING)
    alert = page.get_by_test_id("stAlert").filter(has_text="rejected the API key")
    x(alert).to_be_visible()
    settle(page)
    x(page.get_by_text("Working…")).to_have_count(0)  # the spinner ended with the turn
    x(page.locator(RUNNING)).to_have_count(0)
    assert [r.path for r in fake.message_requests] == ["/v1/messages"]

    button = page.get_by_role("button", name="Answer with the offline planner")
    x(button).to_be_visible()
    button.click()
    x(page.get_by_test_id("stMetric").filter(has_text="price")).to_be_visible()
    x(button).to_have_count(0)
    x(page.get_by_text(re.compile(r"price_option · succeeded"))).to_be_visible()
    assert len(fake.message_requests) == 1  # Claude was not asked again

    # The Overview checked the key with the Models API and says it was rejected
    page.locator('a[data-testid="stSidebarNavLink"]:has(span[label="Overview"])').click()
    x(page.get_by_test_id("stAlert").filter(has_text="rejected the API key (401)")).to_be_visible()
    x(page.get_by_text("Claude is connected")).to_have_count(0)


def test_a_queued_tool_message_flips_to_its_final_status(page, server):
    x = expect()
    server.cli("create-user", "quinn", "--role", "analyst", stdin=PASSWORD + "\n")
    log_in(page, server, "quinn")
    settle(page)
    chat(page, AMERICAN)
    # the call was stored as queued (a background job); the page follows the job
    x(page.get_by_text(re.compile(r"price_option · succeeded"))).to_be_visible(timeout=300_000)
    x(page.get_by_test_id("stMetric").filter(has_text="price")).to_be_visible()
    settle(page)
    x(page.get_by_text(re.compile(r"price_option · (queued|running)"))).to_have_count(0)
