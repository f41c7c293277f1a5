"""compliance events keyed and numbered (seq, hash_scheme); the OS account behind
command-line jobs and decisions (jobs.actor, compliance_events.actor)

Existing events keep their plain SHA-256 hashes (hash_scheme NULL) and get their chain
position (seq) in id order; new events are HMAC-keyed (hash_scheme 2).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("actor", sa.String(64), nullable=True))
    with op.batch_alter_table("compliance_events") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("hash_scheme", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("actor", sa.String(64), nullable=True))
    # Number the existing chain in id order, in one pass (UPDATE ... FROM: PostgreSQL,
    # SQLite >= 3.33).
    op.execute(
        "UPDATE compliance_events SET seq = numbered.position FROM "
        "(SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS position FROM compliance_events) "
        "AS numbered WHERE numbered.id = compliance_events.id"
    )
    with op.batch_alter_table("compliance_events") as batch:
        batch.create_unique_constraint("uq_compliance_events_seq", ["seq"])


def downgrade() -> None:
    with op.batch_alter_table("compliance_events") as batch:
        batch.drop_constraint("uq_compliance_events_seq", type_="unique")
        batch.drop_column("actor")
        batch.drop_column("hash_scheme")
        batch.drop_column("seq")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("actor")
