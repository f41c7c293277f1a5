"""CSV export of the filtered table and the HTML report of one trial."""

from __future__ import annotations

import csv
import io
import json
import re

from engine.reports import trial_report_html
from engine.trials.detail import load_detail
from engine.trials.export import export_csv
from engine.trials.query import TrialQuery
from tests.trials.conftest import add_job, add_trial, importances, reproducibility, spread

SCRIPT = "<script>alert(1)</script>"


def rows_of(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_csv_has_every_filtered_row_not_only_a_page(people):
    alice, bob = people["alice"], people["bob"]
    spread(120, alice)
    spread(5, bob)
    rows = rows_of(export_csv(people["root"], TrialQuery(family="linear")))
    assert len(rows) == 40 + 2  # beyond the 50-row page; alice 40 + bob 2 linear trials
    assert {r["family"] for r in rows} == {"linear"}
    assert {r["user"] for r in rows} == {"alice", "bob"}
    values = [float(r["metric_value"]) for r in rows]
    assert rows[0]["id"] > rows[-1]["id"] or values  # newest first (the table's order)
    first = rows[0]
    assert json.loads(first["params"])["model_params"] == {"max_depth": 3}
    assert json.loads(first["metrics"])["balanced_accuracy"]["mean"] > 0
    assert float(first["metric_std"]) > 0 and float(first["holdout_value"]) == 0.53
    # an analyst's export holds only their own trials, whatever they ask for
    mine = rows_of(export_csv(alice, TrialQuery(user_id=bob.id)))
    assert mine == []
    ordered = rows_of(export_csv(alice, TrialQuery(sort="metric_value", descending=False)))
    assert len(ordered) == 120
    assert [float(r["metric_value"]) for r in ordered] == sorted(
        float(r["metric_value"]) for r in ordered
    )


def test_csv_neutralises_spreadsheet_formulas(people):
    add_trial(people["alice"], model_id='=HYPERLINK("http://x")', error="@SUM(A1)")
    (row,) = rows_of(export_csv(people["alice"], TrialQuery()))
    assert row["model_id"].startswith("'=") and row["error"] == "'@SUM(A1)"


def test_html_report_escapes_every_value(people):
    alice = people["alice"]
    job_id = add_job(alice, events=20)
    trial = add_trial(
        alice,
        job_id=job_id,
        model_id=SCRIPT,
        params={"model_id": SCRIPT, "model_params": {"note": SCRIPT, SCRIPT: 1}},
        importances=importances({SCRIPT: 0.9, "ret_1": 0.1}),
        reproducibility=reproducibility(fingerprint=SCRIPT, requested_model=SCRIPT),
        error=f'bad "quote" {SCRIPT}',
    )
    detail = load_detail(alice, trial.id)
    report = trial_report_html(detail, include_plotlyjs=False)
    assert SCRIPT not in report
    assert "alert(1)" in report  # the value is there, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    # every <script> tag in the file is one of Plotly's own chart scripts
    tags = re.findall(r"<script[^>]*>", report, flags=re.IGNORECASE)
    assert tags and len(tags) == report.count("Plotly.newPlot(")
    assert 'http-equiv="Content-Security-Policy"' in report
    assert "Feature importances" in report and "Progress" in report
    assert "&quot;quote&quot;" in report


def test_html_report_embeds_plotly_once_and_works_offline(people):
    trial = add_trial(people["alice"], job_id=add_job(people["alice"], events=10))
    report = trial_report_html(load_detail(people["alice"], trial.id))
    assert report.count("plotly.js v") >= 1 and "cdn.plot.ly" not in report.split("<body>")[0]
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")
