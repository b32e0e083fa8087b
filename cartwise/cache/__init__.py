"""The cache layer: answers kept for a short while so that a shopper's repeated identical
request (a re-render, a retry) costs a lookup. In process by default (cachetools, locked);
Redis, shared by every worker, when a URL is given. Callers put the model version in their
keys, so a new model is never hidden behind an old answer. A cache never fails its caller: an
outage is a miss. Layer 2: imports nothing from cartwise but layer 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from cartwise.cache.memory import MemoryCache as MemoryCache
from cartwise.cache.stats import CacheStats as CacheStats
from cartwise.errors import ConfigurationError

__all__ = ["Cache", "CacheStats", "MemoryCache", "open"]

V = TypeVar("V")


class Cache(Protocol[V]):
    def get(self, key: str) -> V | None: ...

    def set(self, key: str, value: V) -> None: ...

    def clear(self) -> None: ...

    def stats(self) -> CacheStats:
        """Hits, misses and errors so far (for monitoring; cheap, takes no lock)."""
        ...


def open(
    url: str | None,
    *,
    ttl: float,
    encode: Callable[[V], bytes],
    decode: Callable[[bytes], V],
    maxsize: int = 10_000,
    namespace: str = "cartwise",
) -> Cache[V]:
    """An in-process cache for `url` None or "memory://", else a Redis cache (`redis://`,
    `rediss://`, `unix://`); `encode`/`decode` turn values into bytes for Redis."""
    if url is None or url in ("", "memory://"):
        return MemoryCache(maxsize=maxsize, ttl=ttl)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        shown = url.split("@")[-1]
        raise ConfigurationError(
            f"unsupported cache URL {shown!r}: use redis://host:6379/0 or leave it unset"
        )
    from cartwise.cache.redis import RedisCache

    return RedisCache(url, ttl=ttl, encode=encode, decode=decode, namespace=namespace)
