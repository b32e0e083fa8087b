"""What the SDK hands to its caller besides the answers: the events it tracks, what it tells
the caller's hooks, and the state of its breaker.

`TrackedEvent` and `EventBatch` (the body of `POST /v1/events`) are the server's own contract,
re-exported from `cartwise.schemas` so that the SDK and the server can never disagree on them.
Layer 0 only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from cartwise.schemas import EventBatch as EventBatch
from cartwise.schemas import EventKind as EventKind
from cartwise.schemas import Source
from cartwise.schemas import TrackedEvent as TrackedEvent

__all__ = [
    "BreakerState",
    "CallInfo",
    "EventBatch",
    "EventKind",
    "TrackStats",
    "TrackedEvent",
]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What one call did, for the caller's metrics (`on_call`).

    `latency` is the call's wall time in seconds as its caller saw it; `attempts` the HTTP
    requests it sent (0 for a cache hit or an open breaker); `status` the last HTTP status;
    `error` the `SdkError` code behind a fallback or a failed send, None when all went well.
    """

    operation: Literal["recommend", "events"]
    latency: float
    source: Source | None
    attempts: int
    status: int | None
    breaker: BreakerState
    error: str | None = None
    events: int = 0

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)


@dataclass(frozen=True, slots=True)
class TrackStats:
    """The event queue's counters since the client was made: `dropped` were pushed out of a full
    queue, `rejected` refused by the server with a 4xx (never sent again)."""

    pending: int
    sent: int
    dropped: int
    rejected: int
