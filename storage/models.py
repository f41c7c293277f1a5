"""SQLAlchemy ORM models: the system of record.

Timestamps are stored in UTC. Free-form payloads (parameters, results, metrics,
provenance) are JSON columns; everything that pages filter or sort on is a real
column with an index.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(256))
    password_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A server-side login session; logout revokes the row, so a copied cookie dies too."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_key: Mapped[str] = mapped_column(String(64), unique=True)
    cookie_id: Mapped[str | None] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed logins per (submitted username, client address): the lock that follows
    them stops that client only, so nobody can keep someone else's account locked.
    Rows exist for unknown usernames too, so locking reveals nothing about accounts."""

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("username", "client", name="uq_login_throttle_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str | None] = mapped_column(Text)
    summary_upto_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    messages: Mapped[list[ChatMessage]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True
    )


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_conversation_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # user | assistant | tool | system
    content: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),
        Index("ix_jobs_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    goal_id: Mapped[int | None] = mapped_column(
        ForeignKey("goals.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    cpu_bound: Mapped[bool] = mapped_column(Boolean, default=True)
    idempotent: Mapped[bool] = mapped_column(Boolean, default=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # The operating-system account behind a command-line submission (None: the web app).
    actor: Mapped[str | None] = mapped_column(String(64))


class JobDependency(Base):
    __tablename__ = "job_dependencies"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class JobAttempt(Base):
    """An attempt of a job that did not succeed: interrupted (its worker died or was shut
    down) or failed. ``counted``: whether it used up one of the job's attempts (an
    attempt cut short by a shutdown does not)."""

    __tablename__ = "job_attempts"
    __table_args__ = (Index("ix_job_attempts_job_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    counted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobEvent(Base):
    """One progress point of a job: how far it is and the metrics it reported then."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    elapsed_s: Mapped[float] = mapped_column(Float)
    fraction: Mapped[float] = mapped_column(Float)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Dataset(Base):
    """Provenance of every dataset a trial used (source, symbols, range, fingerprint)."""

    __tablename__ = "datasets"
    __table_args__ = (
        Index("ix_datasets_source_fingerprint", "source", "fingerprint", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32))
    symbols: Mapped[list[Any]] = mapped_column(JSON)
    start_date: Mapped[str | None] = mapped_column(String(10))
    end_date: Mapped[str | None] = mapped_column(String(10))
    rows: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    is_synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    path: Mapped[str | None] = mapped_column(String(500))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Goal(Base):
    __tablename__ = "goals"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    best_value: Mapped[float | None] = mapped_column(Float)
    best_trial_id: Mapped[int | None] = mapped_column(Integer)
    trials_run: Mapped[int] = mapped_column(Integer, default=0)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    loop_job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Trial(Base):
    """One evaluated configuration: enough to re-run it and get the same numbers."""

    __tablename__ = "trials"
    __table_args__ = (
        Index("ix_trials_goal_created", "goal_id", "created_at"),
        Index("ix_trials_family_metric", "family", "metric_value"),
        Index("ix_trials_created", "created_at"),
        Index("ix_trials_user_created", "user_id", "created_at"),
        Index("ix_trials_metric", "metric_name", "metric_value"),
        # The table's sort orders with the id that breaks ties, over the counted trials
        # only (the listings' condition, in the form each dialect's SQL writes it): a
        # page of 100,000 trials, even the last, is read from the index alone.
        *(
            Index(
                f"ix_trials_counted_{name}",
                column,
                "id",
                postgresql_where=text("superseded IS false"),
                sqlite_where=text("superseded IS 0"),
            )
            for name, column in (
                ("created", "created_at"),
                ("metric_value", "metric_value"),
                ("duration", "duration_s"),
            )
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(100), index=True)
    model_id: Mapped[str | None] = mapped_column(String(120), index=True)
    family: Mapped[str | None] = mapped_column(String(40))
    task: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="succeeded", index=True)
    metric_name: Mapped[str | None] = mapped_column(String(40))
    metric_value: Mapped[float | None] = mapped_column(Float)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    holdout_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    feature_set: Mapped[list[Any] | None] = mapped_column(JSON)
    importances: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reproducibility: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    artifact_path: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Recorded by an attempt of its job that was lost and replaced by the retry's own
    # copy: kept for the record, left out of listings and counts.
    superseded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class TrialRollup(Base):
    """Counted (not superseded) trials summed per UTC day and per value of every filter
    of the Trials page but the metric range: the page's totals, filter choices and
    charts read these rows instead of the trials. Kept in step by the repository that
    writes trials (``storage.repositories.trials``), in the same transaction."""

    __tablename__ = "trial_rollups"
    __table_args__ = (
        Index("ix_trial_rollups_user_day", "user_id", "day"),
        Index("ix_trial_rollups_goal_day", "goal_id", "day"),
        Index("ix_trial_rollups_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The bucket's identity (day and the six values below as JSON text): unique, so
    # writers add to one row with an upsert.
    bucket: Mapped[str] = mapped_column(String(400), unique=True)
    day: Mapped[date] = mapped_column(Date)
    user_id: Mapped[int | None] = mapped_column(Integer)
    goal_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(100))
    family: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    metric_name: Mapped[str | None] = mapped_column(String(40))
    trials: Mapped[int] = mapped_column(Integer, default=0)
    valued: Mapped[int] = mapped_column(Integer, default=0)  # with a metric value
    value_sum: Mapped[float | None] = mapped_column(Float)
    value_min: Mapped[float | None] = mapped_column(Float)
    value_max: Mapped[float | None] = mapped_column(Float)


class ModelResult(Base):
    """Metrics of one model on one split (a fold or the hold-out) of a trial."""

    __tablename__ = "model_results"
    __table_args__ = (Index("ix_model_results_trial_split", "trial_id", "split"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(120))
    split: Mapped[str] = mapped_column(String(20))  # fold_0, fold_1, ..., holdout
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    fit_seconds: Mapped[float | None] = mapped_column(Float)
    predict_seconds: Mapped[float | None] = mapped_column(Float)
    n_train: Mapped[int | None] = mapped_column(Integer)
    n_test: Mapped[int | None] = mapped_column(Integer)


class ComplianceEvent(Base):
    """A policy decision, hash-chained to the previous one so edits are detectable."""

    __tablename__ = "compliance_events"
    __table_args__ = (Index("ix_compliance_events_action_created", "action", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(100))
    phase: Mapped[str] = mapped_column(String(8))  # before | after
    rule: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(8), index=True)  # pass | block
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Unique: two writers racing for the same chain head cannot both append.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Position in the chain (1, 2, ...): its length is the head's seq.
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    # None: an event written before the chain was keyed (plain SHA-256); 2: HMAC-SHA256
    # with the audit key over the content, seq and actor.
    hash_scheme: Mapped[int | None] = mapped_column(Integer)
    # The operating-system account behind a command-line call (None: the web app).
    actor: Mapped[str | None] = mapped_column(String(64))


class DynamicAction(Base):
    __tablename__ = "dynamic_actions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_dynamic_actions_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    source_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsageRecord(Base):
    """Compute or Claude tokens spent, measured on the server: the CPU seconds of one job
    (from its worker process) or the tokens of one Claude request (from the API's usage
    fields) with their price. Budgets sum these rows per user or goal and day."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_user_at", "user_id", "at"),
        Index("ix_usage_records_goal_at", "goal_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # cpu | llm
    source: Mapped[str] = mapped_column(String(100))  # the action, "chat" or "proposer"
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    wall_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    dollars: Mapped[float] = mapped_column(Float, default=0.0)
    model: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Budget(Base):
    """Daily limits: the default for every user (``scope_key`` "default"), one user's
    override ("user:<id>") or one goal's ("goal:<id>"). A NULL limit is no limit."""

    __tablename__ = "budgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"))
    max_cpu_minutes: Mapped[float | None] = mapped_column(Float)
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    max_dollars: Mapped[float | None] = mapped_column(Float)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CostRecord(Base):
    """What one recorded model evaluation cost, with the sizes that explain it: the
    history the run-time estimator (engine.usage.estimate) is fitted on."""

    __tablename__ = "cost_records"
    __table_args__ = (Index("ix_cost_records_family_id", "family", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(100))
    family: Mapped[str] = mapped_column(String(40))
    model_id: Mapped[str | None] = mapped_column(String(120))
    rows: Mapped[int] = mapped_column(Integer)
    cols: Mapped[int] = mapped_column(Integer)
    folds: Mapped[int] = mapped_column(Integer)
    cpu_seconds: Mapped[float] = mapped_column(Float)
    wall_seconds: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# A job stopped cleanly because its user's or goal's budget was spent: what it finished
# before the line (trials, a partial result) is kept.
JOB_TERMINAL_STATES = (
    "succeeded",
    "failed",
    "cancelled",
    "interrupted",
    "budget_exhausted",
)
