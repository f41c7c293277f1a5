"""The largest result a job may store.

A result is one JSON value in the ``jobs`` row. Past a few hundred MB the database
refuses it (SQLite: "string or blob too big"; PostgreSQL: jsonb's 256 MB), and well
before that it costs the worker and every page that reads it gigabytes. So the runner
measures the serialised result first and fails the job with a message that says what
to ask for instead, rather than letting the final write fail. The text measured is the
text stored (:func:`encode_result`): a result is encoded once, not once to measure it and
again to write it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from engine.actions.base import ActionError
from storage.db import EncodedJSON

DEFAULT_MAX_RESULT_MB = 64.0


class ResultTooLarge(ActionError):
    """The action finished, but its result is too large to store."""


def max_result_bytes() -> int:
    raw = os.environ.get("MLTRAINER_MAX_RESULT_MB", "")
    try:
        megabytes = float(raw) if raw.strip() else DEFAULT_MAX_RESULT_MB
    except ValueError:
        megabytes = DEFAULT_MAX_RESULT_MB
    return int(max(megabytes, 0.001) * 1024 * 1024)


def check_result_size(action: str, result_json: dict[str, Any]) -> dict[str, Any]:
    """``result_json`` unchanged, or :class:`ResultTooLarge` naming its size and the limit."""
    encode_result(action, result_json)
    return result_json


def encode_result(action: str, result_json: dict[str, Any]) -> EncodedJSON:
    """``result_json`` as the JSON text to store, or :class:`ResultTooLarge` naming its
    size and the limit."""
    limit = max_result_bytes()
    text = json.dumps(result_json, default=str, separators=(",", ":"))
    size = len(text)
    if size > limit:
        raise ResultTooLarge(
            f"The result of {action} is {size / 1024 / 1024:,.0f} MB, more than the "
            f"{limit / 1024 / 1024:,.0f} MB a job may store (MLTRAINER_MAX_RESULT_MB). "
            "Ask for less at once: fewer symbols, windows or models, or a shorter date range."
        )
    return EncodedJSON(text)
