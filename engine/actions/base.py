"""The action contract: the one shape every capability of mlTrainer takes.

An action is a typed function registered once and reused by chat, page forms, the
autonomous loop, the CLI and tests. Callers never run an action's function
directly; they go through ``engine.actions.call`` so that validation, permissions,
compliance, metrics and persistence happen in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from engine.lazy import pandas as pd

if TYPE_CHECKING:
    from engine.actions.context import ActionContext


class ActionError(Exception):
    """An error the user can fix; its message is shown to them verbatim."""


class PermissionDenied(ActionError):
    """The user's role does not allow this call."""


class NeedsConfirmation(ActionError):
    """The action runs generated code, changes goals or deletes: the user must confirm."""


class PolicyBlocked(ActionError):
    """A compliance rule refused the call; the message names the rule and the reason."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"Blocked by rule '{rule}': {reason}")
        self.rule = rule
        self.reason = reason


class JobCancelled(Exception):
    """Raised inside an action (via ``ctx.raise_if_cancelled()``) to stop at a safe point."""


MAX_SERIES_POINTS = 2000


def _column_list(values: Any) -> list[Any]:
    """One column as a JSON-safe list: floats (NaN/inf -> None), ints, bools, ISO dates, text."""
    if isinstance(values, (pd.Series, pd.Index)):
        if not isinstance(values.dtype, np.dtype):  # nullable, categorical, tz-aware dates
            return [json_safe(v) for v in values.to_numpy(dtype=object, na_value=None)]
        array = values.to_numpy()
    else:
        array = np.asarray(values)
    if array.dtype.kind == "f":
        cleaned = array.astype(float, copy=False)
        finite = np.isfinite(cleaned)
        if finite.all():
            return cleaned.tolist()
        return [v if ok else None for v, ok in zip(cleaned.tolist(), finite.tolist(), strict=True)]
    if array.dtype.kind in "iub":
        return array.tolist()
    if array.dtype.kind == "M":
        missing = np.isnat(array)
        seconds = array.astype("datetime64[s]")
        if (missing | (seconds == array)).all():  # whole seconds: isoformat's text, at once
            text = np.datetime_as_string(seconds, unit="s").tolist()
            return [None if gap else one for one, gap in zip(text, missing.tolist(), strict=True)]
        return [None if pd.isna(v) else v.isoformat() for v in pd.DatetimeIndex(array)]
    return [json_safe(v) for v in array.tolist()]


def downsample_positions(length: int, max_points: int) -> np.ndarray:
    """Every k-th position (the last one always kept) so at most ``max_points`` remain."""
    if length <= max_points:
        return np.arange(length)
    step = int(np.ceil(length / max_points))
    keep = np.arange(0, length, step)
    if keep[-1] != length - 1:
        keep = np.append(keep[: max_points - 1], length - 1)
    return keep


@dataclass
class Series:
    """Named x/y data a chart is drawn from: one ``x`` column and one or more ``y`` columns
    of the same length (an equity curve, an efficient frontier, a payoff curve, a
    histogram). Long data is downsampled evenly over its whole range (the last point is
    always kept); ``total_points`` says how many points there were before.

    - ``x``: numbers or ISO dates; ``x_label`` names it.
    - ``y``: column name -> values (``None`` where missing).
    - ``labels``: an optional category per point (e.g. the split a prediction came from)
      or a text per point (e.g. the symbol of an asset).
    - ``units``: column name (x or y) -> unit ("fraction", "currency", "count", ...).
    - ``title``: what the data is, in words (a chart's title).
    """

    x: list[Any]
    y: dict[str, list[Any]]
    x_label: str = "x"
    labels: list[str] | None = None
    units: dict[str, str] = field(default_factory=dict)
    total_points: int | None = None
    title: str = ""

    def __post_init__(self) -> None:
        for name, column in self.y.items():
            if len(column) != len(self.x):
                raise ValueError(
                    f"series column {name!r} has {len(column)} values, x {len(self.x)}"
                )
        if self.labels is not None and len(self.labels) != len(self.x):
            raise ValueError(f"series has {len(self.labels)} labels for {len(self.x)} points")
        if self.total_points is None:
            self.total_points = len(self.x)

    @property
    def points(self) -> int:
        return len(self.x)

    @classmethod
    def from_frame(
        cls,
        data: pd.DataFrame | pd.Series,
        *,
        x: str | None = None,
        x_label: str | None = None,
        labels: Any = None,
        units: dict[str, str] | None = None,
        title: str = "",
        max_points: int | None = MAX_SERIES_POINTS,
    ) -> Series:
        """From a frame (or one named series): ``x`` is a column, else the index; every
        other column is a ``y`` column. ``labels`` is a column name or a sequence."""
        frame = data.to_frame() if isinstance(data, pd.Series) else data
        if isinstance(labels, str):
            label_values = frame[labels]
            frame = frame.drop(columns=[labels])
        else:
            label_values = labels
        if x is not None:
            x_values = frame[x]
            frame = frame.drop(columns=[x])
            name = x
        else:
            x_values = frame.index
            name = frame.index.name or "x"
        total = len(frame)
        keep = downsample_positions(total, max_points) if max_points else np.arange(total)
        if len(keep) < total:
            frame = frame.iloc[keep]
            x_values = np.asarray(x_values)[keep]
            if label_values is not None:
                label_values = np.asarray(label_values)[keep]
        return cls(
            x=_column_list(x_values),
            y={str(column): _column_list(frame[column]) for column in frame.columns},
            x_label=x_label or str(name),
            labels=None if label_values is None else [str(v) for v in np.asarray(label_values)],
            units=dict(units or {}),
            total_points=total,
            title=title,
        )

    def frame(self) -> pd.DataFrame:
        """The y columns indexed by x (dates stay ISO text; plotting libraries read it)."""
        frame = pd.DataFrame(self.y, index=pd.Index(self.x, name=self.x_label))
        if self.labels is not None:
            frame["label"] = self.labels
        return frame

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"x_label": self.x_label, "x": self.x, "y": self.y}
        if self.title:
            payload["title"] = self.title
        if self.labels is not None:
            payload["labels"] = self.labels
        if self.units:
            payload["units"] = self.units
        if self.total_points != len(self.x):
            payload["total_points"] = self.total_points
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> Series:
        return cls(
            x=list(payload.get("x", [])),
            y={str(k): list(v) for k, v in (payload.get("y") or {}).items()},
            x_label=payload.get("x_label", "x"),
            labels=payload.get("labels"),
            units=dict(payload.get("units") or {}),
            total_points=payload.get("total_points"),
            title=payload.get("title", ""),
        )


@dataclass
class ActionResult:
    """What an action returns: data, never pictures. The chat and pages render it (charts
    are drawn from it by the presenters in ``ui/presenters``), the database stores its
    :meth:`to_json`, the CLI prints it and Claude reads a compact form of it.

    - ``summary``: a short text.
    - ``values``: JSON-safe values (use :func:`json_safe` when in doubt).
    - ``tables``: DataFrames; stored as lists of row objects (dates as ISO strings).
    - ``units``: optional units of table columns: table name -> column -> unit.
    - ``value_units``: units of top-level ``values`` (name -> unit, e.g. "fraction",
      "fraction a year", "ratio", "date", "count", "per vol point"). The values named
      here are the result's headline numbers, in this order; pages format them by
      their unit (a fraction as a percentage, a date without a time).
    - ``series``: named :class:`Series` (x/y data such as equity curves, frontiers,
      payoff curves, histograms), downsampled where long.
    - ``artifacts``: references (paths or ids) to files the action saved.
    """

    summary: str
    values: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    units: dict[str, dict[str, str]] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    value_units: dict[str, str] = field(default_factory=dict)

    def to_json(
        self, max_table_rows: int | None = None, *, columnar: bool = False
    ) -> dict[str, Any]:
        """JSON-safe form; tables become lists of row objects (dates as ISO strings), or
        with ``columnar`` (how results are stored) ``{"columns": [names], "data": [one
        list per column]}``: the names once rather than in every row, which is a third
        to a half of a long table's bytes, and quicker to write and to read back."""
        encode = frame_to_columns if columnar else frame_to_records
        tables: dict[str, Any] = {}
        for name, frame in self.tables.items():
            if max_table_rows is not None:
                frame = frame.head(max_table_rows)
            tables[name] = encode(frame)
        payload: dict[str, Any] = {
            "summary": self.summary,
            "values": json_safe(self.values),
            "tables": tables,
            "series": {name: one.to_json() for name, one in self.series.items()},
            "artifacts": dict(self.artifacts),
        }
        if self.units:
            payload["units"] = {name: dict(units) for name, units in self.units.items()}
        if self.value_units:
            payload["value_units"] = dict(self.value_units)
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ActionResult:
        """Read a stored result back, its tables in either form of :meth:`to_json`
        (results stored before results were data may still hold Plotly figures under
        "figures": they are ignored, never parsed)."""
        return cls(
            summary=payload.get("summary", ""),
            values=payload.get("values", {}),
            tables={
                name: frame_from_json(rows) for name, rows in payload.get("tables", {}).items()
            },
            series={
                name: Series.from_json(spec) for name, spec in (payload.get("series") or {}).items()
            },
            units={name: dict(u) for name, u in (payload.get("units") or {}).items()},
            artifacts=payload.get("artifacts", {}),
            value_units=dict(payload.get("value_units") or {}),
        )


def _frame_columns(frame: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    index = frame.index
    names: list[str] = []
    columns: list[list[Any]] = []
    if isinstance(index, pd.MultiIndex) or (
        not isinstance(index, pd.RangeIndex) and (index.name is None or index.name in frame)
    ):
        frame = frame.reset_index()  # names the index column(s) as reset_index does
    elif not isinstance(index, pd.RangeIndex):  # a named index: its column, without a copy
        names.append(str(index.name))
        columns.append(_column_list(index))
    names += [str(column) for column in frame.columns]
    columns += [_column_list(column) for _, column in frame.items()]  # by position
    return names, columns


def frame_to_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """A table as ``{"columns": [names], "data": [JSON-safe list per column]}`` (a named
    index becomes a column)."""
    names, columns = _frame_columns(frame)
    return {"columns": names, "data": columns}


def frame_from_json(table: Any) -> pd.DataFrame:
    """A stored table: rows as objects, or the columnar form of :func:`frame_to_columns`."""
    if isinstance(table, dict) and "columns" in table:
        names, data = list(table["columns"]), list(table.get("data") or [])
        frame = pd.DataFrame(dict(enumerate(data))) if data else pd.DataFrame()
        if data:
            frame.columns = pd.Index(names)
        else:
            frame = pd.DataFrame(columns=names)
        return frame
    return pd.DataFrame(table)


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe objects (a named index becomes a column), converted a column at
    a time: NaN and infinities become null, dates ISO strings."""
    names, columns = _frame_columns(frame)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def json_safe(value: Any) -> Any:
    """Convert numpy/pandas scalars, dates and NaN into plain JSON values."""
    kind = type(value)
    # Most leaves of a result are plain str/int/float/None: answered before the
    # isinstance chain below (results hold thousands of them).
    if kind is str or kind is int or value is None:
        return value
    if kind is float:
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, pd.Series):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        as_float = float(value)
        return None if math.isnan(as_float) or math.isinf(as_float) else as_float
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if value is pd.NaT:
        return None
    return value


RunFunction = Callable[[BaseModel, "ActionContext"], ActionResult]


@dataclass(frozen=True)
class Action:
    """A registered capability.

    - ``long``: runs as a background job rather than inline.
    - ``cpu_bound``: the local executor uses a process pool (else a thread pool).
    - ``idempotent``: safe to retry after a worker died mid-run.
    - ``min_role``: the lowest role allowed to call it (checked server-side).
    - ``needs_confirmation``: chat must ask the user before running it
      (generated code, goal changes, deletions).
    """

    name: str
    description: str
    params_model: type[BaseModel]
    run: RunFunction
    long: bool = False
    cpu_bound: bool = True
    idempotent: bool = True
    min_role: str = "analyst"
    needs_confirmation: bool = False
    category: str = "general"

    def parameter_schema(self) -> dict[str, Any]:
        return self.params_model.model_json_schema()

    def allows(self, role: str) -> bool:
        """Whether ``role`` may run this action (the rule lives in engine.auth.permissions)."""
        from engine.auth.permissions import role_at_least

        return role_at_least(role, self.min_role)
