"""The Trials page's comparison through AppTest: a pinned baseline (in the address and
the session), the parameters that differ, metric deltas against the baseline, curves,
parallel coordinates, parameter importance and the exports."""

from __future__ import annotations

import json

import pytest

from engine.trials import compare
from tests.foundation.apptest_helpers import errors
from tests.trials.conftest import add_job, add_trial, spread
from tests.trials.test_trials_page import captions, trials_page

# Plain dataframes carry no key in AppTest: each table is told by a column only it has.
MARKS = {
    "compare-overview": "Δ vs baseline",
    "compare-params": None,  # the one with "trial" and "baseline" and nothing else marked
    "compare-metrics": "Δ balanced_accuracy (holdout)",
    "compare-importance-table": "fanova",
}


def frame(at, key: str):
    frames = [element.value for element in at.dataframe]
    if MARKS[key] is not None:
        return next(f for f in frames if MARKS[key] in f.columns)
    marks = {m for m in MARKS.values() if m}
    return next(
        f for f in frames if {"trial", "baseline"} <= set(f.columns) and not marks & set(f.columns)
    )


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _three(alice):
    return [
        add_trial(
            alice,
            job_id=add_job(alice, events=50),
            metric_value=0.5 + i / 10,
            params={
                "model_id": "RandomForest",
                "symbols": ["SPX"],
                "model_params": {"max_depth": 2 + i, "crit": c, "n_estimators": 100},
            },
        )
        for i, c in enumerate(["gini", "entropy", "gini"])
    ]


def test_compare_pins_a_baseline_and_shows_deltas_against_it(people):
    trials = _three(people["alice"])
    ids = [t.id for t in trials]
    at = trials_page("alice", compare=",".join(map(str, ids)))
    assert not errors(at), errors(at)
    overview = frame(at, "compare-overview")
    assert list(overview["trial"]) == ids
    assert list(overview["baseline"]) == [True, False, False]  # the first one by default
    assert list(overview["Δ vs baseline"]) == pytest.approx([0.0, 0.1, 0.2])
    assert list(overview["rank"]) == [3, 2, 1]
    assert f"Baseline: trial {ids[0]}." in " ".join(captions(at))

    at.selectbox(key="compare_baseline").set_value(ids[2]).run()
    at.button(key="compare_pin").click().run()
    assert not at.exception, at.exception
    assert at.query_params["baseline"] == [str(ids[2])] or at.query_params["baseline"] == str(
        ids[2]
    )
    overview = frame(at, "compare-overview")
    assert list(overview["baseline"]) == [False, False, True]
    assert list(overview["Δ vs baseline"]) == pytest.approx([-0.2, -0.1, 0.0])
    assert list(overview["better"].isna()) == [False, False, True]
    assert not overview["better"].iloc[0] and not overview["better"].iloc[1]
    metrics = frame(at, "compare-metrics")
    assert "Δ balanced_accuracy (holdout)" in metrics.columns
    assert list(metrics["Δ balanced_accuracy (holdout)"]) == pytest.approx([0.0, 0.0, 0.0])

    # the pin is in the address: a fresh session opened on it keeps the baseline
    again = trials_page("alice", compare=",".join(map(str, ids)), baseline=ids[1])
    assert list(frame(again, "compare-overview")["baseline"]) == [False, True, False]


def test_parameters_diff_only_and_all(people):
    trials = _three(people["alice"])
    at = trials_page("alice", compare=",".join(str(t.id) for t in trials))
    params = frame(at, "compare-params")
    assert list(params.columns) == ["trial", "baseline", "max_depth", "crit"]
    assert list(params["max_depth"]) == ["2", "3", "4"]
    assert "2 of 5 parameters differ between these trials." in captions(at)
    at.toggle(key="compare_diff_only").set_value(False).run()
    params = frame(at, "compare-params")
    assert {"model_id", "symbols", "n_estimators", "max_depth", "crit"} <= set(params.columns)
    assert list(params["n_estimators"]) == ["100", "100", "100"]


def test_curves_parallel_coordinates_and_importance(people):
    alice = people["alice"]
    made = spread(12, alice)
    trials = [
        add_trial(
            alice,
            job_id=add_job(alice, events=800) if i < 3 else None,
            metric_value=0.5 + 0.03 * depth,
            params={"model_id": "RandomForest", "model_params": {"max_depth": depth, "c": "x"}},
        )
        for i, depth in enumerate([2, 5, 3, 8, 6, 4, 7, 9, 2, 6])
    ]
    at = trials_page("alice", compare=",".join(str(t.id) for t in trials))
    assert not errors(at), errors(at)
    progress = next(s for s in specs(at) if s["layout"]["title"]["text"].startswith("Learning"))
    assert len(progress["data"]) == 3  # the trials with a job
    assert all(len(trace["x"]) <= compare.CURVE_POINTS for trace in progress["data"])
    importance = frame(at, "compare-importance-table")
    assert list(importance["parameter"]) == ["max_depth"]
    assert importance["spearman"].iloc[0] == pytest.approx(1.0)
    assert not any(s["data"][0]["type"] == "parcoords" for s in specs(at))
    at.toggle(key="compare_parallel").set_value(True).run()
    parcoords = next(s for s in specs(at) if s["data"][0]["type"] == "parcoords")
    dims = {d["label"]: d["values"] for d in parcoords["data"][0]["dimensions"]}
    assert dims["max_depth"] == [2, 5, 3, 8, 6, 4, 7, 9, 2, 6]
    assert dims["balanced_accuracy"] == pytest.approx([0.5 + 0.03 * d for d in dims["max_depth"]])
    assert len(made) == 12


def test_export_buttons_and_their_content(people):
    alice = people["alice"]
    trials = _three(alice)
    at = trials_page("alice", compare=",".join(str(t.id) for t in trials))
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Comparison (CSV)" in labels and "Comparison (LaTeX)" in labels
    comparison = compare.build(alice, [t.id for t in trials], trials[1].id)
    text = compare.export_csv(comparison)
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["trial"]) for r in rows] == [t.id for t in trials]
    assert [r["baseline"] for r in rows] == ["False", "True", "False"]
    assert [float(r["Δ vs baseline"]) for r in rows] == pytest.approx([-0.1, 0.0, 0.1])
    assert [r["max_depth"] for r in rows] == ["2", "3", "4"]
    assert list(rows[0])[:4] == ["trial", "baseline", "model", "family"]
    assert "n_estimators" not in rows[0]  # diff only
    assert "Δ balanced_accuracy (holdout)" in rows[0]
    everything = list(csv.DictReader(io.StringIO(compare.export_csv(comparison, False))))
    assert [r["n_estimators"] for r in everything] == ["100", "100", "100"]
    latex = compare.export_latex(comparison)
    assert f"baseline trial {trials[1].id} (balanced\\_accuracy)" in latex


def test_compare_refuses_too_many_or_invisible_trials(people):
    alice, bob = people["alice"], people["bob"]
    mine = spread(3, alice)
    bobs = add_trial(bob)
    at = trials_page("alice", compare=f"{mine[0].id},{bobs.id}")
    (foreign,) = errors(at)
    assert "Not found or not visible to you" in foreign and f"trial {bobs.id}" in foreign
    missing = bobs.id + 1000
    at = trials_page("alice", compare=f"{mine[0].id},{missing}")
    (absent,) = errors(at)
    assert absent.replace(str(missing), "#") == foreign.replace(str(bobs.id), "#")
    too_many = ",".join(str(i) for i in range(1, compare.MAX_COMPARE + 2))
    at = trials_page("alice", compare=too_many)
    assert "Compare at most 500 trials" in errors(at)[0]
    # a viewer reads every trial
    at = trials_page("vic", compare=f"{mine[0].id},{bobs.id}")
    assert not errors(at) and list(frame(at, "compare-overview")["trial"]) == [mine[0].id, bobs.id]


def test_compare_all_matching_from_the_table(people):
    alice = people["alice"]
    spread(30, alice)
    spread(5, people["bob"])
    at = trials_page("alice")
    at.button(key="trials_compare_matching").click().run()
    assert not at.exception, at.exception
    overview = frame(at, "compare-overview")
    assert len(overview) == 30  # alice's only
