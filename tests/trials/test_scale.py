"""The Trials table at scale, on SQLite and PostgreSQL: the rollups that the totals,
filter choices and charts read agree with the trials after every kind of write; pages
filtered and sorted in the database are the right rows in the right order; and on
PostgreSQL the page's queries are read from indexes."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from bench import bench_seed
from engine.actions import UserRef
from engine.trials import query, summary
from engine.trials.query import TrialQuery
from storage.access import OwnerScope
from storage.db import session_scope
from storage.models import Trial, TrialRollup
from storage.repositories import trials as trial_repo
from tests.trials.conftest import add_job, add_trial

EVERYONE = OwnerScope.all_rows()


def rollup_rows() -> dict[str, tuple]:
    from sqlalchemy import select

    with session_scope() as session:
        return {
            r.bucket: (
                r.day,
                r.user_id,
                r.goal_id,
                r.action,
                r.family,
                r.status,
                r.metric_name,
                r.trials,
                r.valued,
                None if r.value_sum is None else round(r.value_sum, 9),
                r.value_min,
                r.value_max,
            )
            for r in session.scalars(select(TrialRollup))
        }


def assert_rollups_match_trials() -> None:
    """The rollups kept by the writes equal a recount from the trials."""
    kept = rollup_rows()
    trial_repo.rebuild_rollups()
    assert kept == rollup_rows()


def test_rollups_follow_writes_and_supersedes(any_db, make_user):
    alice, bob = make_user("alice", "analyst"), make_user("bob", "analyst")
    root = make_user("root", "admin")
    now = datetime.now(UTC).replace(hour=12)
    job = add_job(alice)
    made = [
        add_trial(alice, created_at=now, metric_value=0.5),
        add_trial(alice, created_at=now, metric_value=0.7),
        add_trial(alice, created_at=now, metric_value=None, status="failed"),
        add_trial(bob, created_at=now - timedelta(days=1), metric_value=0.6, family="linear"),
        add_trial(None, created_at=now - timedelta(days=40), metric_value=0.4),
        add_trial(alice, job_id=job, created_at=now, metric_value=0.9),
        add_trial(alice, job_id=job, created_at=now, metric_value=0.1),
    ]
    assert_rollups_match_trials()
    rows = {r[4:8]: r for r in rollup_rows().values()}  # (action, family, status, trials)
    assert sum(r[7] for r in rows.values()) == len(made)
    today = [
        r
        for r in rollup_rows().values()
        if r[0] == now.date() and r[1] == alice.id and r[5] == "succeeded"
    ]
    assert len(today) == 1
    assert today[0][7:] == (4, 4, round(0.5 + 0.7 + 0.9 + 0.1, 9), 0.1, 0.9)

    # a retry keeps one of the job's trials: the other leaves the counts and the extremes
    assert trial_repo.supersede_job_trials(job, keep={made[5].id}) == 1
    assert_rollups_match_trials()
    today = [
        r
        for r in rollup_rows().values()
        if r[0] == now.date() and r[1] == alice.id and r[5] == "succeeded"
    ]
    assert today[0][7:] == (3, 3, round(0.5 + 0.7 + 0.9, 9), 0.5, 0.9)
    trial_repo.supersede_job_trials(job, keep=set())
    assert_rollups_match_trials()

    # totals from the rollups are the trials' counts, for every scope and filter
    for user in (alice, bob, root):
        for flt in (
            TrialQuery(),
            TrialQuery(status="failed"),
            TrialQuery(family="linear"),
            TrialQuery(created_from=(now - timedelta(days=1)).date(), created_to=now.date()),
        ):
            repo_filter = query.to_filter(flt)
            assert trial_repo.rollups_answer(repo_filter)
            with session_scope() as session:
                from_rollups = session.scalar(
                    trial_repo.count_statement(repo_filter, query.scope(user), use_rollups=True)
                )
                counted = session.scalar(
                    trial_repo.count_statement(repo_filter, query.scope(user), use_rollups=False)
                )
            assert from_rollups == counted
            assert query.search(user, flt).total == counted
    assert query.search(alice, TrialQuery()).total == 3 + 1  # her live trials + the system's
    # the filter choices come from the rollups too, within the reader's scope
    options = query._load_filter_options(bob)
    assert options.families == ["ensemble", "linear"] and options.users == {}
    assert set(query._load_filter_options(root).users) == {alice.id, bob.id}


def test_summary_from_rollups_equals_summary_from_trials(any_db, make_user):
    alice = make_user("alice", "analyst")
    root = make_user("root", "admin")
    start = datetime(2026, 1, 1, 6, tzinfo=UTC)
    for i in range(60):
        add_trial(
            alice if i % 2 else None,
            created_at=start + timedelta(days=i * 5, hours=i % 7),
            metric_value=None if i % 11 == 0 else 0.4 + (i % 13) / 50,
            status="failed" if i % 11 == 0 else "succeeded",
            family=("ensemble", "linear", "boosting")[i % 3],
            metric_name="balanced_accuracy" if i % 4 else "accuracy",
        )
    for user in (alice, root):
        for flt in (TrialQuery(), TrialQuery(family="linear"), TrialQuery(metric_name="accuracy")):
            repo_filter, scope = query.to_filter(flt), query.scope(user)
            rolled = trial_repo.summary(repo_filter, scope, use_rollups=True)
            direct = trial_repo.summary(repo_filter, scope, use_rollups=False)
            assert [(r.day, r.family, r.status, r.metric_name, r.trials) for r in rolled] == [
                (r.day, r.family, r.status, r.metric_name, r.trials) for r in direct
            ]
            for a, b in zip(rolled, direct, strict=True):
                assert a.valued == b.valued and a.value_min == b.value_min
                assert (a.value_sum is None) == (b.value_sum is None)
                if a.value_sum is not None:
                    assert math.isclose(a.value_sum, b.value_sum)
    # 300 days: weekly periods; the metric is the one most trials report
    result = summary.summarise(root, TrialQuery())
    assert result.period == "week" and result.total == 60
    assert result.metric == "balanced_accuracy"
    assert sum(sum(v) for v in result.counts.values()) == 60
    assert sum(result.failed) == len([i for i in range(60) if i % 11 == 0])
    values = [
        0.4 + (i % 13) / 50
        for i in range(60)
        if i % 11 and i % 4  # balanced_accuracy, valued
    ]
    assert sum(p.trials for p in result.metric_series) == len(values)
    assert math.isclose(sum(p.mean * p.trials for p in result.metric_series), sum(values))
    assert min(p.lowest for p in result.metric_series) == min(values)
    assert all(p.start.weekday() == 0 for p in result.metric_series)  # Mondays
    # a metric range is not in the rollups: the same summary comes from the trials
    ranged = summary.summarise(root, TrialQuery(metric_min=0.5))
    assert not trial_repo.rollups_answer(query.to_filter(TrialQuery(metric_min=0.5)))
    assert ranged.total == query.search(root, TrialQuery(metric_min=0.5)).total
    assert ranged.total == len([i for i in range(60) if i % 11 and 0.4 + (i % 13) / 50 >= 0.5])


def test_periods_keep_charts_small():
    assert summary.period_of(120) == "day"
    assert summary.period_of(121) == "week" and summary.period_of(840) == "week"
    assert summary.period_of(841) == "month"
    assert summary.period_start(date(2026, 12, 5), "week") == date(2026, 11, 30)
    assert summary.period_start(date(2026, 12, 5), "month") == date(2026, 12, 1)
    # The day after each period: December's end crosses the year, February's is March 1.
    assert summary.period_end(date(2026, 11, 30), "week") == date(2026, 12, 7)
    assert summary.period_end(date(2026, 12, 1), "month") == date(2027, 1, 1)
    assert summary.period_end(date(2028, 2, 1), "month") == date(2028, 3, 1)
    assert summary.period_end(date(2026, 12, 5), "day") == date(2026, 12, 6)
    rows = [
        trial_repo.SummaryRow(
            date(2020, 1, 1) + timedelta(days=d), "tree", "succeeded", "m", 1, 1, 0.5, 0.5, 0.5
        )
        for d in range(0, 2000, 3)
    ]
    built = summary.build(rows, None)
    assert built.period == "month" and len(built.periods) <= summary.MAX_PERIODS
    assert built.total == len(rows) and built.metric == "m"


# --- pages of a seeded database ---------------------------------------------------------


def all_rows(user: UserRef) -> list:
    """Every trial the user may see, read in one query: the oracle of the pages."""
    from sqlalchemy import select

    scope = query.scope(user)
    statement = select(Trial).where(Trial.superseded.is_(False))
    condition = scope.where(Trial.user_id)
    if condition is not None:
        statement = statement.where(condition)
    with session_scope() as session:
        return [
            (
                r.id,
                r.goal_id,
                r.user_id,
                r.family,
                r.status,
                r.model_id,
                r.metric_value,
                r.duration_s,
                r.created_at,
            )
            for r in session.scalars(statement)
        ]


COLUMNS = {"goal_id": 1, "user_id": 2, "family": 3, "status": 4}
SORT_INDEX = {
    "created_at": 8,
    "metric_value": 6,
    "duration_s": 7,
    "model_id": 5,
    "family": 3,
    "id": 0,
}


def expected_ids(rows: list, flt: TrialQuery) -> list[int]:
    kept = [
        r
        for r in rows
        if all(
            getattr(flt, name) is None or r[i] == getattr(flt, name) for name, i in COLUMNS.items()
        )
        and (flt.metric_min is None or (r[6] is not None and r[6] >= flt.metric_min))
        and (flt.metric_max is None or (r[6] is not None and r[6] <= flt.metric_max))
    ]
    i = SORT_INDEX[flt.sort]
    # the databases' order: NULLs last ascending and first descending on PostgreSQL,
    # first ascending and last descending on SQLite
    from storage.db import get_engine

    nulls_high = get_engine().dialect.name == "postgresql"

    def key(r):
        missing = r[i] is None
        return (missing if nulls_high else not missing, r[i] if not missing else 0, r[0])

    return [r[0] for r in sorted(kept, key=key, reverse=flt.descending)]


@pytest.fixture
def seeded(any_db, make_user):
    root = make_user("root", "admin")
    counts = bench_seed.seed(trials=1500, jobs=20, events_per_job=5, users=3, goals=6)
    bench_seed.analyze()
    analyst = UserRef(counts.user_ids[1], "seeded", "analyst")
    return root, analyst, counts


def test_filter_sort_and_pages_are_the_right_rows(seeded):
    root, analyst, counts = seeded
    rows = {user: all_rows(user) for user in (root, analyst)}
    cases = [
        TrialQuery(),
        TrialQuery(descending=False),
        TrialQuery(family="boosting", sort="metric_value"),
        TrialQuery(goal_id=counts.goal_ids[2], sort="duration_s", descending=False),
        TrialQuery(status="failed", sort="id"),
        TrialQuery(user_id=counts.user_ids[1], sort="model_id"),
        TrialQuery(metric_min=0.55, metric_max=0.6, sort="metric_value", descending=False),
        TrialQuery(sort="family"),
    ]
    for user in (root, analyst):
        for flt in cases:
            want = expected_ids(rows[user], flt)
            first = query.search(user, flt, 1, 200)
            assert first.total == len(want), flt
            got: list[int] = []
            for number in range(1, first.pages + 1):
                got += [t.id for t in query.search(user, flt, number, 200).records]
            assert got == want, flt
    # a page past the end shows the last page
    last = query.search(root, TrialQuery(), 10_000, 50)
    assert last.page == last.pages and last.last_row == last.total == 1500


@pytest.mark.postgres
def test_postgres_reads_the_pages_from_indexes(postgres_db, make_user):
    """With 20,000 trials and fresh statistics the planner reads every page of the
    table from an index in the sort's order (no sort of the whole table), and the
    total and the filter choices from the rollups."""
    root = make_user("root", "admin")
    counts = bench_seed.seed(
        trials=20_000, jobs=10, events_per_job=5, users=5, goals=20, model_results=False
    )
    bench_seed.analyze()
    scope = query.scope(root)
    # (the filter and order, indexes the plan may read, whether it may sort rows itself)
    cases = {
        "newest first": (TrialQuery(), ("ix_trials_counted_created",), False),
        "oldest first": (TrialQuery(descending=False), ("ix_trials_counted_created",), False),
        "by metric": (TrialQuery(sort="metric_value"), ("ix_trials_counted_metric_value",), False),
        "by duration": (
            TrialQuery(sort="duration_s", descending=False),
            ("ix_trials_counted_duration",),
            False,
        ),
        "family by metric": (
            TrialQuery(family="boosting", sort="metric_value"),
            ("ix_trials_family_metric",),
            False,
        ),
        # a fifth or a twentieth of the rows: walking the date index and skipping the
        # others is as good as the owner's or goal's index; the planner picks either
        "goal": (
            TrialQuery(goal_id=counts.goal_ids[3]),
            ("ix_trials_goal_created", "ix_trials_counted_created", "ix_trials_created"),
            False,
        ),
        "user": (
            TrialQuery(user_id=counts.user_ids[2]),
            ("ix_trials_user_created", "ix_trials_counted_created", "ix_trials_created"),
            False,
        ),
        # 1 % of the rows: found by the status index, then those few sorted
        "failed": (TrialQuery(status="failed"), ("ix_trials_status",), True),
    }
    for label, (flt, indexes, may_sort) in cases.items():
        count, page = trial_repo.search_statements(
            query.to_filter(flt), scope, sort=flt.sort, descending=flt.descending, limit=50
        )
        plan = "\n".join(bench_seed.explain(page))
        assert any(f"using {index} on trials" in plan for index in indexes), f"{label}:\n{plan}"
        assert "Seq Scan on trials" not in plan, f"{label}:\n{plan}"
        if not may_sort:
            assert not re.search(r"(?<!Incremental )Sort  \(", plan), f"{label}:\n{plan}"
        counted = "\n".join(bench_seed.explain(count))
        assert "trial_rollups" in counted and " trials " not in counted, f"{label}:\n{counted}"
    # deep pages too (offset 19,950 of the newest-first order)
    _, deep = trial_repo.search_statements(
        query.to_filter(TrialQuery()), scope, offset=19_950, limit=50
    )
    assert "ix_trials_counted_created" in "\n".join(bench_seed.explain(deep))
