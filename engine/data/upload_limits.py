"""How large an upload may be once parsed, judged from its metadata before parsing.

The byte limit (``MLTRAINER_UPLOAD_LIMIT_MB``) says little about what a file becomes:
a compressed Parquet file of a few hundred KB can declare a billion rows, and a CSV of
a few MB can have 10,000 columns, each validated on its own. Both are refused here from
what is known before the parser runs: the Parquet footer (rows, columns, uncompressed
size of every column chunk) and the CSV header and line count.
"""

from __future__ import annotations

import csv
import io
import os

from engine.data.upload import DataValidationError

DEFAULT_MAX_COLUMNS = 1_000
DEFAULT_MAX_CELLS = 20_000_000
# Uncompressed bytes a cell may take on average (dates, numbers, short symbols need
# 8-16); more means the file decompresses to far more than a table of prices.
DECODED_BYTES_PER_CELL = 64


def _limit(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return max(int(float(raw)), 1) if raw.strip() else default
    except ValueError:
        return default


def max_columns() -> int:
    return _limit("MLTRAINER_UPLOAD_MAX_COLUMNS", DEFAULT_MAX_COLUMNS)


def max_cells() -> int:
    return _limit("MLTRAINER_UPLOAD_MAX_CELLS", DEFAULT_MAX_CELLS)


def shape_problems(rows: int, columns: int, unit: str) -> list[str]:
    problems = []
    if columns > max_columns():
        problems.append(
            f"The file has {columns:,} columns; an upload may have at most {max_columns():,} "
            "(MLTRAINER_UPLOAD_MAX_COLUMNS). Split it into several files."
        )
    if rows * columns > max_cells():
        problems.append(
            f"The file has {rows:,} {unit}s × {columns:,} columns = {rows * columns:,} values; "
            f"an upload may hold at most {max_cells():,} (MLTRAINER_UPLOAD_MAX_CELLS). "
            "Upload a shorter period or fewer columns."
        )
    return problems


def check_parquet(data: bytes) -> None:
    """Refuse a Parquet file whose footer declares too many rows, columns or bytes."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    try:
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
    except Exception:  # noqa: BLE001 - a damaged file is reported by the reader itself
        return
    problems = shape_problems(meta.num_rows, meta.num_columns, "row")
    decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    allowed = max(meta.num_rows * meta.num_columns, 1) * DECODED_BYTES_PER_CELL
    allowed = min(allowed, max_cells() * DECODED_BYTES_PER_CELL)
    if decoded > allowed:
        problems.append(
            f"The file is {len(data) / 1e6:,.1f} MB but its columns decompress to "
            f"{decoded / 1e6:,.0f} MB, more than a table of {meta.num_rows:,} rows × "
            f"{meta.num_columns:,} columns needs ({allowed / 1e6:,.0f} MB): upload the "
            "table without oversized text columns."
        )
    if problems:
        raise DataValidationError(problems)


def check_csv(text: str, delimiter: str) -> None:
    """Refuse a CSV whose header has too many columns or whose lines × columns are too many."""
    header = next((line for line in text[:1_000_000].split("\n") if line.strip()), "")
    try:
        columns = len(next(csv.reader([header], delimiter=delimiter), []))
    except csv.Error:
        return  # the parser reports a broken header with its line
    rows = text.count("\n")
    problems = shape_problems(rows, max(columns, 1), "line")
    if problems:
        raise DataValidationError(problems)
