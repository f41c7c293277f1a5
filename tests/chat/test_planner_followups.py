"""Follow-ups through the real chat turn (engine/chat/turn.py) on SQLite: a follow-up
reuses the previous call's parameters, a question about the last result reads it from
the conversation's records (issue 21)."""

from __future__ import annotations

import pytest

from engine.chat import conversations, turn
from storage.repositories import conversations as repo


def _send(user, conversation_id: int, text: str) -> list[turn.TurnEvent]:
    return list(turn.send(user, conversation_id, text, mode="offline"))


def _tool_calls(conversation_id: int) -> list[dict]:
    return [
        m.payload for m in repo.list_messages(conversation_id) if m.role == "tool" and m.payload
    ]


def test_and_the_put_prices_the_same_option_as_a_put(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "options")
    _send(
        alice, conversation.id, "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
    )
    _send(alice, conversation.id, "and the put?")
    first, second = _tool_calls(conversation.id)
    assert first["params"]["option_type"] == "call" and second["status"] == "succeeded"
    assert second["action"] == "price_option"
    assert second["params"] == {**first["params"], "option_type": "put"}


def test_same_with_10bp_then_same_for_msft_keep_what_was_not_changed(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "backtests")
    _send(alice, conversation.id, "backtest a 20/50 MA crossover on AAPL with 5bp costs since 2015")
    _send(alice, conversation.id, "now do the same with 10bp")
    _send(alice, conversation.id, "same for MSFT")
    calls = _tool_calls(conversation.id)
    assert [c["action"] for c in calls] == ["backtest_strategy"] * 3
    assert [c["params"]["symbols"] for c in calls] == [["AAPL"], ["AAPL"], ["MSFT"]]
    assert [c["params"]["cost_bps"] for c in calls] == [5.0, 10.0, 10.0]
    for call in calls:
        assert (call["params"]["fast"], call["params"]["slow"]) == (20, 50)
        assert call["params"]["start"] == "2015-01-01"
        assert call["status"] == "succeeded"


def test_what_did_the_last_backtest_return_reads_the_recorded_result(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "recall")
    _send(alice, conversation.id, "backtest buy and hold KO since 2010 with 5 bps costs")
    _send(alice, conversation.id, "price a call, spot 100 strike 100, 1y, 20% vol")
    events = _send(alice, conversation.id, "what did the last backtest return?")
    messages = repo.list_messages(conversation.id)
    backtest = next(
        m for m in messages if m.role == "tool" and m.payload["action"] == "backtest_strategy"
    )
    reply = [m for m in messages if m.role == "assistant"][-1]
    assert len(_tool_calls(conversation.id)) == 2  # nothing was run again
    assert backtest.content and backtest.content in reply.content
    assert "backtest_strategy" in reply.content and events[0].text == reply.content
    verdict = reply.payload["verification"]
    assert verdict["claims"] and verdict["unverified"] == 0


def test_a_question_about_a_result_that_does_not_exist_says_so(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "empty")
    _send(alice, conversation.id, "what did the last backtest return?")
    reply = [m for m in repo.list_messages(conversation.id) if m.role == "assistant"][-1]
    assert "no earlier" in reply.content and not _tool_calls(conversation.id)


def test_a_follow_up_without_an_earlier_request_runs_nothing(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "alone")
    _send(alice, conversation.id, "and the put?")
    assert not _tool_calls(conversation.id)


@pytest.mark.parametrize(
    "follow_up",
    ["and backtest a 20/50 SMA crossover on AAPL", "now train a random forest on KO direction"],
)
def test_a_new_request_starting_with_and_is_not_taken_as_a_follow_up(follow_up):
    from engine.llm.planner import plan

    previous = plan("Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%")
    planned = plan(follow_up, previous=previous)
    assert planned.calls and planned.calls[0].action != "price_option"


def _chain(*requests: str):
    from engine.llm.planner import plan

    previous, plans = None, []
    for request in requests:
        planned = plan(request, previous=previous)
        plans.append(planned)
        previous = planned if planned.calls else previous
    return plans


def test_the_newest_follow_up_wins_over_every_earlier_value():
    plans = _chain(
        "99% VaR 10 day for JPM", "what about MSFT?", "and at 95% instead", "same for 2015"
    )
    last = plans[-1].calls[0].params
    assert last["symbols"] == ["MSFT"] and last["confidence"] == 0.95
    assert last["horizon_days"] == 10
    assert (last["start"], last["end"]) == ("2015-01-01", "2015-12-31")
    assert not any(p.not_understood for p in plans)


def test_option_follow_ups_change_one_value_at_a_time():
    plans = _chain(
        "Price a put with spot 100, strike 105, 6 months, vol 20%, rate 5%",
        "what if vol is 30%?",
        "and the call?",
        "now 1 year",
    )
    params = [p.calls[0].params for p in plans]
    assert [p["volatility"] for p in params] == [0.2, 0.3, 0.3, 0.3]
    assert [p["option_type"] for p in params] == ["put", "put", "call", "call"]
    assert [p["maturity_years"] for p in params] == [0.5, 0.5, 0.5, 1.0]
    assert all(p["strike"] == 105.0 and p["spot"] == 100.0 for p in params)


def test_a_portfolio_follow_up_replaces_the_constraint_it_names():
    plans = _chain(
        "max sharpe portfolio of AAPL, MSFT and KO, no stock above 40%",
        "same with min variance",
        "now cap at 50%",
    )
    assert [p.calls[0].params.get("objective") for p in plans] == [
        "max_sharpe",
        "min_variance",
        "min_variance",
    ]
    assert [p.calls[0].params["weight_bounds"] for p in plans] == [[0, 0.4], [0, 0.4], [0, 0.5]]
