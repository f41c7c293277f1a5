"""Real historical data shipped inside installed packages: usable with no network.

- 20 S&P 500 stocks, daily close prices 1990-01-02 .. 2022-12-28
  (``skfolio.datasets.load_sp500_dataset``);
- the S&P 500 index ``SPX``, daily OHLC, adjusted close and volume 1999-01-04 ..
  2018-12-31 (``arch.data.sp500.load``);
- US quarterly macro series 1959Q1 .. 2009Q3 as ``MACRO:<name>``
  (``statsmodels.datasets.macrodata``), dated at the **end** of each quarter.
  The figures were published weeks after the quarter closed, so a model must lag
  them before using them as features.

Every frame is loaded once per process (``lru_cache``) and returned as a copy.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

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


@lru_cache(maxsize=1)
def sp500_stocks() -> pd.DataFrame:
    """Daily close prices of the 20 stocks (read-only: callers get copies via ``series``)."""
    # Importing skfolio costs ~2 s (it pulls in scikit-learn); its data file is the
    # same CSV that ``load_sp500_dataset`` reads, so read it directly when present.
    root = _package_dir("skfolio")
    path = root / "datasets" / "data" / "sp500_dataset.csv.gz" if root else None
    if path is not None and path.exists():
        with gzip.open(path, mode="rt", encoding="utf-8") as handle:
            frame = pd.read_csv(handle, sep=",", index_col=0)
        frame.index = pd.to_datetime(frame.index, format="%Y-%m-%d")
    else:  # pragma: no cover - layout of a future skfolio release
        from skfolio.datasets import load_sp500_dataset

        frame = load_sp500_dataset()
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
    skfolio_version = package_version("skfolio")
    for symbol in stocks.columns:
        start, end, rows = _range(stocks, symbol)
        entries[symbol] = BundledSymbol(
            symbol=symbol,
            name=STOCK_NAMES.get(symbol, symbol),
            fields=("close",),
            frequency="daily",
            package=f"skfolio {skfolio_version}",
            loader="skfolio.datasets.load_sp500_dataset()",
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
