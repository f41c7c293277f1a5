"""Chat access to trials and jobs: "what was my best model on KO last week?" and "compare
my last 20 XGBoost trials" answered offline (the planner's intents) and by Claude (tool use
through the real SDK against the fake Messages API), with the pages' access rules: two
analysts never see each other's trials, a viewer sees every trial but no one's jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.actions import PermissionDenied, call
from engine.chat import conversations, turn
from engine.llm.planner import plan
from tests.llm.fake_anthropic import claude_on_fake, text_reply, tool_reply
from tests.trials.conftest import add_job, add_trial

XGB = "xgboost.XGBClassifier"
RF = "sklearn.RandomForestClassifier"


def _trial(user, *, symbol="KO", model=XGB, sharpe=1.0, days_ago=1.0, **fields):
    return add_trial(
        user,
        model_id=model,
        family="boosting" if model.startswith("xgboost") else "ensemble",
        metric_name="sharpe",
        metric_value=sharpe,
        params={"model_id": model, "symbols": [symbol], "model_params": {"max_depth": 3}},
        created_at=datetime.now(UTC) - timedelta(days=days_ago),
        **fields,
    )


@pytest.fixture
def research(people):
    """alice's and bob's trials on KO and SPX, this week and a month ago."""
    alice, bob = people["alice"], people["bob"]
    made = {
        "alice_best_ko": _trial(alice, sharpe=1.4, days_ago=2),
        "alice_ko": _trial(alice, sharpe=0.9, days_ago=3, model=RF),
        "alice_old_ko": _trial(alice, sharpe=2.5, days_ago=40),  # not last week
        "alice_spx": _trial(alice, symbol="SPX", sharpe=3.0, days_ago=1),  # not KO
        "alice_failed": _trial(alice, sharpe=None, status="failed", days_ago=1),
        "bob_ko": _trial(bob, sharpe=9.9, days_ago=1),  # alice must never see it
        "system_ko": _trial(None, sharpe=0.5, days_ago=1),  # shared, but not "mine"
    }
    return made


BEST_ON_KO = "what was my best model on KO last week?"


def test_best_model_on_ko_last_week_offline(people, research):
    planned = plan(BEST_ON_KO)
    (planned_call,) = planned.calls
    assert planned_call.action == "query_trials"
    assert planned_call.params == {
        "symbol": "KO",
        "period": "last_7_days",
        "mine": True,
        "order": "best",
        "limit": 5,
    }
    conversation = conversations.start(people["alice"], BEST_ON_KO)
    events = list(turn.send(people["alice"], conversation.id, BEST_ON_KO, mode="offline"))
    outcome = next(e for e in events if e.kind == "tool").outcome
    assert outcome.status == "succeeded", outcome.error
    values = outcome.result.values
    assert values["best_trial_id"] == research["alice_best_ko"].id
    assert values["trial_ids"] == [research["alice_best_ko"].id, research["alice_ko"].id]
    assert values["metric"] == "sharpe" and values["total_matching"] == 2
    assert f"trial {research['alice_best_ko'].id}" in outcome.result.summary
    assert "sharpe 1.4000" in outcome.result.summary


def test_the_same_question_for_bob_and_the_viewer(people, research):
    params = {"symbol": "KO", "period": "last_7_days", "order": "best"}
    bob = call("query_trials", {**params, "mine": True}, people["bob"]).result.values
    assert bob["trial_ids"] == [research["bob_ko"].id]
    # without "mine" an analyst sees their own and the system's trials, never bob's
    alice = call("query_trials", params, people["alice"]).result.values
    assert research["bob_ko"].id not in alice["trial_ids"]
    assert set(alice["trial_ids"]) == {
        research["alice_best_ko"].id,
        research["alice_ko"].id,
        research["system_ko"].id,
    }
    # a viewer reads every trial (the team's record) but owns none
    vic = call("query_trials", params, people["vic"]).result.values
    assert vic["best_trial_id"] == research["bob_ko"].id
    assert (
        call("query_trials", {**params, "mine": True}, people["vic"]).result.values["trial_ids"]
        == []
    )


def test_lower_is_better_metrics_rank_ascending(people):
    alice = people["alice"]
    made = [
        add_trial(alice, metric_name="rmse", metric_value=v, task="regression")
        for v in (0.3, 0.1, 0.2)
    ]
    values = call("query_trials", {"order": "best", "metric": "rmse"}, alice).result.values
    assert values["trial_ids"] == [made[1].id, made[2].id, made[0].id]
    worst = call("query_trials", {"order": "worst", "metric": "rmse"}, alice).result.values
    assert worst["best_trial_id"] == made[0].id


def test_mixed_metrics_rank_the_most_common_and_say_what_was_left_out(people):
    alice = people["alice"]
    for v in (0.51, 0.55):
        add_trial(alice, metric_value=v)  # balanced_accuracy
    add_trial(alice, metric_name="sharpe", metric_value=5.0)
    result = call("query_trials", {"order": "best"}, alice).result
    assert result.values["metric"] == "balanced_accuracy"
    assert result.values["best_value"] == pytest.approx(0.55)
    assert "1 of sharpe" in result.summary


COMPARE_XGB = "compare my last 20 XGBoost trials"


def test_compare_my_last_20_xgboost_trials_offline(people):
    alice, bob = people["alice"], people["bob"]
    mine = [_trial(alice, sharpe=0.5 + i / 100, days_ago=30 - i) for i in range(25)]
    _trial(alice, model=RF)  # not XGBoost
    _trial(bob)  # not alice's
    (planned_call,) = plan(COMPARE_XGB).calls
    assert planned_call.action == "compare_trials"
    assert planned_call.params == {"model": "xgboost", "mine": True, "last": 20}
    conversation = conversations.start(alice, COMPARE_XGB)
    events = list(turn.send(alice, conversation.id, COMPARE_XGB, mode="offline"))
    outcome = next(e for e in events if e.kind == "tool").outcome
    assert outcome.status == "succeeded", outcome.error
    values = outcome.result.values
    newest = [t.id for t in mine[-20:]]
    assert values["trial_ids"] == newest  # oldest of them first: the default baseline
    assert values["baseline"] == newest[0]
    assert values["best_trial_id"] == newest[-1]
    overview = outcome.result.tables["overview"]
    assert list(overview["Δ vs baseline"]) == pytest.approx([i / 100 for i in range(20)])
    # the chat draws the deltas from the stored result (data, not figures)
    from engine.actions.base import ActionResult
    from ui.presenters import figures_for

    stored = ActionResult.from_json(outcome.result.to_json(columnar=True))
    drawn = figures_for("compare_trials", stored)
    assert list(drawn) == ["deltas"]
    assert list(drawn["deltas"].data[0].y) == pytest.approx([i / 100 for i in range(20)])


def test_compare_trial_ids_treats_foreign_like_missing(people):
    alice, bob = people["alice"], people["bob"]
    a1, a2 = _trial(alice), _trial(alice)
    bobs = _trial(bob)
    foreign = call("compare_trials", {"trial_ids": [a1.id, bobs.id]}, alice)
    missing = call("compare_trials", {"trial_ids": [a1.id, bobs.id + 1000]}, alice)
    assert foreign.status == missing.status == "failed"
    assert foreign.error.replace(str(bobs.id), "#") == missing.error.replace(
        str(bobs.id + 1000), "#"
    )
    ok = call("compare_trials", {"trial_ids": [a1.id, a2.id], "baseline": a2.id}, alice)
    assert ok.status == "succeeded" and ok.result.values["baseline"] == a2.id
    seen = call("compare_trials", {"trial_ids": [a1.id, bobs.id]}, people["vic"])
    assert seen.status == "succeeded"


def test_query_jobs_shows_only_the_callers_jobs(people):
    alice, bob, vic, root = people["alice"], people["bob"], people["vic"], people["root"]
    failed = add_job(alice, status="failed")
    add_job(alice)
    add_job(bob, status="failed")
    (planned_call,) = plan("which of my jobs failed?").calls
    assert planned_call.action == "query_jobs"
    result = call("query_jobs", planned_call.params, alice).result
    assert list(result.tables["jobs"]["job"]) == [failed]
    assert result.values["by_status"] == {"failed": 1}
    assert call("query_jobs", {"status": ["failed"]}, vic).result.values["count"] == 0
    with pytest.raises(PermissionDenied):
        from engine.actions import ActionContext, get_action

        action = get_action("query_jobs")
        action.run(action.params_model(everyone=True), ActionContext(user=alice))
    everyone = call("query_jobs", {"everyone": True, "status": ["failed"]}, root).result
    assert everyone.values["count"] == 2


@pytest.fixture
def claude(monkeypatch, fresh_db):
    with claude_on_fake(monkeypatch) as server:
        yield server


def _tool_results(body) -> list[dict]:
    return [
        block
        for message in body["messages"]
        for block in (message["content"] if isinstance(message["content"], list) else [])
        if block.get("type") == "tool_result"
    ]


def test_claude_answers_both_questions_with_the_tools(claude, people, research):
    alice = people["alice"]
    conversation = conversations.start(alice, BEST_ON_KO)
    claude.enqueue(
        tool_reply(
            (
                "query_trials",
                {"symbol": "KO", "period": "last_7_days", "mine": True, "order": "best"},
            )
        ),
        text_reply("Your best model on KO last week was trial X."),
    )
    events = list(turn.send(alice, conversation.id, BEST_ON_KO))
    outcome = next(e for e in events if e.kind == "tool").outcome
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result.values["best_trial_id"] == research["alice_best_ko"].id
    tools = {tool["name"]: tool for tool in claude.message_requests[0].body["tools"]}
    assert {"query_trials", "compare_trials", "query_jobs"} <= set(tools)
    periods = tools["query_trials"]["input_schema"]["properties"]["period"]
    assert "last_7_days" in str(periods)
    (sent,) = _tool_results(claude.message_requests[1].body)
    assert f"trial {research['alice_best_ko'].id}" in str(sent["content"])
    shown = f'"trial_ids":[{research["alice_best_ko"].id},{research["alice_ko"].id}]'
    assert shown in str(sent["content"]).replace(" ", "")  # bob's trial is not among them

    claude.enqueue(
        tool_reply(("compare_trials", {"model": "xgboost", "mine": True, "last": 20})),
        text_reply("Compared."),
    )
    events = list(turn.send(alice, conversation.id, COMPARE_XGB))
    outcome = next(e for e in events if e.kind == "tool").outcome
    assert outcome.status == "succeeded", outcome.error
    expected = [research[k].id for k in ("alice_old_ko", "alice_best_ko", "alice_spx")]
    expected += [research["alice_failed"].id]
    assert sorted(outcome.result.values["trial_ids"]) == sorted(expected)
    assert research["bob_ko"].id not in outcome.result.values["trial_ids"]
