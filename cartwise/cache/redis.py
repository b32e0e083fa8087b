"""A cache on Redis, shared by every worker and host, that never fails its caller.

Redis is a cache here, never the system of record: any error (refused, timed out, a reply that
does not decode) counts as a miss or a skipped write, is logged once per outage, and makes the
cache stand aside for `cooldown` seconds so an outage costs each request nothing (not a socket
timeout apiece). The pause doubles with each failed try, up to `max_cooldown`: a Redis that
does not answer at all (a blackhole) costs one socket timeout per worker every `max_cooldown`
seconds, not every second, and a returning Redis is used again within `max_cooldown`.
Short socket timeouts keep a slow Redis from holding a storefront answer.
Layer 2: imports nothing from cartwise but layer 0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import redis

from cartwise.cache.pause import Pause
from cartwise.cache.stats import CacheStats

__all__ = ["RedisCache"]

log = logging.getLogger(__name__)

V = TypeVar("V")


class RedisCache(Generic[V]):
    """Values under `namespace:key` for `ttl` seconds, stored as `encode(value)` bytes."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        encode: Callable[[V], bytes],
        decode: Callable[[bytes], V],
        namespace: str = "cartwise",
        timeout: float = 0.05,
        cooldown: float = 1.0,
        max_cooldown: float = 16.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=0,
            retry_on_timeout=False,
        )
        self._ttl_ms = max(1, int(ttl * 1000))
        self._encode = encode
        self._decode = decode
        self._prefix = f"{namespace}:"
        self._pause = Pause(cooldown, max_cooldown, clock=clock)
        self.hits = 0
        self.misses = 0
        self.errors = 0

    @property
    def available(self) -> bool:
        """False while standing aside after an error."""
        return not self._pause.waiting

    def get(self, key: str) -> V | None:
        if not self.available:
            self.misses += 1
            return None
        try:
            raw = self._client.get(self._prefix + key)
        except redis.RedisError as exc:
            self._failed(exc)
            self.misses += 1
            return None
        self._recovered()
        if raw is None:
            self.misses += 1
            return None
        try:
            value = self._decode(raw)  # type: ignore[arg-type]
        except Exception as exc:  # a value written by another version, or damaged
            log.warning("dropping an unreadable cache entry %s: %s", key, exc)
            self.misses += 1
            return None
        self.hits += 1
        return value

    def set(self, key: str, value: V) -> None:
        if not self.available:
            return
        try:
            self._client.set(self._prefix + key, self._encode(value), px=self._ttl_ms)
        except redis.RedisError as exc:
            self._failed(exc)
            return
        self._recovered()

    def clear(self) -> None:
        """Drop every key of the namespace (tests, and an operator's reset)."""
        try:
            keys = list(self._client.scan_iter(match=self._prefix + "*", count=500))
            if keys:
                self._client.delete(*keys)
        except redis.RedisError as exc:
            self._failed(exc)

    def stats(self) -> CacheStats:
        """Counts of this process only (each worker has its own client); the counts are kept
        without a lock, so concurrent threads may lose an increment now and then."""
        return CacheStats(hits=self.hits, misses=self.misses, errors=self.errors)

    def close(self) -> None:
        self._client.close()

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        if self._pause.failed():
            log.warning("the Redis cache is unavailable, answering without it: %s", exc)

    def _recovered(self) -> None:
        if self._pause.answered():
            log.info("the Redis cache is back")
