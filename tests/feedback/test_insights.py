"""Goal insights on recorded trials, and per-action performance tracking."""

from __future__ import annotations

import numpy as np
import pytest

from engine.actions import call
from engine.goals.service import create
from engine.goals.spec import GoalSpec
from engine.trials.record import TrialMetrics
from storage.repositories.stats import action_performance
from storage.repositories.trials import create_trial
from tests.trials.conftest import reproducibility


def seed(
    goal_id: int,
    family: str,
    value: float | None,
    *,
    error: str | None = None,
    daily: float | None = None,
):
    """A trial of the goal in the typed record's shapes: a price trial with ``daily``
    carries the pooled trading statistics the pipeline stores under ``strategy``."""
    metrics = None
    if value is not None:
        summary = {"balanced_accuracy": {"mean": value, "std": 0.01}}
        if daily is not None:
            summary["strategy"] = {
                "sharpe": daily * 252**0.5,
                "strategy_sharpe_daily": daily,
                "strategy_n_obs": 1500,
                "strategy_skew": -0.2,
                "strategy_kurtosis": 5.0,
            }
        metrics = TrialMetrics.model_validate(summary).model_dump(mode="json", exclude_none=True)
    create_trial(
        goal_id=goal_id,
        action="train_model",
        model_id=f"m.{family}",
        family=family,
        task="classification",
        status="failed" if error else "succeeded",
        metric_name="balanced_accuracy",
        metric_value=value,
        params={"model_params": {}},
        metrics=metrics,
        reproducibility=reproducibility(),
        error=error,
        duration_s=1.0,
    )


@pytest.fixture
def goal(fresh_db, make_user):
    alice = make_user("alice")
    spec = GoalSpec(name="SPX", symbols=["SPX"], metric="balanced_accuracy", threshold=0.6)
    return alice, create(alice, spec)


def test_insights_rank_families_detect_trend_and_recommend(goal):
    alice, record = goal
    rng = np.random.default_rng(0)
    for index in range(12):
        seed(record.id, "boosting", 0.50 + 0.005 * index, daily=0.02 + 0.001 * index)
        seed(record.id, "neighbors", 0.49 + rng.normal(0, 0.002), daily=0.0)
    for _ in range(4):
        seed(record.id, "svm", None, error="ValueError: Input contains NaN\nTraceback…")
    outcome = call("goal_insights", {"goal_id": record.id}, alice)
    values = outcome.result.values
    families = outcome.result.tables["families"]
    assert list(families["family"][:2]) == ["boosting", "neighbors"]
    assert families.set_index("family").loc["svm", "failure_rate"] == 1.0
    assert values["best_value"] == pytest.approx(0.555)
    whats = " | ".join(r["what"] for r in values["recommendations"])
    assert "continue with family 'boosting'" in whats
    assert "drop or fix family 'svm'" in whats
    assert outcome.result.tables["errors"]["count"][0] == 4
    dsr = values["significance"]
    # every try counts, the 4 failed ones too (the Sharpe variance comes from the 24)
    assert 0 <= dsr["deflated_sharpe"] <= 1 and dsr["n_trials"] == 28


def test_trend_label_follows_the_trials(goal):
    alice, record = goal
    for index in range(15):
        seed(record.id, "linear", 0.50 + 0.004 * index)
    assert (
        call("goal_insights", {"goal_id": record.id}, alice).result.values["trend"]["label"]
        == "improving"
    )


def test_action_performance_counts_success_and_duration(fresh_db, make_user):
    alice = make_user("alice")
    option = {"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}
    for _ in range(3):
        call("price_option", option, alice)
    stats = {row["action"]: row for row in action_performance()}
    assert stats["price_option"]["calls"] == 3 and stats["price_option"]["success_rate"] == 1.0
    assert stats["price_option"]["mean_seconds"] >= 0
