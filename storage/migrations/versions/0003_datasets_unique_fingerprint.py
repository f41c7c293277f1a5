"""datasets: one row per (source, fingerprint), enforced by a unique index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_index("ix_datasets_source_fingerprint")
        batch.create_index("ix_datasets_source_fingerprint", ["source", "fingerprint"],
                           unique=True)


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_index("ix_datasets_source_fingerprint")
        batch.create_index("ix_datasets_source_fingerprint", ["source", "fingerprint"])
