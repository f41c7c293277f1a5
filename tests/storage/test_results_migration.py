"""Migration 0007 removes the Plotly figures stored in job results before results were
data, and keeps everything else, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from storage.migrate import upgrade
from tests.conftest import _drop_postgres_schema, _new_postgres_schema, _new_sqlite_url

jobs = sa.table(
    "jobs",
    sa.column("id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("params", sa.JSON),
    sa.column("status", sa.String),
    sa.column("inline", sa.Boolean),
    sa.column("cpu_bound", sa.Boolean),
    sa.column("idempotent", sa.Boolean),
    sa.column("progress", sa.Float),
    sa.column("attempts", sa.Integer),
    sa.column("max_attempts", sa.Integer),
    sa.column("cancel_requested", sa.Boolean),
    sa.column("created_at", sa.DateTime),
    sa.column("result", sa.JSON),
)
FIGURE = '{"data":[{"type":"scatter","x":[1,2],"y":[3,4]}],"layout":{"template":{}}}'
LEGACY = {
    "summary": "European call: price 10.4506",
    "values": {"price": 10.450583572185565},
    "tables": {"options": [{"price": 10.450583572185565}]},
    "figures": {"profile": FIGURE},
    "artifacts": {},
}
CURRENT = {"summary": "s", "values": {"figures": 3}, "tables": {}, "series": {}, "artifacts": {}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield _new_sqlite_url(tmp_path)
        return
    schema, url = _new_postgres_schema()
    yield url
    _drop_postgres_schema(schema)


def test_stored_figures_are_dropped_and_the_data_kept(empty_url):
    upgrade(empty_url, "0006")
    engine = sa.create_engine(empty_url)
    common = {
        "action": "price_option",
        "params": {},
        "status": "succeeded",
        "inline": True,
        "cpu_bound": True,
        "idempotent": True,
        "progress": 1.0,
        "attempts": 1,
        "max_attempts": 3,
        "cancel_requested": False,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }
    with engine.begin() as connection:
        for result in (LEGACY, CURRENT, None):
            connection.execute(sa.insert(jobs).values(**common, result=result))
    engine.dispose()
    upgrade(empty_url)
    engine = sa.create_engine(empty_url)
    with engine.connect() as connection:
        stored = [
            row[0] for row in connection.execute(sa.select(jobs.c.result).order_by(jobs.c.id))
        ]
    engine.dispose()
    assert stored[0] == {key: value for key, value in LEGACY.items() if key != "figures"}
    assert stored[1] == CURRENT  # a value named "figures" is data, not a figure
    assert stored[2] is None
