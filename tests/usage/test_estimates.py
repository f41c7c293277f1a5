"""Estimates come from recorded history: the per-family cost model is fitted on the
recorded evaluations (and says when it leans on its prior), job estimates on recorded
jobs, Claude estimates on recorded requests priced from the one price table; the CLI
prints an estimate without running anything."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from engine.usage import estimate as est
from engine.usage.prices import price_for, usage_dollars
from storage.repositories import usage

PRICE = {
    "symbols": ["AAPL"],
    "start": "2015-01-01",
    "end": "2018-12-31",
    "horizon": 5,
    "n_splits": 3,
    "embargo": 5,
    "holdout_fraction": 0.2,
}


def true_cost(rows: float, cols: float, folds: float) -> float:
    """The law the seeded history follows (not the prior's)."""
    return 0.05 * (rows / 1000) ** 0.9 * (cols / 10) ** 0.5 * (folds + 1) ** 1.1


def seed_family(
    family: str, n: int, *, noise: float = 0.05, seed: int = 0, scale: float = 1.0
) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        rows = int(rng.integers(500, 20_000))
        cols = int(rng.integers(5, 60))
        folds = int(rng.integers(2, 10))
        cpu = scale * true_cost(rows, cols, folds) * math.exp(rng.normal(0, noise))
        usage.add_cost_record(
            trial_id=None,
            job_id=None,
            action="train_model",
            family=family,
            model_id=f"sklearn.{family}",
            rows=rows,
            cols=cols,
            folds=folds,
            cpu_seconds=cpu,
            wall_seconds=cpu * 1.5,
        )


def test_the_cost_model_is_fitted_on_the_family_history(fresh_db):
    seed_family("linear", 40)
    seed_family("tree", 40, seed=1)  # another family: must not leak into linear's fit
    model = est.family_model("linear", "fast")
    assert model.records == 40
    # the exponents of the seeded law are recovered (the prior says 0.7 for each)
    assert model.coef[1] == pytest.approx(0.9, abs=0.1)
    assert model.coef[2] == pytest.approx(0.5, abs=0.1)
    for rows, cols, folds in ((1_000, 8, 3), (15_000, 50, 8), (4_000, 20, 5)):
        mid, low, high = model.predict(rows, cols, folds)
        assert mid == pytest.approx(true_cost(rows, cols, folds), rel=0.25)
        assert low < mid < high
    assert model.wall_per_cpu == pytest.approx(1.5)
    assert "fitted on 40 recorded evaluations" in model.basis


def test_without_history_the_prior_is_used_and_said(fresh_db):
    model = est.family_model("svm", "medium")
    assert model.records == 0
    mid, _, _ = model.predict(*est.REFERENCE[:2], est.REFERENCE[2] - 1)
    assert mid == pytest.approx(est.PRIOR_CLASS_SECONDS["medium"])
    assert "leaning on the prior" in model.basis
    # a few records move the estimate towards them, away from the prior
    seed_family("svm", 5, noise=0.0)
    few = est.family_model("svm", "medium")
    prior_error = abs(math.log(mid / true_cost(2000, 30, 5)))
    fitted, _, _ = few.predict(2000, 30, 5)
    assert abs(math.log(fitted / true_cost(2000, 30, 5))) < prior_error
    assert "fewer than 20" in few.basis


def test_train_and_tune_estimates_use_the_run_s_own_data_size(fresh_db, make_user):
    from engine.ml.estimates import data_size
    from engine.ml.params import TrainParams

    alice = make_user("alice")
    seed_family("tree", 30)
    params = {**PRICE, "model_id": "sklearn.DecisionTreeClassifier"}
    rows, cols, folds = data_size(TrainParams(**params), alice)
    assert rows > 500 and cols > 5 and folds == 3
    one = est.estimate_for("train_model", params, alice)
    expected = est.family_model("tree", "fast").predict(rows, cols, folds)[0]
    assert one.cpu_seconds == pytest.approx(expected)
    assert one.records == 30 and f"{rows:,} rows" in one.basis
    tune = est.estimate_for("tune_model", {**params, "n_trials": 7}, alice)
    assert tune.cpu_seconds == pytest.approx(7 * expected)
    both = est.estimate_for(
        "compare_models",
        {**PRICE, "model_ids": ["sklearn.DecisionTreeClassifier", "sklearn.LogisticRegression"]},
        alice,
    )
    assert {p["family"] for p in both.parts} == {"tree", "linear"}
    assert both.cpu_seconds > expected


def test_other_long_actions_are_estimated_from_their_recorded_jobs(fresh_db):
    for cpu in (4.0, 5.0, 6.0, 5.0, 4.5) * 6:
        usage.add_usage(
            kind="cpu", source="backtest_strategy", user_id=None, cpu_seconds=cpu, wall_seconds=cpu
        )
    estimate = est.job_estimate("backtest_strategy")
    assert estimate.records == 30
    assert 4.0 < estimate.cpu_seconds < 6.0
    assert est.job_estimate("never_ran").cpu_seconds == pytest.approx(est.PRIOR_JOB_SECONDS)


def test_claude_prices_come_from_the_price_table():
    sonnet = price_for("claude-sonnet-4-5")
    assert (sonnet.input, sonnet.output) == (3.0, 15.0)
    usage_fields = {
        "input_tokens": 1_000_000,
        "output_tokens": 100_000,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    assert usage_dollars("claude-sonnet-4-5", usage_fields) == pytest.approx(3.0 + 1.5)
    assert price_for("claude-haiku-4-5").input == 1.0
    assert price_for("someone-elses-model") == est_default()


def est_default():
    from engine.usage.prices import price_table

    return price_table()[1]


def test_chat_turn_estimate_from_recorded_replies(fresh_db, make_user):
    from engine.chat import conversations
    from storage.repositories import conversations as repo

    alice = make_user("alice")
    prior = est.chat_turn_estimate(alice.id, "claude-sonnet-4-5")
    assert prior.tokens == sum(est.PRIOR_CHAT_TOKENS) and prior.records == 0
    conversation = conversations.start(alice, "x")
    for _ in range(30):
        repo.add_message(conversation.id, "assistant", "ok", input_tokens=5000, output_tokens=500)
    recorded = est.chat_turn_estimate(alice.id, "claude-sonnet-4-5")
    assert recorded.records == 30
    assert 5500 < recorded.tokens < prior.tokens
    weight = est.PRIOR_TOKEN_WEIGHT
    mean_in = (30 * 5000 + weight * est.PRIOR_CHAT_TOKENS[0]) / (30 + weight)
    mean_out = (30 * 500 + weight * est.PRIOR_CHAT_TOKENS[1]) / (30 + weight)
    assert recorded.tokens == round(mean_in + mean_out)
    assert recorded.dollars == pytest.approx((int(mean_in) * 3.0 + int(mean_out) * 15.0) / 1e6)


def test_cli_estimate_prints_without_running(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "MLTRAINER_DATA_DIR": str(tmp_path),
        "HOME": str(tmp_path),
    }
    params = json.dumps({**PRICE, "model_id": "sklearn.DecisionTreeClassifier", "n_trials": 4})
    done = subprocess.run(
        [sys.executable, "-m", "engine", "action", "tune_model", "--params", params, "--estimate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    estimate = payload["estimate"]
    assert payload["ok"] and estimate["cpu_seconds"] > 0 and estimate["wall_seconds"] > 0
    assert estimate["parts"] == [
        {
            "family": "tree",
            "evaluations": 4,
            "cpu_seconds_each": pytest.approx(estimate["cpu_seconds"] / 4),
            "records": 0,
        }
    ]
    import sqlite3

    with sqlite3.connect(tmp_path / "mltrainer.db") as db:
        assert db.execute("select count(*) from jobs").fetchone()[0] == 0
        assert db.execute("select count(*) from trials").fetchone()[0] == 0
