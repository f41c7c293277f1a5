"""The bandit over families, Optuna inside each, and the loop's stopping rules."""

from __future__ import annotations

import optuna
import pytest

from engine.autonomy.loop import best_of, stop_reason
from engine.autonomy.proposer import BanditProposer, eligible_models
from engine.goals.spec import GoalSpec
from engine.ml import catalog


def spec(**overrides) -> GoalSpec:
    base = {
        "name": "g",
        "symbols": ["SPX"],
        "metric": "balanced_accuracy",
        "threshold": 0.6,
        "max_trials": 20,
        "stagnation_trials": 5,
    }
    return GoalSpec(**{**base, **overrides})


def test_goal_spec_validation():
    with pytest.raises(ValueError, match="does not fit"):
        spec(metric="rmse")
    with pytest.raises(ValueError, match="synthetic_allowed"):
        spec(source="synthetic")
    with pytest.raises(ValueError, match="unknown model families"):
        spec(families=["astrology"])
    assert spec(task="regression", metric="rmse").direction == "<="


def test_eligible_models_respect_families_and_skip_baselines():
    everything = eligible_models(spec())
    assert "dummy" not in everything and "linear" in everything
    only_trees = eligible_models(spec(families=["tree"]))
    assert list(only_trees) == ["tree"]
    assert all(catalog.get_model(m).family == "tree" for m in only_trees["tree"])


def test_untried_families_first_then_ucb(tmp_path):
    goal = spec(families=["linear", "tree", "neighbors"])
    storage = optuna.storages.InMemoryStorage()
    proposer = BanditProposer(1, goal, [], seed=3, storage=storage)
    families = []
    for value in (0.50, 0.70, 0.52):
        proposal = proposer.propose()
        families.append(proposal.family)
        proposer.observe(proposal, value)
        assert catalog.get_model(proposal.model_id).family == proposal.family
    assert sorted(families) == ["linear", "neighbors", "tree"]  # each explored once
    best_family = families[1]
    follow_ups = []
    for _ in range(6):
        proposal = proposer.propose()
        follow_ups.append(proposal.family)
        proposer.observe(proposal, 0.70 if proposal.family == best_family else 0.50)
    assert follow_ups.count(best_family) >= 4  # exploitation dominates
    study = optuna.load_study(study_name=f"goal-1-{best_family}", storage=storage)
    assert len(study.trials) >= 5 and study.best_value == pytest.approx(0.70)


def test_failed_trials_are_told_as_failures():
    storage = optuna.storages.InMemoryStorage()
    proposer = BanditProposer(2, spec(families=["linear"]), [], storage=storage)
    proposal = proposer.propose()
    proposer.observe(proposal, None)
    study = optuna.load_study(study_name="goal-2-linear", storage=storage)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL


def test_stop_rules():
    goal = spec(threshold=0.6, max_trials=10, stagnation_trials=3, max_minutes=30)
    assert stop_reason(goal, [0.5, 0.61], 1)[0] == "achieved"
    assert stop_reason(goal, [0.5] * 10, 1)[0] == "exhausted"
    assert "time budget" in stop_reason(goal, [0.5], 31)[1]
    assert "no improvement" in stop_reason(goal, [0.55, 0.5, 0.5, 0.5], 1)[1]
    assert stop_reason(goal, [0.5, 0.55], 1) is None
    lower = spec(task="regression", metric="rmse", threshold=0.01)
    assert best_of(lower, [0.03, 0.02, None, 0.025]) == (0.02, 1)
