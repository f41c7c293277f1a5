"""trial_rollups: counted trials summed per UTC day and filter values (the Trials
page's totals, filter choices and charts at 100,000 trials); partial indexes of the
counted trials for the table's sort orders

The rollup rows are filled from the trials already stored. Their ``bucket`` text is
the JSON list [day, user_id, goal_id, action, family, status, metric_name] that
``storage.repositories.trials.Bucket.key`` writes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The Trials table's sort orders, with the id that breaks ties, over counted trials only
# (the listings' condition as each dialect's SQL writes it).
SORT_INDEXES = (
    ("created", "created_at"),
    ("metric_value", "metric_value"),
    ("duration", "duration_s"),
)


def upgrade() -> None:
    op.create_table(
        "trial_rollups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bucket", sa.String(400), nullable=False, unique=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("goal_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("family", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metric_name", sa.String(40), nullable=True),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.Column("valued", sa.Integer(), nullable=False),
        sa.Column("value_sum", sa.Float(), nullable=True),
        sa.Column("value_min", sa.Float(), nullable=True),
        sa.Column("value_max", sa.Float(), nullable=True),
    )
    op.create_index("ix_trial_rollups_user_day", "trial_rollups", ["user_id", "day"])
    op.create_index("ix_trial_rollups_goal_day", "trial_rollups", ["goal_id", "day"])
    op.create_index("ix_trial_rollups_day", "trial_rollups", ["day"])
    for name, column in SORT_INDEXES:
        op.create_index(
            f"ix_trials_counted_{name}",
            "trials",
            [column, "id"],
            postgresql_where=sa.text("superseded IS false"),
            sqlite_where=sa.text("superseded IS 0"),
        )
    _fill()


def _fill() -> None:
    bind = op.get_bind()
    trials = sa.table(
        "trials",
        *(
            sa.column(name)
            for name in (
                "id created_at user_id goal_id action family status metric_name metric_value "
                "superseded"
            ).split()
        ),
    )
    day: Any
    if bind.dialect.name == "postgresql":
        day = sa.cast(sa.func.timezone("UTC", trials.c.created_at), sa.Date)
    else:
        day = sa.func.substr(sa.cast(trials.c.created_at, sa.Text), 1, 10)
    keys = [
        trials.c[name]
        for name in ("user_id", "goal_id", "action", "family", "status", "metric_name")
    ]
    value = trials.c.metric_value
    rows = bind.execute(
        sa.select(
            day,
            *keys,
            sa.func.count(trials.c.id),
            sa.func.count(value),
            sa.func.sum(value),
            sa.func.min(value),
            sa.func.max(value),
        )
        .where(trials.c.superseded.is_(sa.false()))
        .group_by(day, *keys)
    )
    table = sa.table(
        "trial_rollups",
        *(
            sa.column(name)
            for name in (
                "bucket day user_id goal_id action family status metric_name trials valued "
                "value_sum value_min value_max"
            ).split()
        ),
    )
    batch = []
    for (
        raw_day,
        user_id,
        goal_id,
        action,
        family,
        status,
        metric,
        n,
        valued,
        total,
        low,
        high,
    ) in rows:
        day_value = raw_day if isinstance(raw_day, date) else date.fromisoformat(str(raw_day)[:10])
        bucket = json.dumps(
            [day_value.isoformat(), user_id, goal_id, action, family, status, metric],
            separators=(",", ":"),
        )
        batch.append(
            {
                "bucket": bucket,
                "day": day_value,
                "user_id": user_id,
                "goal_id": goal_id,
                "action": action,
                "family": family,
                "status": status,
                "metric_name": metric,
                "trials": n,
                "valued": valued,
                "value_sum": total,
                "value_min": low,
                "value_max": high,
            }
        )
        if len(batch) >= 5000:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    for name, _column in SORT_INDEXES:
        op.drop_index(f"ix_trials_counted_{name}", table_name="trials")
    op.drop_index("ix_trial_rollups_day", table_name="trial_rollups")
    op.drop_index("ix_trial_rollups_goal_day", table_name="trial_rollups")
    op.drop_index("ix_trial_rollups_user_day", table_name="trial_rollups")
    op.drop_table("trial_rollups")
