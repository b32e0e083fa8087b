"""Per-shop rate limits on storefront writes (`/v1/events`, `/proxy/events`), counted in
events, not requests: one batch of 500 costs 500.

The counter lives in Redis when `CARTWISE_REDIS_URL` is set, so every worker shares it; else in
process. When Redis fails, storefront writes are not refused for it (fail-open): each worker
falls back to its own in-process counter at the same limit until Redis answers again.
Built on `limits` (the engine behind flask-limiter), with a sliding-window counter.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from cartwise.errors import RateLimited

__all__ = ["EventLimiter"]

log = logging.getLogger(__name__)

_RETRY_SHARED_SECONDS = 1.0
"""After a Redis failure, the shared counter is tried again after this long."""


class EventLimiter:
    """`check(shop, n)` raises `RateLimited` (429, Retry-After) when the shop's last minute of
    events plus `n` would pass `per_minute`."""

    def __init__(self, per_minute: int, redis_url: str | None = None) -> None:
        self._item = RateLimitItemPerMinute(per_minute)
        self._local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._shared = None
        if redis_url:
            storage = storage_from_string(
                redis_url, socket_timeout=0.05, socket_connect_timeout=0.05
            )
            self._shared = SlidingWindowCounterRateLimiter(storage)
        self._shared_down_until = 0.0

    def check(self, shop: str, events: int) -> None:
        limiter = self._local
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            limiter = self._shared
        try:
            allowed = limiter.hit(self._item, "events", shop, cost=events)
        except Exception:
            log.warning("the shared rate limit is unreachable; counting in this worker")
            self._shared_down_until = time.monotonic() + _RETRY_SHARED_SECONDS
            limiter = self._local
            allowed = limiter.hit(self._item, "events", shop, cost=events)
        if allowed:
            return
        try:
            reset = limiter.get_window_stats(self._item, "events", shop).reset_time
            wait = max(1, math.ceil(reset - time.time()))
        except Exception:
            wait = 60
        raise RateLimited(
            f"This shop sent more than {self._item.amount} events in a minute; "
            "send the rest later.",
            retry_after=min(wait, 60),
        )
