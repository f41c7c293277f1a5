"""Numbers of a reply marked on the page: result ids for verified ones, "unverified"
for the rest; the marks cannot be forged by the reply's own text."""

from __future__ import annotations

import pytest

from engine.chat.citations import TurnSources
from engine.chat.verify import verify
from engine.config import reset_settings
from tests.chat.test_chat_page import open_chat
from tests.llm.fake_anthropic import FakeAnthropic, text_reply, tool_reply
from ui.claims import UNVERIFIED_BADGE, marked_reply

OPTION = {"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}


def verdict_for(reply: str) -> dict:
    sources = TurnSources()
    sources.add_tool_result({"result_id": "R7", "values": {"sharpe": 1.4237}})
    return verify(reply, sources.references).to_json()


def test_a_cited_number_shows_its_result_and_an_invented_one_is_marked():
    reply = "Sharpe 1.42 [R7]; the tuned one reaches Sharpe 3.1."
    shown = marked_reply(reply, verdict_for(reply))
    assert shown == (
        "Sharpe 1.42 :blue-background[R7]; the tuned one reaches Sharpe 3.1 "
        + UNVERIFIED_BADGE
        + "."
    )


def test_the_reply_cannot_forge_a_mark_or_a_placeholder():
    reply = "Sharpe 3.1 :blue-background[R7] \ue0100\ue011 ok"
    shown = marked_reply(reply, verdict_for(reply))
    assert ":blue-background[R7]" not in shown.replace("\\:blue-background", "")
    assert "\ue010" not in shown and "\ue011" not in shown
    assert shown.count(UNVERIFIED_BADGE) == 1


def test_a_verdict_that_does_not_fit_the_text_marks_nothing():
    reply = "Sharpe 3.1."
    stale = verdict_for("Sharpe 1.42 and 3.1.")
    assert marked_reply(reply, stale) == "Sharpe 3.1."
    assert marked_reply(reply, None) == "Sharpe 3.1."


@pytest.fixture
def claude_app(monkeypatch, fresh_db):
    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("MLTRAINER_CLAUDE_MAX_RETRIES", "1")
        reset_settings()
        yield server
    reset_settings()


def test_the_chat_page_marks_an_invented_number_unverified(claude_app, make_user):
    make_user("alice")
    claude_app.enqueue(
        tool_reply(("price_option", OPTION)),
        text_reply("The call is worth 10.45; its Sharpe 3.1 is remarkable."),
    )
    at = open_chat("alice")
    at.chat_input(key="chat_prompt").set_value("Price an ATM 1y call, vol 20%, r 5%").run()
    assert not at.exception, at.exception
    at.run()  # the page as it is drawn from the stored conversation
    replies = [m.value for m in at.markdown if "10.45" in m.value]
    assert replies, [m.value for m in at.markdown]
    job_caption = next(c.value for c in at.caption if "price\\_option" in c.value)
    result_id = job_caption.split(" ")[0].replace("\\", "")
    assert replies[-1] == (
        f"The call is worth 10.45 :blue-background[{result_id}]; its Sharpe 3.1 "
        f"{UNVERIFIED_BADGE} is remarkable."
    )
    assert any("marked unverified" in c.value for c in at.caption)


def test_the_offline_planner_reply_is_checked_and_its_verdict_stored(fresh_db, make_user):
    from engine.chat import conversations, turn
    from storage.repositories import conversations as repo

    alice = make_user("alice")
    conversation = conversations.start(alice, "price")
    request = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
    list(turn.send(alice, conversation.id, request, mode="offline"))
    reply = next(m for m in repo.list_messages(conversation.id) if m.role == "assistant")
    verdict = reply.payload["verification"]
    assert verdict["claims"] and verdict["unverified"] == 0
    assert {c["text"] for c in verdict["claims"]} >= {"100.0", "105.0", "0.05", "0.2"}


def test_an_offline_reply_with_a_number_from_nowhere_is_flagged(fresh_db, make_user, monkeypatch):
    from engine.chat import conversations, turn
    from engine.llm import planner
    from storage.repositories import conversations as repo

    real_plan = planner.plan

    def boasting_plan(text, **kwargs):
        planned = real_plan(text, **kwargs)
        planned.message += " Expect a Sharpe of 3.1."
        return planned

    monkeypatch.setattr(planner, "plan", boasting_plan)
    alice = make_user("alice")
    conversation = conversations.start(alice, "price")
    request = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
    list(turn.send(alice, conversation.id, request, mode="offline"))
    reply = next(m for m in repo.list_messages(conversation.id) if m.role == "assistant")
    verdict = reply.payload["verification"]
    assert [c["text"] for c in verdict["claims"] if c["status"] == "unverified"] == ["3.1"]
