"""job_attempts: why each attempt of a job ended; trials.superseded: a retried job's
trials from an attempt that was lost, which the retry replaced

A retried job used to keep only its last error (each retry overwrote the previous
one, and a success cleared it): ``job_attempts`` keeps one row per attempt that was
interrupted or failed. A job that is retried after its worker was lost re-records the
trials it had already recorded; the earlier copies are kept for the record but marked
``superseded`` so listings, goal budgets and the deflated-Sharpe count see each
configuration once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_job_attempts_job_id", "job_attempts", ["job_id", "id"])
    op.add_column(
        "trials",
        sa.Column("superseded", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("trials", "superseded")
    op.drop_index("ix_job_attempts_job_id", table_name="job_attempts")
    op.drop_table("job_attempts")
