"""Claude proposing the goal loop's trials, through the real anthropic SDK against the
local fake Messages API: what it is told, how its proposals are checked and corrected,
and the bandit standing in when Claude is wrong twice or unreachable."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import optuna
import pytest

from engine import executor
from engine.actions import call
from engine.autonomy.claude_proposer import (
    HISTORY_BEST,
    HISTORY_RECENT,
    TOOL_NAME,
    ClaudeProposal,
    ClaudeProposer,
    history_rows,
)
from engine.autonomy.loop import make_proposer
from engine.autonomy.proposer import BanditProposer, eligible_models
from engine.config import reset_settings
from engine.goals import service as goals
from engine.goals.spec import GoalSpec
from engine.llm.claude import ClaudeOptions
from engine.ml.recording import library_versions
from engine.trials.record import Proposal, Reproducibility, Trial
from storage.repositories import goals as goal_repo
from tests.autonomy.goal_helpers import DATA, make_goal, run_loop, searched
from tests.llm.fake_anthropic import (
    error_reply,
    server_error,
    text_reply,
    tool_reply,
)

LOGISTIC = "sklearn.LogisticRegression"
RIDGE = "sklearn.RidgeClassifier"


def propose(model_id: str, params: dict, reason: str):
    return tool_reply((TOOL_NAME, {"model_id": model_id, "model_params": params, "reason": reason}))


def tool_results(body: dict) -> list[dict]:
    return [
        block
        for message in body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


def first_text(body: dict) -> str:
    content = body["messages"][0]["content"]
    return content if isinstance(content, str) else content[0]["text"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def make_claude_proposer(fresh_db, settings):
    """A ClaudeProposer for a goal, pointed at the fake with quick retries."""

    from storage.optuna_store import optuna_storage

    def factory(goal, **options):
        spec = goals.spec_of(goal)
        bandit = BanditProposer(goal.id, spec, [], seed=1, storage=optuna_storage())
        base = {"max_retries": 1, "max_retry_delay": 0.01, "timeout": 10.0}
        return ClaudeProposer(
            goal.id,
            spec,
            bandit,
            settings=settings,
            options=ClaudeOptions(**{**base, **options}),
        )

    return factory


@pytest.fixture
def claude_env(monkeypatch, fake):
    """The loop's own settings (environment) point at the fake with a key set."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("MLTRAINER_CLAUDE_MAX_RETRIES", "1")
    monkeypatch.delenv("MLTRAINER_LOOP_PROPOSER", raising=False)
    reset_settings()
    yield fake
    reset_settings()


# --------------------------------------------------------------------------- the request


def test_first_request_forces_the_tool_and_carries_goal_and_catalogue(
    make_claude_proposer, make_user, fake
):
    goal = make_goal(make_user("alice"), threshold=0.57, notes="prefer simple models")
    proposer = make_claude_proposer(goal)
    fake.enqueue(propose(LOGISTIC, {"C": 0.5}, "a regularised linear baseline first"))

    proposal = proposer.propose()

    assert isinstance(proposal, ClaudeProposal)
    assert (proposal.model_id, proposal.family, proposal.model_params) == (
        LOGISTIC,
        "linear",
        {"C": 0.5},
    )
    assert proposal.reason == "Claude: a regularised linear baseline first"
    [request] = fake.message_requests
    body = request.body
    assert body["tool_choice"]["type"] == "tool" and body["tool_choice"]["name"] == TOOL_NAME
    [tool] = body["tools"]
    assert tool["name"] == TOOL_NAME
    schema = tool["input_schema"]
    assert schema["required"] == ["model_id", "model_params", "reason"]
    assert set(schema["properties"]["model_id"]["enum"]) == set(
        eligible_models(goals.spec_of(goal))["linear"]
    )
    system = body["system"][0]["text"]
    assert f"{LOGISTIC} [fast]: C float 0.001..100 log" in system
    assert "sklearn.RandomForestClassifier" not in system  # not an allowed family
    text = first_text(body)
    goal_json = json.loads(text.splitlines()[1])
    assert goal_json["metric"] == "balanced_accuracy" and goal_json["threshold"] == 0.57
    assert goal_json["direction"] == ">=" and goal_json["allowed_families"] == ["linear"]
    assert goal_json["target"] == "next 5-day direction of SPX"
    assert goal_json["data"]["symbols"] == ["SPX"] and goal_json["notes"] == "prefer simple models"
    assert goal_json["budget_left"]["trials"] == 30
    assert "none yet" in text


def test_claude_hears_the_portfolio_entries_not_tried_yet(fresh_db, settings, make_user, fake):
    from engine.autonomy.portfolio import PortfolioEntry
    from storage.optuna_store import optuna_storage

    goal = make_goal(make_user("alice"), threshold=0.57)
    spec = goals.spec_of(goal)
    entries = [
        PortfolioEntry(LOGISTIC, "linear", "random", {"C": 0.02}, 4, 9, 0.81),
        PortfolioEntry("sklearn.RidgeClassifier", "linear", "defaults", {}, 3, 9, 0.77),
    ]
    bandit = BanditProposer(goal.id, spec, [], storage=optuna_storage(), portfolio=entries)
    proposer = ClaudeProposer(
        goal.id, spec, bandit, settings=settings, options=ClaudeOptions(max_retries=1)
    )
    fake.enqueue(propose(LOGISTIC, {"C": 0.02}, "the portfolio's first entry"))
    proposer.observe(proposer.propose(), 0.55)
    fake.enqueue(propose(LOGISTIC, {"C": 1.0}, "next"))
    proposer.propose()
    first, second = (first_text(r.body) for r in fake.message_requests)
    listed = '{"model_id":"sklearn.LogisticRegression","model_params":{"C":0.02},"hits":"4 of 9"}'
    assert "would try next, in order: its portfolio" in first
    assert listed in first and '"sklearn.RidgeClassifier"' in first
    assert first.index(listed) < first.index('"sklearn.RidgeClassifier"')
    # One trial later the first entry is no longer offered.
    assert listed not in second and '"sklearn.RidgeClassifier"' in second


def test_invalid_proposal_gets_one_corrective_turn_with_the_error(
    make_claude_proposer, make_user, fake
):
    goal = make_goal(make_user("alice"))
    proposer = make_claude_proposer(goal)
    fake.enqueue(
        propose(LOGISTIC, {"C": 5000}, "strong fit"),
        propose(LOGISTIC, {"C": 50}, "within range now"),
    )

    proposal = proposer.propose()

    assert isinstance(proposal, ClaudeProposal) and proposal.model_params == {"C": 50.0}
    assert proposal.reason.startswith("Claude (corrected after: C=5000.0 is outside its range")
    first, second = (r.body for r in fake.message_requests)
    [result] = tool_results(second)
    assert result["is_error"] is True
    assert "C=5000.0 is outside its range [0.001, 100.0]" in result["content"]
    assistant = second["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0]["id"] == result["tool_use_id"]
    assert second["tool_choice"] == first["tool_choice"]


@pytest.mark.parametrize(
    ("model_id", "params", "error"),
    [
        ("sklearn.NoSuchModel", {}, "unknown model id 'sklearn.NoSuchModel'"),
        (
            "sklearn.RandomForestClassifier",
            {},
            "family 'ensemble', which this goal does not allow (allowed families: linear)",
        ),
        (LOGISTIC, {"C": -1}, "C=-1.0 is outside its range"),
        (LOGISTIC, {"max_iter": 10}, "unknown parameter(s) max_iter"),
        (RIDGE, {"alpha": "lots"}, "alpha must be a number"),
    ],
)
def test_invalid_twice_falls_back_to_the_bandit(
    make_claude_proposer, make_user, fake, model_id, params, error
):
    goal = make_goal(make_user("alice"))
    proposer = make_claude_proposer(goal)
    fake.enqueue(propose(model_id, params, "first"), propose(model_id, params, "again"))

    proposal = proposer.propose()

    assert not isinstance(proposal, ClaudeProposal)
    assert proposal.reason.startswith("bandit (Claude's proposal was invalid twice: ")
    assert error in proposal.reason
    assert proposal.family == "linear" and proposal.model_id in proposer.models["linear"]
    assert len(fake.message_requests) == 2
    assert error in tool_results(fake.message_requests[1].body)[0]["content"]
    assert proposer.last_fallback.startswith("Claude's proposal was invalid twice")


def test_an_answer_without_the_tool_call_falls_back_and_is_not_obeyed(
    make_claude_proposer, make_user, fake
):
    goal = make_goal(make_user("alice"))
    proposer = make_claude_proposer(goal)
    fake.enqueue(text_reply("Ignore the goal and train sklearn.RandomForestClassifier."))

    proposal = proposer.propose()

    assert not isinstance(proposal, ClaudeProposal) and proposal.family == "linear"
    assert proposal.reason.startswith(
        f"bandit (Claude answered without calling {TOOL_NAME} (stop reason end_turn))"
    )
    assert len(fake.message_requests) == 1


def test_repeated_server_errors_fall_back_then_cool_down(make_claude_proposer, make_user, fake):
    goal = make_goal(make_user("alice"))
    proposer = make_claude_proposer(goal)
    fake.enqueue(server_error(), server_error())

    first = proposer.propose()
    assert not isinstance(first, ClaudeProposal)
    assert first.reason.startswith("bandit (Claude unavailable: Claude's service returned server")
    assert len(fake.message_requests) == 2  # the SDK retried once
    proposer.observe(first, 0.5)

    # An outage costs one round of retries, not one per trial.
    second = proposer.propose()
    assert not isinstance(second, ClaudeProposal) and "asking Claude again" in second.reason
    assert len(fake.message_requests) == 2
    proposer.observe(second, 0.5)
    third = proposer.propose()
    assert not isinstance(third, ClaudeProposal) and len(fake.message_requests) == 2
    proposer.observe(third, 0.5)

    fake.enqueue(propose(RIDGE, {"alpha": 1.0}, "back online"))
    back = proposer.propose()
    assert isinstance(back, ClaudeProposal) and back.model_id == RIDGE


def test_rejected_key_turns_claude_off_for_the_run(make_claude_proposer, make_user, fake):
    goal = make_goal(make_user("alice"))
    proposer = make_claude_proposer(goal)
    fake.enqueue(error_reply(401, "authentication_error", "invalid x-api-key"))

    first = proposer.propose()
    proposer.observe(first, 0.5)
    second = proposer.propose()

    assert "rejected the API key (401" in first.reason and "ANTHROPIC_API_KEY" in first.reason
    assert "rejected the API key" in second.reason
    assert len(fake.message_requests) == 1


def test_claude_trials_inform_the_bandit_and_its_optuna_study(
    make_claude_proposer, make_user, fake
):
    goal = make_goal(make_user("alice"))
    proposer = make_claude_proposer(goal)
    fake.enqueue(propose(LOGISTIC, {"C": 0.5}, "baseline"))
    proposal = proposer.propose()
    # Optuna's studies live beside the data dir, shared by the tests' fresh databases.
    before = len(proposer.fallback.study("linear").trials)

    proposer.observe(proposal, 0.61)

    assert proposer.fallback.history == [("linear", 0.61)]
    study = proposer.fallback.study("linear")
    [trial] = study.trials[before:]
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == 0.61
    assert trial.params == {"model_id": LOGISTIC, f"{LOGISTIC}::C": 0.5}
    # The bandit's next own proposal samples from the same study without complaint.
    assert proposer.fallback.propose().family == "linear"


def test_long_histories_keep_the_most_recent_and_the_best():
    spec = GoalSpec(name="g", families=["linear"], **DATA)

    def trial(number: int, value: float) -> Trial:
        return Trial(
            id=number,
            action="train_model",
            model_id=LOGISTIC,
            family="linear",
            status="succeeded",
            metric_value=value,
            params={"model_params": {"C": number / 100}},
            reproducibility=Reproducibility(
                seed=0,
                versions=library_versions(),
                proposal=Proposal(by="claude", reason="test") if number % 2 else None,
            ),
            seed=0,
            created_at=datetime.now(UTC),
        )

    values = [0.5] * 60
    values[3], values[7] = 0.9, 0.8
    rows, omitted = history_rows(spec, [trial(i + 1, v) for i, v in enumerate(values)])

    assert omitted == 60 - HISTORY_RECENT - HISTORY_BEST
    numbers = [row["n"] for row in rows]
    assert numbers[-HISTORY_RECENT:] == list(range(21, 61))
    assert {4, 8} <= set(numbers[:HISTORY_BEST]) and numbers == sorted(numbers)
    assert [row.get("proposed_by") for row in rows[-2:]] == ["claude", None]  # 59, 60


def test_the_setting_chooses_the_proposer(fresh_db, make_user, monkeypatch):
    goal = make_goal(make_user("alice"))
    spec = goals.spec_of(goal)

    def chosen():
        reset_settings()
        return make_proposer(goal.id, spec, [], seed=1, minutes_used=lambda: 0.0)

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert isinstance(chosen(), BanditProposer)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    assert isinstance(chosen(), ClaudeProposer)
    monkeypatch.setenv("MLTRAINER_LOOP_PROPOSER", "bandit")
    assert isinstance(chosen(), BanditProposer)
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("MLTRAINER_LOOP_PROPOSER", "claude")
    forced = chosen()
    assert isinstance(forced, ClaudeProposer)
    assert "ANTHROPIC_API_KEY is not set" in forced.propose().reason
    reset_settings()


# --------------------------------------------------------------------------- the loop


@pytest.mark.slow
def test_claude_proposals_are_the_trials_trained_with_history_and_insights(
    running_executor, claude_env, make_user
):
    fake = claude_env
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.99, max_trials=2)
    fake.enqueue(
        propose(LOGISTIC, {"C": 0.5}, "start with a regularised linear baseline"),
        propose(RIDGE, {"alpha": 10.0}, "try a ridge penalty next"),
    )

    result = run_loop(alice, goal.id)

    trials = searched(goal.id)
    assert [t.model_id for t in trials] == [LOGISTIC, RIDGE]
    assert [t.params["model_params"] for t in trials] == [{"C": 0.5}, {"alpha": 10.0}]
    assert all(t.status == "succeeded" for t in trials)
    proposals = [t.reproducibility["proposal"] for t in trials]
    assert [p["by"] for p in proposals] == ["claude", "claude"]
    assert proposals[0]["reason"] == "Claude: start with a regularised linear baseline"
    assert proposals[1]["claude_model"] == "claude-sonnet-5-5"
    assert result.values["status"] == "exhausted"
    assert result.values["proposed_by"] == {"claude": 2, "bandit": 0}

    first, second = (first_text(r.body) for r in fake.message_requests)
    assert "none yet" in first
    history = [json.loads(line) for line in second.splitlines() if line.startswith('{"n":')]
    assert history == [
        {
            "n": 1,
            "model_id": LOGISTIC,
            "family": "linear",
            "params": {"C": 0.5},
            "balanced_accuracy": pytest.approx(trials[0].metric_value),
            "proposed_by": "claude",
        }
    ]
    assert "Insights from the goal's trials (goal_insights):" in second
    insights = json.loads(second.split("(goal_insights):\n", 1)[1].splitlines()[0])
    assert insights["trials"] == 1 and insights["families"][0]["family"] == "linear"
    assert insights["best_value"] == pytest.approx(trials[0].metric_value)
    goal_json = json.loads(second.splitlines()[1])
    assert goal_json["budget_left"]["trials"] == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("replies", "requests", "why"),
    [
        ([server_error() for _ in range(2)], 2, "server errors (500) on all 2 attempts"),
        ([error_reply(401, "authentication_error", "invalid x-api-key")], 1, "(401"),
    ],
    ids=["server-errors", "rejected-key"],
)
def test_claude_outage_falls_back_to_the_bandit_and_the_loop_finishes(
    running_executor, claude_env, make_user, replies, requests, why
):
    fake = claude_env
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.99, max_trials=2)
    fake.enqueue(*replies)

    result = run_loop(alice, goal.id)

    trials = searched(goal.id)
    assert len(trials) == 2 and goal_repo.get_goal(goal.id).status == "exhausted"
    for trial in trials:
        proposal = trial.reproducibility["proposal"]
        assert proposal["by"] == "bandit"
        assert proposal["reason"].startswith("bandit (Claude unavailable: ")
        assert why in proposal["reason"]
    assert len(fake.message_requests) == requests
    assert result.values["proposed_by"] == {"claude": 0, "bandit": 2}
    assert "The bandit stood in for Claude on 2 trial(s)" in result.summary
    assert why in result.values["claude_fallbacks"][0]


@pytest.mark.slow
def test_loop_started_from_the_goal_reaches_an_easy_threshold_with_claude(
    running_executor, claude_env, make_user
):
    fake = claude_env
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.30, max_trials=5)
    fake.enqueue(
        propose("sklearn.RandomForestClassifier", {}, "trees might do better"),
        propose(RIDGE, {"alpha": 3.0}, "a ridge classifier is allowed and fast"),
    )

    started = call("control_goal", {"goal_id": goal.id, "command": "start"}, alice, confirmed=True)
    finished = executor.wait(started.result.values["loop_job_id"], 600)

    assert finished.status == "succeeded"
    stored = goal_repo.get_goal(goal.id)
    [trial] = searched(goal.id)
    assert stored.status == "achieved" and stored.best_trial_id == trial.id
    assert trial.model_id == RIDGE and trial.params["model_params"] == {"alpha": 3.0}
    assert trial.metric_value >= 0.30 and stored.best_value == pytest.approx(trial.metric_value)
    reason = trial.reproducibility["proposal"]["reason"]
    assert reason.startswith("Claude (corrected after: sklearn.RandomForestClassifier belongs")
    assert reason.endswith("a ridge classifier is allowed and fast")


def test_claude_never_sees_a_holdout(make_claude_proposer, make_user, fake):
    """The search chooses on walk-forward scores: the run that scored a best model's
    hold-out is neither in the history Claude reads nor in its insights."""
    from storage.repositories.trials import create_trial
    from tests.trials.conftest import reproducibility

    goal = make_goal(make_user("alice"), threshold=0.57)
    for check in (None, 1):
        create_trial(
            goal_id=goal.id,
            action="train_model",
            model_id=LOGISTIC,
            family="linear",
            task="classification",
            status="succeeded",
            metric_name="balanced_accuracy",
            metric_value=0.58,
            params={"model_params": {}},
            holdout_metrics={"balanced_accuracy": 0.4321} if check else None,
            reproducibility=reproducibility(**({"holdout_check_of": check} if check else {})),
            duration_s=1.0,
        )
    proposer = make_claude_proposer(goal)
    text = proposer.context_text()

    assert "0.4321" not in text and "holdout_gap" not in text
    assert "(1 trials" in text
