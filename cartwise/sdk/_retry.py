"""When to try again and how long to wait, as tenacity `stop`/`wait`/`retry` objects that do no
IO: the async and the sync client drive them with their own sleep.

Retried: connect errors and timeouts, 429 and 502/503/504. Never: any other status (400, 401,
403, 404, 422 fail the same way every time; a 500 is a bug, not a blip). Waits are full-jitter
exponential, or the server's `Retry-After`; nothing waits or starts past the call's deadline.
Layer 0 only, plus httpx and tenacity.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState

from cartwise.sdk._config import RetryPolicy

__all__ = [
    "RETRY_STATUSES",
    "Clock",
    "Deadline",
    "Retryable",
    "Stop",
    "Wait",
    "backoff",
    "check_status",
    "is_retryable",
    "retry_after_seconds",
]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""Answers that say "try again"; every other status is final."""

Clock = Callable[[], float]


class Retryable(Exception):
    """An answer worth another try, raised inside an attempt; `wait` is the server's
    `Retry-After` in seconds (None: back off as usual)."""

    def __init__(self, response: httpx.Response, wait: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.wait = wait


@dataclass(frozen=True, slots=True)
class Deadline:
    """The moment (on `clock`) by which a call must have answered."""

    clock: Clock
    ends: float

    @classmethod
    def after(cls, clock: Clock, budget: float) -> Deadline:
        return cls(clock, clock() + budget)

    def remaining(self) -> float:
        return self.ends - self.clock()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header, delta-seconds or an HTTP date (RFC 9110
    §10.2.3); None when absent or unreadable, 0 for a date already past."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def check_status(response: httpx.Response) -> None:
    """Raise `Retryable` for an answer that says "try again"; the 429/503 wait comes from
    `Retry-After`."""
    if response.status_code in RETRY_STATUSES:
        wait = None
        if response.status_code in (429, 503):
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        raise Retryable(response, wait)


def is_retryable(exc: BaseException) -> bool:
    """Another try can help: a "try again" answer, a refused or failed connect, a timeout."""
    return isinstance(exc, Retryable | httpx.ConnectError | httpx.TimeoutException)


def backoff(policy: RetryPolicy, retry: int, rng: random.Random) -> float:
    """The wait before retry number `retry` (0 for the first): uniform in
    [0, min(cap, base·2^retry)] (AWS "full jitter")."""
    return rng.uniform(0.0, min(policy.cap, policy.base * 2.0**retry))


class Wait:
    """tenacity `wait`: the server's `Retry-After` when it gave one, full jitter otherwise."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self._policy = policy
        self._rng = rng

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.wait is not None:
            return exc.wait
        return backoff(self._policy, state.attempt_number - 1, self._rng)


class Stop:
    """tenacity `stop`: no attempts left, or the wait plus a minimal attempt would end past
    the deadline (so a `Retry-After: 3600` ends the call at once instead of sleeping)."""

    def __init__(self, policy: RetryPolicy, deadline: Deadline) -> None:
        self._policy = policy
        self._deadline = deadline

    def __call__(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._policy.attempts:
            return True
        needed = (state.upcoming_sleep or 0.0) + self._policy.min_attempt
        return needed > self._deadline.remaining()
