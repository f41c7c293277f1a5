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
import pandas as pd
from pydantic import BaseModel

if TYPE_CHECKING:
    from engine.actions.context import ActionContext

ROLES = ("viewer", "analyst", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}


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


@dataclass
class ActionResult:
    """What an action returns: rendered by the chat, stored by the DB, printed by the CLI.

    ``values`` must be JSON-safe (use :func:`json_safe` when in doubt); ``tables``
    hold DataFrames; ``figures`` hold Plotly figures; ``artifacts`` hold references
    (paths or ids) to files the action saved.
    """

    summary: str
    values: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)

    def to_json(self, max_table_rows: int | None = None) -> dict[str, Any]:
        """JSON-safe form; tables become lists of row objects (dates as ISO strings)."""
        tables = {}
        for name, frame in self.tables.items():
            if max_table_rows is not None:
                frame = frame.head(max_table_rows)
            tables[name] = frame_to_records(frame)
        return {
            "summary": self.summary,
            "values": json_safe(self.values),
            "tables": tables,
            "figures": {name: fig.to_json() for name, fig in self.figures.items()},
            "artifacts": dict(self.artifacts),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ActionResult:
        import plotly.io as pio

        return cls(
            summary=payload.get("summary", ""),
            values=payload.get("values", {}),
            tables={name: pd.DataFrame(rows) for name, rows in payload.get("tables", {}).items()},
            figures={
                name: pio.from_json(spec) for name, spec in payload.get("figures", {}).items()
            },
            artifacts=payload.get("artifacts", {}),
        )


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    return [json_safe(row) for row in frame.to_dict(orient="records")]


def json_safe(value: Any) -> Any:
    """Convert numpy/pandas scalars, dates and NaN into plain JSON values."""
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
        return ROLE_RANK.get(role, -1) >= ROLE_RANK[self.min_role]
