"""`stats()`: what each cache counts about itself for `/metrics` — every `get` a hit or a miss,
and for Redis the calls that could not reach it."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest

from cartwise import cache
from cartwise.cache import CacheStats, MemoryCache


def text_cache(url: str | None, **kw: Any) -> cache.Cache[str]:
    return cache.open(
        url,
        ttl=5.0,
        encode=str.encode,
        decode=bytes.decode,
        namespace=f"t-{uuid.uuid4().hex}",
        **kw,
    )


def test_a_new_cache_has_counted_nothing() -> None:
    assert MemoryCache[str]().stats() == CacheStats(hits=0, misses=0, errors=0)


def test_memory_counts_hits_and_misses_and_expiry_is_a_miss() -> None:
    now = [0.0]
    c: MemoryCache[str] = MemoryCache(ttl=10.0, timer=lambda: now[0])
    c.get("k")
    c.set("k", "v")
    c.get("k")
    c.get("k")
    now[0] = 11.0
    c.get("k")
    c.clear()
    assert c.stats() == CacheStats(hits=2, misses=2, errors=0)


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_every_backend_counts_the_same_way(backend: str, request: pytest.FixtureRequest) -> None:
    url = None if backend == "memory" else request.getfixturevalue("redis_url")
    c = text_cache(url)
    assert c.get("a") is None
    c.set("a", "1")
    assert c.get("a") == "1"
    assert c.get("b") is None
    assert c.stats() == CacheStats(hits=1, misses=2, errors=0)


def test_redis_out_of_reach_counts_errors_and_misses(redis_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens once closed
    c = text_cache(f"redis://127.0.0.1:{dead}/0")
    c.set("k", "v")
    assert c.get("k") is None
    stats = c.stats()
    assert stats.errors == 1  # the set failed; the get stood aside without trying
    assert (stats.hits, stats.misses) == (0, 1)
