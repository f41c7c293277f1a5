"""One cache interface, two implementations: Redis (shared, with TTLs) and in-process.

Values are serialised as JSON, or Parquet for DataFrames, never pickled: a cache
shared between machines must not be a way to run code in the app.
Redis errors are never the caller's problem: if Redis goes away, runs out of memory
under ``noeviction`` or turns into a read-only replica after a failover, the cache
degrades to in-process with one logged warning, and every operation that failed is a
miss. A degraded cache re-probes Redis (with a real write) every
``MLTRAINER_CACHE_REPROBE_SECONDS`` (default 30) and re-attaches when writes succeed,
so replicas share one cache again after the outage.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, cast

import pandas as pd

log = logging.getLogger("mltrainer.cache")

_MISSING = object()


def encode(value: Any) -> bytes:
    if isinstance(value, pd.DataFrame):
        buffer = io.BytesIO()
        value.to_parquet(buffer)
        return b"P" + buffer.getvalue()
    if isinstance(value, bytes):
        return b"B" + value
    return b"J" + json.dumps(value).encode()


def decode(blob: bytes) -> Any:
    tag, body = blob[:1], blob[1:]
    if tag == b"P":
        return pd.read_parquet(io.BytesIO(body))
    if tag == b"B":
        return body
    return json.loads(body)


class Cache(Protocol):
    @property
    def backend(self) -> str: ...

    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any, ttl: float | None = None) -> None: ...
    def delete(self, key: str) -> None: ...
    def get_or_compute(self, key: str, compute: Callable[[], Any], ttl: float | None = None): ...


class _GetOrCompute(ABC):
    @abstractmethod
    def get(self, key: str, default: Any = None) -> Any: ...

    @abstractmethod
    def set(self, key: str, value: Any, ttl: float | None = None) -> None: ...

    def get_or_compute(self, key: str, compute: Callable[[], Any], ttl: float | None = None):
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value
        value = compute()
        self.set(key, value, ttl)
        return value


class MemoryCache(_GetOrCompute):
    """A bounded LRU with per-entry TTL; stores encoded bytes so values behave as in Redis."""

    backend = "memory"

    def __init__(self, max_entries: int = 2048):
        self._data: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: str, default: Any = None) -> Any:
        from storage.metrics import CACHE_REQUESTS

        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry[0] is not None and entry[0] < time.monotonic():
                del self._data[key]
                entry = None
            if entry is None:
                CACHE_REQUESTS.labels(self.backend, "miss").inc()
                return default
            self._data.move_to_end(key)
        CACHE_REQUESTS.labels(self.backend, "hit").inc()
        return decode(entry[1])

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        expires = time.monotonic() + ttl if ttl else None
        blob = encode(value)
        with self._lock:
            self._data[key] = (expires, blob)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisCache(_GetOrCompute):
    backend = "redis"

    def __init__(self, url: str, prefix: str = "mltrainer:"):
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def ping(self) -> bool:
        return bool(self._client.ping())

    def probe(self) -> None:
        """Raise unless Redis accepts a write: a PING answers on an OOM server or a
        read-only replica too, so only a write says the cache is usable again."""
        self._client.set(self.prefix + "probe", b"1", px=10_000)

    def get(self, key: str, default: Any = None) -> Any:
        from storage.metrics import CACHE_REQUESTS

        blob = self._client.get(self.prefix + key)
        if blob is None:
            CACHE_REQUESTS.labels(self.backend, "miss").inc()
            return default
        CACHE_REQUESTS.labels(self.backend, "hit").inc()
        return decode(cast(bytes, blob))  # the client does not decode responses: bytes

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        milliseconds = int(ttl * 1000) if ttl else None
        self._client.set(self.prefix + key, encode(value), px=milliseconds)

    def delete(self, key: str) -> None:
        self._client.delete(self.prefix + key)


class ResilientCache(_GetOrCompute):
    """Redis first; on any Redis error, in-process (one warning) until a re-probe succeeds.

    While degraded, this process may write or delete keys that Redis still holds with an
    older value; on re-attaching those keys are deleted from Redis (at most
    ``max_tracked_keys``, after which Redis entries may be stale until their TTL)."""

    def __init__(
        self,
        primary: RedisCache,
        fallback: MemoryCache | None = None,
        *,
        reprobe_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_tracked_keys: int = 10_000,
    ):
        self.primary = primary
        self.fallback = fallback or MemoryCache()
        self.reprobe_seconds = reprobe_interval() if reprobe_seconds is None else reprobe_seconds
        self.degraded = False
        self._clock = clock
        self._next_probe = 0.0
        self._touched: set[str] = set()
        self._touched_overflow = False
        self.max_tracked_keys = max_tracked_keys
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return self.fallback.backend if self.degraded else self.primary.backend

    def _degrade(self, error: Exception) -> None:
        with self._lock:
            first = not self.degraded
            self.degraded = True
            self._next_probe = self._clock() + self.reprobe_seconds
        if first:
            log.warning(
                "Redis unreachable or refusing commands (%s: %s); using the in-process cache, "
                "re-probing every %.0f s",
                type(error).__name__,
                error,
                self.reprobe_seconds,
            )

    def _primary_usable(self) -> bool:
        if not self.degraded:
            return True
        with self._lock:
            if not self.degraded:
                return True
            if self._clock() < self._next_probe:
                return False
            # one caller probes; the others keep using memory until it has decided
            self._next_probe = self._clock() + self.reprobe_seconds
            touched, overflow = self._touched, self._touched_overflow
        try:
            self.primary.probe()
            for key in touched:
                self.primary.delete(key)
        except _redis_errors() as error:
            log.debug("Redis re-probe failed: %s", error)
            return False
        with self._lock:
            self.degraded = False
            self._touched = set()
            self._touched_overflow = False
        log.warning(
            "Redis accepts writes again; the cache is shared again%s",
            " (some keys written while degraded may be stale until their TTL)" if overflow else "",
        )
        return True

    def _remember(self, key: str) -> None:
        with self._lock:
            if len(self._touched) < self.max_tracked_keys:
                self._touched.add(key)
            else:
                self._touched_overflow = True

    def _call(self, method: str, key: str, *args):
        if self._primary_usable():
            try:
                return getattr(self.primary, method)(key, *args)
            except _redis_errors() as error:
                self._degrade(error)
        if method != "get":
            self._remember(key)
        return getattr(self.fallback, method)(key, *args)

    def get(self, key: str, default: Any = None) -> Any:
        return self._call("get", key, default)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._call("set", key, value, ttl)

    def delete(self, key: str) -> None:
        self._call("delete", key)


def _redis_errors() -> tuple[type[Exception], ...]:
    """Every failure Redis can report: connection loss, timeouts, OOM and READONLY
    replies (``ResponseError``), a protocol error, and the socket's own ``OSError``."""
    import redis

    return (redis.RedisError, OSError)


def reprobe_interval() -> float:
    from storage.settings import read

    try:
        return max(float(read("MLTRAINER_CACHE_REPROBE_SECONDS", "30")), 0.0)
    except ValueError:
        log.warning("MLTRAINER_CACHE_REPROBE_SECONDS is not a number; re-probing every 30 s")
        return 30.0


_cache: Cache | None = None
_cache_lock = threading.Lock()


def build_cache(redis_url: str | None) -> Cache:
    if not redis_url:
        return MemoryCache()
    return ResilientCache(RedisCache(redis_url))


def get_cache() -> Cache:
    global _cache
    with _cache_lock:
        if _cache is None:
            from storage.settings import get_storage_settings

            _cache = build_cache(get_storage_settings().redis_url)
        return _cache


def reset_cache() -> None:
    global _cache
    with _cache_lock:
        _cache = None
