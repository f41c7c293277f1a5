"""Upload validation (every problem named), storage, loading and atomicity."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from engine.actions import ActionError, PermissionDenied, UserRef
from engine.data.loader import load_prices, load_table
from engine.data.upload import DataValidationError, import_upload, validate_upload

OHLCV_CSV = (
    b"Date,Open,High,Low,Close,Adj Close,Volume\n"
    b"2024-01-04,182.15,183.09,180.88,181.91,181.20,71983600\n"
    b"2024-01-03,184.22,185.88,183.43,184.25,183.53,58414500\n"
    b"2024-01-02,187.15,188.44,183.89,185.64,184.92,82488700\n"
)
ANALYST = UserRef(None, "tester", "analyst")


def problems_of(data: bytes, **kwargs) -> list[str]:
    with pytest.raises(DataValidationError) as error:
        validate_upload(data, kwargs.pop("filename", "file.csv"), **kwargs)
    assert isinstance(error.value, ActionError)
    return error.value.problems


def test_valid_ohlcv_file_is_sorted_and_typed():
    table = validate_upload(OHLCV_CSV, "aapl.csv")
    assert table.layout == "ohlcv" and table.symbols == ["AAPL"]
    assert table.frame.index.is_monotonic_increasing and table.frame.index.name == "date"
    assert table.field_map["Adj Close"] == "adj_close"
    assert any("descending" in note for note in table.notes)
    assert table.frame["Volume"].iloc[0] == 82488700


def test_every_problem_is_listed_with_line_and_column():
    data = (
        b"Date,Open,High,Low,Close,Volume,Notes\n"
        b"2024-01-02,1,2,0.5,0,100,\n"
        b"not a date,1,2,3,abc,-5,\n"
        b"2024-01-02,1,2,0.5,1.3,100,\n"
        b",1,2,0.5,1.3,100,\n"
    )
    problems = problems_of(data)
    text = "\n".join(problems)
    assert "Column 'Notes' has no values" in text
    assert "Column 'Date' has 1 value that is not a date: line 3 ('not a date')" in text
    assert "Column 'Date' is empty on line 5" in text
    assert "Column 'Close' has 1 value that is not a number: line 3 ('abc')" in text
    assert "Column 'Close' is a price but has 1 zero or negative value: line 2 (0)" in text
    assert "Column 'Volume' (volume) is negative on line 3" in text
    assert "High is below low" in text and "line 3" in text
    assert "2024-01-02 (line 2, line 4)" in text


def test_empty_and_header_only_and_binary():
    assert problems_of(b"") == ["The file is empty."]
    assert problems_of(b"  \n\n") == ["The file is empty."]
    assert problems_of(b"date,close\n") == ["The file has a header but no data rows."]
    assert "Excel" in problems_of(b"PK\x03\x04rest-of-zip")[0]
    assert "NUL bytes" in problems_of(b"date,close\n2020-01-01,\x00\x01")[0]
    assert "not a readable Parquet" in problems_of(b"PAR1garbage", filename="x.parquet")[0]


def test_ragged_lines_are_named():
    problems = problems_of(b"date,close\n2024-01-02,1\n2024-01-03,1,234\n2024-01-04,1\n")
    assert "line 3 has 3" in problems[0] and "quoted" in problems[0]


def test_encodings_bom_and_latin1_with_note():
    bom = validate_upload(b"\xef\xbb\xbfdate,close\n2024-01-02,1.5\n", "bom.csv")
    assert bom.encoding == "utf-8-sig" and bom.date_column == "date"
    latin = validate_upload("date,Caf\u00e9 close\n2024-01-02,1.5\n".encode("latin-1"), "l.csv")
    assert latin.encoding == "latin-1"
    assert "Café close" in latin.frame.columns
    assert any("Latin-1" in note and "line 1" in note for note in latin.notes)
    utf16 = validate_upload("date,close\n2024-01-02,1.5\n".encode("utf-16"), "u.csv")
    assert utf16.encoding == "utf-16"


def test_date_column_detection_and_choice():
    data = b"when,value,other\n02/01/2024,1,5\n13/01/2024,2,6\n"
    table = validate_upload(data, "x.csv")
    assert table.date_column == "when"
    assert list(table.frame.index) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-13")]
    assert any("day/month/year" in note for note in table.notes)
    chosen = validate_upload(b"a,b\n2024-01-02,1\n", "x.csv", date_column="A")
    assert chosen.date_column == "a"
    problems = problems_of(b"a,b\n2024-01-02,1\n", date_column="dtae")
    assert "There is no column 'dtae'" in problems[0]
    assert "No date column found" in problems_of(b"a,b\n1,2\n3,4\n")[0]


def test_declared_price_columns_are_checked():
    data = b"date,AAPL,MSFT\n2024-01-02,1,-2\n2024-01-03,0,3\n"
    assert validate_upload(data, "wide.csv").layout == "wide"
    problems = problems_of(data, price_columns=["AAPL", "msft", "IBM"])
    text = "\n".join(problems)
    assert "'AAPL' is a price but has 1 zero or negative value: line 3 (0)" in text
    assert "'MSFT' is a price but has 1 zero or negative value: line 2 (-2)" in text
    assert "Price column 'IBM' is not in the file" in text


def test_text_and_duplicate_columns():
    problems = problems_of(b"date,close,sector,close\n2024-01-02,1,Tech,2\n2024-01-03,1,Energy,2\n")
    text = "\n".join(problems)
    assert "Column name 'close' appears more than once (columns 2 and 4)" in text
    assert "Column 'sector' is text, not numbers (line 2 ('Tech'))" in text


def test_friendly_fixes_become_notes():
    data = (
        b"date;close;volume;currency\n"
        b"2024-01-02;1,5;1.000;EUR\n"
        b"\n"
        b"2024-01-03;1,6;2.000;EUR\n"
        b"2024-01-03;1,6;2.000;EUR\n"
    )
    table = validate_upload(data, "eu.csv")
    assert table.frame["close"].tolist() == [1.5, 1.6]
    notes = " ".join(table.notes)
    assert "decimal commas" in notes and "blank" in notes
    assert "exact duplicate" in notes and "Ignored text column 'currency'" in notes


def test_parquet_upload():
    frame = pd.DataFrame(
        {"close": [1.0, 2.0], "volume": [10, 20]},
        index=pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="Date"),
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    table = validate_upload(buffer.getvalue(), "prices.parquet", symbol="xyz")
    assert table.format == "parquet" and table.symbols == ["XYZ"]
    assert table.frame["close"].tolist() == [1.0, 2.0]
    bad = frame.copy()
    bad.iloc[1, 0] = -1.0
    buffer = io.BytesIO()
    bad.to_parquet(buffer)
    problems = problems_of(buffer.getvalue(), filename="p.parquet")
    assert "row 2 (-1)" in problems[0]


def test_size_limit():
    problems = problems_of(OHLCV_CSV, limit_mb=0.0001)
    assert "upload limit is 0.0001 MB" in problems[0]


def test_import_store_load_and_dedup(isolated_db, data_dir):
    result = import_upload(OHLCV_CSV, "aapl.csv", user=ANALYST, name="Apple daily")
    assert result.dataset_id and result.layout == "ohlcv" and not result.deduplicated
    stored = list((data_dir / "datasets").glob("*.parquet"))
    assert len(stored) == 1 and stored[0].stem == result.provenance["fingerprint"]
    data = load_prices(["AAPL"], f"upload:{result.dataset_id}", field="ohlcv")
    assert data.frame[("AAPL", "close")].tolist() == [185.64, 184.25, 181.91]
    assert data.provenance["source"] == f"upload:{result.dataset_id}"
    assert load_prices("aapl", f"upload:{result.dataset_id}", field="adj_close").frame.shape == (
        3,
        1,
    )
    table = load_table(result.dataset_id)
    assert list(table.columns) == ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    again = import_upload(OHLCV_CSV, "renamed.csv", user=ANALYST)
    assert again.deduplicated and again.dataset_id == result.dataset_id
    with pytest.raises(ActionError, match="did you mean AAPL"):
        load_prices(["AAPK"], f"upload:{result.dataset_id}")


def test_long_layout(isolated_db):
    data = b"date,ticker,close\n2024-01-02,A,1\n2024-01-02,B,2\n2024-01-03,A,1.1\n"
    result = import_upload(data, "long.csv", user=ANALYST)
    assert result.layout == "long" and result.symbols == ["A", "B"]
    frame = load_prices(["*"], f"upload:{result.dataset_id}").frame
    assert list(frame.columns) == ["A", "B"] and frame.loc["2024-01-03", "A"] == 1.1
    problems = problems_of(b"date,ticker,close\n2024-01-02,A,1\n2024-01-02,A,2\n2024-01-02,B,2\n")
    assert "duplicated date and symbol" in problems[0] and "2024-01-02 / A" in problems[0]


def test_viewers_cannot_upload(isolated_db):
    with pytest.raises(PermissionDenied):
        import_upload(OHLCV_CSV, "a.csv", user=UserRef(None, "v", "viewer"))


def test_failed_upload_leaves_nothing(isolated_db, data_dir, monkeypatch):
    from storage.repositories import datasets

    before = datasets.count_datasets()
    with pytest.raises(DataValidationError):
        import_upload(b"date,close\n2024-01-02,0\n", "bad.csv", user=ANALYST)
    folder = data_dir / "datasets"
    assert not folder.exists() or not any(folder.iterdir())

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(datasets, "record_dataset", broken)
    with pytest.raises(RuntimeError):
        import_upload(OHLCV_CSV, "a.csv", user=ANALYST)
    assert not any(folder.iterdir())  # no Parquet file, no temporary file
    assert datasets.count_datasets() == before


def test_unknown_upload_id(isolated_db):
    with pytest.raises(ActionError, match="Dataset 999 does not exist"):
        load_prices(["X"], "upload:999")
    with pytest.raises(ActionError, match="needs a dataset id"):
        load_prices(["X"], "upload")


def test_dates_out_of_range_and_mixed_formats():
    problems = problems_of(b"date,close\n0001-01-01,1\n2024-01-03,2\n")
    assert "dates outside 1800-2200: line 2 ('0001-01-01')" in problems[0]
    table = validate_upload(b"date,close\n2024-01-02,1\nJan 3 2024,2\n", "mixed.csv")
    assert table.frame.index[-1] == pd.Timestamp("2024-01-03")
    assert any("different format" in note for note in table.notes)
