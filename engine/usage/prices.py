"""Claude prices from ``prices.toml`` (next to this module): the one table every dollar
figure is computed from."""

from __future__ import annotations

import fnmatch
import logging
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger("mltrainer.usage")

PRICES_FILE = Path(__file__).with_name("prices.toml")


@dataclass(frozen=True)
class Price:
    """Dollars per ``per_tokens`` tokens of each kind."""

    match: str
    input: float
    cache_write: float
    cache_read: float
    output: float
    per_tokens: int = 1_000_000

    def dollars(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        return (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_read_tokens * self.cache_read
            + cache_write_tokens * self.cache_write
        ) / self.per_tokens


@lru_cache(maxsize=1)
def price_table() -> tuple[list[Price], Price]:
    raw: dict[str, Any] = tomllib.loads(PRICES_FILE.read_text(encoding="utf-8"))
    per = int(raw.get("per_tokens", 1_000_000))

    def price(match: str, entry: dict[str, Any]) -> Price:
        return Price(
            match,
            input=float(entry["input"]),
            cache_write=float(entry["cache_write"]),
            cache_read=float(entry["cache_read"]),
            output=float(entry["output"]),
            per_tokens=per,
        )

    models = [price(str(entry["match"]), entry) for entry in raw.get("models", [])]
    return models, price("*", raw["default"])


@lru_cache(maxsize=64)
def price_for(model: str) -> Price:
    models, default = price_table()
    for price in models:
        if fnmatch.fnmatchcase(model, price.match):
            return price
    log.warning("no price for Claude model %r in %s; using its [default]", model, PRICES_FILE)
    return default


def usage_dollars(model: str, usage: Any) -> float:
    """The price of one Messages API ``usage`` (an SDK object or a dict)."""

    def get(name: str) -> int:
        value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, 0)
        return int(value or 0)

    return price_for(model).dollars(
        get("input_tokens"),
        get("output_tokens"),
        get("cache_read_input_tokens"),
        get("cache_creation_input_tokens"),
    )
