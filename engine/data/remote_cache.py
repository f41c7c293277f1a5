"""Cache of remote fetches: a repeated request makes no HTTP call.

Two levels, both keyed by the request (source + every parameter that changes the
answer, never the API key):

1. ``storage.cache.get_cache()`` (Redis when configured, else in-process), with a TTL;
2. a persistent Parquet copy under ``data_dir/cache/<source>/<key>.parquet`` with a
   JSON sidecar recording when it was fetched; it survives restarts and is used
   while younger than the TTL.

The TTL is ``MLTRAINER_DATA_CACHE_TTL`` seconds (default 86400, one day; ``0``
turns caching off); a call can pass its own ``ttl`` or ``refresh=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.data.files import atomic_write_json, atomic_write_parquet, cache_dir, read_parquet

log = logging.getLogger("mltrainer.data")

DEFAULT_TTL_SECONDS = 86_400.0


def default_ttl() -> float:
    raw = os.environ.get("MLTRAINER_DATA_CACHE_TTL", "")
    try:
        return max(float(raw), 0.0) if raw.strip() else DEFAULT_TTL_SECONDS
    except ValueError:
        log.warning("MLTRAINER_DATA_CACHE_TTL=%r is not a number; using one day", raw)
        return DEFAULT_TTL_SECONDS


def request_key(source: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"source": source, **request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


@dataclass
class Cached:
    frame: pd.DataFrame
    meta: dict[str, Any]
    hit: str | None  # None (fetched now), "memory" (shared cache) or "disk"


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    if isinstance(frame.index, pd.DatetimeIndex) and frame.index.unit != "ns":
        frame.index = frame.index.as_unit("ns")
    return frame


def get_or_fetch(
    source: str,
    request: dict[str, Any],
    fetch: Callable[[], tuple[pd.DataFrame, dict[str, Any]]],
    *,
    refresh: bool = False,
    ttl: float | None = None,
) -> Cached:
    """The cached answer to ``request``, or ``fetch()``'s (then cached) answer."""
    from storage.cache import get_cache

    ttl = default_ttl() if ttl is None else max(float(ttl), 0.0)
    key = request_key(source, request)
    cache_key = f"data:{source}:{key}"
    cache = get_cache()
    directory = cache_dir(source)
    parquet_path = directory / f"{key}.parquet"
    meta_path = directory / f"{key}.json"
    if ttl > 0 and not refresh:
        meta = cache.get(cache_key + ":meta")
        frame = cache.get(cache_key) if meta is not None else None
        if isinstance(frame, pd.DataFrame) and isinstance(meta, dict):
            return Cached(_normalise(frame), meta, "memory")
        if parquet_path.exists() and meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
                age = time.time() - float(meta.get("fetched_at_epoch", 0))
                if age < ttl:
                    frame = read_parquet(parquet_path)
                    remaining = ttl - age
                    cache.set(cache_key, frame, remaining)
                    cache.set(cache_key + ":meta", meta, remaining)
                    return Cached(_normalise(frame), meta, "disk")
            except (OSError, ValueError) as error:  # a damaged copy is refetched
                log.warning("ignoring damaged cache entry %s: %s", parquet_path.name, error)
    frame, details = fetch()
    meta = {
        "fetched_at": pd.Timestamp.now(tz="UTC").floor("s").isoformat(),
        "fetched_at_epoch": time.time(),
        "request": request,
        "details": details,
    }
    if ttl > 0:
        atomic_write_parquet(parquet_path, frame)
        atomic_write_json(meta_path, meta)
        cache.set(cache_key, frame, ttl)
        cache.set(cache_key + ":meta", json.loads(json.dumps(meta, default=str)), ttl)
    return Cached(_normalise(frame), meta, None)


def clear(source: str | None = None) -> int:
    """Delete the persistent copies (of one source or all); returns how many files."""
    from engine.data.files import data_dir

    root = data_dir() / "cache"
    if source:
        root = root / source
    removed = 0
    if root.exists():
        for path in root.rglob("*"):
            if path.is_file() and path.suffix in (".parquet", ".json"):
                path.unlink(missing_ok=True)
                removed += 1
    return removed
