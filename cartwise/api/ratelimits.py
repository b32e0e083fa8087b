"""Rate limits, keyed by the shop (and API key) of the verified credential, never by a value from
the body or the query string; so every check runs after authentication, called by the view
once it knows its caller (`auth.admin_caller` does it for every admin route).

- storefront reads (`POST /v1/recommendations`, `GET /v1/defaults`, `GET /proxy/recommendations`):
  per shop, `rate_limits.storefront_per_second` (600), and per API key,
  `rate_limits.api_key_per_second` (unset). Redis unreachable: open, each worker counting alone
  at the same limit.
- storefront events (`POST /v1/events`, `POST /proxy/events`): per shop, counted in events,
  `events_per_minute`. Open, the same way.
- admin (`/v1/admin/…`, `/app/fragments/…`, `/app/preview`, `/app/backtest`): per shop,
  `rate_limits.admin_per_minute` (60). Redis unreachable: closed, 503 `rate_limit_unavailable`
  with Retry-After.
- invalid API keys (`auth`): per client address, 20 a minute, per worker.

Past a limit: 429 `rate_limited` with Retry-After (seconds).

The webhook intake (`/webhooks/shopify`, `/webhooks/magento`) is not limited, on purpose. Its shop
is known only once the signature over the body checks out, and by then the delivery is stored:
a 429 then saves nothing. A limit counted before that would rest on a header anyone can send, so
a stranger could get a real shop's deliveries refused. And a refusal risks data: Shopify retries
anything but a 2xx 8 times over 4 hours, then may delete the subscription. The intake is bounded
instead by the 1 MiB body limit, the signature check before any write, deduplication, and 503
when storage is busy. Routes without a credential (health, metrics, `/openapi.json`, the install
redirects, the dashboard's first page) have no shop to count by, and behind a proxy no
trustworthy client address either.

Counting uses `limits`, the engine under flask-limiter, directly. flask-limiter checks before
the view runs (a `before_request` hook or a view decorator), so before the credential is
verified; its fallback to memory is one switch for the whole app, where storefront reads must
fail open and admin calls closed; and it is slow on the hot path. Measured on
`POST /v1/recommendations` at the WSGI level (a repeated cart, ~190 µs without limits), its
request hooks alone add ~80 µs to every route, limited or not, and its decorator ~200 µs in
memory, ~370 µs on Redis; the checks here add ~10 µs in memory and ~175 µs on Redis (on one
2-core host with Redis on it; most of that is the round trip). Every limit is a sliding window
counter, so no window boundary lets twice the limit through. Admin calls and events cost one
Redis call per check; storefront reads are told to Redis in batches (`_Counters.hit_batched`),
one exchange per shop and worker every tenth of a second, so the hot path does not pay a round
trip per request. Counts
kept in the process do without `limits`' memory storage, whose expiry thread cost ~25 µs a
request.

Imports `limits`, `redis`, settings and layer 0; no Flask.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import redis
from limits import (
    RateLimitItem,
    RateLimitItemPerMinute,
    RateLimitItemPerSecond,
)
from limits import errors as limits_errors
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from cartwise.cache.pause import Pause
from cartwise.errors import RateLimited, StorageError
from cartwise.settings import RateLimitSettings

__all__ = ["EventLimiter", "RateLimitUnavailable", "RequestLimits"]

log = logging.getLogger(__name__)

RETRY_SHARED_SECONDS = 1.0
"""After Redis fails, it is left alone this long before it is tried again."""
MAX_PAUSE_SECONDS = 16.0
"""The longest pause, reached by doubling while Redis keeps failing (`cache.pause.Pause`)."""
CLOSED_RETRY_AFTER = 5
"""Seconds a refused admin caller is told to wait while the shared count is unreachable."""
REDIS_TIMEOUT = 0.05
"""Seconds to connect to Redis or to wait for its answer: a check must not hold a request."""


class RateLimitUnavailable(StorageError):
    """The shared count is unreachable and the route fails closed (503, Retry-After)."""

    code = "rate_limit_unavailable"


class _LocalWindows:
    """Sliding-window counters in this process, counted as `limits` counts them in Redis: the
    previous window's count, weighted by the share of that window still inside the last
    `window` seconds, plus the current window's. One entry per counter (a shop, a key), so
    memory follows the shops seen, not time; no thread sweeps it."""

    def __init__(self) -> None:
        self._windows: dict[tuple[object, ...], tuple[int, int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, item: RateLimitItem, identifiers: tuple[str, ...], cost: int) -> int | None:
        """None when `cost` more fits (and is counted), else the seconds until it would."""
        length = item.get_expiry()
        now = time.time()
        index, elapsed = int(now // length), now % length
        key = (item.amount, length, *identifiers)
        with self._lock:
            start, previous, current = self._windows.get(key, (index, 0, 0))
            if start != index:
                previous, current = (current if start == index - 1 else 0), 0
            weighted = previous * (1 - elapsed / length) + current
            fits = math.floor(weighted) + cost <= item.amount
            self._windows[key] = (index, previous, current + cost if fits else current)
        if fits:
            return None
        return _seconds_until_fits(item.amount, cost, length, elapsed, previous, current)


def _seconds_until_fits(
    amount: int, cost: int, length: int, elapsed: float, previous: int, current: int
) -> int:
    """Whole seconds from now until `cost` fits under `amount` if nothing else is counted; a
    window when it never will (a batch larger than the limit)."""
    for wait in range(1, 2 * length + 1):
        later = elapsed + wait
        if later < length:
            weighted = previous * (1 - later / length) + current
        else:
            weighted = current * (1 - (later - length) / length)
        if math.floor(weighted) + cost <= amount:
            return wait
    return length


BATCH_SECONDS = 0.1
"""Storefront reads are told to Redis at most this often per counter and worker."""


class _Batch:
    """One counter's batch in this worker: hits let through since the last exchange with Redis,
    when that was, the shared count it read then, and the wait it said."""

    __slots__ = ("pending", "sent_at", "shared_count", "wait")

    def __init__(self) -> None:
        self.pending = 0
        self.sent_at = -math.inf
        self.shared_count = 0
        self.wait = 1


class _Counters:
    """Sliding-window counters in Redis when a URL is given (`limits`), and the same counters in
    this process behind them. A Redis failure is logged once, saying `meanwhile` (what happens
    until it answers), and so is its recovery."""

    def __init__(self, redis_url: str | None, key_prefix: str, *, meanwhile: str) -> None:
        self._meanwhile = meanwhile
        self._local = _LocalWindows()
        self._shared: SlidingWindowCounterRateLimiter | None = None
        if redis_url:
            self._shared = SlidingWindowCounterRateLimiter(_redis(redis_url, key_prefix))
        self._pause = Pause(RETRY_SHARED_SECONDS, MAX_PAUSE_SECONDS)
        self._batches: dict[tuple[object, ...], _Batch] = {}
        self._batches_lock = threading.Lock()

    def hit_batched(self, item: RateLimitItem, *identifiers: str) -> int | None:
        """One more hit, as `hit(..., fail_open=True)`, but told to Redis in batches: between
        two exchanges (at most `BATCH_SECONDS` apart per counter) this worker decides alone,
        from the shared count it last read plus what it let through since. One or two Redis
        calls per counter and tenth of a second instead of one per request; the price is that
        several workers may together let through up to a batch each beyond the limit before
        they hear of it — fine for a limit meant to stop floods, not to bill by."""
        shared = self._shared
        if shared is None or self._pause.waiting:
            return self._local.hit(item, identifiers, 1)
        key = (item.amount, item.get_expiry(), *identifiers)
        now = time.monotonic()
        with self._batches_lock:
            batch = self._batches.get(key)
            if batch is None:
                batch = self._batches[key] = _Batch()
            if now - batch.sent_at < BATCH_SECONDS:
                if batch.shared_count + batch.pending + 1 > item.amount:
                    return batch.wait
                batch.pending += 1
                return None
            cost, batch.pending, batch.sent_at = batch.pending + 1, 0, now
        try:
            fits = shared.hit(item, *identifiers, cost=cost)
            stats = shared.get_window_stats(item, *identifiers)
            if not fits and stats.remaining > 0:
                # the batch was let through here already: fill the shared window with what
                # still fits, so every worker refuses from its next exchange on
                shared.hit(item, *identifiers, cost=stats.remaining)
        except limits_errors.StorageError as exc:
            self._fail(exc)
            return self._local.hit(item, identifiers, 1)
        self._answered()
        wait = _seconds_to(stats.reset_time, item)
        with self._batches_lock:
            batch.shared_count = item.amount if not fits else item.amount - stats.remaining
            batch.wait = wait
        return None if fits else wait

    def hit(
        self, item: RateLimitItem, *identifiers: str, cost: int = 1, fail_open: bool
    ) -> int | None:
        """None when `cost` more fits in the window (and is counted), else the seconds to wait
        (1 at least). With Redis unreachable: this process's count when `fail_open`, else
        RateLimitUnavailable."""
        shared = self._shared
        if shared is not None:
            if not self._pause.waiting:
                try:
                    if shared.hit(item, *identifiers, cost=cost):
                        wait = None
                    else:
                        reset = shared.get_window_stats(item, *identifiers).reset_time
                        wait = _seconds_to(reset, item)
                except limits_errors.StorageError as exc:
                    self._fail(exc)
                else:
                    self._answered()
                    return wait
            if not fail_open:
                raise RateLimitUnavailable(
                    "Rate limits can't be checked right now; try again in a few seconds.",
                    retry_after=CLOSED_RETRY_AFTER,
                )
        return self._local.hit(item, identifiers, cost)

    def _fail(self, exc: Exception) -> None:
        if self._pause.failed():
            log.warning("the shared rate limit is unreachable (%s): %s", exc, self._meanwhile)

    def _answered(self) -> None:
        if self._pause.answered():
            log.warning("the shared rate limit answers again")


def _seconds_to(reset: float, item: RateLimitItem) -> int:
    """Whole seconds from now to `reset` (a time.time() instant), 1 to one window."""
    return min(max(math.ceil(reset - time.time()), 1), item.get_expiry())


def _redis(url: str, key_prefix: str) -> RedisStorage:
    # No retry inside a check: the counters stand aside (Pause) instead.
    pool = redis.ConnectionPool.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    return RedisStorage(url, connection_pool=pool, key_prefix=key_prefix, wrap_exceptions=True)


class RequestLimits:
    """The request limits of one app (see the module's list). `storefront` and `admin` raise
    `RateLimited` (429) past a limit; `admin` raises `RateLimitUnavailable` (503) while Redis
    is unreachable."""

    def __init__(self, settings: RateLimitSettings, redis_url: str | None = None) -> None:
        self._counters = _Counters(
            redis_url,
            settings.key_prefix,
            meanwhile="storefront reads are counted per worker and admin calls refused until it "
            "answers",
        )
        self._storefront = RateLimitItemPerSecond(settings.storefront_per_second)
        self._per_key = (
            RateLimitItemPerSecond(settings.api_key_per_second)
            if settings.api_key_per_second is not None
            else None
        )
        self._admin = RateLimitItemPerMinute(settings.admin_per_minute)

    def storefront(self, shop: str, key_id: int | None = None) -> None:
        """Count one storefront read for `shop`, and for the API key `key_id` when it came with
        one (the key first: a key past its own limit does not use up its shop's)."""
        if key_id is not None and self._per_key is not None:
            self._check(
                self._per_key,
                ("api-key", str(key_id)),
                f"This API key made more than {self._per_key.amount} requests in a second.",
                fail_open=True,
            )
        self._check(
            self._storefront,
            ("storefront", shop),
            f"This shop made more than {self._storefront.amount} storefront requests in a second.",
            fail_open=True,
        )

    def admin(self, shop: str) -> None:
        """Count one admin call for `shop`."""
        self._check(
            self._admin,
            ("admin", shop),
            f"This shop made more than {self._admin.amount} admin requests in a minute.",
            fail_open=False,
        )

    def _check(
        self, item: RateLimitItem, identifiers: tuple[str, ...], message: str, *, fail_open: bool
    ) -> None:
        if fail_open:
            wait = self._counters.hit_batched(item, *identifiers)
        else:
            wait = self._counters.hit(item, *identifiers, fail_open=False)
        if wait is not None:
            raise RateLimited(f"{message} Wait as Retry-After says.", retry_after=wait)


class EventLimiter:
    """`check(shop, n)` raises `RateLimited` (429, Retry-After) when the shop's last minute of
    storefront events plus `n` would pass `per_minute`: one batch of 500 costs 500. Fails open,
    as storefront reads do."""

    def __init__(
        self, per_minute: int, redis_url: str | None = None, *, key_prefix: str = "LIMITS"
    ) -> None:
        self._item = RateLimitItemPerMinute(per_minute)
        self._counters = _Counters(
            redis_url, key_prefix, meanwhile="events are counted per worker until it answers"
        )

    def check(self, shop: str, events: int) -> None:
        wait = self._counters.hit(self._item, "events", shop, cost=events, fail_open=True)
        if wait is not None:
            raise RateLimited(
                f"This shop sent more than {self._item.amount} events in a minute; "
                "send the rest later.",
                retry_after=wait,
            )
