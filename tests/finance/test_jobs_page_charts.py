"""A finished job's result is drawn where jobs are shown (chat, Jobs page, Models page:
``ui.jobs.render_job``) from its stored data: the job row is read back (no figure is
stored) and the action's presenter draws the charts."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from engine.actions import call
from storage.repositories import jobs


def _show_job(job_id: int) -> None:
    from ui.jobs import render_job

    render_job(job_id, key="job")


def test_a_stored_backtest_is_drawn_from_its_data(fresh_db, make_user):
    alice = make_user("alice", "analyst")
    outcome = call("backtest_strategy", {"symbols": ["KO"], "start": "2019-01-01"}, alice)
    assert outcome.status == "succeeded", outcome.error
    assert "figures" not in jobs.get_job(outcome.job_id).result
    at = AppTest.from_function(_show_job, args=(outcome.job_id,), default_timeout=60).run()
    assert not at.exception, at.exception
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert [{trace.get("name") for trace in spec["data"]} for spec in specs] == [
        {"strategy", "buy and hold", "drawdown"}
    ]
    strategy = next(t for t in specs[0]["data"] if t.get("name") == "strategy")
    assert len(strategy["x"]) == len(outcome.result.tables["equity"])
    captions = [c.value.replace("\\", "") for c in at.caption]  # Markdown-escaped
    assert any(c.startswith("equity (") and "drawdown: fraction" in c for c in captions)
