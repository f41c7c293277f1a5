"""Every presenter draws user and model text (symbols — an upload's column names —,
dataset, model, series, feature and parameter names) as plain text: Plotly renders a few
tags in figure text, and a hostile ``<a href>`` must never reach a figure as markup.

The finance and price presenters draw the real results of their actions on an upload
whose columns are hostile symbols; the ML, trial and generic presenters draw results
shaped as their actions store them, with hostile names wherever a user or a model
names something."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.actions import call
from engine.actions.base import ActionResult, Series
from tests.finance.test_hostile_symbols import BOLD, EVIL, _upload
from ui.presenters import PRESENTERS
from ui.presenters.registry import draw_series, label, labels

METRIC = "balanced_accuracy"
DATES = [str(d.date()) for d in pd.bdate_range("2021-01-01", periods=6)]


def _figure_text(figures) -> str:
    return "\n".join(repr(fig.to_plotly_json()) for fig in figures.values())


# Presenters whose figures name no symbol (the rest must show the hostile name as text).
NAMES_NOTHING = {"risk_report"}


def _assert_inert(name: str, figures) -> None:
    assert figures, name
    text = _figure_text(figures)
    assert "<a" not in text and "<b>" not in text, name
    if name not in NAMES_NOTHING:
        assert "&lt;a href" in text, f"{name}: the hostile name is not drawn at all"


def test_label_neutralises_markup_and_keeps_other_values():
    assert label(EVIL) == '&lt;a href="https://evil.example"&gt;x&lt;/a&gt;'
    assert label("A&B") == "A&amp;B"
    assert labels([EVIL, 1.5, None, "2021-01-04"]) == [label(EVIL), 1.5, None, "2021-01-04"]


@pytest.fixture
def hostile_runs(fresh_db, make_user):
    alice = make_user("alice", "analyst")
    source = _upload(alice)
    runs = {
        "load_prices": {"symbols": [EVIL, BOLD, "CCC"]},
        "compute_indicators": {"symbols": [EVIL]},
        "backtest_strategy": {"symbols": [EVIL], "strategy": "buy_and_hold"},
        "risk_report": {"symbols": [EVIL, BOLD]},
        "efficient_frontier": {"symbols": [EVIL, BOLD, "CCC"]},
        "optimize_portfolio": {"symbols": [EVIL, BOLD, "CCC"]},
        "correlation_matrix": {"symbols": [EVIL, BOLD, "CCC"]},
        "rolling_beta": {"symbols": [EVIL], "benchmark": BOLD, "window": 20},
        "risk_contributions": {"symbols": [EVIL, BOLD]},
        "backtest_portfolio": {"symbols": [EVIL, BOLD], "lookback_days": 20},
    }
    results = {}
    for name, params in runs.items():
        outcome = call(name, {**params, "source": source}, alice, wait=120)
        assert outcome.status == "succeeded", (name, outcome.error)
        results[name] = ActionResult.from_json(outcome.result.to_json())  # as stored
    option = {"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}
    priced = call("price_option", option, alice)
    assert priced.status == "succeeded"
    results["price_option"] = priced.result
    return results


def _ml_results() -> dict[str, ActionResult]:
    folds = ["fold 1", "fold 2", "fold 3"]
    training = ActionResult(
        summary="trained",
        values={"model_name": EVIL, "model_id": EVIL, "evaluation": "walk_forward"},
        tables={
            "confusion_matrix": pd.DataFrame(
                {"actual": [EVIL, "down"], EVIL: [3, 1], "down": [2, 4]}
            ),
            "feature_importances": pd.DataFrame(
                {"feature": [f"{EVIL}_ret_1", "vol"], "importance": [0.6, 0.4], "kind": "model"}
            ),
        },
        series={
            "residuals": Series(
                [0.1, 0.2, 0.3], {"residual": [0.0, 0.1, -0.1]}, labels=[EVIL] * 3, title=EVIL
            ),
            "holdout_equity": Series(
                DATES[:3],
                {"strategy": [1, 1.1, 1.2], "buy_and_hold": [1, 1, 1.05]},
                title=f"{EVIL} hold-out",
            ),
        },
    )
    models = [EVIL, BOLD, "ridge"]
    comparison = ActionResult(
        summary="compared",
        values={"metric_name": METRIC, "best_model_name": EVIL, "symbol": EVIL, "n_folds": 3},
        tables={
            "leaderboard": pd.DataFrame(
                {"model": models, "status": "succeeded", METRIC: [0.6, 0.55, 0.5]}
            ),
            "fold_scores": pd.DataFrame(
                [
                    {"model": m, "split": f, METRIC: 0.5 + 0.01 * i}
                    for i, m in enumerate(models)
                    for f in folds
                ]
            ),
        },
    )
    tuning = ActionResult(  # a metric named by a model's own scorer
        summary="tuned",
        values={"metric_name": EVIL, "model_name": EVIL},
        tables={"trials": pd.DataFrame({"number": [0, 1, 2], EVIL: [0.5, 0.6, 0.55]})},
    )
    trials = ActionResult(
        summary="compared trials",
        values={"metric": EVIL, "baseline": 1},
        tables={
            "overview": pd.DataFrame({"trial": [1, 2], "Δ vs baseline": [0.0, 0.02]}),
            "importance": pd.DataFrame(
                {
                    "parameter": [EVIL, "depth"],
                    "kind": "numeric",
                    "fanova": [0.7, 0.3],
                    "rf_permutation": [0.1, 0.05],
                    "rf_impurity": [0.6, 0.4],
                    "spearman": [0.2, -0.1],
                }
            ),
        },
    )
    prices = ActionResult(
        summary="series",
        values={},
        series={
            "prices": Series(
                DATES,
                {f"{EVIL}/close": [1, 2, 3, 4, 5, 6], f"{BOLD}/close": [2, 2, 2, 2, 2, 2]},
                units={f"{EVIL}/close": "price", f"{BOLD}/close": "price"},
                title=EVIL,
            ),
            "series": Series(
                DATES,
                {EVIL: [1, 2, 3, 4, 5, 6], "GDP": [9, 9, 9, 9, 9, 9]},
                units={EVIL: EVIL},
                title=EVIL,
            ),
        },
    )
    return {
        "train_model": training,
        "build_ensemble": training,
        "compare_models": comparison,
        "tune_model": tuning,
        "compare_trials": trials,
        "generate_synthetic_prices": prices,
        "fetch_fred_series": prices,
    }


def test_every_presenter_draws_hostile_names_as_text(hostile_runs):
    results = {**hostile_runs, **_ml_results()}
    missing = set(PRESENTERS) - set(results)
    assert not missing, f"presenters without a hostile-name case: {sorted(missing)}"
    option = results.pop("price_option")  # numbers only: no user text to draw
    drawn = PRESENTERS["price_option"](option)
    assert drawn and "<a" not in _figure_text(drawn)
    for name, result in results.items():
        _assert_inert(name, PRESENTERS[name](result))
    # results of actions without a presenter (dynamic actions): one chart per series
    generic = ActionResult(
        summary="dynamic",
        values={},
        series={
            "points": Series(DATES[:3], {EVIL: [1, 2, 3]}, x_label=EVIL, title=EVIL),
            "groups": Series([1, 2, 3], {"y": [1, 2, 3]}, labels=[EVIL, "b", EVIL]),
            "categories": Series([EVIL, "b", "c"], {"count": [1, 2, 3]}),
        },
    )
    _assert_inert("draw_series", draw_series(generic))
