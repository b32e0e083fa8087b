"""A circuit breaker (Nygard, *Release It!*): after `threshold` consecutive failed calls within
`window` seconds it opens, and calls skip the network; after `reset_timeout` exactly one call
probes the server (half-open): its success closes the breaker, its failure opens it again.

Thread-safe (the sync client calls it from many threads); each state change is reported once,
outside the lock. Layer 0 only.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from enum import Enum

from cartwise.sdk._config import BreakerPolicy
from cartwise.sdk._retry import Clock
from cartwise.sdk.models import BreakerState

__all__ = ["CircuitBreaker", "OnChange", "Permit"]

OnChange = Callable[[BreakerState, BreakerState], None]

log = logging.getLogger("cartwise.sdk")


class Permit(Enum):
    """What `allow` grants: a normal call, the one half-open probe, or nothing."""

    CALL = "call"
    PROBE = "probe"
    DENIED = "denied"


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy, clock: Clock, on_change: OnChange | None) -> None:
        self._policy = policy
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow(self) -> Permit:
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return Permit.CALL
            if self._state is BreakerState.HALF_OPEN or (
                self._clock() - self._opened_at < self._policy.reset_timeout
            ):
                return Permit.DENIED
            change = self._move(BreakerState.HALF_OPEN)
            self._probing = True
        self._report(change)
        return Permit.PROBE

    def success(self, permit: Permit) -> None:
        with self._lock:
            self._failures.clear()
            change = None
            if permit is Permit.PROBE and self._probing:
                self._probing = False
                change = self._move(BreakerState.CLOSED)
        self._report(change)

    def failure(self, permit: Permit) -> None:
        now = self._clock()
        with self._lock:
            change = None
            if permit is Permit.PROBE and self._probing:
                self._probing = False
                change = self._open(now)
            elif self._state is BreakerState.CLOSED:
                self._failures.append(now)
                while self._failures and now - self._failures[0] > self._policy.window:
                    self._failures.popleft()
                if len(self._failures) >= self._policy.threshold:
                    change = self._open(now)
        self._report(change)

    def abandon(self, permit: Permit) -> None:
        """The call ended without a verdict (cancelled): a probe gives its turn back by
        reopening, so the next probe comes after another `reset_timeout`."""
        if permit is not Permit.PROBE:
            return
        with self._lock:
            change = None
            if self._probing:
                self._probing = False
                change = self._open(self._clock())
        self._report(change)

    def _open(self, now: float) -> tuple[BreakerState, BreakerState] | None:
        self._failures.clear()
        self._opened_at = now
        return self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> tuple[BreakerState, BreakerState] | None:
        old, self._state = self._state, new
        return (old, new) if old is not new else None

    def _report(self, change: tuple[BreakerState, BreakerState] | None) -> None:
        if change is None:
            return
        old, new = change
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        log.log(level, "cartwise circuit breaker %s -> %s", old.value, new.value)
        if self._on_change is not None:
            try:
                self._on_change(old, new)
            except Exception:
                log.exception("the on_breaker_change hook failed")
