"""Claude's tokens are measured from the API's usage fields and charged on the server: a
chat turn stops when its user's token budget is spent (through the real anthropic SDK
against the local fake Messages API), the next one is not sent at all, another user is
unaffected; the goal loop's Claude proposer is charged to the goal, whose token budget
stops the loop."""

from __future__ import annotations

import pytest

from engine.actions import call
from engine.chat import conversations, turn
from storage.repositories import conversations as repo
from storage.repositories import usage
from tests.llm.fake_anthropic import claude_on_fake, text_reply, tool_reply

OPTION = {"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}
PER_REQUEST = 120 + 30  # the fake's usage: input_tokens + output_tokens


@pytest.fixture
def claude(monkeypatch, fresh_db):
    with claude_on_fake(monkeypatch, MLTRAINER_LOOP_PROPOSER="claude") as server:
        yield server


def test_a_chat_turn_stops_when_its_token_budget_is_spent(claude, make_user):
    admin = make_user("root", "admin")
    alice = make_user("alice")
    bob = make_user("bob")
    call("set_budget", {"scope": "user", "username": "alice", "max_tokens": 250}, admin)
    conversation = conversations.start(alice, "options")
    claude.enqueue(
        tool_reply(("price_option", OPTION), text="Pricing it."),  # 150 tokens: under 250
        tool_reply(("price_option", {**OPTION, "strike": 110})),  # 300: the line is crossed
        text_reply("never requested"),
    )
    events = list(turn.send(alice, conversation.id, "Price two calls"))
    assert len(claude.message_requests) == 2 and claude.pending == 1
    claude.next_reply()  # the reply nobody asked for
    tools = [e for e in events if e.kind == "tool"]
    assert len(tools) == 1 and tools[0].params["strike"] == 100  # the second was not run
    text = "".join(e.text for e in events if e.kind == "text")
    assert "alice's daily token budget of 250 is spent (300 tokens)" in text
    # measured from the replies' usage fields, priced from the price table
    spent = usage.totals(user_id=alice.id, since=usage.day_start())
    assert spent.tokens == 2 * PER_REQUEST
    assert spent.dollars == pytest.approx(2 * (120 * 3.0 + 30 * 15.0) / 1e6)
    # the next turn is refused before any request
    refused = list(turn.send(alice, conversation.id, "And a put?"))
    assert len(claude.message_requests) == 2
    assert "Not sent to Claude" in "".join(e.text for e in refused if e.kind == "text")
    stored = repo.list_messages(conversation.id)
    assert stored[-1].role == "assistant" and "token budget" in stored[-1].content
    # work that calls no Claude is not held to the token budget
    from engine.usage.admission import check_before_start
    from tests.usage.test_estimates import PRICE

    tree = {**PRICE, "model_id": "sklearn.DecisionTreeClassifier"}
    check_before_start("train_model", tree, alice, None, confirmed=False)
    # bob's budget is his own (no limit): his turn runs
    claude.enqueue(text_reply("Hello Bob."))
    other = conversations.start(bob, "hi")
    answered = list(turn.send(bob, other.id, "hello"))
    assert "Hello Bob." in "".join(e.text for e in answered if e.kind == "text")
    assert usage.totals(user_id=bob.id, since=usage.day_start()).tokens == PER_REQUEST
    report = call("usage_report", {}, alice).result.values
    assert report["today"]["tokens"] == 2 * PER_REQUEST
    assert report["limits"]["max_tokens"] == 250


def test_the_claude_proposer_is_charged_to_the_goal_and_its_budget_stops_the_loop(
    claude, running_executor, make_user
):
    from storage.repositories import goals as goal_repo
    from tests.autonomy.goal_helpers import make_goal, searched
    from tests.autonomy.test_claude_proposer import LOGISTIC, propose

    admin = make_user("root", "admin")
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.99, max_trials=10, stagnation_trials=10)
    call("set_budget", {"scope": "goal", "goal_id": goal.id, "max_tokens": 200}, admin)
    claude.enqueue(
        propose(LOGISTIC, {"C": 0.1}, "first"),
        propose(LOGISTIC, {"C": 1.0}, "second"),
        propose(LOGISTIC, {"C": 3.0}, "never asked"),
    )
    outcome = call("run_goal_loop", {"goal_id": goal.id}, alice, goal_id=goal.id, wait=600)
    assert outcome.status == "budget_exhausted", outcome.error
    assert len(claude.message_requests) == 2  # 150, then 300 >= 200: no third request
    # the second proposal crossed the goal's token line: its trial (tokens already paid,
    # CPU within budget) still runs, then the loop stops before asking Claude again
    assert len(searched(goal.id)) == 2
    after = goal_repo.get_goal(goal.id)
    assert after.status == "budget_exhausted"
    assert f"goal {goal.id}'s daily token budget of 200 is spent" in after.stop_reason
    goal_spent = usage.totals(goal_id=goal.id, since=usage.day_start())
    assert goal_spent.tokens == 2 * PER_REQUEST and goal_spent.dollars > 0
    # charged to the owner too (their own daily budget counts the proposer)
    assert usage.totals(user_id=alice.id, since=usage.day_start()).tokens == 2 * PER_REQUEST
