"""job results hold data only: drop the Plotly figures stored under "figures"

Results are data (summary, values, tables, series, units, artifacts); charts are drawn
by the UI from that data. Results stored before hold Plotly JSON under "figures" (about
30 KB for one priced option, tied to the Plotly version that wrote it); nothing reads
it any more, so it is removed, in batches. Everything else in a result is kept. The
downgrade cannot bring the figures back (it changes nothing).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 500
jobs = sa.table("jobs", sa.column("id", sa.Integer), sa.column("result", sa.JSON))


def upgrade() -> None:
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(jobs.c.id, jobs.c.result)
            .where(jobs.c.id > last)
            .order_by(jobs.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for job_id, result in rows:
            if isinstance(result, dict) and "figures" in result:
                kept = {key: value for key, value in result.items() if key != "figures"}
                bind.execute(sa.update(jobs).where(jobs.c.id == job_id).values(result=kept))
        last = rows[-1][0]


def downgrade() -> None:
    """The removed figures cannot be restored; results stay as they are."""
