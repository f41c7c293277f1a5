"""The database's clock, for timestamps that different processes compare.

Heartbeats are written by workers and judged stale by whichever service looks: if each
used its own clock, one host running 45 s behind would have every job it runs declared
dead. So both sides use the database server's time: :func:`database_now` where a row is
stamped, :func:`older_than` where it is judged.

- PostgreSQL: ``statement_timestamp()`` (the start of the current statement; ``now()``
  would be the start of the transaction).
- SQLite: ``strftime('%Y-%m-%d %H:%M:%f', 'now')`` padded to microseconds, the text
  form SQLAlchemy stores datetimes in, so stamps and cut-offs compare as text (SQLite's
  clock is the host's kernel clock, read by SQLite itself, not by Python).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, bindparam, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from storage.models import UTCDateTime


class database_now(FunctionElement[Any]):  # noqa: N801 (an SQL function, named like one)
    """The database server's current UTC time, as a datetime column value."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(database_now)
def _now_default(element, compiler, **kw) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(database_now, "postgresql")
def _now_postgresql(element, compiler, **kw) -> str:
    return "statement_timestamp()"


@compiles(database_now, "sqlite")
def _now_sqlite(element, compiler, **kw) -> str:
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


class database_time_ago(FunctionElement[Any]):  # noqa: N801
    """The database server's current UTC time minus a number of seconds (its argument)."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(database_time_ago)
def _ago_default(element, compiler, **kw) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"(CURRENT_TIMESTAMP - {seconds} * INTERVAL '1 second')"


@compiles(database_time_ago, "postgresql")
def _ago_postgresql(element, compiler, **kw) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"(statement_timestamp() - make_interval(secs => {seconds}))"


@compiles(database_time_ago, "sqlite")
def _ago_sqlite(element, compiler, **kw) -> str:
    # Text that sorts like the stored values ('YYYY-MM-DD HH:MM:SS.ffffff').
    seconds = compiler.process(element.clauses, **kw)
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ({seconds}) || ' seconds') || '000')"


def older_than(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], seconds: float | str
) -> ColumnElement[bool]:
    """``column`` holds a time more than ``seconds`` before the database's now (or none).
    ``seconds`` is a number, or the name of a bind parameter given when the statement runs."""
    value = (
        bindparam(seconds, type_=Float())
        if isinstance(seconds, str)
        else bindparam(None, float(seconds), type_=Float())
    )
    return or_(column < database_time_ago(value), column.is_(None))
