"""The retry discipline every platform client follows, in one place.

A call is retried only when another try can succeed: a connection that failed or timed out, a
429 (after its `Retry-After`), a 502/503/504 (and 500, which Shopify's own clients retry), or
an answer the client marks as "wait and retry" (Shopify's THROTTLED). Everything else (4xx
above all) fails at once. Waits are jittered exponential unless the platform said how long, and
all of it happens inside one overall deadline: a wait that would end past it is not started.
Sleep and clock are injectable, so tests of long back-offs take no wall time.
Layer 2: imports `cartwise.errors`, httpx and tenacity only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_random_exponential,
)

__all__ = [
    "RETRY_STATUSES",
    "Budget",
    "RetryPolicy",
    "RetryableAnswer",
    "async_retrying",
    "is_retryable",
    "retry_after_seconds",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth another try; every other 4xx/5xx is final."""

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: `deadline` seconds in all (waits included), at most `attempts` tries,
    jittered exponential waits from `base` up to `cap` seconds, each try's HTTP timeout at most
    `timeout` seconds (and never past the deadline)."""

    deadline: float = 60.0
    attempts: int = 8
    base: float = 0.5
    cap: float = 20.0
    timeout: float = 30.0


class RetryableAnswer(Exception):
    """An answer that says "try again", with how long the platform asked to wait (None: back
    off as usual). Raised inside a retried call; what is left when retries end is the caller's
    to translate."""

    def __init__(self, reason: str, *, status: int, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.wait = wait


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; None when
    absent or unreadable, 0 for a date in the past."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_retryable(exc: BaseException) -> bool:
    """Whether another try can succeed after `exc`."""
    if isinstance(exc, RetryableAnswer):
        return True
    return isinstance(exc, httpx.TransportError) and not isinstance(
        exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError
    )


class _Wait:
    """The platform's own figure when it gave one, jittered exponential otherwise."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_random_exponential(multiplier=policy.base, max=policy.cap)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableAnswer) and exc.wait is not None:
            return exc.wait
        return float(self._backoff(state))


class _Stop:
    """Stop after `attempts` tries, or when the coming wait would end past the deadline."""

    def __init__(self, policy: RetryPolicy, clock: Clock, started: float) -> None:
        self._policy = policy
        self._clock = clock
        self._started = started

    def __call__(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._policy.attempts:
            return True
        ends = self._clock() + (state.upcoming_sleep or 0.0)
        return ends - self._started >= self._policy.deadline


@dataclass(slots=True)
class Budget:
    """What is left of one call's deadline, for the HTTP timeout of each try."""

    policy: RetryPolicy
    clock: Clock
    started: float

    def remaining(self) -> float:
        return self.policy.deadline - (self.clock() - self.started)

    def timeout(self) -> httpx.Timeout:
        """The next try's timeout: the policy's, cut to what is left (at least 10 ms, so a
        spent budget fails fast instead of waiting forever)."""
        return httpx.Timeout(max(0.01, min(self.policy.timeout, self.remaining())))


def async_retrying(
    policy: RetryPolicy,
    *,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> tuple[AsyncRetrying, Budget]:
    """A tenacity controller for one logical call under `policy`, and its deadline budget.

    Use as ``async for attempt in retrying: with attempt: ...``; when tries are used up the
    last exception is re-raised (never tenacity's RetryError), for the client to translate.
    """
    clock = clock or time.monotonic
    started = clock()
    controller = AsyncRetrying(
        stop=_Stop(policy, clock, started),
        wait=_Wait(policy),
        retry=retry_if_exception(is_retryable),
        sleep=sleep or asyncio.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return controller, Budget(policy, clock, started)
