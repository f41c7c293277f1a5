"""Bulk seeding of trials, jobs and progress events for benchmarks, and query plans.

Only benchmarks and tests call this (benchmarks may speak SQL; the app's SQL stays in
``storage/``). One function seeds both databases into the real schema (migrated by
Alembic): trials and their fold results go in through the DBAPI directly (COPY on
PostgreSQL, executemany on SQLite); progress events are generated inside PostgreSQL
(``generate_series``, 10 million in a few minutes) and streamed from Python into SQLite.
The trial rollups (``trial_rollups``) are then recounted from the trials, as a bulk
load bypasses ``create_trial``. Trials are written in the shapes of the typed trial
record (:mod:`engine.trials.record`).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, event, func, insert, select, update

from storage.db import get_engine, normalise_url, session_scope
from storage.models import Goal, Job, JobEvent, Trial, User, utcnow
from storage.repositories import trials as trial_repo

FAMILIES = ("linear", "tree", "ensemble", "boosting", "neighbors", "svm", "neural")
MODELS = {
    "linear": ("LogisticRegression", "RidgeClassifier", "SGDClassifier"),
    "tree": ("DecisionTree", "ExtraTree"),
    "ensemble": ("RandomForest", "ExtraTrees", "HistGradientBoosting"),
    "boosting": ("XGBoost", "LightGBM"),
    "neighbors": ("KNeighbors",),
    "svm": ("LinearSVC", "SVC"),
    "neural": ("MLP",),
}
FEATURES = ("ret_1", "ret_5", "ret_20", "vol_20", "rsi_14", "macd", "volume_z", "lag_1", "lag_2")
EVENT_BATCH = 50_000
VERSIONS = {"python": "3.12", "sklearn": "1.7", "numpy": "2.2", "pandas": "2.3"}
GOAL_SPEC = {  # what engine.goals.spec.GoalSpec stores (storage does not import engine)
    "symbols": ["SPX"],
    "source": "bundled",
    "start": None,
    "end": None,
    "dataset_id": None,
    "target_column": None,
    "task": "classification",
    "horizon": 5,
    "metric": "balanced_accuracy",
    "threshold": 0.6,
    "direction": ">=",
    "max_trials": 500,
    "max_minutes": 600.0,
    "families": [],
    "data_policy": "real_only",
    "stagnation_trials": 50,
}


@dataclass(frozen=True)
class SeedCounts:
    users: int
    goals: int
    jobs: int
    events: int
    trials: int
    model_results: int
    user_ids: list[int]
    job_ids: list[int]
    goal_ids: list[int]


def _is_sqlite() -> bool:
    return get_engine().dialect.name == "sqlite"


def _ids(session, column, first: int, count: int) -> list[int]:
    return list(
        session.scalars(select(column).where(column >= first).order_by(column).limit(count))
    )


def _next_id(session, column) -> int:
    return (session.scalar(select(func.max(column))) or 0) + 1


def _event_rows(
    job_ids: list[int], per_job: int, rng: random.Random
) -> Iterator[tuple[int, float, float, str]]:
    for job_id in job_ids:
        level = rng.uniform(0.5, 0.7)
        noise = rng.uniform(0.005, 0.02)
        for step in range(per_job):
            fraction = (step + 1) / per_job
            loss = 0.7 * math.exp(-3 * fraction) + rng.gauss(0, noise)
            score = level + 0.1 * (1 - math.exp(-4 * fraction)) + rng.gauss(0, noise)
            metrics = f'{{"loss": {loss:.5f}, "score": {score:.5f}}}'
            yield job_id, round(step * 0.05, 3), fraction, metrics


def _insert_events(rows: Iterator[tuple[int, float, float, str]]) -> int:
    """Raw DBAPI bulk insert of (job_id, elapsed_s, fraction, metrics-as-JSON-text)."""
    engine = get_engine()
    raw = engine.raw_connection()
    count = 0
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            sql = "INSERT INTO job_events (job_id, elapsed_s, fraction, metrics) VALUES (?,?,?,?)"
            batch: list[tuple] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= EVENT_BATCH:
                    cursor.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                count += len(batch)
        else:
            copy_sql = "COPY job_events (job_id, elapsed_s, fraction, metrics) FROM STDIN"
            with cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        raw.commit()
    finally:
        raw.close()
    return count


def _metrics(rng: random.Random, metric: str, center: float) -> tuple[dict, list[dict], dict]:
    folds = [{metric: center + rng.gauss(0, 0.02), "accuracy": center + rng.gauss(0, 0.02)}]
    folds += [
        {metric: center + rng.gauss(0, 0.02), "accuracy": center + rng.gauss(0, 0.02)}
        for _ in range(4)
    ]
    summary = {}
    for name in (metric, "accuracy"):
        values = [fold[name] for fold in folds]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        summary[name] = {"mean": mean, "std": std}
    holdout = {metric: center + rng.gauss(0, 0.03), "accuracy": center + rng.gauss(0, 0.03)}
    return summary, folds, holdout


TRIAL_COLUMNS = (
    "job_id goal_id user_id action model_id family task status metric_name metric_value "
    "params metrics holdout_metrics feature_set importances reproducibility seed error "
    "duration_s created_at superseded"
).split()
RESULT_COLUMNS = (
    "trial_id model_id split metrics fit_seconds predict_seconds n_train n_test".split()
)
JSON_COLUMNS = {
    "params",
    "metrics",
    "holdout_metrics",
    "feature_set",
    "importances",
    "reproducibility",
}


def _bulk_insert(table: str, columns: list[str], rows: Iterator[tuple]) -> int:
    """Rows (JSON columns as text, datetimes aware UTC) into ``table`` through the DBAPI:
    COPY on PostgreSQL, executemany in batches on SQLite (datetimes in SQLAlchemy's
    SQLite format, booleans as integers)."""
    engine = get_engine()
    raw = engine.raw_connection()
    count = 0
    try:
        cursor = raw.cursor()
        names = ", ".join(columns)
        if engine.dialect.name == "sqlite":
            sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
            batch: list[tuple] = []
            for row in rows:
                batch.append(tuple(_sqlite_value(v) for v in row))
                if len(batch) >= EVENT_BATCH:
                    cursor.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                count += len(batch)
        else:
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        raw.commit()
    finally:
        raw.close()
    return count


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def _events_in_postgres(job_ids: list[int], per_job: int, random_seed: int) -> int:
    """``per_job`` progress events for each job, generated by PostgreSQL itself (a loss
    falling and a score rising with noise), in slices of jobs so each statement stays
    a few hundred thousand rows."""
    engine = get_engine()
    total = 0
    slice_size = max(1, 500_000 // max(per_job, 1))
    with engine.begin() as connection:
        connection.exec_driver_sql(f"SELECT setseed({(random_seed % 1000) / 1000.0})")
        for start in range(0, len(job_ids), slice_size):
            chunk = job_ids[start : start + slice_size]
            result = connection.exec_driver_sql(
                """
                INSERT INTO job_events (job_id, elapsed_s, fraction, metrics)
                SELECT j.id, (s.n - 1) * 0.05, s.n::float / %(per)s,
                       json_build_object(
                         'loss', round((0.7 * exp(-3.0 * s.n / %(per)s)
                                        + (random() - 0.5) * 0.02)::numeric, 5),
                         'score', round((0.6 + 0.1 * (1 - exp(-4.0 * s.n / %(per)s))
                                         + (random() - 0.5) * 0.02)::numeric, 5))
                FROM unnest(%(ids)s::int[]) AS j(id)
                CROSS JOIN generate_series(1, %(per)s) AS s(n)
                ORDER BY j.id, s.n
                """,
                {"ids": chunk, "per": per_job},
            )
            total += result.rowcount
    return total


def _trial_rows(
    trials: int,
    job_ids: list[int],
    user_ids: list[int],
    goal_ids: list[int],
    rng: random.Random,
    now: datetime,
    folds_out: list,
) -> Iterator[tuple]:
    metric = "balanced_accuracy"
    features = json.dumps(list(FEATURES))
    for i in range(trials):
        family = FAMILIES[i % len(FAMILIES)]
        model = MODELS[family][i % len(MODELS[family])]
        center = rng.uniform(0.48, 0.62)
        summary, folds, holdout = _metrics(rng, metric, center)
        folds_out.append((model, folds, holdout))
        failed = i % 97 == 0
        params = {
            "model_id": model,
            "symbols": ["SPX"],
            "horizon": 1 + i % 10,
            "model_params": {
                "max_depth": 2 + i % 12,
                "learning_rate": round(10 ** rng.uniform(-3, 0), 5),
                "n_estimators": 50 * (1 + i % 8),
            },
            "seed": i,
        }
        importances = {"kind": "native", "values": {f: rng.random() for f in FEATURES}}
        reproducibility = {"seed": i, "versions": VERSIONS, "fingerprint": f"{i:064x}"}
        yield (
            job_ids[i] if i < len(job_ids) else None,
            goal_ids[i % len(goal_ids)] if goal_ids and i % 3 else None,
            user_ids[i % len(user_ids)],
            "train_model",
            model,
            family,
            "classification",
            "failed" if failed else "succeeded",
            metric,
            None if failed else summary[metric]["mean"],
            json.dumps(params),
            None if failed else json.dumps(summary),
            None if failed else json.dumps(holdout),
            features,
            json.dumps(importances),
            json.dumps(reproducibility),
            i,
            "bench: simulated failure" if failed else None,
            rng.uniform(1, 120),
            now - timedelta(days=365 * (i / max(trials, 1))),
            False,
        )


def _result_rows(trial_ids: list[int], per_trial_folds: list) -> Iterator[tuple]:
    for trial_id, (model, folds, holdout) in zip(trial_ids, per_trial_folds, strict=True):
        splits = [(f"fold_{k}", fold) for k, fold in enumerate(folds)]
        for split, values in [*splits, ("holdout", holdout)]:
            yield (trial_id, model, split, json.dumps(values), 0.5, 0.01, 1000, 200)


def seed(
    *,
    trials: int = 10_000,
    jobs: int = 1_000,
    events_per_job: int = 1_000,
    users: int = 5,
    goals: int = 20,
    model_results: bool = True,
    random_seed: int = 0,
    report: Callable[[str], None] | None = None,
) -> SeedCounts:
    """Add users, goals, ``jobs`` finished training jobs with ``events_per_job`` progress
    events each, and ``trials`` trials (the first ``jobs`` of them linked to the jobs),
    spread over the last year; then recount the trial rollups. Returns what was added."""
    say = report or (lambda _message: None)
    rng = random.Random(random_seed)
    now = datetime.now(UTC)
    with session_scope() as session:
        first_user = _next_id(session, User.id)
        tag = f"{first_user}"
        session.execute(
            insert(User),
            [
                {
                    "username": f"bench{tag}_{i}",
                    "name": f"Bench user {i}",
                    "password_hash": "!bench-no-login",
                    "role": "analyst",
                    "is_active": False,
                    "failed_logins": 0,
                    "created_at": now,
                }
                for i in range(users)
            ],
        )
        user_ids = _ids(session, User.id, first_user, users)
        first_goal = _next_id(session, Goal.id)
        session.execute(
            insert(Goal),
            [
                {
                    "user_id": user_ids[i % users],
                    "name": f"Bench goal {i}",
                    "spec": dict(GOAL_SPEC),
                    "status": "stopped",
                    "trials_run": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(goals)
            ],
        )
        goal_ids = _ids(session, Goal.id, first_goal, goals)
        first_job = _next_id(session, Job.id)
        job_rows = []
        for i in range(jobs):
            started = now - timedelta(days=365 * (i / max(jobs, 1)), seconds=60)
            job_rows.append(
                {
                    "action": "train_model",
                    "params": {"model_id": "RandomForest", "symbols": ["SPX"]},
                    "user_id": user_ids[i % users],
                    "goal_id": goal_ids[i % goals] if goals else None,
                    "status": "succeeded",
                    "inline": False,
                    "cpu_bound": True,
                    "idempotent": True,
                    "progress": 1.0,
                    "attempts": 1,
                    "max_attempts": 3,
                    "cancel_requested": False,
                    "created_at": started,
                    "started_at": started,
                    "finished_at": started + timedelta(seconds=50),
                }
            )
        if job_rows:
            session.execute(insert(Job), job_rows)
        job_ids = _ids(session, Job.id, first_job, jobs)
    say(f"{len(user_ids)} users, {len(goal_ids)} goals, {len(job_ids)} jobs")

    if _is_sqlite():
        events = _insert_events(_event_rows(job_ids, events_per_job, rng))
    else:
        events = _events_in_postgres(job_ids, events_per_job, random_seed)
    say(f"{events:,} progress events")

    with session_scope() as session:
        first_trial = _next_id(session, Trial.id)
    per_trial_folds: list = []
    added = _bulk_insert(
        "trials",
        TRIAL_COLUMNS,
        _trial_rows(trials, job_ids, user_ids, goal_ids, rng, now, per_trial_folds),
    )
    with session_scope() as session:
        trial_ids = _ids(session, Trial.id, first_trial, added)
    added_results = 0
    if model_results:
        added_results = _bulk_insert(
            "model_results", RESULT_COLUMNS, _result_rows(trial_ids, per_trial_folds)
        )
    say(f"{len(trial_ids):,} trials, {added_results:,} model results")
    buckets = trial_repo.rebuild_rollups()
    say(f"{buckets:,} rollup buckets")
    return SeedCounts(
        users=len(user_ids),
        goals=len(goal_ids),
        jobs=len(job_ids),
        events=events,
        trials=len(trial_ids),
        model_results=added_results,
        user_ids=user_ids,
        job_ids=job_ids,
        goal_ids=goal_ids,
    )


def events_statement(job_id: int, after_id: int = 0, limit: int = 200_000) -> Select:
    """The statement ``storage.repositories.jobs.read_events_after`` runs (for its plan)."""
    return (
        select(JobEvent.id, JobEvent.elapsed_s, JobEvent.fraction, JobEvent.metrics)
        .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
        .order_by(JobEvent.id)
        .limit(limit)
    )


def explain(statement: Any) -> list[str]:
    """The database's plan for ``statement`` with its real parameters bound:
    EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL."""
    engine = get_engine()
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    captured: list[tuple] = []

    def before(conn, cursor, sql, parameters, context, executemany):
        return prefix + sql, parameters

    def after(conn, cursor, sql, parameters, context, executemany):
        captured.extend(cursor.fetchall())

    with engine.connect() as connection:
        event.listen(connection, "before_cursor_execute", before, retval=True)
        event.listen(connection, "after_cursor_execute", after)
        try:
            connection.execute(statement).close()
        finally:
            event.remove(connection, "before_cursor_execute", before)
            event.remove(connection, "after_cursor_execute", after)
    if not sqlite:
        return [row[0] for row in captured]
    depth: dict[int, int] = {0: -1}
    lines = []
    for node_id, parent, _unused, detail in captured:
        depth[node_id] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node_id] + detail)
    return lines


def analyze() -> None:
    """Refresh the planner's statistics after a bulk load: ANALYZE on SQLite; VACUUM
    ANALYZE on PostgreSQL, as its autovacuum soon does after a bulk insert (the
    visibility map lets the planner read a page of ids from an index alone)."""
    engine = get_engine()
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        return
    from storage.db import get_autocommit_engine

    with get_autocommit_engine().connect() as connection:
        # the seeded tables only: the database may hold other schemas (tests)
        connection.exec_driver_sql(
            "VACUUM ANALYZE users, goals, jobs, job_events, trials, model_results, trial_rollups"
        )


def set_job_running(job_id: int) -> None:
    """Make a seeded job look live again (the live-chart benchmark follows it)."""
    with session_scope() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status="running", finished_at=None, progress=0.5, heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def create_schema(admin_url: str, schema: str) -> str:
    """A fresh PostgreSQL schema; returns a URL whose search_path is that schema."""
    from sqlalchemy import create_engine, text

    if not schema.replace("_", "").isalnum():
        raise ValueError(f"bad schema name {schema!r}")
    admin = create_engine(normalise_url(admin_url))
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    separator = "&" if "?" in admin_url else "?"
    return f"{admin_url}{separator}options=-csearch_path%3D{schema}"


def drop_schema(admin_url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    if not schema.replace("_", "").isalnum():
        raise ValueError(f"bad schema name {schema!r}")
    admin = create_engine(normalise_url(admin_url))
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()
