"""A Redis that answers but refuses writes (OOM under noeviction, a read-only replica
after a failover) is a cache miss, never an action failure; after it recovers, a
re-probe re-attaches every replica to the shared cache."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import redis

from storage.cache import RedisCache, ResilientCache
from tests.storage.redis_servers import redis_server

pytestmark = pytest.mark.redis


class Clock:
    """A monotonic clock the test moves forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _replica(port: int, clock: Clock) -> ResilientCache:
    return ResilientCache(
        RedisCache(f"redis://127.0.0.1:{port}/0"), reprobe_seconds=30, clock=clock
    )


def _out_of_memory(admin: redis.Redis) -> None:
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)


def test_out_of_memory_redis_is_a_miss_then_reattaches(caplog):
    clock = Clock()
    with redis_server() as port:
        admin = redis.Redis(port=port)
        first, second = _replica(port, clock), _replica(port, clock)
        first.set("shared", {"v": 1})
        assert second.get("shared") == {"v": 1}

        _out_of_memory(admin)
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            admin.set("direct", 1)  # the fault is real: Redis refuses writes
        with caplog.at_level(logging.WARNING, logger="mltrainer.cache"):
            first.set("during", 2)  # no exception: stored in-process instead
            first.set("again", 3)
        assert first.get("during") == 2 and first.backend == "memory"
        refusals = [r for r in caplog.records if "refusing" in r.getMessage()]
        assert len(refusals) == 1 and "maxmemory" in refusals[0].getMessage()
        assert first.get_or_compute("computed", lambda: 7) == 7

        clock.now += 31  # still out of memory: the re-probe fails, no new warning
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mltrainer.cache"):
            first.set("still", 4)
        assert first.backend == "memory" and not caplog.records

        admin.config_set("maxmemory", 0)
        first.set("written-while-degraded", "x")
        assert first.backend == "memory"  # the next probe is not due yet
        clock.now += 31
        first.set("after", 5)
        assert first.backend == "redis"
        assert second.get("after") == 5  # the two replicas share one cache again


def test_reattaching_forgets_keys_changed_while_degraded():
    clock = Clock()
    with redis_server() as port:
        admin = redis.Redis(port=port)
        cache = _replica(port, clock)
        cache.set("price", 1)
        _out_of_memory(admin)
        cache.set("price", 2)  # refused by Redis, kept in memory
        cache.delete("gone-key")
        admin.config_set("maxmemory", 0)
        clock.now += 31
        # Redis still held price=1; serving it after re-attaching would go back in time
        assert cache.get("price", "miss") == "miss"
        assert cache.backend == "redis"


def test_read_only_replica_after_failover_is_a_miss_then_reattaches():
    clock = Clock()
    with redis_server() as primary_port, redis_server() as port:
        admin = redis.Redis(port=port)
        cache = _replica(port, clock)
        frame = pd.DataFrame({"x": [1.0, 2.0]})
        cache.set("frame", frame)

        admin.config_set("replica-read-only", "yes")
        admin.replicaof("127.0.0.1", primary_port)  # demoted: now a read-only replica
        with pytest.raises(redis.ReadOnlyError):
            admin.set("direct", 1)
        cache.set("frame", frame)  # READONLY: no exception
        cache.delete("frame")
        assert cache.backend == "memory"
        assert cache.get("frame", "miss") == "miss"

        admin.replicaof("NO", "ONE")  # promoted again
        cache.set("k", 1)
        assert cache.backend == "memory"
        clock.now += 31
        cache.set("k", 2)
        assert cache.backend == "redis" and redis.Redis(port=port).get("mltrainer:k") == b"J2"


@pytest.mark.parametrize("fault", ["out of memory", "read-only replica"])
def test_remote_data_cache_survives_a_redis_refusing_writes(fault, tmp_path, monkeypatch):
    """The action-level fault: fetching remote data with a Redis that refuses writes."""
    from engine.config import reset_settings
    from engine.data import remote_cache
    from storage.cache import reset_cache

    with redis_server() as primary_port, redis_server() as port:
        admin = redis.Redis(port=port)
        if fault == "out of memory":
            _out_of_memory(admin)
        else:
            admin.replicaof("127.0.0.1", primary_port)
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
        monkeypatch.setenv("MLTRAINER_DATA_DIR", str(tmp_path))
        reset_settings()
        reset_cache()
        try:
            frame = pd.DataFrame(
                {"close": [1.0, 2.0]}, index=pd.DatetimeIndex(["2024-01-02", "2024-01-03"])
            )
            fetched = remote_cache.get_or_fetch(
                "test", {"symbol": "X"}, lambda: (frame, {"rows": 2}), ttl=60
            )
            assert list(fetched.frame["close"]) == [1.0, 2.0]
            again = remote_cache.get_or_fetch(
                "test", {"symbol": "X"}, lambda: pytest.fail("fetched twice"), ttl=60
            )
            assert list(again.frame["close"]) == [1.0, 2.0]
        finally:
            monkeypatch.undo()
            reset_settings()
            reset_cache()
