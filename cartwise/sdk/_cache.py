"""The session-level answer cache: cachetools' TTL cache (least recently used evicted first when
full) behind a lock, since cachetools is not thread-safe.

It holds answers only, never failures or fallbacks (the caller decides what to `put`). Each hit
is a new answer with its own list; the items in it are the SDK's immutable `FrozenItem`s, shared
with the cache, so a caller that edits an answer cannot change the next one. Layer 0 only.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from cachetools import TTLCache

from cartwise.schemas import RecommendationItem, RecommendationResponse
from cartwise.sdk._config import CachePolicy
from cartwise.sdk._retry import Clock

__all__ = ["AnswerCache"]

_Held = tuple[tuple[RecommendationItem, ...], int | None, str]


class AnswerCache:
    def __init__(self, policy: CachePolicy, clock: Clock) -> None:
        self._lock = threading.Lock()
        self._entries: TTLCache[Hashable, _Held] = TTLCache(
            maxsize=policy.maxsize, ttl=policy.ttl, timer=clock
        )

    def get(self, key: Hashable) -> RecommendationResponse | None:
        """The answer held for `key`, marked `source="cache"`; None on a miss."""
        with self._lock:
            held = self._entries.get(key)
        if held is None:
            return None
        items, model_version, request_id = held
        return RecommendationResponse.model_construct(
            items=list(items), source="cache", model_version=model_version, request_id=request_id
        )

    def put(self, key: Hashable, answer: RecommendationResponse) -> None:
        """Keep `answer`, whose items must be immutable (`FrozenItem`)."""
        held = (tuple(answer.items), answer.model_version, answer.request_id)
        with self._lock:
            self._entries[key] = held

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
