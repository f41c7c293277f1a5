"""compliance events: unique prev_hash so concurrent appends cannot fork the chain

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compliance_events") as batch:
        batch.create_unique_constraint("uq_compliance_events_prev_hash", ["prev_hash"])


def downgrade() -> None:
    with op.batch_alter_table("compliance_events") as batch:
        batch.drop_constraint("uq_compliance_events_prev_hash", type_="unique")
