"""Malformed files thrown at the upload validator: each one ends in a clear
DataValidationError or a valid table, never in another exception."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.data.upload import PRICE_FIELDS, DataValidationError, validate_upload

HEADERS = [
    "date",
    "Date",
    "timestamp",
    "close",
    "Close",
    "open",
    "high",
    "low",
    "Adj Close",
    "volume",
    "price",
    "ticker",
    "AAPL",
    "value",
    "notes",
    "",
    " ",
    "Unnamed: 3",
    "caf\u00e9",
    "a,b",
    '"q"',
]
CELLS = st.one_of(
    st.sampled_from(
        [
            "2024-01-02",
            "2024-01-03",
            "02/01/2024",
            "13/01/2024",
            "1/13/2024",
            "20240104",
            "2024-01-05T10:00:00+02:00",
            "Jan 6, 2024",
            "2024-13-45",
            "0001-01-01",
            "99999-01-01",
            "",
            " ",
            ".",
            "NA",
            "nan",
            "inf",
            "-inf",
            "1e400",
            "0",
            "-1",
            "1,234.5",
            "1,5",
            "$12.30",
            "5%",
            "abc",
            "A",
            "B",
            "\u00e9",
            '"',
            '"x,y"',
            "True",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.text(max_size=8),
)


@st.composite
def csv_files(draw) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(1, 6))
    header = [draw(st.sampled_from(HEADERS)) for _ in range(width)]
    rows = draw(
        st.lists(
            st.lists(CELLS, min_size=max(width - 1, 0), max_size=width + 1),
            max_size=12,
        )
    )
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "")
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogatepass")


def check(data: bytes, **kwargs) -> None:
    try:
        table = validate_upload(data, kwargs.pop("filename", "fuzz.csv"), limit_mb=5, **kwargs)
    except DataValidationError as error:
        assert error.problems and all(isinstance(p, str) and p.strip() for p in error.problems)
        assert str(error).startswith("The file cannot be imported")
        return
    frame = table.frame
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date"
    assert frame.index.is_monotonic_increasing and not frame.index.hasnans
    assert len(frame) > 0
    numeric = frame.drop(columns=[table.symbol_column] if table.symbol_column else [])
    assert numeric.shape[1] > 0
    values = numeric.to_numpy(dtype="float64")
    assert not np.isinf(values).any()
    for name, field in table.field_map.items():
        if field in PRICE_FIELDS:
            column = frame[name].dropna()
            assert (column > 0).all()
    if table.symbol_column is None:
        assert frame.index.is_unique


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(csv_files(), st.sampled_from([None, "date", "close", "nope"]))
def test_structured_garbage(data, date_column):
    check(data, date_column=date_column)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check(data)
    check(data, filename="fuzz.parquet")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_random_text(data):
    check(data.encode("utf-8", errors="surrogatepass"))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(csv_files())
def test_import_is_all_or_nothing(isolated_db, data_dir, data):
    from engine.actions import UserRef
    from engine.data.upload import import_upload
    from storage.repositories import datasets

    folder = data_dir / "datasets"
    files_before = set(folder.glob("*")) if folder.exists() else set()
    rows_before = datasets.count_datasets()
    try:
        result = import_upload(data, "fuzz.csv", user=UserRef(None, "fuzz", "analyst"))
    except DataValidationError:
        assert (set(folder.glob("*")) if folder.exists() else set()) == files_before
        assert datasets.count_datasets() == rows_before
        return
    record = datasets.get_dataset(result.dataset_id)
    assert (
        record is not None and record.path and (folder / f"{record.fingerprint}.parquet").exists()
    )
    assert not list(folder.glob(".*.tmp"))
