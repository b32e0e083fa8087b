"""Anomalies in a shop's daily metrics and silences in its event streams, for dashboard and logs.

Each point is scored against an exponentially weighted forecast built from the points before it
only, so a spike cannot raise its own baseline and hide. Imports layer 0 only; no storage, no
Flask, no network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Generic, Literal, TypeVar

from cartwise.errors import InvalidRequest

Direction = Literal["spike", "drop"]

WhenT = TypeVar("WhenT", bound=date)
"""A point's time: a `date` for daily series or a `datetime`; one kind per series."""

_MIN_SD: Final = 1e-12
"""Below this the spread is rounding noise: metrics are counts, money and rates."""


@dataclass(frozen=True)
class Anomaly(Generic[WhenT]):
    """A point `z` forecast standard deviations away from `expected`, the EWMA of the points
    before it; `direction` says which way."""

    metric: str
    at: WhenT
    value: float
    expected: float
    z: float
    direction: Direction


@dataclass(frozen=True)
class Silence:
    """Nothing arrived for `quiet_for`, longer than `limit` (tolerance × the usual interval)."""

    last_seen: datetime
    quiet_for: timedelta
    expected_interval: timedelta
    limit: timedelta


def ewma_zscores(
    values: Sequence[float],
    alpha: float = 0.3,
    warmup: int = 7,
    *,
    min_relative_sd: float = 0.01,
) -> list[float | None]:
    """The z-score of each value against the exponentially weighted forecast of the ones before it.

    The forecast is the EWMA mean `m`; its spread is the EWMA of the squared forecast errors
    `(x - m)²` (both start from the first value, with zero spread), which is what a new point's
    error should be compared to. `alpha` in (0, 1] is the weight of the newest point.

    The standard deviation is floored at `min_relative_sd × |m|`: a series that was perfectly
    constant has zero spread, and a jump away from it should still score (100, 100, …, 110 scores
    10 with the default 1 %), while wiggles far smaller than the level do not. The score is None
    for the first `warmup` points (at least the first, which has nothing before it), and where
    the floored spread is still about zero — a series constant at 0 has no scale to measure by.

    Raises `InvalidRequest` for an alpha outside (0, 1], a warmup below 1, a negative floor, or a
    value that is not finite.
    """
    return [z for _, z in _forecasts(values, alpha, warmup, min_relative_sd)]


def detect(
    series: Sequence[tuple[WhenT, float]],
    metric: str,
    threshold: float = 3.0,
    *,
    alpha: float = 0.3,
    warmup: int = 7,
    min_relative_sd: float = 0.01,
) -> list[Anomaly[WhenT]]:
    """The points of `series` whose |z| (see `ewma_zscores`) is at least `threshold`, in order.

    `series` holds (date or datetime, value) pairs in strictly increasing time, one kind of time
    per series: a repeated or unsorted day means the caller aggregated wrongly, so it raises
    `InvalidRequest` rather than being guessed at (as do a non-positive threshold and the
    arguments `ewma_zscores` refuses).
    """
    if not metric:
        raise InvalidRequest("metric must name the series")
    if not (math.isfinite(threshold) and threshold > 0):
        raise InvalidRequest("threshold must be a positive number of standard deviations")
    times = [when for when, _ in series]
    _check_times(times)
    values = [value for _, value in series]
    found: list[Anomaly[WhenT]] = []
    for when, value, (expected, z) in zip(
        times, values, _forecasts(values, alpha, warmup, min_relative_sd), strict=True
    ):
        if z is not None and abs(z) >= threshold:
            direction: Direction = "spike" if z > 0 else "drop"
            found.append(Anomaly(metric, when, float(value), expected, z, direction))
    return found


def silence(
    last_seen: datetime | None,
    now: datetime,
    expected_interval: timedelta,
    tolerance: float = 3.0,
) -> Silence | None:
    """A `Silence` when nothing has arrived for more than `tolerance × expected_interval`.

    Exactly at the limit is not yet a silence. A `last_seen` after `now` (clock skew) is not one
    either. Never seen (None) is not a silence: a new shop or a topic the platform never sends
    would alarm forever. To catch webhooks that never started, pass the time they were
    registered as `last_seen`.

    Both datetimes must be timezone-aware, or both naive. Raises `InvalidRequest` for a
    non-positive interval or a tolerance below 1, which would flag ordinary gaps.
    """
    if expected_interval <= timedelta(0):
        raise InvalidRequest("expected_interval must be positive")
    if not (math.isfinite(tolerance) and tolerance >= 1.0):
        raise InvalidRequest("tolerance must be a finite number of intervals, at least 1")
    if last_seen is None:
        return None
    if (last_seen.tzinfo is None) != (now.tzinfo is None):
        raise InvalidRequest("last_seen and now must both be timezone-aware, or both naive")
    quiet_for = now - last_seen
    limit = expected_interval * tolerance
    if quiet_for <= limit:
        return None
    return Silence(last_seen, quiet_for, expected_interval, limit)


def _forecasts(
    values: Sequence[float], alpha: float, warmup: int, min_relative_sd: float
) -> list[tuple[float, float | None]]:
    """(forecast, z or None) for each value; the forecast of the first is the value itself."""
    if not 0.0 < alpha <= 1.0:
        raise InvalidRequest("alpha must be in (0, 1]")
    if warmup < 1:
        raise InvalidRequest("warmup must be at least 1: the first point has nothing before it")
    if not (math.isfinite(min_relative_sd) and min_relative_sd >= 0):
        raise InvalidRequest("min_relative_sd must be a finite number, at least 0")
    for index, value in enumerate(values):
        if not math.isfinite(value):
            raise InvalidRequest(f"value {index} is not a finite number: {value!r}")
    out: list[tuple[float, float | None]] = []
    mean = float(values[0]) if values else 0.0
    error_variance = 0.0
    for index, value in enumerate(values):
        error = value - mean
        sd = max(math.sqrt(error_variance), min_relative_sd * abs(mean))
        z = None if index < warmup or sd <= _MIN_SD else error / sd
        out.append((mean, z))
        mean += alpha * error
        error_variance = (1 - alpha) * error_variance + alpha * error * error
    return out


def _check_times(times: Sequence[date]) -> None:
    kinds = {isinstance(when, datetime) for when in times}
    if len(kinds) > 1:
        raise InvalidRequest("a series mixes dates and datetimes")
    if kinds == {True}:
        aware = {when.tzinfo is not None for when in times if isinstance(when, datetime)}
        if len(aware) > 1:
            raise InvalidRequest("a series mixes timezone-aware and naive datetimes")
    for index in range(1, len(times)):
        if not times[index - 1] < times[index]:
            raise InvalidRequest(
                f"times must strictly increase: point {index} ({times[index]}) "
                f"follows {times[index - 1]}"
            )
