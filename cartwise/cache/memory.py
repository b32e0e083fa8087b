"""An in-process TTL cache, safe to share between a web process's threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

from cartwise.cache.stats import CacheStats

__all__ = ["MemoryCache"]

V = TypeVar("V")


class MemoryCache(Generic[V]):
    """At most `maxsize` entries, each kept `ttl` seconds (measured with `timer`)."""

    def __init__(
        self, *, maxsize: int = 10_000, ttl: float = 60.0, timer: Callable[[], float] | None = None
    ) -> None:
        if timer is None:
            self._data: TTLCache[Hashable, V] = TTLCache(maxsize=maxsize, ttl=ttl)
        else:
            self._data = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def set(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def stats(self) -> CacheStats:
        # Read without the lock: the counts only grow, and a reading a moment old is as good.
        return CacheStats(hits=self.hits, misses=self.misses)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
