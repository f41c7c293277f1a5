"""Upper bounds on every action parameter, and the work budgets actions check.

An action's parameters come from Claude, forms, the loop and the CLI; none of them is
trusted to be small. Every list, dict and string in a parameter model has a maximum
(``tests/foundation/test_param_bounds.py`` walks the registry and fails on any field
without one), :func:`check_params_size` caps the JSON of a whole call (values typed
``Any`` are bounded only by that), and actions whose cost multiplies (windows ×
symbols × rows, options × steps) check a work budget before they start, with
:func:`require_within` giving one wording for the refusal.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from pydantic import Field

from engine.actions.base import ActionError

MAX_SYMBOLS = 100
MAX_NAME_CHARS = 200
MAX_SYMBOL_CHARS = 64
MAX_DATE_CHARS = 40
MAX_SOURCE_CHARS = 100
MAX_NOTE_CHARS = 5_000
MAX_COLUMNS = 500
MAX_MODELS = 200
MAX_MODEL_PARAMS = 100
MAX_WINDOWS = 20
MAX_OPTION_BATCH = 10_000
MAX_SIGNAL_POINTS = 100_000
MAX_LIST_ITEMS = 1_000
MAX_PARAMS_BYTES = 4_000_000
MAX_COMPARE_TRIALS = 500  # trials one comparison holds (compare_trials, the Trials page)
MAX_QUERY_ROWS = 100  # rows a read-only listing returns to chat (query_trials, query_jobs)

Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
Note = Annotated[str, Field(max_length=MAX_NOTE_CHARS)]
Symbol = Annotated[str, Field(min_length=1, max_length=MAX_SYMBOL_CHARS)]
SourceName = Annotated[str, Field(max_length=MAX_SOURCE_CHARS)]
DateText = Annotated[str, Field(max_length=MAX_DATE_CHARS)]
DateLike = date | DateText | None
ColumnName = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
ColumnList = Annotated[list[ColumnName], Field(max_length=MAX_COLUMNS)]
SymbolList = Annotated[list[Symbol], Field(max_length=MAX_SYMBOLS)]


def check_params_size(action: str, params: dict[str, Any]) -> None:
    """Refuse a call whose parameters are larger than any real request needs."""
    try:
        size = len(json.dumps(params, default=str))
    except (TypeError, ValueError):
        return  # validation reports what is wrong with it
    if size > MAX_PARAMS_BYTES:
        raise ActionError(
            f"The parameters of {action} are {size / 1e6:.1f} MB of JSON; the limit is "
            f"{MAX_PARAMS_BYTES / 1e6:g} MB. Send less data in one call."
        )


def require_within(what: str, amount: float, limit: float, advice: str) -> None:
    """Refuse work above ``limit`` (the same wording for every action's budget)."""
    if amount > limit:
        raise ActionError(
            f"{what} is too much work for one call ({amount:,.0f} > {limit:,.0f}); {advice}"
        )
