"""Content fingerprints and provenance records for every dataset mlTrainer loads.

The fingerprint (``sha256-v1``) is the SHA-256 of a canonical serialisation of a
DataFrame, so the same numbers always give the same fingerprint whatever the
source, column order or dtype they arrived in, and any changed value, date or
column name gives a different one:

1. the header ``b"mltrainer-fingerprint-v1\\n"``;
2. the column labels, sorted, as a JSON list of strings (a MultiIndex label
   ``("SPX", "close")`` becomes ``"SPX/close"``), then ``\\n``;
3. the index as ISO dates (``YYYY-MM-DD`` when every timestamp is midnight, else
   full ISO timestamps), one per line, then ``\\n``;
4. for each column in sorted-label order, its values as little-endian float64
   bytes, every NaN written as the same quiet NaN (``0x7ff8000000000000``).

Non-numeric columns (rare: a symbol column in an uploaded long table) are hashed
as their JSON-encoded string values instead of float bytes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import numpy as np

from engine.lazy import pandas as pd

FINGERPRINT_METHOD = "sha256-v1"
_CANONICAL_NAN = np.frombuffer(np.uint64(0x7FF8000000000000).tobytes(), dtype="<f8")[0]


def column_label(column: Any) -> str:
    if isinstance(column, tuple):
        return "/".join(str(part) for part in column)
    return str(column)


def iso_dates(index: pd.Index) -> list[str]:
    """ISO strings for a date index: dates only when every timestamp is midnight."""
    if len(index) == 0:
        return []
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    if (stamps == stamps.normalize()).all():
        return [stamp.strftime("%Y-%m-%d") for stamp in stamps]
    return [stamp.isoformat() for stamp in stamps]


def fingerprint(frame: pd.DataFrame) -> str:
    """The ``sha256-v1`` content fingerprint of ``frame`` (see the module docstring)."""
    digest = hashlib.sha256(b"mltrainer-fingerprint-v1\n")
    labels = [column_label(column) for column in frame.columns]
    order = sorted(range(len(labels)), key=lambda position: labels[position])
    digest.update(json.dumps([labels[position] for position in order]).encode())
    digest.update(b"\n")
    if isinstance(frame.index, pd.DatetimeIndex):
        index_text = iso_dates(frame.index)
    else:
        index_text = [str(value) for value in frame.index]
    digest.update("\n".join(index_text).encode())
    digest.update(b"\n")
    for position in order:
        column = frame.iloc[:, position]
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            values = column.to_numpy(dtype="float64", na_value=np.nan)
            values = np.where(np.isnan(values), _CANONICAL_NAN, values).astype("<f8")
            digest.update(values.tobytes())
        else:
            texts = [None if pd.isna(value) else str(value) for value in column.tolist()]
            digest.update(json.dumps(texts).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def utc_now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def date_range_of(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    if len(frame.index) == 0 or not isinstance(frame.index, pd.DatetimeIndex):
        return None, None
    first, last = iso_dates(frame.index[[0, -1]])
    return first, last


def build_provenance(
    frame: pd.DataFrame,
    *,
    source: str,
    symbols: list[str],
    field: str | None = None,
    synthetic: bool = False,
    requested_start: str | None = None,
    requested_end: str | None = None,
    fetched_at: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record every loaded dataset carries (JSON-safe)."""
    start, end = date_range_of(frame)
    return {
        "source": source,
        "symbols": list(symbols),
        "field": field,
        "start": start,
        "end": end,
        "requested_start": requested_start,
        "requested_end": requested_end,
        "fetched_at": fetched_at or utc_now_iso(),
        "rows": int(len(frame)),
        "columns": [column_label(column) for column in frame.columns],
        "fingerprint": fingerprint(frame),
        "fingerprint_method": FINGERPRINT_METHOD,
        "synthetic": bool(synthetic),
        "details": details or {},
    }
