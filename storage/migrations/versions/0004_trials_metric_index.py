"""trials: index (metric_name, metric_value) for the metric filter and sort

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trials_metric", "trials", ["metric_name", "metric_value"])


def downgrade() -> None:
    op.drop_index("ix_trials_metric", table_name="trials")
