"""The knobs of the SDK's clients, with the defaults RELIABILITY.md §3 argues for. Layer 0 only."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BreakerPolicy", "CachePolicy", "RetryPolicy", "ServerDefaultsPolicy", "TrackPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `attempts` requests per call (the first included). The n-th retry (n from 0)
    waits uniformly in [0, min(cap, base·2^n)] seconds ("full jitter"), or the server's
    `Retry-After`; a retry starts only if `min_attempt` seconds of budget are left after its
    wait, so none is started that could not finish."""

    attempts: int = 3
    base: float = 0.05
    cap: float = 1.0
    min_attempt: float = 0.02

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base < 0 or self.cap < 0 or self.min_attempt < 0:
            raise ValueError("base, cap and min_attempt must not be negative")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after `threshold` consecutive failed calls within `window` seconds; after
    `reset_timeout` seconds one call probes the server (half-open)."""

    threshold: int = 5
    window: float = 10.0
    reset_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("threshold must be at least 1")
        if self.window <= 0 or self.reset_timeout <= 0:
            raise ValueError("window and reset_timeout must be positive")


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Answers kept `ttl` seconds, at most `maxsize` of them (least recently used go first)."""

    ttl: float = 60.0
    maxsize: int = 10_000

    def __post_init__(self) -> None:
        if self.ttl <= 0 or self.maxsize < 1:
            raise ValueError("ttl must be positive and maxsize at least 1")


@dataclass(frozen=True, slots=True)
class ServerDefaultsPolicy:
    """The shop's curated defaults (`GET /v1/defaults`) are fetched in the background at most
    every `interval` seconds (the endpoint's own `max-age`), each fetch within `timeout` seconds
    of its own: never the caller's budget, which a fetch must not spend."""

    interval: float = 300.0
    timeout: float = 2.0

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("interval and timeout must be positive")


@dataclass(frozen=True, slots=True)
class TrackPolicy:
    """Events wait in a queue of `queue_size` (the oldest is dropped when it is full) and are
    sent `batch_size` at a time, as soon as a batch is full or every `interval` seconds."""

    queue_size: int = 1_000
    batch_size: int = 50
    interval: float = 2.0

    def __post_init__(self) -> None:
        if self.queue_size < 1 or not 1 <= self.batch_size <= 500:
            raise ValueError("queue_size must be at least 1 and batch_size within 1..500")
        if self.interval <= 0:
            raise ValueError("interval must be positive")
