"""usage_records, budgets, cost_records: what runs cost, daily budgets, the estimator's
history

``usage_records`` holds the CPU seconds of every job (measured in its worker) and the
tokens and dollars of every Claude request (from the API's usage fields), so budgets
sum server-side measurements. ``budgets`` holds the daily limits: a default for every
user, per-user overrides and per-goal limits. ``cost_records`` holds what each recorded
model evaluation cost with the data size and folds that explain it; the run-time
estimator is fitted on it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("goal_id", sa.Integer(), sa.ForeignKey("goals.id", ondelete="SET NULL")),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="SET NULL")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("dollars", sa.Float(), nullable=False),
        sa.Column("model", sa.String(100)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_usage_records_user_at", "usage_records", ["user_id", "at"])
    op.create_index("ix_usage_records_goal_at", "usage_records", ["goal_id", "at"])
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scope_key", sa.String(40), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("goal_id", sa.Integer(), sa.ForeignKey("goals.id", ondelete="CASCADE")),
        sa.Column("max_cpu_minutes", sa.Float()),
        sa.Column("max_tokens", sa.Integer()),
        sa.Column("max_dollars", sa.Float()),
        sa.Column("updated_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cost_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("trial_id", sa.Integer(), sa.ForeignKey("trials.id", ondelete="SET NULL")),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="SET NULL")),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("family", sa.String(40), nullable=False),
        sa.Column("model_id", sa.String(120)),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("cols", sa.Integer(), nullable=False),
        sa.Column("folds", sa.Integer(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cost_records_family_id", "cost_records", ["family", "id"])


def downgrade() -> None:
    op.drop_index("ix_cost_records_family_id", table_name="cost_records")
    op.drop_table("cost_records")
    op.drop_table("budgets")
    op.drop_index("ix_usage_records_goal_at", table_name="usage_records")
    op.drop_index("ix_usage_records_user_at", table_name="usage_records")
    op.drop_table("usage_records")
