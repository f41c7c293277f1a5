"""The data layer's public surface: the frame types every package shares, and the calls
other packages use to get data.

- :class:`PriceData`: a loaded price (or macro series) frame and where it came from;
  ``frame`` has a ``DatetimeIndex`` named ``date`` and one column per symbol, or for
  ``field="ohlcv"`` a column MultiIndex ``(symbol, field)``.
- :class:`SourceFrames`: what one source (bundled, upload, Polygon, FRED, synthetic)
  hands the loader: one frame of fields per symbol.
- :func:`load_prices`, :func:`load_table`, :func:`record`: the loader's calls, typed.

``engine.finance`` and ``engine.ml`` import this module, never the loader or a source's
module (an import-linter contract in pyproject.toml), and the source modules import their
frame type from here rather than from the loader that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from engine.lazy import pandas as pd


@dataclass
class PriceData:
    """A loaded dataset: the numbers and where they came from."""

    frame: pd.DataFrame
    provenance: dict[str, Any]
    dataset_id: int | None = None
    notes: list[str] = dataclass_field(default_factory=list)

    @property
    def symbols(self) -> list[str]:
        return list(self.provenance.get("symbols", []))

    @property
    def fingerprint(self) -> str:
        return str(self.provenance["fingerprint"])

    @property
    def synthetic(self) -> bool:
        return bool(self.provenance.get("synthetic"))

    def close(self) -> pd.DataFrame:
        """One column per symbol of close (or value) whatever field was loaded."""
        if isinstance(self.frame.columns, pd.MultiIndex):
            return self.frame.xs("close", axis=1, level="field")
        return self.frame


@dataclass
class SourceFrames:
    """What a source hands the loader: one frame of fields per symbol."""

    frames: dict[str, pd.DataFrame]
    details: dict[str, Any] = dataclass_field(default_factory=dict)
    synthetic: bool = False
    fetched_at: str | None = None
    notes: list[str] = dataclass_field(default_factory=list)


def load_prices(
    symbols: list[str] | str,
    source: str = "bundled",
    start: Any = None,
    end: Any = None,
    field: str = "close",
    *,
    refresh: bool = False,
) -> PriceData:
    """Prices of ``symbols`` from ``source`` (see :func:`engine.data.loader.load_prices`)."""
    from engine.data import loader

    return loader.load_prices(symbols, source, start, end, field, refresh=refresh)


def load_table(dataset_id: int) -> pd.DataFrame:
    """The stored table of a recorded dataset (an upload as validated, or a saved copy)."""
    from engine.data import loader

    return loader.load_table(dataset_id)


def record(data: PriceData, *, name: str | None = None, user_id: int | None = None) -> int:
    """Record ``data``'s provenance and return its dataset id (see the loader's)."""
    from engine.data import loader

    return loader.record(data, name=name, user_id=user_id)


def survivorship_note(symbols: list[str], source: str | None) -> str | None:
    """The survivorship-bias warning when bundled S&P 500 stocks are used, else None."""
    from engine.data import bundled

    return bundled.survivorship_note(symbols, source)
