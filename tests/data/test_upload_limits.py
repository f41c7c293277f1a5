"""Hostile uploads, built here: a 10,000-column CSV, a small Parquet file declaring tens
of millions of rows, a column that decompresses to hundreds of MB, and a dictionary
page that expands to far more than memory. Each is refused with a clear message, from
the metadata before parsing where the metadata tells, else by the parsing process's
memory limit, never by the app process swapping or hanging."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.actions import UserRef
from engine.data.upload import DataValidationError, import_upload, validate_upload

ANALYST = UserRef(None, "tester", "analyst")
DATES = pd.bdate_range("2020-01-01", periods=200)


def _problems(call, *args, **kwargs) -> list[str]:
    with pytest.raises(DataValidationError) as raised:
        call(*args, **kwargs)
    return raised.value.problems


def _parquet(table: pa.Table, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def test_a_ten_thousand_column_csv_is_refused_from_its_header():
    header = "date," + ",".join(f"c{i}" for i in range(10_000))
    lines = [header] + [f"{day:%Y-%m-%d}," + ",".join(["1.5"] * 10_000) for day in DATES[:5]]
    data = ("\n".join(lines) + "\n").encode()
    problems = _problems(validate_upload, data, "wide.csv", limit_mb=200)
    assert any("10,001 columns" in p and "MLTRAINER_UPLOAD_MAX_COLUMNS" in p for p in problems)


def test_a_csv_with_too_many_values_is_refused_from_its_line_count(monkeypatch):
    monkeypatch.setenv("MLTRAINER_UPLOAD_MAX_CELLS", "300")
    lines = ["date,close"] + [f"{day:%Y-%m-%d},{100 + i}" for i, day in enumerate(DATES)]
    problems = _problems(validate_upload, ("\n".join(lines) + "\n").encode(), "long.csv")
    assert any("201 lines × 2 columns" in p and "MLTRAINER_UPLOAD_MAX_CELLS" in p for p in problems)


def _huge_row_count_parquet(rows: int, chunk: int = 1_000_000) -> bytes:
    """A file of a few hundred KB that declares ``rows`` rows (constant, compressed)."""
    batch = pa.table({"close": np.full(chunk, 100.0)})
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, batch.schema, compression="zstd") as writer:
        for _ in range(rows // chunk):
            writer.write_table(batch, row_group_size=chunk)
    return buffer.getvalue()


def test_a_small_parquet_declaring_tens_of_millions_of_rows_is_refused_before_reading():
    data = _huge_row_count_parquet(30_000_000)
    assert len(data) < 2_000_000  # small on disk; 240 MB of floats once read
    problems = _problems(validate_upload, data, "rows.parquet", limit_mb=200)
    assert any("30,000,000 rows × 1 columns" in p for p in problems)


def test_a_parquet_column_that_decompresses_to_hundreds_of_mb_is_refused():
    text = "A" * 200_000
    table = pa.table(
        {
            "date": pa.array(pd.bdate_range("2000-01-03", periods=500).to_numpy()),
            "note": pa.array([text] * 500),
        }
    )
    data = _parquet(table, compression="zstd", use_dictionary=False)
    assert len(data) < 1_000_000
    problems = _problems(validate_upload, data, "bomb.parquet", limit_mb=200)
    assert any("decompress to 100 MB" in p for p in problems)


def _dictionary_bomb(rows: int, text_mb: int) -> bytes:
    """One huge string stored once in a dictionary page and referenced by every row: the
    footer's sizes look modest, the decoded column is rows × text_mb."""
    dates = pd.bdate_range("1990-01-01", periods=rows)
    note = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * (text_mb * 1024 * 1024)])
    )
    table = pa.table(
        {
            "date": pa.array(dates.to_numpy()),
            "close": pa.array(np.linspace(100, 200, rows)),
            "volume": pa.array(np.full(rows, 1e6)),
            "high": pa.array(np.linspace(101, 201, rows)),
            "note": note,
        }
    )
    # Without the stored Arrow schema the reader decodes the column to plain strings.
    return _parquet(table, compression="zstd", store_schema=False)


def test_a_dictionary_bomb_stops_at_the_worker_memory_limit_not_in_the_app(monkeypatch):
    monkeypatch.setenv("MLTRAINER_UPLOAD_WORKER_MB", "768")
    data = _dictionary_bomb(rows=20_000, text_mb=4)  # 80 GB once decoded
    assert len(data) < 2_000_000
    from engine.data.upload_worker import validate_in_worker

    problems = _problems(validate_in_worker, data, "dictionary.parquet", limit_mb=200)
    assert any("768 MB" in p and "MLTRAINER_UPLOAD_WORKER_MB" in p for p in problems)


def test_uploads_are_parsed_in_the_worker_and_the_table_comes_back_unchanged():
    csv = b"Date,Open,High,Low,Close,Volume\n" + b"".join(
        f"{day:%Y-%m-%d},{10 + i},{11 + i},{9 + i},{10.5 + i},{1000 + i}\n".encode()
        for i, day in enumerate(DATES[:30])
    )
    from engine.data.upload_worker import validate_in_worker

    here = validate_upload(csv, "abc.csv", limit_mb=200)
    there = validate_in_worker(csv, "abc.csv", limit_mb=200)
    pd.testing.assert_frame_equal(there.frame, here.frame)
    assert (there.layout, there.symbols, there.notes) == (here.layout, here.symbols, here.notes)


def test_import_upload_uses_the_worker(isolated_db, monkeypatch):
    monkeypatch.setenv("MLTRAINER_UPLOAD_WORKER_MB", "768")
    with pytest.raises(DataValidationError, match="MLTRAINER_UPLOAD_WORKER_MB"):
        import_upload(_dictionary_bomb(rows=20_000, text_mb=4), "bomb.parquet", user=ANALYST)
