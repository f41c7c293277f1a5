"""The streamed CSV export against the implementation it replaced (every trial parsed
into the typed record, one CSV string built in memory), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from engine.actions import UserRef
from engine.auth import permissions
from engine.trials import export
from engine.trials.query import TrialQuery, scope, to_filter
from engine.trials.record import Trial
from storage.repositories import goals as goal_repo
from storage.repositories import trials as repo
from tests.trials.conftest import add_trial, spread


def old_export_csv(user: UserRef, query: TrialQuery) -> bytes:
    """The export before it was streamed (commit 6440955), kept as the reference."""

    def _json(value):
        return json.dumps(value, sort_keys=True, default=str)

    trials = scope(user)
    users = repo.usernames(scope=trials)
    goals = repo.goal_names(scope=permissions.scope_for(user, "goal"))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(export.CSV_COLUMNS)
    records, _ = repo.search_trials(
        to_filter(query), trials, sort=query.sort, descending=query.descending, limit=10_000
    )
    for row in records:
        t = Trial.from_row(row)
        summary = t.metrics.model_dump(mode="json") if t.metrics else {}
        values = [
            t.id,
            t.created_at.isoformat(),
            users.get(t.user_id, "") if t.user_id is not None else "system",
            t.goal_id,
            goals.get(t.goal_id, "") if t.goal_id is not None else "",
            t.job_id,
            t.action,
            t.model_id,
            t.family,
            t.task,
            t.status,
            t.metric_name,
            t.metric_value,
            t.primary_std,
            t.primary_holdout,
            t.duration_s,
            t.seed,
            t.dataset_id,
            t.artifact_path,
            t.error,
            _json(t.params),
            _json(summary) if summary else "",
            _json(t.holdout) if t.holdout else "",
        ]
        writer.writerow(["" if v is None else export.csv_cell(v) for v in values])
    return buffer.getvalue().encode("utf-8")


JSON_COLUMNS = ("params", "metrics", "holdout_metrics")


def table(data: bytes) -> list[dict]:
    """The CSV's rows; JSON cells parsed (the stream copies them as stored, where the old
    export re-encoded them with sorted keys: the same content)."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    for row in rows:
        for column in JSON_COLUMNS:
            row[column] = json.loads(row[column]) if row[column] else None
    return rows


@pytest.fixture
def crowd(any_db, make_user):
    """Two analysts and an admin; trials of each analyst, shared ones (no owner), goals,
    a failed trial, a price-target trial with trading statistics, odd text."""
    root, alice, bob = make_user("root", "admin"), make_user("alice"), make_user("bob")
    goal = goal_repo.create_goal(alice.id, "=alice goal", {"task": "classification"}, None)
    spread(30, alice)
    spread(12, bob, goal_id=None)
    spread(5, None)  # shared rows
    now = datetime.now(UTC)
    add_trial(alice, goal_id=goal.id, model_id="-model", error="+oops", created_at=now)
    add_trial(
        bob,
        status="failed",
        metric_value=None,
        metrics=None,
        holdout_metrics=None,
        error="@SUM(A1)",
        created_at=now - timedelta(hours=2),
    )
    add_trial(
        alice,
        metric_name="sharpe",
        metric_value=0.8,
        metrics={
            "sharpe": {"mean": 0.8, "std": 0.1, "fold_mean": 0.7, "pooled": True},
            "accuracy": {"mean": 0.55, "std": 0.02},
            "strategy": {
                "sharpe": 0.8,
                "strategy_sharpe_daily": 0.05,
                "strategy_n_obs": 900,
                "strategy_skew": -0.3,
                "strategy_kurtosis": 4.1,
                "benchmark_sharpe_fold_mean": 0.4,
            },
        },
        holdout_metrics={"sharpe": 0.65, "accuracy": None},
        params={"z": 1, "a": {"y": [3, 2], "b": "tab\there"}, "m": "ünïcode"},
        created_at=now - timedelta(hours=1),
    )
    add_trial(bob, created_at=datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC))  # whole seconds
    add_trial(alice, created_at=datetime(2024, 2, 3, 4, 5, 6, 7, tzinfo=UTC))
    return {"root": root, "alice": alice, "bob": bob, "goal": goal}


QUERIES = [
    TrialQuery(),
    TrialQuery(sort="metric_value", descending=False),
    TrialQuery(family="linear"),
    TrialQuery(status="failed"),
    TrialQuery(sort="model_id", descending=True, metric_min=0.55),
]


@pytest.mark.parametrize("who", ["root", "alice", "bob"])
def test_stream_holds_what_the_old_export_held(crowd, who):
    user = crowd[who]
    for query in QUERIES:
        new = export.export_csv(user, query)
        old = old_export_csv(user, query)
        assert table(new) == table(old), query
        # the cells other than JSON are byte for byte the old ones
        assert [r[:-3] for r in csv.reader(io.StringIO(new.decode()))] == [
            r[:-3] for r in csv.reader(io.StringIO(old.decode()))
        ]


def test_scope_is_applied_in_the_stream(crowd):
    alice, bob, root = crowd["alice"], crowd["bob"], crowd["root"]
    everything = table(export.export_csv(root, TrialQuery()))
    assert {r["user"] for r in everything} == {"alice", "bob", "system"}
    for analyst, other in ((alice, "bob"), (bob, "alice")):
        rows = table(export.export_csv(analyst, TrialQuery()))
        assert rows and other not in {r["user"] for r in rows}
        assert {r["user"] for r in rows} == {analyst.username, "system"}  # own + shared
        asked = table(export.export_csv(analyst, TrialQuery(user_id=crowd[other].id)))
        assert asked == []  # asking for someone else's trials gives nothing
    # the goal's name is shown to its owner, never to another analyst
    assert "'=alice goal" in {r["goal"] for r in table(export.export_csv(alice, TrialQuery()))}


def test_stream_comes_in_chunks_and_keeps_formulas_neutral(crowd, monkeypatch):
    batches = []
    real = repo.export_batches

    def small_batches(*args, **kwargs):
        kwargs["batch"] = 7
        for batch in real(*args, **kwargs):
            batches.append(len(batch))
            yield batch

    monkeypatch.setattr(repo, "export_batches", small_batches)
    chunks = list(export.iter_csv(crowd["root"], TrialQuery()))
    assert len(chunks) == len(batches) >= 7 and max(batches) == 7
    rows = table(b"".join(chunks))
    assert len(rows) == sum(batches) == 52
    by_model = {r["model_id"]: r for r in rows}
    assert by_model["'-model"]["error"] == "'+oops"
    assert {r["error"] for r in rows if r["status"] == "failed"} == {"'@SUM(A1)"}
    sharpe = next(r for r in rows if r["metric_name"] == "sharpe")
    assert float(sharpe["metric_std"]) == 0.1 and float(sharpe["holdout_value"]) == 0.65
    assert sharpe["params"]["m"] == "ünïcode" and sharpe["metrics"]["strategy"]["strategy_n_obs"]


def test_limit_caps_the_rows(crowd):
    rows = table(export.export_csv(crowd["root"], TrialQuery(), limit=9))
    assert len(rows) == 9
    assert all(not math.isnan(float(r["metric_value"])) for r in rows if r["metric_value"])
