"""Uploads: validate a CSV or Parquet file, store it as Parquet, record its provenance.

:func:`validate_upload` reads the bytes and collects **every** problem it finds
(each naming the line or row and the column) before raising one
:class:`DataValidationError`; harmless oddities (a byte-order mark, Latin-1 text,
descending dates, blank lines, exact duplicate rows) are fixed and reported as
notes instead.

:func:`import_upload` stores a valid table as ``data_dir/datasets/<fingerprint>.parquet``
(written to a temporary file, then renamed atomically) and only then records the
``datasets`` row; if recording fails the file is removed, so a failed upload leaves
nothing behind. The same content uploaded twice returns the first dataset.

Layouts understood by ``load_prices(..., source="upload:<id>")``:

- ``ohlcv``: one instrument, columns named like open/high/low/close/adj close/volume;
- ``long``: a ``symbol``/``ticker`` column plus field columns (one row per date and symbol);
- ``wide``: any other numeric columns, each one a series (e.g. one close column per ticker).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.actions.base import ActionError, PermissionDenied
from engine.actions.context import UserRef

log = logging.getLogger("mltrainer.data")

MISSING_TOKENS = {"", "na", "n/a", "nan", "null", "none", "-", "#n/a", ".", "--"}
DATE_NAMES = (
    "date",
    "datetime",
    "timestamp",
    "time",
    "day",
    "dt",
    "trade date",
    "tradedate",
    "observation date",
    "as of",
    "asof",
    "date time",
    "period",
)
SYMBOL_NAMES = ("symbol", "ticker", "sym", "instrument", "asset", "security", "code")
FIELD_NAMES = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "price": "close",
    "last": "close",
    "close price": "close",
    "closing price": "close",
    "adj close": "adj_close",
    "adjclose": "adj_close",
    "adj. close": "adj_close",
    "adjusted close": "adj_close",
    "volume": "volume",
    "vol": "volume",
    "vwap": "vwap",
}
PRICE_FIELDS = {"open", "high", "low", "close", "adj_close", "vwap"}
MAX_EXAMPLES = 5
EARLIEST_DATE = "1800-01-01"
LATEST_DATE = "2200-12-31"
MAX_PROBLEMS = 50
THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3}(\.\d{3})*,\d+$|^[+-]?\d+,\d+$")
CURRENCY = re.compile(r"^([+-]?)[$€£¥]\s*")
TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
SLASH_DATE = re.compile(r"^\d{1,2}([/.\-])\d{1,2}\1\d{2,4}(?:[ T].*)?$")


class DataValidationError(ActionError):
    """The file cannot be imported; ``problems`` lists every reason (each names where)."""

    def __init__(self, problems: list[str], notes: list[str] | None = None):
        self.problems = list(problems) or ["The file could not be read."]
        self.notes = list(notes or [])
        listing = "\n".join(f"- {problem}" for problem in self.problems)
        count = len(self.problems)
        super().__init__(
            f"The file cannot be imported ({count} problem{'s' if count > 1 else ''}):\n{listing}"
        )


@dataclass
class ValidatedTable:
    """A table that passed validation, ready to store."""

    frame: pd.DataFrame
    notes: list[str]
    format: str
    encoding: str | None
    delimiter: str | None
    date_column: str
    layout: str
    symbol_column: str | None
    symbols: list[str]
    field_map: dict[str, str]
    price_columns: list[str]


@dataclass
class UploadResult:
    dataset_id: int
    name: str
    rows: int
    columns: list[str]
    symbols: list[str]
    start: str | None
    end: str | None
    layout: str
    notes: list[str]
    provenance: dict[str, Any]
    deduplicated: bool = False
    preview: pd.DataFrame = field(default_factory=pd.DataFrame)


# ----------------------------------------------------------------------------- helpers


def normal_name(name: Any) -> str:
    text = str(name).strip().lower().replace("_", " ").replace("-", " ")
    text = re.sub(r"\s+", " ", text).strip(" *")
    return text


def _quote(value: Any, limit: int = 40) -> str:
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


class _Rows:
    """Where each data row came from: file lines for CSV, row numbers for Parquet."""

    def __init__(self, numbers: np.ndarray, unit: str):
        self.numbers = numbers
        self.unit = unit

    def label(self, position: int) -> str:
        return f"{self.unit} {int(self.numbers[position])}"

    def listing(self, positions, values=None) -> str:
        positions = list(positions)
        shown = []
        for index, position in enumerate(positions[:MAX_EXAMPLES]):
            text = self.label(position)
            if values is not None:
                value = values[index]
                numeric = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
                shown_value = f"{value:g}" if numeric else _quote(value)
                text += f" ({shown_value})"
            shown.append(text)
        more = len(positions) - MAX_EXAMPLES
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")

    def subset(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.numbers[mask], self.unit)


def _is_missing(series: pd.Series) -> np.ndarray:
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        text = series.astype("string").str.strip().str.lower()
        return (text.isna() | text.isin(MISSING_TOKENS)).to_numpy(dtype=bool)
    return series.isna().to_numpy(dtype=bool)


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


# ----------------------------------------------------------------------------- reading


def detect_format(data: bytes, filename: str) -> str:
    head = data[:8]
    suffix = Path(filename or "").suffix.lower()
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataValidationError(
            [
                "This is an Excel workbook, not a CSV or Parquet file: in Excel use "
                "File > Save As > 'CSV UTF-8', then upload the CSV."
            ]
        )
    if suffix in (".parquet", ".pq"):
        raise DataValidationError(
            [f"{filename!r} is named like a Parquet file but is not one (no 'PAR1' header)."]
        )
    return "csv"


def decode_text(data: bytes, notes: list[str]) -> tuple[str, str]:
    """utf-8, then utf-8-sig (byte-order mark), utf-16 (BOM), else latin-1 with a note."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data.decode("utf-8-sig"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise DataValidationError(
                [f"The file starts like UTF-16 text but byte {error.start} is invalid."]
            ) from None
        notes.append("The file is UTF-16 text; read as UTF-16.")
        return text, "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        notes.append(
            f"The file is not valid UTF-8 (first bad byte on line {line}); read it as "
            "Latin-1 (ISO-8859-1). Check accented names; save as 'CSV UTF-8' to avoid this."
        )
        return data.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str) -> str:
    sample_lines = [line for line in text[:65536].splitlines()[:30] if line.strip()]
    best, best_score = ",", 0.0
    for delimiter in (",", ";", "\t", "|"):
        try:
            counts = [len(row) for row in csv.reader(sample_lines, delimiter=delimiter)]
        except csv.Error:
            continue
        if not counts or max(counts) < 2:
            continue
        mode = max(set(counts), key=counts.count)
        score = counts.count(mode) / len(counts) * (mode > 1) + 0.001 * mode
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _field_count_problems(text: str, delimiter: str, expected: int) -> list[str]:
    """Every line whose number of fields differs from the header's (for a clear message)."""
    bad: list[tuple[int, int]] = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        for row in reader:
            if row and len(row) > expected:
                bad.append((reader.line_num, len(row)))
    except csv.Error as error:
        return [f"Line {reader.line_num}: {error} (an unclosed quote?)."]
    if not bad:
        return []
    shown = ", ".join(f"line {line} has {count}" for line, count in bad[:MAX_EXAMPLES])
    more = f" and {len(bad) - MAX_EXAMPLES} more lines" if len(bad) > MAX_EXAMPLES else ""
    return [
        f"The header has {expected} columns but {shown}{more} — a value containing the "
        f"separator {delimiter!r} must be quoted (or remove the extra field)."
    ]


def read_csv_table(data: bytes, notes: list[str]) -> tuple[pd.DataFrame, list[str], _Rows, dict]:
    text, encoding = decode_text(data, notes)
    if "\x00" in text:
        raise DataValidationError(
            ["The file contains NUL bytes: it is a binary file, not CSV text."], notes
        )
    if not text.strip():
        raise DataValidationError(["The file is empty."], notes)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    delimiter = sniff_delimiter(text)
    from engine.data import upload_limits  # it imports this module

    upload_limits.check_csv(text, delimiter)
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.ParserError as error:
        first_line = text.lstrip("\n").split("\n", 1)[0]
        try:
            expected = len(next(csv.reader([first_line], delimiter=delimiter), [])) or 1
        except csv.Error:
            expected = 1
        problems = _field_count_problems(text, delimiter, expected)
        if not problems:
            message = str(error).replace("Error tokenizing data. C error: ", "")
            problems = [f"The CSV could not be parsed: {message} (an unclosed quote?)."]
        raise DataValidationError(problems, notes) from None
    except (pd.errors.EmptyDataError, UnicodeError, ValueError) as error:
        raise DataValidationError([f"The CSV could not be read: {error}."], notes) from None
    # Lines before the header that were blank are dropped so line numbers stay exact.
    lines = np.arange(1, len(raw) + 1)
    blank_top = 0
    while blank_top < len(raw) and all(
        str(value).strip() == "" for value in raw.iloc[blank_top].tolist()
    ):
        blank_top += 1
    if blank_top >= len(raw):
        raise DataValidationError(["The file is empty."], notes)
    header = [str(value).strip() for value in raw.iloc[blank_top].tolist()]
    body = raw.iloc[blank_top + 1 :].reset_index(drop=True)
    body.columns = range(body.shape[1])
    info = {"encoding": encoding, "delimiter": delimiter}
    return body, header, _Rows(lines[blank_top + 1 :], "line"), info


def read_parquet_table(data: bytes) -> tuple[pd.DataFrame, list[str], _Rows, dict]:
    from engine.data import upload_limits  # it imports this module

    upload_limits.check_parquet(data)
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except MemoryError:  # the upload worker's memory limit: reported as such
        raise
    except Exception as error:  # pyarrow raises many types for damaged files
        raise DataValidationError(
            [f"This is not a readable Parquet file ({type(error).__name__}: {error})."]
        ) from None
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    header = []
    for column in frame.columns:
        label = "/".join(str(part) for part in column) if isinstance(column, tuple) else column
        header.append(str(label).strip())
    body = frame.reset_index(drop=True)
    body.columns = range(body.shape[1])
    return body, header, _Rows(np.arange(1, len(body) + 1), "row"), {}


# ----------------------------------------------------------------------------- parsing


def parse_dates(values: pd.Series) -> tuple[pd.Series, str | None]:
    """Parse a column of dates; returns (naive timestamps or NaT, a note or None)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = pd.Series(values)
        note = None
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
            note = "Timestamps with a time zone were converted to UTC."
        return parsed, note
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        as_text = values.map(
            lambda v: "" if pd.isna(v) else str(int(v)) if float(v).is_integer() else str(v)
        )
        values = as_text
    text = values.astype("string").str.strip()
    present = ~_is_missing(text)
    sample = text[present]
    if sample.empty:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]"), None

    def attempt(subset: pd.Series | None = None, **kwargs) -> pd.Series:
        source = text.where(present) if subset is None else subset
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # format-inference chatter
                return pd.to_datetime(source, errors="coerce", utc=True, **kwargs)
        except (ValueError, TypeError, OverflowError):
            return pd.Series(pd.NaT, index=source.index, dtype="datetime64[ns, UTC]")

    # Vectorised candidates (one format for the whole column); the best one wins.
    candidates: list[tuple[str | None, pd.Series]] = []
    if sample.str.fullmatch(r"\d{8}").all():
        candidates.append((None, attempt(format="%Y%m%d")))
    candidates.append((None, attempt(format="ISO8601")))
    first = str(sample.iloc[0])
    if SLASH_DATE.match(first):
        month_first = attempt(dayfirst=False)
        day_first = attempt(dayfirst=True)
        month_ok, day_ok = int(month_first.notna().sum()), int(day_first.notna().sum())
        if day_ok > month_ok:
            candidates.append(("Dates were read as day/month/year.", day_first))
        else:
            ambiguous = day_ok == month_ok and not month_first.equals(day_first)
            note = (
                f"Dates such as {first!r} are ambiguous; they were read as month/day/year."
                if ambiguous
                else None
            )
            candidates.append((note, month_first))
    else:
        candidates.append((None, attempt()))
    best_note, best = max(candidates, key=lambda item: int(item[1].notna().sum()))
    failed = present & best.isna().to_numpy()
    if failed.any():
        # Rows in another format are parsed one by one (slow, so only those rows).
        individually = attempt(text[failed], format="mixed")
        if individually.notna().any():
            best = best.copy()
            best[failed] = individually
            extra = (
                f"{int(individually.notna().sum())} date(s) in a different format were read "
                "individually; check them."
            )
            best_note = f"{best_note} {extra}" if best_note else extra
    note = best_note
    if sample.str.contains(TZ_SUFFIX.pattern, regex=True).any():
        note = ((note + " ") if note else "") + "Timestamps with a time zone were converted to UTC."
    return best.dt.tz_localize(None), note


def parse_numbers(values: pd.Series, delimiter: str | None) -> tuple[pd.Series, list[str]]:
    """Numbers from text: thousands separators, currency symbols and % signs removed."""
    notes: list[str] = []
    if not _is_text(values):
        if pd.api.types.is_bool_dtype(values.dtype):
            return values.astype("float64"), notes
        numeric = pd.to_numeric(values, errors="coerce")
        return numeric.astype("float64"), notes
    text = values.astype("string").str.strip()
    missing = (text.isna() | text.str.lower().isin(MISSING_TOKENS)).to_numpy(dtype=bool)
    text = text.where(~missing)
    numeric = pd.to_numeric(text, errors="coerce").astype("float64")
    if not (numeric.isna().to_numpy() & ~missing).any():
        return numeric, notes  # the common case: plain numbers
    present = text[~missing]
    if delimiter == ";" and len(present) and present.str.fullmatch(DECIMAL_COMMA.pattern).all():
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        notes.append("decimal commas read as decimal points")
    else:
        thousands = text.str.fullmatch(THOUSANDS.pattern).fillna(False).astype(bool)
        if thousands.any():
            text = text.where(~thousands, text.str.replace(",", "", regex=False))
            notes.append("thousands separators removed")
    currency = text.str.match(CURRENCY.pattern).fillna(False).astype(bool)
    if currency.any():
        text = text.str.replace(CURRENCY.pattern, r"\1", regex=True)
        notes.append("currency symbols removed")
    percent = text.str.endswith("%").fillna(False).astype(bool)
    if percent.any():
        text = text.str.rstrip("%").str.strip()
        notes.append("'%' signs removed (values kept in percent)")
    numeric = pd.to_numeric(text, errors="coerce").astype("float64")
    return numeric, notes


# ----------------------------------------------------------------------------- validation


def _find_column(requested: str, header: list[str]) -> int | None:
    for position, name in enumerate(header):
        if name == requested:
            return position
    wanted = normal_name(requested)
    for position, name in enumerate(header):
        if normal_name(name) == wanted:
            return position
    return None


def _clean_symbol(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9.:^_\-]+", "_", text.strip()).strip("_")
    return cleaned.upper()[:32] or "UPLOAD"


def validate_upload(
    data: bytes,
    filename: str = "upload.csv",
    *,
    date_column: str | None = None,
    price_columns: list[str] | None = None,
    symbol: str | None = None,
    limit_mb: float | None = None,
) -> ValidatedTable:
    """Read and check an uploaded file; raises :class:`DataValidationError` listing
    every problem, or returns the cleaned table."""
    if limit_mb is None:
        from engine.config import get_settings

        limit_mb = get_settings().upload_limit_mb
    size_mb = len(data) / (1024 * 1024)
    if size_mb > limit_mb:
        raise DataValidationError(
            [
                f"The file is {size_mb:.1f} MB; the upload limit is {limit_mb:g} MB "
                "(MLTRAINER_UPLOAD_LIMIT_MB)."
            ]
        )
    if not data or not data.strip():
        raise DataValidationError(["The file is empty."])
    notes: list[str] = []
    kind = detect_format(data, filename)
    if kind == "parquet":
        body, header, rows, info = read_parquet_table(data)
    else:
        body, header, rows, info = read_csv_table(data, notes)
    delimiter = info.get("delimiter")
    problems: list[str] = []

    # Header: names, blanks, duplicates.
    names: list[str] = []
    unnamed: set[int] = set()
    for position, name in enumerate(header):
        if not name or name.lower().startswith("unnamed:") or name.lower() in ("nan", "none"):
            unnamed.add(position)
            name = f"column {position + 1}"
        names.append(name)
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        key = name.lower()
        if key in seen:
            problems.append(
                f"Column name {name!r} appears more than once (columns {seen[key] + 1} and "
                f"{position + 1}); give each column a distinct name."
            )
            names[position] = f"{name} ({position + 1})"
        else:
            seen[key] = position
    body.columns = names

    # Blank lines are skipped.
    if len(body):
        missing_cells = np.column_stack([_is_missing(body[name]) for name in names])
        blank = np.asarray(missing_cells.all(axis=1), dtype=bool)
    else:
        missing_cells = np.zeros((0, len(names)), dtype=bool)
        blank = np.zeros(0, dtype=bool)
    if blank.any():
        notes.append(f"Skipped {int(blank.sum())} blank {rows.unit}(s).")
        body = body.loc[~blank].reset_index(drop=True)
        missing_cells = missing_cells[~blank]
        rows = rows.subset(~blank)
    if len(body) == 0:
        raise DataValidationError(problems + ["The file has a header but no data rows."], notes)
    if len(names) < 2:
        raise DataValidationError(
            problems
            + [
                f"Found only one column ({names[0]!r}); a table needs a date column and at "
                "least one numeric column. If the file uses another separator, save it as a "
                "comma-separated CSV."
            ],
            notes,
        )

    # Empty columns.
    for position, name in enumerate(names):
        if missing_cells[:, position].all():
            if position in unnamed:
                notes.append(f"Ignored column {position + 1}: it has no header and no values.")
            else:
                problems.append(
                    f"Column {name!r} has no values (it is empty on every {rows.unit})."
                )
    keep = [
        name
        for position, name in enumerate(names)
        if not (position in unnamed and missing_cells[:, position].all())
    ]
    body = body[keep]

    # The date column.
    date_name: str | None = None
    if date_column:
        found = _find_column(date_column, keep)
        if found is None:
            import difflib

            close = difflib.get_close_matches(date_column, keep, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            problems.append(
                f"There is no column {date_column!r}.{hint} Columns: {', '.join(keep)}."
            )
        else:
            date_name = keep[found]
    else:
        for wanted in DATE_NAMES:
            matches = [name for name in keep if normal_name(name) == wanted]
            if matches:
                date_name = matches[0]
                break
        if date_name is None:
            for name in keep:
                column = body[name]
                if pd.api.types.is_datetime64_any_dtype(column.dtype):
                    date_name = name
                    break
                if not _is_text(column):
                    continue
                present = column[~_is_missing(column)].astype(str).str.strip()
                if present.empty or present.str.fullmatch(r"[+-]?[\d.,]+").mean() > 0.5:
                    continue
                parsed, _ = parse_dates(present.head(200))
                if parsed.notna().mean() >= 0.9:
                    date_name = name
                    break
        if date_name is None and not (problems and date_column):
            problems.append(
                "No date column found. Name it 'date' or choose it with date_column "
                f"(columns: {', '.join(keep)})."
            )

    dates = None
    if date_name is not None:
        parsed, note = parse_dates(body[date_name])
        missing = _is_missing(body[date_name])
        empty = np.flatnonzero(missing)
        if len(empty):
            problems.append(
                f"Column {date_name!r} is empty on {rows.listing(empty)}; every row needs a date."
            )
        bad = np.flatnonzero(parsed.isna().to_numpy() & ~missing)
        if len(bad):
            values = body[date_name].iloc[bad[:MAX_EXAMPLES]].tolist()
            problems.append(
                f"Column {date_name!r} has {len(bad)} value{'s' if len(bad) > 1 else ''} that "
                f"{'are' if len(bad) > 1 else 'is'} not a date: {rows.listing(bad, values)}."
            )
        stamps = parsed.to_numpy()
        valid_mask = ~pd.isna(stamps)
        outside = np.zeros(len(stamps), dtype=bool)
        outside[valid_mask] = (stamps[valid_mask] < np.datetime64(EARLIEST_DATE)) | (
            stamps[valid_mask] > np.datetime64(LATEST_DATE)
        )
        if outside.any():
            positions = np.flatnonzero(outside)
            values = body[date_name].iloc[positions[:MAX_EXAMPLES]].tolist()
            problems.append(
                f"Column {date_name!r} has dates outside {EARLIEST_DATE[:4]}-{LATEST_DATE[:4]}: "
                f"{rows.listing(positions, values)}."
            )
            parsed = parsed.where(~outside)
        if note:
            notes.append(note)
        dates = parsed

    # Other columns: numbers, a symbol column, or text to report.
    declared: list[str] = []
    for requested in price_columns or []:
        found = _find_column(requested, keep)
        if found is None:
            problems.append(
                f"Price column {requested!r} is not in the file (columns: {', '.join(keep)})."
            )
        else:
            declared.append(keep[found])
    numeric: dict[str, pd.Series] = {}
    symbol_column: str | None = None
    symbol_values: pd.Series | None = None
    constant_symbol: str | None = None
    for name in keep:
        if name == date_name:
            continue
        column = body[name]
        missing = _is_missing(column)
        if normal_name(name) in SYMBOL_NAMES and symbol_column is None:
            texts = column.astype("string").str.strip()
            distinct = texts[~missing].unique().tolist()
            if len(distinct) == 1:
                constant_symbol = str(distinct[0])
                notes.append(f"Column {name!r} holds one symbol ({constant_symbol}) on every row.")
                continue
            empty = np.flatnonzero(missing)
            if len(empty):
                problems.append(f"Column {name!r} (the symbol) is empty on {rows.listing(empty)}.")
            symbol_column, symbol_values = name, texts
            continue
        values, how = parse_numbers(column, delimiter)
        bad = np.flatnonzero(values.isna().to_numpy() & ~missing)
        if len(bad) and len(bad) == int((~missing).sum()):
            distinct = column[~missing].astype(str).str.strip().unique()
            if len(distinct) == 1 and name not in declared:
                notes.append(
                    f"Ignored text column {name!r} (it holds {_quote(distinct[0])} on every row)."
                )
                continue
            problems.append(
                f"Column {name!r} is text, not numbers "
                f"({rows.listing(bad[:1], column.iloc[bad[:1]].tolist())}); "
                "remove it, or name it 'symbol' if it holds tickers."
            )
            continue
        if len(bad):
            values_shown = column.iloc[bad[:MAX_EXAMPLES]].tolist()
            problems.append(
                f"Column {name!r} has {len(bad)} value{'s' if len(bad) > 1 else ''} that "
                f"{'are' if len(bad) > 1 else 'is'} not a number: "
                f"{rows.listing(bad, values_shown)}."
            )
        infinite = np.flatnonzero(np.isinf(values.to_numpy(dtype="float64")))
        if len(infinite):
            problems.append(f"Column {name!r} has infinite values on {rows.listing(infinite)}.")
        if how:
            notes.append(f"Column {name!r}: {', '.join(how)}.")
        numeric[name] = values
    if not numeric and not any("is text" in problem for problem in problems):
        problems.append("There are no numeric columns besides the date.")

    # Fields, price checks.
    field_map = {
        name: FIELD_NAMES[normal_name(name)] for name in numeric if normal_name(name) in FIELD_NAMES
    }
    price_like = [name for name in numeric if field_map.get(name) in PRICE_FIELDS]
    checked = list(dict.fromkeys(declared + price_like))
    for name in checked:
        if name not in numeric:
            continue
        array = numeric[name].to_numpy(dtype="float64")
        bad = np.flatnonzero(array <= 0)
        if len(bad):
            problems.append(
                f"Column {name!r} is a price but has {len(bad)} zero or negative "
                f"value{'s' if len(bad) > 1 else ''}: "
                f"{rows.listing(bad, array[bad[:MAX_EXAMPLES]].tolist())}."
            )
    for name in numeric:
        if field_map.get(name) == "volume":
            array = numeric[name].to_numpy(dtype="float64")
            bad = np.flatnonzero(array < 0)
            if len(bad):
                problems.append(f"Column {name!r} (volume) is negative on {rows.listing(bad)}.")
    by_field = {field_name: name for name, field_name in field_map.items()}
    if "high" in by_field and "low" in by_field:
        high = numeric[by_field["high"]].to_numpy(dtype="float64")
        low = numeric[by_field["low"]].to_numpy(dtype="float64")
        bad = np.flatnonzero(high < low)
        if len(bad):
            problems.append(
                f"High is below low ({by_field['high']!r} < {by_field['low']!r}) on "
                f"{rows.listing(bad)}."
            )

    # Duplicate dates (per symbol in a long table): identical rows are dropped, rows
    # that disagree are a problem.
    if dates is not None and dates.notna().any():
        content = pd.DataFrame(numeric)
        content["__date"] = dates.to_numpy()
        key_columns = ["__date"]
        if symbol_values is not None:
            content["__symbol"] = symbol_values.to_numpy()
            key_columns.append("__symbol")
        valid = dates.notna().to_numpy()
        duplicated = content.duplicated(subset=key_columns, keep=False).to_numpy() & valid
        if duplicated.any():
            # A key conflicts when its rows are not all identical (vectorised: count the
            # distinct rows per key; positions are looked up only for the keys shown).
            subset = content[duplicated]
            distinct = subset.drop_duplicates().groupby(key_columns, sort=True).size()
            conflict_keys = list(distinct[distinct > 1].index)
            conflicts = []
            for position_in_list, key in enumerate(conflict_keys):
                parts = key if isinstance(key, tuple) else (key,)
                if position_in_list >= MAX_EXAMPLES:
                    conflicts.append((key, np.array([], dtype=int)))
                    continue
                match = np.ones(len(subset), dtype=bool)
                for column, value in zip(key_columns, parts, strict=True):
                    match &= (subset[column] == value).to_numpy()
                conflicts.append((key, np.asarray(subset.index[match])))
            if conflicts:
                shown = []
                for key, positions in conflicts[:MAX_EXAMPLES]:
                    parts = key if isinstance(key, tuple) else (key,)
                    label = pd.Timestamp(parts[0]).isoformat().replace("T00:00:00", "")
                    if len(parts) > 1:
                        label += f" / {parts[1]}"
                    where = ", ".join(rows.label(position) for position in positions[:4])
                    shown.append(f"{label} ({where})")
                more = len(conflicts) - MAX_EXAMPLES
                what = "date and symbol" if symbol_values is not None else "date"
                plural = "s" if len(conflicts) > 1 else ""
                problems.append(
                    f"{len(conflicts)} duplicated {what}{plural} with different values: "
                    f"{'; '.join(shown)}{f' and {more} more' if more > 0 else ''}. "
                    "Keep one row per date."
                )
            else:
                exact = content.duplicated(keep="first").to_numpy() & valid
                notes.append(f"Removed {int(exact.sum())} exact duplicate row(s).")
                keep_rows = ~exact
                dates = dates[keep_rows].reset_index(drop=True)
                numeric = {
                    name: values[keep_rows].reset_index(drop=True)
                    for name, values in numeric.items()
                }
                if symbol_values is not None:
                    symbol_values = symbol_values[keep_rows].reset_index(drop=True)
                rows = rows.subset(keep_rows)

    if problems:
        raise DataValidationError(
            problems[:MAX_PROBLEMS]
            + (
                [f"... and {len(problems) - MAX_PROBLEMS} more problems."]
                if len(problems) > MAX_PROBLEMS
                else []
            ),
            notes,
        )

    if dates is None:  # never: a file without a date column is reported above
        raise DataValidationError(["No date column found."], notes)
    frame = pd.DataFrame({name: values.to_numpy() for name, values in numeric.items()})
    if symbol_values is not None and symbol_column is not None:
        frame.insert(0, symbol_column, symbol_values.astype(str).to_numpy())
    frame.index = pd.DatetimeIndex(dates.to_numpy(), name="date").as_unit("ns")
    if not frame.index.is_monotonic_increasing:
        order = "descending" if frame.index.is_monotonic_decreasing else "not in date order"
        notes.append(f"Rows were {order}; sorted by date (oldest first).")
        frame = frame.sort_index(kind="stable")
    if symbol_column is not None:
        layout = "long"
        symbols = sorted(frame[symbol_column].unique().tolist())
    elif field_map:
        layout = "ohlcv"
        symbols = [_clean_symbol(symbol or constant_symbol or Path(filename or "upload").stem)]
    else:
        layout = "wide"
        symbols = [name for name in frame.columns]
    return ValidatedTable(
        frame=frame,
        notes=notes,
        format=kind,
        encoding=info.get("encoding"),
        delimiter=delimiter,
        date_column=date_name or "",
        layout=layout,
        symbol_column=symbol_column,
        symbols=[str(symbol) for symbol in symbols],
        field_map=field_map,
        price_columns=checked,
    )


# ----------------------------------------------------------------------------- import


def import_upload(
    data: bytes,
    filename: str = "upload.csv",
    *,
    user: UserRef | None = None,
    name: str | None = None,
    date_column: str | None = None,
    price_columns: list[str] | None = None,
    symbol: str | None = None,
) -> UploadResult:
    """Validate, store (atomically) and record an upload; see the module docstring."""
    import hashlib

    from engine.auth.permissions import can_write
    from engine.data import files
    from engine.data.provenance import build_provenance, utc_now_iso
    from engine.data.upload_worker import validate_in_worker
    from storage.repositories import datasets

    if user is not None and not can_write(user):
        raise PermissionDenied(f"Your role '{user.role}' cannot upload data (needs analyst).")
    try:
        table = validate_in_worker(
            data, filename, date_column=date_column, price_columns=price_columns, symbol=symbol
        )
    except ActionError:
        raise
    except Exception as error:  # a reader bug must still end in a clear message
        log.exception("unexpected error while validating upload %s", filename)
        raise DataValidationError(
            [f"The file could not be read ({type(error).__name__}: {error})."]
        ) from error
    frame = table.frame
    provenance = build_provenance(
        frame,
        source="upload",
        symbols=table.symbols,
        field=None,
        fetched_at=utc_now_iso(),
        details={
            "filename": filename,
            "file_bytes": len(data),
            "file_sha256": hashlib.sha256(data).hexdigest(),
            "format": table.format,
            "encoding": table.encoding,
            "delimiter": table.delimiter,
            "date_column": table.date_column,
            "layout": table.layout,
            "symbol_column": table.symbol_column,
            "field_map": table.field_map,
            "price_columns": table.price_columns,
            "uploaded_by": user.username if user else None,
        },
    )
    provenance["notes"] = table.notes
    fingerprint = provenance["fingerprint"]
    label = (name or Path(filename or "upload").name or "upload").strip()[:200]
    existing = datasets.find_dataset("upload", fingerprint)
    path = files.dataset_path(fingerprint)
    if existing is not None and existing.path and Path(existing.path).exists():
        return _result(existing.id, existing.name, frame, table, existing.provenance, True)
    created = not path.exists()
    if created:
        files.atomic_write_parquet(path, frame)
    try:
        dataset_id = datasets.record_dataset(
            name=label,
            source="upload",
            symbols=table.symbols,
            start_date=provenance["start"],
            end_date=provenance["end"],
            rows=len(frame),
            fingerprint=fingerprint,
            is_synthetic=False,
            provenance=provenance,
            path=str(path),
            user_id=user.id if user else None,
        )
        if existing is not None:
            datasets.set_path(dataset_id, str(path))
    except BaseException:
        if created:
            path.unlink(missing_ok=True)
        raise
    return _result(dataset_id, label, frame, table, provenance, existing is not None)


def _result(dataset_id, name, frame, table, provenance, deduplicated) -> UploadResult:
    return UploadResult(
        dataset_id=dataset_id,
        name=name,
        rows=len(frame),
        columns=[str(column) for column in frame.columns],
        symbols=table.symbols,
        start=provenance.get("start"),
        end=provenance.get("end"),
        layout=table.layout,
        notes=table.notes,
        provenance=provenance,
        deduplicated=deduplicated,
        preview=frame.head(20),
    )


# ----------------------------------------------------------------------------- loading


def _field_frame(table: pd.DataFrame, field_map: dict[str, str]) -> pd.DataFrame:
    renamed: dict[Any, str] = {}
    for column in table.columns:
        target = field_map.get(str(column)) or normal_name(column).replace(" ", "_")
        if target not in renamed.values():
            renamed[column] = target
    return table[list(renamed)].rename(columns=renamed)


def price_frames_from_dataset(dataset_id: int, symbols: list[str], *, require_upload: bool):
    """Per-symbol field frames of a recorded dataset (for ``load_prices``)."""
    from engine.data.files import read_dataset_table
    from engine.data.loader import unknown_symbols_error
    from engine.data.sources import SourceFrames
    from storage.repositories import datasets

    record = datasets.get_dataset(dataset_id)
    if record is None:
        raise ActionError(
            f"Dataset {dataset_id} does not exist; list_datasets shows uploaded datasets."
        )
    if require_upload and record.source != "upload":
        raise ActionError(
            f"Dataset {dataset_id} came from {record.source}, not an upload; "
            f"use source='dataset:{dataset_id}'."
        )
    table = read_dataset_table(dataset_id)
    provenance = record.provenance or {}
    details = provenance.get("details", {})
    layout = details.get("layout")
    frames: dict[str, pd.DataFrame] = {}
    if record.source == "upload" and layout == "long":
        column = details["symbol_column"]
        for value, group in table.groupby(column, sort=True):
            frames[str(value)] = _field_frame(
                group.drop(columns=[column]), details.get("field_map", {})
            )
    elif record.source == "upload" and layout == "ohlcv":
        frames[record.symbols[0]] = _field_frame(table, details.get("field_map", {}))
    elif record.source == "upload":
        for column in table.columns:
            frames[str(column)] = table[[column]].rename(columns={column: "close"})
    elif isinstance(table.columns, pd.MultiIndex):
        for value in table.columns.get_level_values(0).unique():
            frames[str(value)] = table[value]
    else:
        field_name = provenance.get("field") or "close"
        for column in table.columns:
            frames[str(column)] = table[[column]].rename(columns={column: field_name})
    available = list(frames)
    if [symbol.strip() for symbol in symbols] in (["*"], ["all"], ["ALL"]):
        chosen = available
    else:
        lookup = {symbol.upper(): symbol for symbol in available}
        chosen, unknown = [], []
        for symbol in symbols:
            match = symbol if symbol in frames else lookup.get(symbol.upper())
            if match is None:
                unknown.append(symbol)
            else:
                chosen.append(match)
        if unknown:
            raise unknown_symbols_error(
                unknown, available, f"dataset {dataset_id}", "Use ['*'] for every symbol."
            )
    result = {symbol: frames[symbol] for symbol in chosen}
    source_details = {
        "dataset_id": dataset_id,
        "dataset_name": record.name,
        "dataset_source": record.source,
        "dataset_fingerprint": record.fingerprint,
        "filename": details.get("filename"),
        "layout": layout,
    }
    return SourceFrames(
        result,
        details=source_details,
        synthetic=record.is_synthetic,
        fetched_at=provenance.get("fetched_at"),
        notes=list(provenance.get("notes", [])),
    )
