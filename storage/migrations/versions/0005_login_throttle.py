"""login_throttle: failed logins per (username, client) with an exponential lock

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_failure_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("username", "client", name="uq_login_throttle_key"),
    )
    op.create_index("ix_login_throttle_username", "login_throttle", ["username"])


def downgrade() -> None:
    op.drop_index("ix_login_throttle_username", table_name="login_throttle")
    op.drop_table("login_throttle")
