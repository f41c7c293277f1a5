"""The bandit over families, Optuna inside each, and the loop's stopping rules."""

from __future__ import annotations

import optuna
import pytest

from engine.autonomy.loop import best_of, stop_reason
from engine.autonomy.proposer import (
    DEFAULT_PRIOR,
    BanditProposer,
    Outcome,
    catalogue_defaults,
    eligible_models,
    learned_prior,
    rank_rewards,
)
from engine.goals.spec import GoalSpec
from engine.ml import catalog


@pytest.fixture(autouse=True)
def no_portfolio(monkeypatch):
    """These tests are about the bandit itself: no shipped portfolio opens the goal
    (tests/autonomy/test_portfolio.py covers the portfolio)."""
    monkeypatch.setattr("engine.autonomy.proposer.portfolio_for", lambda task, models: [])
    # ... and the hand-set prior, not the one learned from the meta-tasks, orders them
    # (test_portfolio.py covers the learned one).
    monkeypatch.setattr("engine.autonomy.proposer.family_prior_for", lambda task: {})


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
    # reaching the threshold walk-forward is a candidate; the hold-out confirms it
    assert stop_reason(goal, [0.5, 0.61], 1)[0] == "reached"
    assert stop_reason(goal, [0.5, 0.61], 1, rejected={1}) is None  # its hold-out failed
    assert stop_reason(goal, [0.5] * 10, 1)[0] == "exhausted"
    assert "time budget" in stop_reason(goal, [0.5], 31)[1]
    assert "no improvement" in stop_reason(goal, [0.55, 0.5, 0.5, 0.5], 1)[1]
    assert stop_reason(goal, [0.5, 0.55], 1) is None
    lower = spec(task="regression", metric="rmse", threshold=0.01)
    assert best_of(lower, [0.03, 0.02, None, 0.025]) == (0.02, 1)


# --- priors, portfolio start, catalogue defaults, exploration -------------------------


def full_spec(**overrides) -> GoalSpec:
    return spec(families=[], **overrides)


def play(proposer: BanditProposer, score, trials: int) -> list[str]:
    """Run the proposer against a fixed score per family; the families it chose."""
    chosen = []
    for _ in range(trials):
        proposal = proposer.propose()
        chosen.append(proposal.family)
        proposer.observe(proposal, score(proposal))
    return chosen


def add_goal_trials(name: str, task: str, metric: str, results: list[tuple[str, str, float]]):
    from engine.ml.recording import library_versions
    from storage.repositories import goals as goal_repo
    from storage.repositories import trials as trial_repo

    goal = goal_repo.create_goal(None, name, {"task": task}, None)
    for family, model_id, value in results:
        trial_repo.create_trial(
            goal_id=goal.id,
            action="train_model",
            model_id=model_id,
            family=family,
            task=task,
            status="succeeded" if value is not None else "failed",
            metric_name=metric,
            metric_value=value,
            params={},
            reproducibility={"seed": 0, "versions": library_versions()},
        )
    return goal


def test_without_history_the_default_prior_orders_families_and_opens_a_portfolio(fresh_db):
    proposer = BanditProposer(1, full_spec(), [], storage=optuna.storages.InMemoryStorage())
    assert proposer.prior.goals == 0 and proposer.prior.families == DEFAULT_PRIOR
    assert proposer.order[:3] == ["boosting", "ensemble", "linear"]
    assert proposer.order.index("gaussian_process") == len(proposer.order) - 1
    # Seeds change TPE, not the documented order.
    other = BanditProposer(1, full_spec(), [], seed=7, storage=optuna.storages.InMemoryStorage())
    assert other.order == proposer.order
    opened = []
    for value in (0.60, 0.58, 0.55):
        proposal = proposer.propose()
        opened.append((proposal.family, proposal.model_id))
        assert proposal.reason.startswith("portfolio start")
        assert "catalogue defaults" in proposal.reason
        proposer.observe(proposal, value)
    assert opened == [
        ("boosting", "sklearn.HistGradientBoostingClassifier"),
        ("ensemble", "sklearn.RandomForestClassifier"),
        ("linear", "sklearn.LogisticRegression"),
    ]
    assert "upper confidence bound" in proposer.propose().reason


def test_history_of_other_goals_reorders_families(fresh_db):
    from storage.repositories.trials import outcomes_of_other_goals

    # On two earlier classification goals naive Bayes was best and boosting worst.
    for name, metric, scale in (("earlier", "balanced_accuracy", 1.0), ("older", "roc_auc", 0.9)):
        add_goal_trials(
            name,
            "classification",
            metric,
            [
                ("naive_bayes", "sklearn.BernoulliNB", 0.70 * scale),
                ("naive_bayes", "sklearn.GaussianNB", 0.66 * scale),
                ("linear", "sklearn.LogisticRegression", 0.62 * scale),
                ("ensemble", "sklearn.RandomForestClassifier", 0.55 * scale),
                ("boosting", "sklearn.HistGradientBoostingClassifier", 0.52 * scale),
                ("boosting", "xgboost.XGBClassifier", None),  # failed: reward 0
            ],
        )
    # Neither this goal's own trials, nor a regression goal's, nor a goal whose
    # trials all scored the same may move the prior.
    own = add_goal_trials(
        "this goal",
        "classification",
        "balanced_accuracy",
        [("boosting", "x", 0.9), ("naive_bayes", "y", 0.1)],
    )
    add_goal_trials(
        "regression", "regression", "rmse", [("boosting", "a", 0.1), ("naive_bayes", "b", 9.0)]
    )
    add_goal_trials(
        "flat", "classification", "f1", [("boosting", "c", 0.5), ("naive_bayes", "d", 0.5)]
    )
    rows = outcomes_of_other_goals("classification", exclude_goal_id=own.id)
    assert {r.goal_id for r in rows} and own.id not in {r.goal_id for r in rows}
    assert {r.model_id for r in rows} & {"a", "b"} == set()  # the regression goal's
    assert len(rows) == 14  # 2 x 6 + the flat goal's 2

    proposer = BanditProposer(own.id, full_spec(), [], storage=optuna.storages.InMemoryStorage())
    assert proposer.prior.goals == 2
    assert proposer.prior.families["naive_bayes"] > DEFAULT_PRIOR["naive_bayes"]
    assert proposer.prior.families["boosting"] < DEFAULT_PRIOR["boosting"]
    assert proposer.order[0] == "naive_bayes"
    assert proposer.order.index("boosting") > proposer.order.index("linear")
    first = proposer.propose()
    # The family opens with the model that did best in it before, at its defaults.
    assert (first.family, first.model_id) == ("naive_bayes", "sklearn.BernoulliNB")
    assert "learned from" in first.reason

    # Turning the learning off gives back the default prior.
    plain = BanditProposer(
        own.id,
        full_spec(),
        [],
        storage=optuna.storages.InMemoryStorage(),
        learn_from_other_goals=False,
    )
    assert plain.order[0] == "boosting"


def test_learned_prior_orients_lower_is_better_metrics():
    outcomes = [
        Outcome(1, "linear", "m1", "rmse", 0.10),
        Outcome(1, "tree", "m2", "rmse", 0.30),
        Outcome(1, "tree", "m3", "rmse", None, "failed"),
    ]
    prior = learned_prior(outcomes)
    # rmse 0.10 is the best (reward 1), the tree trials earn 0 and 0.
    assert prior.families["linear"] == pytest.approx((DEFAULT_PRIOR["linear"] + 1.0) / 2)
    assert prior.families["tree"] == pytest.approx(DEFAULT_PRIOR["tree"] / 2)
    assert prior.models == {"linear": "m1", "tree": "m2"}


def test_catalogue_defaults_are_enqueued_as_each_familys_first_trial():
    storage = optuna.storages.InMemoryStorage()
    goal = spec(families=["boosting", "ensemble"])
    proposer = BanditProposer(5, goal, [], storage=storage, learn_from_other_goals=False)
    first = proposer.propose()
    assert first.model_id == "sklearn.HistGradientBoostingClassifier"
    expected = catalogue_defaults(first.model_id)
    assert first.model_params == expected
    assert expected == {
        "learning_rate": 0.1,
        "max_iter": 100,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
    }  # l2_regularization=0 lies outside its log range: left to the catalogue
    model = catalog.get_model(first.model_id).build(first.model_params)
    assert model.get_params() == catalog.get_model(first.model_id).build().get_params()
    proposer.observe(first, 0.6)
    second = proposer.propose()  # the other family opens with its defaults too
    assert second.family == "ensemble" and second.model_id == "sklearn.RandomForestClassifier"
    assert second.model_params == catalogue_defaults(second.model_id)
    assert "max_depth" not in second.model_params  # None is not in the space
    proposer.observe(second, 0.5)
    study = optuna.load_study(study_name="goal-5-boosting", storage=storage)
    assert study.trials[0].user_attrs == {"catalogue_defaults": True}
    assert study.trials[0].params["model_id"] == "sklearn.HistGradientBoostingClassifier"
    # Afterwards TPE samples; a new proposer on the same storage (a restarted loop) does
    # not enqueue the defaults again.
    restarted = BanditProposer(
        5, goal, proposer.history, storage=storage, learn_from_other_goals=False
    )
    for _ in range(3):
        proposal = restarted.propose()
        assert "catalogue defaults" not in proposal.reason
        restarted.observe(proposal, 0.55)
    boosting = optuna.load_study(study_name="goal-5-boosting", storage=storage)
    flagged = [t for t in boosting.trials if t.user_attrs.get("catalogue_defaults")]
    assert len(flagged) == 1


def test_the_bandit_still_explores_every_family():
    goal = full_spec()
    proposer = BanditProposer(
        3, goal, [], storage=optuna.storages.InMemoryStorage(), learn_from_other_goals=False
    )
    chosen = play(proposer, lambda p: 0.70 if p.family == "boosting" else 0.55, 40)
    assert set(chosen) == set(proposer.models)  # even the lowest prior gets its turn
    assert chosen.count("boosting") == max(chosen.count(f) for f in set(chosen))


def test_a_family_the_prior_ranks_low_is_found_and_exploited():
    goal = full_spec()
    proposer = BanditProposer(
        4, goal, [], storage=optuna.storages.InMemoryStorage(), learn_from_other_goals=False
    )
    assert proposer.order.index("naive_bayes") >= 8
    chosen = play(proposer, lambda p: 0.75 if p.family == "naive_bayes" else 0.55, 45)
    found = chosen.index("naive_bayes")
    assert found < 30
    later = chosen[found + 1 :]
    assert later.count("naive_bayes") > len(later) / 3
    assert later.count("naive_bayes") == max(later.count(f) for f in set(later))


def test_rewards_are_ranks_so_an_outlier_does_not_blind_the_bandit():
    # r2 of four trials, one of them a diverging regressor, and a failure.
    assert rank_rewards([0.29, -0.01, 0.12, -47.0, None]) == pytest.approx(
        [1.0, 1 / 3, 2 / 3, 0.0, 0.0]
    )
    assert rank_rewards([0.5, 0.5, 0.7]) == pytest.approx([0.25, 0.25, 1.0])
    assert rank_rewards([0.3, None]) == [0.5, 0.0]
    goal = spec(task="regression", metric="r2", families=["linear", "tree", "ensemble"])
    history = [("linear", 0.29), ("tree", -0.01), ("ensemble", 0.12), ("linear", -47.0)]
    proposer = BanditProposer(
        6, goal, history, storage=optuna.storages.InMemoryStorage(), learn_from_other_goals=False
    )
    rewards = proposer._rewards()
    assert rewards["ensemble"][0] - rewards["tree"][0] == pytest.approx(1 / 3)
    lower = spec(task="regression", metric="rmse", families=["linear", "tree"])
    proposer = BanditProposer(
        7,
        lower,
        [("linear", 0.1), ("tree", 0.3)],
        learn_from_other_goals=False,
        storage=optuna.storages.InMemoryStorage(),
    )
    assert proposer._rewards() == {"linear": [1.0], "tree": [0.0]}
