"""engine.trials.compare without a page: the comparison's tables, importance on a
synthetic set where one parameter drives the metric, curve downsampling, the lean read
and the exports (CSV formulas neutralised, LaTeX escaped)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pytest

from engine.actions import ActionError
from engine.trials import compare
from engine.trials.ask import period_range
from engine.trials.compare import ComparedTrial, SplitPlanRef, comparison_of
from tests.trials.conftest import add_job, add_trial


def synthetic(n: int, *, seed: int = 0, driver: str = "max_depth", metric="balanced_accuracy"):
    """``n`` trials whose metric is driven by ``driver`` alone (plus small noise); two
    other parameters (a float and a category) are noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        params = {
            "max_depth": int(rng.integers(2, 12)),
            "learning_rate": float(rng.uniform(0.01, 0.3)),
            "criterion": str(rng.choice(["gini", "entropy", "log_loss"])),
        }
        value = 0.5 + 0.02 * float(params[driver] if driver == "max_depth" else 0)
        if driver == "learning_rate":
            value = 0.5 + params["learning_rate"]
        if driver == "criterion":
            value = 0.5 + {"gini": 0.0, "entropy": 0.1, "log_loss": 0.2}[params["criterion"]]
        out.append(
            ComparedTrial(
                id=i + 1,
                job_id=None,
                goal_id=None,
                user_id=1,
                dataset_id=None,
                action="train_model",
                model_id="m",
                family="ensemble",
                task="classification",
                status="succeeded",
                metric_name=metric,
                metric_value=value + float(rng.normal(0, 0.003)),
                params={"model_id": "m", "model_params": params, "seed": 0},
                metrics=None,
                holdout=None,
                duration_s=1.0,
                created_at=datetime.now(UTC),
                reproducibility=SplitPlanRef(None),
            )
        )
    return out


@pytest.mark.parametrize("driver", ["max_depth", "learning_rate", "criterion"])
def test_importance_ranks_the_parameter_that_drives_the_metric_first(driver):
    comparison = comparison_of(synthetic(60, driver=driver))
    result = compare.importance(comparison)
    table = result.table.set_index("parameter")
    assert result.ranked[0] == driver
    assert table.loc[driver, "fanova"] > 0.8
    assert table["fanova"].sum() == pytest.approx(1.0, abs=1e-6)
    assert table["rf_impurity"].idxmax() == driver
    assert table["rf_permutation"].idxmax() == driver
    assert set(table.index) == {"max_depth", "learning_rate", "criterion"}  # seed does not vary
    if driver != "criterion":
        assert table.loc[driver, "spearman"] > 0.9
    else:
        assert math.isnan(table.loc[driver, "spearman"]) or table.loc[driver, "spearman"] is None


def test_importance_says_why_when_it_cannot_rank():
    few = compare.importance(comparison_of(synthetic(5)))
    assert few.table.empty and "at least 8" in few.note
    same = synthetic(10)
    flat = [ComparedTrial(**{**t.__dict__, "metric_value": 0.5}) for t in same]  # every trial equal
    assert "same balanced_accuracy" in compare.importance(comparison_of(flat)).note


def test_lower_is_better_metric_ranks_ascending_and_deltas_keep_their_sign():
    trials = synthetic(4, metric="rmse")
    comparison = comparison_of(trials, baseline=trials[2].id)
    assert not comparison.greater_is_better
    overview = comparison.overview().set_index("trial")
    values = {t.id: t.metric_value for t in trials}
    for t in trials:
        assert overview.loc[t.id, "Δ vs baseline"] == pytest.approx(
            values[t.id] - values[trials[2].id]
        )
        if t.id != trials[2].id:
            assert bool(overview.loc[t.id, "better"]) == (values[t.id] < values[trials[2].id])
    assert comparison.best().metric_value == min(values.values())
    assert overview.loc[comparison.best().id, "rank"] == 1


def test_diff_only_keeps_the_parameters_that_differ_and_missing_ones():
    trials = synthetic(3)
    trials[2] = ComparedTrial(**{**trials[2].__dict__, "params": {**trials[2].params, "extra": 1}})
    comparison = comparison_of(trials)
    assert "seed" in comparison.names and "seed" not in comparison.differing
    assert "model_id" not in comparison.differing
    assert "extra" in comparison.differing  # two trials lack it
    table = comparison.params_table(diff_only=True)
    assert list(table["extra"]) == ["", "", "1"]
    assert comparison.changed_from_baseline()[trials[0].id] == []


def test_a_baseline_outside_the_comparison_is_refused():
    trials = synthetic(3)
    with pytest.raises(ActionError, match="baseline must be one of"):
        comparison_of(trials, baseline=999)


def test_lttb_keeps_the_ends_and_the_extremes():
    x = np.arange(10_000, dtype=float)
    y = np.sin(x / 300.0)
    y[4321] = 25.0  # a spike
    keep = compare.lttb(x, y, 500)
    assert len(keep) <= 500 and keep[0] == 0 and keep[-1] == 9_999
    assert 4321 in keep
    assert np.all(np.diff(keep) > 0)
    assert list(compare.lttb(x[:10], y[:10], 500)) == list(range(10))


def test_curves_are_capped_and_downsampled(people, monkeypatch):
    from engine.trials.record import EquityCurve, SplitResult
    from storage.repositories import trials as trial_repo

    alice = people["alice"]
    monkeypatch.setattr(compare, "MAX_CURVES", 3)
    made = []
    for i in range(5):
        trial = add_trial(alice, job_id=add_job(alice, events=1500), metric_value=0.5 + i / 100)
        dates = [f"2024-01-{1 + d % 28:02d}" for d in range(2000)]
        curve = EquityCurve(
            dates=dates,
            strategy=[1 + d / 1e4 for d in range(2000)],
            buy_and_hold=[1.0] * 2000,
            cost_bps=1.0,
        )
        trial_repo.add_model_results(
            trial.id,
            [
                {
                    "model_id": "RandomForest",
                    "split": "holdout",
                    "metrics": SplitResult(
                        model_id="RandomForest",
                        split="holdout",
                        metrics={"balanced_accuracy": 0.5},
                        equity=curve,
                    ).stored_metrics(),
                }
            ],
        )
        made.append(trial)
    comparison = compare.build(alice, [t.id for t in made], baseline=made[1].id)
    shown = compare.curves(alice, comparison, max_curves=compare.MAX_CURVES)
    progress = [c for c in shown if c.kind == "progress"]
    equity = [c for c in shown if c.kind == "equity"]
    # the baseline, then the best two
    assert [c.trial_id for c in progress] == [made[1].id, made[4].id, made[3].id]
    assert [c.trial_id for c in equity] == [made[1].id, made[4].id, made[3].id]
    assert all(len(c.x) <= compare.CURVE_POINTS for c in shown)
    assert all(c.total_points == 2000 for c in equity)
    assert all(len(c.x) > 400 for c in shown)  # downsampled, not thinned to nothing
    assert equity[0].baseline and equity[0].y[0] == pytest.approx(1.0)
    assert equity[0].y[-1] == pytest.approx(1 + 1999 / 1e4)


def test_the_lean_read_keeps_what_overfitting_needs(people):
    from engine.feedback import overfitting
    from engine.trials.record import TrialMetrics
    from tests.trials.conftest import reproducibility

    alice = people["alice"]
    made = []
    for i in range(3):
        blocks = [0.6 - 0.02 * i + 0.001 * b for b in range(10)]
        made.append(
            add_trial(
                alice,
                metric_value=sum(blocks) / 10,
                metrics=TrialMetrics.model_validate(
                    {
                        "balanced_accuracy": {"mean": sum(blocks) / 10, "std": 0.01},
                        "oos_blocks": blocks,
                    }
                ).model_dump(mode="json", exclude_none=True),
                reproducibility=reproducibility(split_fingerprint="same-splits"),
            )
        )
    trials = compare.load_trials(alice, [t.id for t in made])
    assert trials[0].reproducibility.split_fingerprint == "same-splits"
    report = overfitting.report_for_trials(trials)
    assert report["pbo"]["n_trials"] == 3 and report["pbo"]["pbo"] == pytest.approx(0.0)


def test_load_refuses_more_than_500_and_nothing():
    with pytest.raises(ActionError, match="at most 500"):
        compare.load_trials(None, range(1, 502))
    with pytest.raises(ActionError, match="at least one"):
        compare.load_trials(None, [])


def test_csv_neutralises_formulas_and_latex_escapes_user_text():
    trials = synthetic(2)
    nasty = '=HYPERLINK("x")'
    trials[1] = ComparedTrial(
        **{
            **trials[1].__dict__,
            "model_id": "a_b & c%$#{}~^\\<x>|",
            "params": {**trials[1].params, "note": nasty},
        }
    )
    comparison = comparison_of(trials)
    text = compare.export_csv(comparison)
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    latex = compare.export_latex(comparison)
    assert r"a\_b \& c\%\$\#\{\}\textasciitilde{}\textasciicircum{}\textbackslash{}" in latex
    assert r"\textless{}x\textgreater{}\textbar{}" in latex
    assert "\\begin{longtable}" in latex and "\\end{longtable}" in latex
    body = latex.split("\\endhead", 1)[1]
    rows = [line for line in body.splitlines() if line.endswith("\\\\")]
    assert len(rows) == 2
    assert rows[0].startswith("\\textbf{")  # the baseline's row
    assert not rows[1].startswith("\\textbf{")
    header = latex.split("\\midrule", 1)[0]
    assert r"$\Delta$ vs baseline" in header
    # every row has as many cells as the header
    columns = header.strip().splitlines()[-1].count("&")
    assert all(row.count(r" & ") == columns for row in rows)
    assert compare.latex_escape("line\nbreak") == "line break"


def test_periods_count_from_the_given_day():
    saturday = date(2026, 12, 5)
    assert period_range("last_7_days", saturday) == (date(2026, 11, 29), saturday)
    assert period_range("previous_week", saturday) == (date(2026, 11, 23), date(2026, 11, 29))
    assert period_range("this_week", saturday) == (date(2026, 11, 30), saturday)
    assert period_range("previous_month", saturday) == (date(2026, 11, 1), date(2026, 11, 30))
    assert period_range("yesterday", saturday) == (date(2026, 12, 4), date(2026, 12, 4))
