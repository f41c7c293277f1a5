"""One cache interface, two implementations: Redis (shared, with TTLs) and in-process.

Values are serialised as JSON, or Parquet for DataFrames, never pickled: a cache
shared between machines must not be a way to run code in the app.
If Redis goes away while the app runs, the cache degrades to in-process with one
logged warning and the app keeps working.
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
    """Redis first; on a connection failure, in-process from then on (one warning)."""

    def __init__(self, primary: RedisCache, fallback: MemoryCache | None = None):
        self.primary = primary
        self.fallback = fallback or MemoryCache()
        self.degraded = False

    @property
    def backend(self) -> str:
        return self.fallback.backend if self.degraded else self.primary.backend

    def _call(self, method: str, *args):
        if not self.degraded:
            import redis

            try:
                return getattr(self.primary, method)(*args)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
                self.degraded = True
                log.warning("Redis unreachable (%s); using the in-process cache from now on", error)
        return getattr(self.fallback, method)(*args)

    def get(self, key: str, default: Any = None) -> Any:
        return self._call("get", key, default)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._call("set", key, value, ttl)

    def delete(self, key: str) -> None:
        self._call("delete", key)


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
