"""One interface over every data source: ``load_prices(symbols, source, start, end, field)``.

Sources
-------
``bundled``           real data inside installed packages (no network): 20 S&P 500
                      stocks (close), ``SPX`` (OHLCV), ``MACRO:<series>`` (quarterly).
``upload:<id>``       a validated CSV/Parquet upload (``engine.data.upload``);
                      ``dataset:<id>`` reloads any recorded dataset that has a stored copy.
``polygon``           Polygon.io daily aggregates (needs ``POLYGON_API_KEY``).
``fred``              FRED series observations (needs ``FRED_API_KEY``); symbols are series ids.
``synthetic``         seeded geometric Brownian motion, always labelled synthetic.

The result is a :class:`PriceData`: ``frame`` has a ``DatetimeIndex`` named ``date``
(ascending) and one column per symbol, or for ``field="ohlcv"`` a column
MultiIndex ``(symbol, field)`` with fields open/high/low/close/volume.
``provenance`` says where the numbers came from (see :mod:`engine.data.provenance`).

For series with one value per date (``MACRO:*``, FRED series) ``field="close"``
returns that value.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime
from typing import Any

from engine.actions.base import ActionError
from engine.actions.context import UserRef
from engine.data.provenance import build_provenance, column_label, fingerprint
from engine.data.sources import PriceData as PriceData  # the shared frame types live there
from engine.data.sources import SourceFrames as SourceFrames
from engine.lazy import pandas as pd

FIELDS = ("open", "high", "low", "close", "adj_close", "volume", "vwap", "transactions", "value")
FIELD_ALIASES = {
    "adj close": "adj_close",
    "adjclose": "adj_close",
    "adjusted_close": "adj_close",
    "adjusted close": "adj_close",
    "price": "close",
    "last": "close",
    "o": "open",
    "h": "high",
    "l": "low",
    "c": "close",
    "v": "volume",
    "vw": "vwap",
}
OHLCV = ("open", "high", "low", "close", "volume")
SOURCES = ("bundled", "upload:<dataset_id>", "polygon", "fred", "synthetic")


# ----------------------------------------------------------------------------- helpers


def parse_date(value: Any, name: str) -> pd.Timestamp | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        stamp = pd.Timestamp(value)
    else:
        try:
            stamp = pd.Timestamp(str(value).strip())
        except (ValueError, TypeError):
            raise ActionError(
                f"{name} {value!r} is not a date; use YYYY-MM-DD, e.g. 2015-01-31."
            ) from None
    if stamp is pd.NaT:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


def normalise_symbols(symbols: list[str] | str) -> list[str]:
    if isinstance(symbols, str):
        symbols = symbols.split(",")
    cleaned: list[str] = []
    for symbol in symbols:
        text = str(symbol).strip()
        if text and text not in cleaned:
            cleaned.append(text)
    if not cleaned:
        raise ActionError("Name at least one symbol, e.g. ['AAPL'] or ['SPX'].")
    return cleaned


def normalise_field(field: str) -> str:
    key = str(field).strip().lower()
    key = FIELD_ALIASES.get(key, key)
    if key != "ohlcv" and key not in FIELDS:
        raise ActionError(f"Unknown field {field!r}. Use one of: ohlcv, {', '.join(FIELDS)}.")
    return key


def unknown_symbols_error(
    unknown: list[str], available: list[str], source: str, extra: str = ""
) -> ActionError:
    parts = []
    for symbol in unknown:
        close = difflib.get_close_matches(symbol.upper(), available, n=3, cutoff=0.6)
        close += [
            name
            for name in difflib.get_close_matches(symbol, available, n=3, cutoff=0.6)
            if name not in close
        ]
        parts.append(f"{symbol} (did you mean {', '.join(close)}?)" if close else symbol)
    listing = ", ".join(available)
    return ActionError(
        f"Unknown symbol{'s' if len(unknown) > 1 else ''} for source '{source}': "
        f"{'; '.join(parts)}. Available: {listing}.{(' ' + extra) if extra else ''}"
    )


def _pick_field(frame: pd.DataFrame, field: str) -> pd.Series | None:
    if field in frame.columns:
        return frame[field]
    if field == "close" and "value" in frame.columns:
        return frame["value"]
    if field == "value" and "close" in frame.columns:
        return frame["close"]
    return None


def assemble(
    frames: dict[str, pd.DataFrame],
    field: str,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    source: str,
) -> pd.DataFrame:
    """Per-symbol field frames -> the ``PriceData.frame`` layout, restricted to [start, end]."""
    columns: dict[Any, pd.Series] = {}
    missing: list[str] = []
    for symbol, frame in frames.items():
        if field == "ohlcv":
            lacking = [name for name in ("open", "high", "low", "close") if name not in frame]
            if lacking:
                have = ", ".join(str(column) for column in frame.columns)
                missing.append(f"{symbol} (has {have})")
                continue
            for name in OHLCV:
                columns[(symbol, name)] = (
                    frame[name] if name in frame else pd.Series(float("nan"), index=frame.index)
                )
        else:
            picked = _pick_field(frame, field)
            if picked is None:
                have = ", ".join(str(column) for column in frame.columns)
                missing.append(f"{symbol} (has {have})")
                continue
            columns[symbol] = picked
    if missing:
        hint = " OHLCV needs open, high, low and close." if field == "ohlcv" else ""
        bundled_hint = (
            " In the bundled data only SPX has OHLCV; the 20 stocks have close prices."
            if source == "bundled" and field != "close"
            else ""
        )
        raise ActionError(
            f"Field '{field}' is not available for: {'; '.join(missing)}.{hint}{bundled_hint}"
        )
    result = pd.concat(columns, axis=1, sort=True) if columns else pd.DataFrame()
    if field == "ohlcv":
        result.columns = pd.MultiIndex.from_tuples(result.columns, names=["symbol", "field"])
    else:
        result.columns = pd.Index([str(column) for column in result.columns], name="symbol")
    result.index = pd.DatetimeIndex(result.index, name="date")
    if result.index.unit != "ns":
        result.index = result.index.as_unit("ns")
    result = result.sort_index()
    if start is not None:
        result = result.loc[result.index >= start]
    if end is not None:
        result = result.loc[result.index <= end + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")]
    result = result.dropna(how="all").astype("float64")
    if result.empty:
        ranges = []
        for symbol, frame in frames.items():
            valid = frame.dropna(how="all").index
            if len(valid):
                ranges.append(f"{symbol}: {valid[0]:%Y-%m-%d} .. {valid[-1]:%Y-%m-%d}")
        wanted = (
            f"{start:%Y-%m-%d}" if start is not None else "the beginning",
            f"{end:%Y-%m-%d}" if end is not None else "the end",
        )
        raise ActionError(
            f"No data between {wanted[0]} and {wanted[1]}. Available: {'; '.join(ranges)}."
        )
    return result


# ----------------------------------------------------------------------------- sources


def _bundled(symbols: list[str]) -> SourceFrames:
    from engine.data import bundled

    resolved: dict[str, str] = {}
    unknown: list[str] = []
    for symbol in symbols:
        canonical = bundled.resolve_symbol(symbol)
        if canonical is None:
            unknown.append(symbol)
        else:
            resolved[symbol] = canonical
    if unknown:
        raise unknown_symbols_error(
            unknown,
            list(bundled.catalog()),
            "bundled",
            "For other tickers use source='polygon' (needs POLYGON_API_KEY) or upload a file.",
        )
    entries = bundled.catalog()
    frames = {}
    per_symbol = {}
    notes = []
    for canonical in resolved.values():
        frames[canonical] = bundled.series(canonical)
        entry = entries[canonical]
        per_symbol[canonical] = {
            "package": entry.package,
            "loader": entry.loader,
            "frequency": entry.frequency,
            "name": entry.name,
        }
        if canonical.startswith("MACRO:"):
            notes.append(
                f"{canonical} is quarterly and dated at quarter end; the figure was published "
                "weeks later, so lag it before using it as a feature."
            )
    return SourceFrames(frames, details={"per_symbol": per_symbol}, notes=notes)


def _recorded(dataset_id_text: str, symbols: list[str], source: str) -> SourceFrames:
    from engine.data.upload import price_frames_from_dataset

    # ASCII digits only: int() also reads '+3', '0_3' and ' 3 ', which the permission
    # check in engine.actions.dispatch (dataset_references) does not take for an id, so
    # another analyst's upload was loadable under such a spelling.
    if not re.fullmatch(r"[0-9]+", dataset_id_text):
        raise ActionError(f"Source {source!r} needs a numeric dataset id, e.g. 'upload:3'.")
    dataset_id = int(dataset_id_text)
    return price_frames_from_dataset(
        dataset_id, symbols, require_upload=source.startswith("upload")
    )


def _polygon(symbols, start, end, refresh) -> SourceFrames:
    from engine.data.polygon import load_daily

    return load_daily(symbols, start, end, refresh=refresh)


def _fred(symbols, start, end, refresh) -> SourceFrames:
    from engine.data.fred import load_series

    return load_series(symbols, start, end, refresh=refresh)


def _synthetic(symbols, start, end) -> SourceFrames:
    from engine.data.synthetic import synthetic_frames

    return synthetic_frames(symbols, start=start, end=end)


def load_prices(
    symbols: list[str] | str,
    source: str = "bundled",
    start=None,
    end=None,
    field: str = "close",
    *,
    refresh: bool = False,
) -> PriceData:
    """Load prices for ``symbols`` from ``source`` between ``start`` and ``end`` (inclusive).

    ``field`` is one of open/high/low/close/adj_close/volume/vwap/value, or ``ohlcv``
    for a ``(symbol, field)`` column MultiIndex. ``refresh=True`` bypasses the cache
    of remote sources. Raises :class:`ActionError` with a clear message for unknown
    symbols (listing what is available), missing API keys, empty ranges and more.
    """
    symbols = normalise_symbols(symbols)
    field = normalise_field(field)
    start_ts = parse_date(start, "start")
    end_ts = parse_date(end, "end")
    if start_ts is not None and end_ts is not None and start_ts > end_ts:
        raise ActionError(f"start {start_ts:%Y-%m-%d} is after end {end_ts:%Y-%m-%d}.")
    source_text = str(source or "bundled").strip()
    kind = source_text.split(":", 1)[0].lower()
    if kind == "bundled":
        loaded = _bundled(symbols)
    elif kind in ("upload", "dataset"):
        if ":" not in source_text:
            raise ActionError(
                f"Source '{source_text}' needs a dataset id, e.g. 'upload:3' "
                "(list_datasets shows the ids of uploaded datasets)."
            )
        loaded = _recorded(source_text.split(":", 1)[1].strip(), symbols, kind)
    elif kind == "polygon":
        loaded = _polygon(symbols, start_ts, end_ts, refresh)
    elif kind == "fred":
        loaded = _fred(symbols, start_ts, end_ts, refresh)
    elif kind == "synthetic":
        loaded = _synthetic(symbols, start_ts, end_ts)
    else:
        names = ["bundled", "upload", "polygon", "fred", "synthetic"]
        close = difflib.get_close_matches(kind, names)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ActionError(f"Unknown source '{source_text}'.{hint} Sources: {', '.join(SOURCES)}.")
    frame = assemble(loaded.frames, field, start_ts, end_ts, kind)
    provenance = build_provenance(
        frame,
        source=source_text if kind in ("upload", "dataset") else kind,
        symbols=list(loaded.frames),
        field=field,
        synthetic=loaded.synthetic,
        requested_start=f"{start_ts:%Y-%m-%d}" if start_ts is not None else None,
        requested_end=f"{end_ts:%Y-%m-%d}" if end_ts is not None else None,
        fetched_at=loaded.fetched_at,
        details=loaded.details,
    )
    if loaded.notes:
        provenance["notes"] = list(loaded.notes)
    return PriceData(frame=frame, provenance=provenance, notes=list(loaded.notes))


# ----------------------------------------------------------------------------- recording


def record(data: PriceData, *, name: str | None = None, user_id: int | None = None) -> int:
    """Record ``data``'s provenance in the ``datasets`` table (deduplicated by source and
    fingerprint) and return the dataset id; ``data.dataset_id`` is set too.

    A view of a recorded dataset (``source="upload:<id>"`` or ``"dataset:<id>"``)
    returns that dataset's id: the view is re-created exactly from it and the
    parameters. Data that cannot be re-created from its source exactly (remote,
    synthetic) gets a Parquet copy under ``data_dir/datasets/`` so trials can be re-run.
    """
    from engine.data import files
    from storage.repositories import datasets

    provenance = data.provenance
    source = str(provenance["source"])
    kind = source.split(":", 1)[0]
    if kind in ("upload", "dataset"):
        parent = int(provenance.get("details", {}).get("dataset_id") or source.split(":", 1)[1])
        data.dataset_id = parent
        return parent
    existing = datasets.find_dataset(kind, provenance["fingerprint"])
    if existing is not None:
        data.dataset_id = existing.id
        return existing.id
    path = None
    created = False
    if kind in ("polygon", "fred", "synthetic"):
        target = files.dataset_path(provenance["fingerprint"])
        created = not target.exists()
        path = str(files.save_frame(data.frame, provenance["fingerprint"]))
    symbols = provenance.get("symbols", [])
    label = name or f"{kind}: {', '.join(symbols[:5])}{' ...' if len(symbols) > 5 else ''}"
    if provenance.get("field"):
        label += f" ({provenance['field']})"
    try:
        dataset_id = datasets.record_dataset(
            name=label,
            source=kind,
            symbols=symbols,
            start_date=provenance.get("start"),
            end_date=provenance.get("end"),
            rows=provenance.get("rows", len(data.frame)),
            fingerprint=provenance["fingerprint"],
            is_synthetic=bool(provenance.get("synthetic")),
            provenance=provenance,
            path=path,
            user_id=user_id,
        )
    except BaseException:
        if created and path:
            files.Path(path).unlink(missing_ok=True)
        raise
    data.dataset_id = dataset_id
    return dataset_id


def load_table(dataset_id: int) -> pd.DataFrame:
    """The stored table of a recorded dataset (an upload as validated, or a saved copy)."""
    from engine.data.files import read_dataset_table

    return read_dataset_table(dataset_id)


def load_dataset(dataset_id: int) -> PriceData:
    """A recorded dataset again, from its stored copy or (bundled) from its source.

    The fingerprint is checked; a mismatch is reported in ``notes`` (e.g. a new
    package version shipped different bundled data).
    """
    from storage.repositories import datasets

    record_row = datasets.get_dataset(int(dataset_id))
    if record_row is None:
        raise ActionError(f"Dataset {dataset_id} does not exist (list_datasets shows the ids).")
    provenance = dict(record_row.provenance or {})
    if record_row.path:
        frame = load_table(record_row.id)
    elif record_row.source == "bundled":
        reloaded = load_prices(
            provenance.get("symbols") or record_row.symbols,
            "bundled",
            provenance.get("requested_start"),
            provenance.get("requested_end"),
            provenance.get("field") or "close",
        )
        frame = reloaded.frame
    else:
        raise ActionError(
            f"Dataset {dataset_id} ({record_row.source}) has no stored copy to reload."
        )
    notes = []
    current = fingerprint(frame)
    if current != record_row.fingerprint:
        notes.append(
            f"The data now has fingerprint {current[:12]}…, not the recorded "
            f"{record_row.fingerprint[:12]}…: the source changed since it was recorded."
        )
    provenance.setdefault("columns", [column_label(column) for column in frame.columns])
    return PriceData(frame=frame, provenance=provenance, dataset_id=record_row.id, notes=notes)


def recorded_datasets(
    user: UserRef | None, *, source: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The recorded datasets ``user`` may see, newest first, as plain dicts (for pages and
    listings; engine.auth.permissions decides which)."""
    from engine.auth.permissions import scope_for
    from storage.repositories import datasets

    rows = []
    for row in datasets.list_datasets(scope_for(user, "dataset"), source=source, limit=limit):
        rows.append(
            {
                "dataset_id": row.id,
                "name": row.name,
                "source": row.source,
                "load_as": f"upload:{row.id}" if row.source == "upload" else f"dataset:{row.id}",
                "symbols": list(row.symbols),
                "start": row.start_date,
                "end": row.end_date,
                "rows": row.rows,
                "synthetic": row.is_synthetic,
                "fingerprint": row.fingerprint,
                "recorded_at": row.fetched_at,
                "stored_copy": bool(row.path),
            }
        )
    return rows
