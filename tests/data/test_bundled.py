"""Bundled real data: real date ranges, layouts, clear errors, stable fingerprints."""

from __future__ import annotations

import base64
import hashlib
import sys

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionError
from engine.data import bundled
from engine.data.loader import load_prices
from engine.data.provenance import fingerprint

# The shipped stock prices are skfolio 1.12.2's sp500_dataset.csv.gz byte for byte: its
# SHA-256 (hex, and as skfolio's wheel RECORD lists it), and the fingerprint of the
# frame skfolio.datasets.load_sp500_dataset() returned (skfolio 1.12.2, index named
# "date", float64), so no test needs skfolio installed.
SHIPPED_SHA256 = "ee21cac28befb1d0a739a9ceb22184f995394726aa0cfde9a21941d1ac04ac0d"
SKFOLIO_RECORD_DIGEST = "7iHKwovvsdCnOanOsiGE-ZU5RyaqDP3pohlB0awErA0"
SKFOLIO_FRAME_FINGERPRINT = "301e6cb17d7a6510e77244e22eed916d534e74c53838baee792d3b8aef604943"


def test_catalog_lists_real_date_ranges():
    catalog = bundled.catalog()
    assert len([s for s in catalog.values() if s.package.startswith("skfolio")]) == 20
    assert (catalog["AAPL"].start, catalog["AAPL"].end) == ("1990-01-02", "2022-12-28")
    assert catalog["AAPL"].rows == 8313
    assert (catalog["SPX"].start, catalog["SPX"].end) == ("1999-01-04", "2018-12-31")
    assert catalog["SPX"].rows == 5031
    assert (catalog["MACRO:realgdp"].start, catalog["MACRO:realgdp"].end) == (
        "1959-03-31",
        "2009-09-30",
    )
    assert catalog["MACRO:realgdp"].rows == 203
    assert "MACRO:year" not in catalog and "MACRO:quarter" not in catalog


def test_close_prices_layout_and_range():
    data = load_prices(["aapl", "MSFT"], start="2020-01-01", end="2020-03-31")
    frame = data.frame
    assert list(frame.columns) == ["AAPL", "MSFT"]
    assert frame.index.name == "date" and isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame.index[0] == pd.Timestamp("2020-01-02")
    assert frame.index[-1] == pd.Timestamp("2020-03-31")
    assert (frame.dtypes == "float64").all()
    provenance = data.provenance
    assert provenance["source"] == "bundled" and provenance["synthetic"] is False
    assert provenance["rows"] == len(frame) == 62
    assert (provenance["start"], provenance["end"]) == ("2020-01-02", "2020-03-31")
    assert provenance["fingerprint"] == fingerprint(frame)
    aapl = provenance["details"]["per_symbol"]["AAPL"]
    assert aapl["package"].startswith("skfolio 1.12.2 sp500 dataset")
    assert aapl["loader"] == (
        f"engine/data/bundled_data/sp500_dataset.csv.gz sha256:{SHIPPED_SHA256}"
    )
    assert provenance["fetched_at"].endswith("+00:00")


def test_spx_ohlcv_multiindex():
    data = load_prices("SPX", field="ohlcv")
    frame = data.frame
    assert frame.columns.names == ["symbol", "field"]
    assert list(frame.columns.get_level_values("field")) == [
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    assert (data.provenance["start"], data.provenance["end"]) == ("1999-01-04", "2018-12-31")
    assert (frame[("SPX", "high")] >= frame[("SPX", "low")]).all()
    assert data.close().columns.tolist() == ["SPX"]


def test_macro_is_quarterly_at_quarter_end():
    data = load_prices(["MACRO:realgdp", "macro:CPI"])
    frame = data.frame
    assert list(frame.columns) == ["MACRO:realgdp", "MACRO:cpi"]
    assert frame.index[0] == pd.Timestamp("1959-03-31")
    assert frame.index[-1] == pd.Timestamp("2009-09-30")
    assert frame.index.is_quarter_end.all()
    assert frame.iloc[0, 0] == pytest.approx(2710.349)
    assert any("quarter end" in note for note in data.notes)


def test_unknown_symbol_names_it_and_suggests():
    with pytest.raises(ActionError) as error:
        load_prices(["APPL", "NOPE"])
    message = str(error.value)
    assert "APPL (did you mean AAPL" in message and "NOPE" in message
    assert "SPX" in message and "MACRO:realgdp" in message


def test_field_and_range_errors_are_clear():
    with pytest.raises(ActionError, match="only SPX has OHLCV"):
        load_prices(["AAPL"], field="ohlcv")
    with pytest.raises(ActionError, match="No data between 2030-01-01"):
        load_prices(["AAPL"], start="2030-01-01")
    with pytest.raises(ActionError, match="after end"):
        load_prices(["AAPL"], start="2020-01-01", end="2019-01-01")
    with pytest.raises(ActionError, match="Did you mean 'bundled'"):
        load_prices(["AAPL"], source="bundle")
    with pytest.raises(ActionError, match="Unknown field"):
        load_prices(["AAPL"], field="mid")


def test_fingerprint_stable_and_sensitive():
    first = load_prices(["AAPL", "KO"], start="2010-01-01", end="2010-12-31")
    again = load_prices(["KO", "AAPL"], start="2010-01-01", end="2010-12-31")
    assert first.fingerprint == again.fingerprint  # column order does not matter
    frame = first.frame.copy()
    changed = frame.copy()
    changed.iloc[100, 0] += 0.001
    assert fingerprint(changed) != first.fingerprint
    shifted = frame.copy()
    shifted.index = shifted.index + pd.Timedelta(days=1)
    assert fingerprint(shifted) != first.fingerprint
    renamed = frame.rename(columns={"AAPL": "AAPL2"})
    assert fingerprint(renamed) != first.fingerprint
    with_nan = frame.copy()
    with_nan.iloc[5, 1] = np.nan
    other_nan = frame.copy()
    other_nan.iloc[5, 1] = -np.nan
    assert fingerprint(with_nan) == fingerprint(other_nan) != first.fingerprint
    ints = pd.DataFrame({"a": [1, 2]}, index=pd.DatetimeIndex(["2020-01-01", "2020-01-02"]))
    assert fingerprint(ints) == fingerprint(ints.astype("float64"))


def test_fingerprint_is_the_documented_serialisation():
    import hashlib
    import json

    frame = pd.DataFrame(
        {"B": [1.5, np.nan], "A": [2.0, 3.0]},
        index=pd.DatetimeIndex(["2020-01-02", "2020-01-03"], name="date"),
    )
    digest = hashlib.sha256(b"mltrainer-fingerprint-v1\n")
    digest.update(json.dumps(["A", "B"]).encode() + b"\n")
    digest.update(b"2020-01-02\n2020-01-03\n")
    digest.update(np.array([2.0, 3.0], dtype="<f8").tobytes() + b"\n")
    nan = np.frombuffer(np.uint64(0x7FF8000000000000).tobytes(), dtype="<f8")[0]
    digest.update(np.array([1.5, nan], dtype="<f8").tobytes() + b"\n")
    assert fingerprint(frame) == digest.hexdigest()


# ------------------------------------------------------------- shipped data file (skfolio's)


@pytest.fixture
def fresh_stock_cache():
    """Forget the cached stock frame and catalogue before and after the test."""
    bundled.sp500_stocks.cache_clear()
    bundled.catalog.cache_clear()
    yield
    bundled.sp500_stocks.cache_clear()
    bundled.catalog.cache_clear()


def test_shipped_file_is_skfolios_file():
    raw = bundled.SP500_FILE.read_bytes()
    digest = hashlib.sha256(raw).digest()
    assert digest.hex() == SHIPPED_SHA256 == bundled.SP500_SHA256
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == SKFOLIO_RECORD_DIGEST
    assert len(raw) == 426065
    notice = (bundled.DATA_DIR / "NOTICE.md").read_text(encoding="utf-8")
    for fact in (SHIPPED_SHA256, SKFOLIO_RECORD_DIGEST, SKFOLIO_FRAME_FINGERPRINT):
        assert fact in notice
    assert "BSD 3-Clause" in notice and "skfolio 1.12.2" in notice
    licence = (bundled.DATA_DIR / "LICENSE-skfolio").read_text(encoding="utf-8")
    assert licence.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2023-2026 The skfolio developers." in licence


def test_loaded_frame_is_the_frame_skfolio_loads():
    frame = bundled.sp500_stocks()
    assert frame.shape == (8313, 20)
    assert list(frame.columns) == sorted(bundled.STOCK_NAMES)
    assert fingerprint(frame) == SKFOLIO_FRAME_FINGERPRINT
    # The first row as skfolio's docstring prints it.
    assert frame.loc["1990-01-02", ["AAPL", "AMD", "BAC", "BBY"]].tolist() == [
        0.264,
        4.125,
        4.599,
        0.144,
    ]


def test_stocks_load_without_skfolio_installed(monkeypatch, fresh_stock_cache):
    # None in sys.modules makes `import skfolio` fail and find_spec("skfolio") return
    # None: what a machine that installed requirements.txt (no skfolio) sees.
    monkeypatch.setitem(sys.modules, "skfolio", None)
    monkeypatch.setitem(sys.modules, "skfolio.datasets", None)
    frame = bundled.sp500_stocks()
    assert fingerprint(frame) == SKFOLIO_FRAME_FINGERPRINT
    assert bundled.catalog()["XOM"].rows == 8313


def test_modified_data_file_is_refused(tmp_path, monkeypatch, fresh_stock_cache):
    raw = bundled.SP500_FILE.read_bytes()
    for name, content in (("truncated.csv.gz", raw[:-10]), ("changed.csv.gz", raw + b"\0")):
        path = tmp_path / name
        path.write_bytes(content)
        monkeypatch.setattr(bundled, "SP500_FILE", path)
        bundled.sp500_stocks.cache_clear()
        with pytest.raises(bundled.BundledDataError, match="modified or truncated") as error:
            bundled.sp500_stocks()
        assert hashlib.sha256(content).hexdigest() in str(error.value)
