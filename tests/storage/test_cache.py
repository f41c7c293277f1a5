"""The cache interface on the real Redis and in-process, and degradation when Redis dies."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time

import pandas as pd
import pytest

from storage.cache import MemoryCache, RedisCache, ResilientCache


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request):
    if request.param == "memory":
        return MemoryCache()
    url = request.getfixturevalue("redis_url")
    return ResilientCache(RedisCache(url))


def test_set_get_delete(cache):
    cache.set("k", {"a": [1, 2.5, "x"]})
    assert cache.get("k") == {"a": [1, 2.5, "x"]}
    cache.delete("k")
    assert cache.get("k", "missing") == "missing"


def test_ttl_expires(cache):
    cache.set("short", 1, ttl=0.2)
    assert cache.get("short") == 1
    time.sleep(0.35)
    assert cache.get("short") is None


def test_dataframes_round_trip_without_pickle(cache):
    frame = pd.DataFrame(
        {"AAPL": [1.0, 2.0]}, index=pd.DatetimeIndex(["2020-01-02", "2020-01-03"], name="date")
    )
    cache.set("frame", frame)
    pd.testing.assert_frame_equal(cache.get("frame"), frame, check_freq=False)


def test_get_or_compute_computes_once(cache):
    calls = []

    def compute():
        calls.append(1)
        return 42

    assert cache.get_or_compute("answer", compute, ttl=60) == 42
    assert cache.get_or_compute("answer", compute, ttl=60) == 42
    assert len(calls) == 1


def test_memory_cache_is_bounded():
    cache = MemoryCache(max_entries=3)
    for i in range(5):
        cache.set(f"k{i}", i)
    assert cache.get("k0") is None and cache.get("k4") == 4


@pytest.mark.redis
def test_degrades_to_memory_when_redis_dies(caplog, redis_url):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server binary not installed")
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        cache = ResilientCache(RedisCache(f"redis://127.0.0.1:{port}/0"))
        for _ in range(50):
            try:
                cache.primary.ping()
                break
            except Exception:
                time.sleep(0.1)
        cache.set("before", 1)
        assert cache.get("before") == 1 and cache.backend == "redis"
    finally:
        process.kill()
        process.wait()
    with caplog.at_level(logging.WARNING, logger="mltrainer.cache"):
        cache.set("after", 2)
        assert cache.get("after") == 2
        cache.set("again", 3)
    assert cache.backend == "memory"
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1
