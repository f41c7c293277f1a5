"""Real historical data that needs no network.

- 20 S&P 500 stocks, daily (adjusted) close prices 1990-01-02 .. 2022-12-28: skfolio's
  ``sp500_dataset.csv.gz`` (the file ``skfolio.datasets.load_sp500_dataset`` reads),
  shipped with this app in ``engine/data/bundled_data/`` (provenance and licence in
  its NOTICE.md) and checked against its SHA-256 before use, so the app does not
  install skfolio and its solvers just to read one file;
- the S&P 500 index ``SPX``, daily OHLC, adjusted close and volume 1999-01-04 ..
  2018-12-31 (``arch.data.sp500.load``);
- US quarterly macro series 1959Q1 .. 2009Q3 as ``MACRO:<name>``
  (``statsmodels.datasets.macrodata``), dated at the **end** of each quarter.
  The figures were published weeks after the quarter closed, so a model must lag
  them before using them as features.

The SPX and macro series are read from the installed ``arch`` and ``statsmodels``
packages, which the app needs anyway (``arch`` fits the GARCH model of
``engine.finance.risk``; ``statsmodels`` is a dependency of ``arch``).

Every frame is loaded once per process (``lru_cache``) and returned as a copy.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.lazy import pandas as pd

STOCK_NAMES = {
    "AAPL": "Apple",
    "AMD": "Advanced Micro Devices",
    "BAC": "Bank of America",
    "BBY": "Best Buy",
    "CVX": "Chevron",
    "GE": "General Electric",
    "HD": "Home Depot",
    "JNJ": "Johnson & Johnson",
    "JPM": "JPMorgan Chase",
    "KO": "Coca-Cola",
    "LLY": "Eli Lilly",
    "MRK": "Merck",
    "MSFT": "Microsoft",
    "PEP": "PepsiCo",
    "PFE": "Pfizer",
    "PG": "Procter & Gamble",
    "RRC": "Range Resources",
    "UNH": "UnitedHealth Group",
    "WMT": "Walmart",
    "XOM": "Exxon Mobil",
}

SURVIVORSHIP_NOTE = (
    "Survivorship bias: the bundled stocks are 20 of today's S&P 500 members, chosen "
    "after the fact; companies that failed or left the index are missing, so results on "
    "them are flattering."
)


def survivorship_note(symbols: list[str], source: str | None) -> str | None:
    """The survivorship warning when bundled S&P 500 stocks are used, else None."""
    if (source or "bundled").split(":", 1)[0] != "bundled":
        return None
    used = sorted({str(s).upper() for s in symbols} & set(STOCK_NAMES))
    if not used:
        return None
    return f"{SURVIVORSHIP_NOTE} ({', '.join(used)})"


MACRO_DESCRIPTIONS = {
    "realgdp": "Real GDP (billions of chained 2005 USD, SAAR)",
    "realcons": "Real personal consumption expenditures (billions of chained 2005 USD, SAAR)",
    "realinv": "Real gross private domestic investment (billions of chained 2005 USD, SAAR)",
    "realgovt": "Real federal consumption and gross investment (billions of 2005 USD, SAAR)",
    "realdpi": "Real disposable personal income (billions of chained 2005 USD, SAAR)",
    "cpi": "CPI, all urban consumers, end of quarter (1982-84 = 100, SA)",
    "m1": "M1 money stock, end of quarter (billions USD, SA)",
    "tbilrate": "3-month Treasury bill rate, quarterly average (%)",
    "unemp": "Unemployment rate (%, SA)",
    "pop": "Population, end of quarter (millions)",
    "infl": "Inflation rate (annualised log change of CPI, %)",
    "realint": "Real interest rate (tbilrate - infl, %)",
}

# The unit of each macro series (a chart's axis title; ``macro_unit``).
MACRO_UNITS = {
    "realgdp": "billions of chained 2005 USD, SAAR",
    "realcons": "billions of chained 2005 USD, SAAR",
    "realinv": "billions of chained 2005 USD, SAAR",
    "realgovt": "billions of 2005 USD, SAAR",
    "realdpi": "billions of chained 2005 USD, SAAR",
    "cpi": "index, 1982-84 = 100",
    "m1": "billions of USD",
    "tbilrate": "percent a year",
    "unemp": "percent of the labour force",
    "pop": "millions of people",
    "infl": "percent a year",
    "realint": "percent a year",
}


def macro_unit(symbol: str) -> str | None:
    """The unit of a bundled macro series ("MACRO:cpi" -> "index, 1982-84 = 100")."""
    if not str(symbol).upper().startswith("MACRO:"):
        return None
    return MACRO_UNITS.get(str(symbol).split(":", 1)[1].strip().lower())


DATA_DIR = Path(__file__).with_name("bundled_data")
SP500_FILE = DATA_DIR / "sp500_dataset.csv.gz"
# The shipped file is byte for byte skfolio 1.12.2's skfolio/datasets/data/
# sp500_dataset.csv.gz (that wheel's RECORD lists the same digest, base64
# 7iHKwovvsdCnOanOsiGE-ZU5RyaqDP3pohlB0awErA0). Recorded in every dataset's provenance.
SP500_SHA256 = "ee21cac28befb1d0a739a9ceb22184f995394726aa0cfde9a21941d1ac04ac0d"
SP500_ORIGIN = "skfolio 1.12.2"


class BundledDataError(RuntimeError):
    """A data file shipped with the app is not the file it should be."""


SPX_ALIASES = {"SPX", "^GSPC", "GSPC", "SP500", "S&P500", "^SPX"}
OHLCV_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class BundledSymbol:
    symbol: str
    name: str
    fields: tuple[str, ...]
    frequency: str
    package: str
    loader: str
    start: str
    end: str
    rows: int

    def as_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "name": self.name,
            "source": "bundled",
            "fields": ", ".join(self.fields),
            "frequency": self.frequency,
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "package": self.package,
            "loader": self.loader,
        }


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _verified_bytes(path: Path, sha256: str) -> bytes:
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise BundledDataError(
            f"{path} has SHA-256 {digest}, expected {sha256}: the data file shipped with "
            "the app was modified or truncated (restore it from version control)."
        )
    return raw


@lru_cache(maxsize=1)
def sp500_stocks() -> pd.DataFrame:
    """Daily close prices of the 20 stocks (read-only: callers get copies via ``series``).

    Parsed exactly as ``skfolio.datasets.load_sp500_dataset`` parses the same file.
    """
    raw = _verified_bytes(SP500_FILE, SP500_SHA256)
    with gzip.open(io.BytesIO(raw), mode="rt", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, sep=",", index_col=0)
    frame.index = pd.to_datetime(frame.index, format="%Y-%m-%d")
    frame = frame.astype("float64")
    frame.index = pd.DatetimeIndex(frame.index, name="date").as_unit("ns")
    return frame.sort_index()


@lru_cache(maxsize=1)
def spx_ohlcv() -> pd.DataFrame:
    # Same reasoning as above: ``arch.data.sp500.load`` reads this file, but importing
    # arch costs ~1 s.
    root = _package_dir("arch")
    path = root / "data" / "sp500" / "sp500.csv.gz" if root else None
    if path is not None and path.exists():
        frame = pd.read_csv(path)
        frame["Date"] = pd.to_datetime(frame["Date"])
        frame = frame.set_index("Date")
    else:  # pragma: no cover
        from arch.data.sp500 import load

        frame = load()
    frame = frame.rename(
        columns={
            "Open": "open",
            "High": "high",
            "Low": "low",
            "Close": "close",
            "Adj Close": "adj_close",
            "Volume": "volume",
        }
    )
    frame = frame[["open", "high", "low", "close", "adj_close", "volume"]].astype("float64")
    frame.index = pd.DatetimeIndex(frame.index, name="date").as_unit("ns")
    return frame.sort_index()


@lru_cache(maxsize=1)
def macro_quarterly() -> pd.DataFrame:
    from statsmodels.datasets import macrodata

    raw = macrodata.load_pandas().data
    periods = pd.PeriodIndex.from_fields(
        year=raw["year"].astype(int), quarter=raw["quarter"].astype(int), freq="Q"
    )
    frame = raw.drop(columns=["year", "quarter"]).astype("float64")
    frame.index = pd.DatetimeIndex(periods.to_timestamp(how="end").normalize(), name="date")
    frame.index = frame.index.as_unit("ns")
    return frame.sort_index()


def _range(frame: pd.DataFrame, column: str | None = None) -> tuple[str, str, int]:
    index = frame.index if column is None else frame[column].dropna().index
    return index[0].strftime("%Y-%m-%d"), index[-1].strftime("%Y-%m-%d"), int(len(index))


@lru_cache(maxsize=1)
def catalog() -> dict[str, BundledSymbol]:
    """Every bundled symbol with its real date range (computed from the data)."""
    entries: dict[str, BundledSymbol] = {}
    stocks = sp500_stocks()
    stocks_file = f"engine/data/{DATA_DIR.name}/{SP500_FILE.name}"
    for symbol in stocks.columns:
        start, end, rows = _range(stocks, symbol)
        entries[symbol] = BundledSymbol(
            symbol=symbol,
            name=STOCK_NAMES.get(symbol, symbol),
            fields=("close",),
            frequency="daily",
            package=f"{SP500_ORIGIN} sp500 dataset (BSD-3-Clause), shipped with the app",
            loader=f"{stocks_file} sha256:{SP500_SHA256}",
            start=start,
            end=end,
            rows=rows,
        )
    spx = spx_ohlcv()
    start, end, rows = _range(spx)
    entries["SPX"] = BundledSymbol(
        symbol="SPX",
        name="S&P 500 index",
        fields=("open", "high", "low", "close", "adj_close", "volume"),
        frequency="daily",
        package=f"arch {package_version('arch')}",
        loader="arch.data.sp500.load()",
        start=start,
        end=end,
        rows=rows,
    )
    macro = macro_quarterly()
    statsmodels_version = package_version("statsmodels")
    for column in macro.columns:
        start, end, rows = _range(macro, column)
        entries[f"MACRO:{column}"] = BundledSymbol(
            symbol=f"MACRO:{column}",
            name=MACRO_DESCRIPTIONS.get(column, column),
            fields=("value",),
            frequency="quarterly (dated at quarter end)",
            package=f"statsmodels {statsmodels_version}",
            loader="statsmodels.api.datasets.macrodata.load_pandas().data",
            start=start,
            end=end,
            rows=rows,
        )
    return entries


def resolve_symbol(symbol: str) -> str | None:
    """The canonical bundled symbol for ``symbol`` (case-insensitive, SPX aliases), or None."""
    cleaned = symbol.strip()
    upper = cleaned.upper()
    if upper in SPX_ALIASES:
        return "SPX"
    entries = catalog()
    if upper in entries:
        return upper
    if upper.startswith("MACRO:"):
        candidate = "MACRO:" + cleaned.split(":", 1)[1].strip().lower()
        if candidate in entries:
            return candidate
    return None


def series(symbol: str) -> pd.DataFrame:
    """One canonical bundled symbol as a frame of its fields (a copy)."""
    if symbol == "SPX":
        return spx_ohlcv().copy()
    if symbol.startswith("MACRO:"):
        column = symbol.split(":", 1)[1]
        return macro_quarterly()[[column]].rename(columns={column: "value"}).copy()
    return sp500_stocks()[[symbol]].rename(columns={symbol: "close"}).dropna().copy()
