"""A chat turn through the real anthropic SDK against the local fake Messages API."""

from __future__ import annotations

import pytest

from engine.chat import conversations, turn
from storage.repositories import conversations as repo
from tests.llm.fake_anthropic import claude_on_fake, server_error, text_reply, tool_reply

OPTION = {"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}


@pytest.fixture
def claude(monkeypatch, fresh_db):
    with claude_on_fake(monkeypatch) as server:
        yield server


def test_claude_turn_calls_an_action_and_stores_the_exchange(claude, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "price")
    claude.enqueue(
        tool_reply(("price_option", OPTION), text="Pricing it."),
        text_reply("The call is worth 10.45."),
    )
    events = list(turn.send(alice, conversation.id, "Price an ATM 1y call, vol 20%, r 5%"))
    assert turn.mode_for() == "claude"
    text = "".join(e.text for e in events if e.kind == "text")
    assert "Pricing it." in text and "10.45" in text
    tool = next(e for e in events if e.kind == "tool")
    assert tool.outcome.status == "succeeded"
    assert tool.outcome.result.values["price"] == pytest.approx(10.450583572185565)
    second = claude.message_requests[1].body
    results = [
        b
        for m in second["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_result"
    ]
    assert results and "10.45" in str(results[0]["content"])
    stored = repo.list_messages(conversation.id)
    assert [m.role for m in stored] == ["user", "tool", "assistant"]
    assert stored[-1].output_tokens is not None and stored[-1].latency_ms is not None


def test_confirmation_is_required_for_goal_creation(claude, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "goal")
    goal = {"name": "g", "symbols": ["SPX"], "metric": "balanced_accuracy", "threshold": 0.55}
    claude.enqueue(tool_reply(("create_goal", goal)), text_reply("Please confirm the goal."))
    events = list(turn.send(alice, conversation.id, "Set a goal for SPX direction"))
    pending = next(e for e in events if e.kind == "confirm")
    from engine.goals import service as goals

    assert goals.listing(alice) == []  # nothing ran yet
    done = turn.confirm_pending(alice, conversation.id, pending.message_id)
    assert done.outcome.status == "succeeded" and len(goals.listing(alice)) == 1


def test_repeated_server_errors_offer_the_offline_planner(claude, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    claude.enqueue(*[server_error() for _ in range(4)])
    request = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
    with pytest.raises(turn.ClaudeUnavailableForChat, match="offline planner"):
        list(turn.send(alice, conversation.id, request))
    events = list(turn.answer_offline(alice, conversation.id))
    assert next(e for e in events if e.kind == "tool").outcome.status == "succeeded"


def _tool_results(request_body):
    return [
        b
        for m in request_body["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_result"
    ]


def _chat_numbers(status):
    from engine.observability.metrics import CHAT_NUMBERS

    return CHAT_NUMBERS.labels(status=status, mode="claude")._value.get()


def test_a_reply_quoting_its_result_is_verified_against_the_cited_result(claude, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "price")
    claude.enqueue(
        tool_reply(("price_option", OPTION)),
        text_reply("The call is worth 10.45 (spot 100, vol 20%)."),
    )
    before = _chat_numbers("unverified")
    events = list(turn.send(alice, conversation.id, "Price an ATM 1y call, vol 20%, r 5%"))
    job_id = next(e for e in events if e.kind == "tool").outcome.job_id
    result = _tool_results(claude.message_requests[1].body)[0]
    assert f'"result_id":"R{job_id}"' in result["content"]
    assert "cite it in square brackets" in str(claude.message_requests[0].body["system"])
    verdict = repo.list_messages(conversation.id)[-1].payload["verification"]
    assert verdict["unverified"] == 0 and _chat_numbers("unverified") == before
    by_text = {c["text"]: c for c in verdict["claims"]}
    assert by_text["10.45"] == {
        "start": 18,
        "end": 23,
        "text": "10.45",
        "status": "verified",
        "source": f"R{job_id}",
    }
    assert by_text["100"]["status"] == "verified"  # the call's own parameter
    assert by_text["20%"]["status"] in ("verified", "request")


def test_an_invented_sharpe_is_flagged_stored_and_counted(claude, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "price")
    claude.enqueue(
        tool_reply(("price_option", OPTION)),
        text_reply("The call is worth 10.45, and the strategy's Sharpe 3.1 beats the index."),
    )
    before = _chat_numbers("unverified")
    list(turn.send(alice, conversation.id, "Price an ATM 1y call, vol 20%, r 5%"))
    verdict = repo.list_messages(conversation.id)[-1].payload["verification"]
    flagged = [c["text"] for c in verdict["claims"] if c["status"] == "unverified"]
    assert flagged == ["3.1"]
    assert verdict["verified"] == 1
    assert _chat_numbers("unverified") == before + 1
