"""The comparison: byte-identical by default, a tolerance on request, a number missing
on either side never matches, table columns by digest; and the reasons say which
library version or data fingerprint changed."""

from __future__ import annotations

from engine.reproduce.compare import Comparison, compare_step, render_text
from engine.reproduce.manifest import Observation
from engine.reproduce.observe import numeric_leaves, table_observation


def observation(**metrics) -> Observation:
    return Observation(
        metrics=metrics, fingerprints=["a" * 64], versions={"sklearn": "1.9.1", "numpy": "2.4.6"}
    )


def test_identical_numbers_match_and_the_last_bit_counts():
    same = compare_step(1, "train_model", observation(auc=0.7), observation(auc=0.7))
    assert same.identical and not same.reasons
    moved = compare_step(1, "train_model", observation(auc=0.7), observation(auc=0.7 + 1e-16))
    assert not moved.identical and moved.moved[0]["metric"] == "auc"
    close = compare_step(
        1, "train_model", observation(auc=0.7), observation(auc=0.7 + 1e-16), tolerance=1e-9
    )
    assert close.identical


def test_a_number_missing_on_one_side_is_drift():
    step = compare_step(1, "x", observation(a=1.0, b=2.0), observation(a=1.0, c=2.0))
    assert {row["metric"]: row["match"] for row in step.rows} == {"a": True, "b": False, "c": False}
    assert not compare_step(1, "x", observation(a=1.0), None, error="boom").identical


def test_reasons_name_the_library_version_and_the_data_revision():
    after = Observation(
        metrics={"auc": 0.71},
        fingerprints=["b" * 64],
        versions={"sklearn": "1.9.2", "numpy": "2.4.6"},
    )
    step = compare_step(1, "train_model", observation(auc=0.7), after)
    assert "library version: sklearn 1.9.1 → 1.9.2" in step.reasons
    assert any(r.startswith("data revision:") and "bbbbbbbbbbbb" in r for r in step.reasons)
    text = render_text(Comparison([step]), "Trial 1")
    assert "≠ auc" in text and "DRIFT: 1 number(s) moved" in text


def test_ids_and_timings_are_not_results_but_every_table_column_is():
    numbers, prints = numeric_leaves(
        {
            "sharpe": 1.2,
            "trial_id": 5,
            "job_id": 9,
            "duration_s": 3.1,
            "provenance": {"fingerprint": "f" * 64, "rows": 10, "fetched_at": "2024"},
            "weights": [0.25, 0.75],
        }
    )
    assert numbers == {
        "sharpe": 1.2,
        "provenance.rows": 10.0,
        "weights[0]": 0.25,
        "weights[1]": 0.75,
    }
    assert prints == ["f" * 64]
    lasts, digests = table_observation(
        {"equity": [{"date": "d1", "v": 1.0}, {"date": "d2", "v": 1.5}]}
    )
    assert lasts == {"equity.v (last)": 1.5} and set(digests) == {"equity.v"}
    _, other = table_observation({"equity": [{"date": "d1", "v": 1.1}, {"date": "d2", "v": 1.5}]})
    assert other["equity.v"] != digests["equity.v"]  # an earlier row moved, the last did not
