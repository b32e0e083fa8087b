"""Anomaly scores against hand-computed EWMA values; spikes, drops and silences at their edges."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from cartwise.errors import InvalidRequest
from cartwise.experiments import Anomaly, Silence, detect, ewma_zscores, silence

START = date(2025, 3, 1)
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _days(values: list[float]) -> list[tuple[date, float]]:
    return [(START + timedelta(days=i), v) for i, v in enumerate(values)]


def test_scores_match_a_hand_computed_ewma() -> None:
    # alpha 1/2, forecast m and squared-error EWMA s start at (10, 0):
    # x=12: e=2, then m=11, s=2 · x=11: e=0 → z=0, then m=11, s=1 · x=15: e=4 → z=4/√1.
    assert ewma_zscores([10, 12, 11, 15], alpha=0.5, warmup=2) == [None, None, 0.0, 4.0]


def test_scores_match_a_hand_computed_ewma_with_the_floor() -> None:
    # alpha 1/4 from (8, 0). x=12: e=4, sd floored at 1 % of 8 → z=50; then m=9, s=4.
    # x=6: e=−3, z=−3/2; then m=8.25, s=0.75·4 + 0.25·9 = 5.25. x=10: e=1.75, z=1.75/√5.25.
    scores = ewma_zscores([8, 12, 6, 10], alpha=0.25, warmup=1)
    expected = [None, 50.0, -1.5, 1.75 / math.sqrt(5.25)]
    assert scores[0] is None
    assert scores[1:] == pytest.approx(expected[1:], abs=1e-9, rel=0)


def test_the_warmup_hides_the_first_points() -> None:
    scores = ewma_zscores([float(v) for v in range(1, 11)], warmup=7)
    assert scores[:7] == [None] * 7
    assert all(z is not None for z in scores[7:])


def test_a_spike_does_not_mask_itself() -> None:
    values = [100.0, 104.0, 97.0, 101.0, 99.0, 103.0, 98.0, 102.0, 100.0, 400.0]
    z = ewma_zscores(values)[-1]
    assert z is not None
    assert z > 50


def test_a_spike_and_a_drop_are_found_with_their_direction() -> None:
    values = [100.0, 104.0, 97.0, 101.0, 99.0, 103.0, 98.0, 102.0, 100.0, 101.0, 99.0]
    values += [180.0, 101.0, 100.0, 102.0, 98.0, 101.0, 99.0, 100.0, 103.0, 97.0, 20.0]
    found = detect(_days(values), "orders")
    assert [(a.at, a.direction) for a in found] == [
        (START + timedelta(days=11), "spike"),
        (START + timedelta(days=21), "drop"),
    ]
    spike, drop = found
    assert isinstance(spike, Anomaly)
    assert spike.metric == "orders"
    assert spike.value == 180.0
    assert spike.expected == pytest.approx(100.2, abs=1.0)
    assert spike.z > 3
    assert drop.z < -3


def test_datetimes_are_kept_as_given() -> None:
    series = [(NOW + i * HOUR, 50.0 + (i % 2)) for i in range(12)] + [(NOW + 12 * HOUR, 5.0)]
    (found,) = detect(series, "checkouts")
    assert found.at == NOW + 12 * HOUR
    assert found.direction == "drop"


def test_a_noisy_stationary_series_raises_few_false_alarms() -> None:
    rng = np.random.default_rng(20250301)
    values = [float(v) for v in 250.0 + 25.0 * rng.standard_normal(365)]
    assert len(detect(_days(values), "revenue", threshold=4.0)) <= 5


def test_a_jump_away_from_a_constant_series_is_flagged() -> None:
    values = [100.0] * 10 + [110.0]
    scores = ewma_zscores(values)
    # A constant series has no spread: the floor (1 % of 100) scores the jump at 10.
    assert scores[7:10] == [0.0, 0.0, 0.0]
    assert scores[10] == pytest.approx(10.0, abs=1e-9)
    (found,) = detect(_days(values), "orders")
    assert found.direction == "spike"


def test_a_series_constant_at_zero_has_no_score() -> None:
    assert ewma_zscores([0.0] * 10 + [3.0]) == [None] * 11
    assert detect(_days([0.0] * 10 + [3.0]), "refunds") == []


def test_an_empty_series_has_nothing_to_report() -> None:
    assert ewma_zscores([]) == []
    assert detect([], "orders") == []


@pytest.mark.parametrize(
    ("last_seen", "expected"),
    [
        pytest.param(NOW - 3 * HOUR, None, id="exactly-at-the-limit"),
        pytest.param(
            NOW - 3 * HOUR - timedelta(seconds=1), 3 * HOUR + timedelta(seconds=1), id="past"
        ),
        pytest.param(NOW - HOUR, None, id="usual-gap"),
        pytest.param(NOW + HOUR, None, id="clock-skew"),
        pytest.param(None, None, id="never-seen"),
    ],
)
def test_silence_starts_after_tolerance_times_the_interval(
    last_seen: datetime | None, expected: timedelta | None
) -> None:
    found = silence(last_seen, NOW, HOUR, tolerance=3.0)
    if expected is None:
        assert found is None
    else:
        assert found == Silence(NOW - expected, expected, HOUR, 3 * HOUR)


@pytest.mark.parametrize(
    ("values", "alpha", "warmup", "floor", "message"),
    [
        pytest.param([1.0, 2.0], 0.0, 7, 0.01, "alpha", id="alpha-zero"),
        pytest.param([1.0, 2.0], 1.5, 7, 0.01, "alpha", id="alpha-above-one"),
        pytest.param([1.0, 2.0], math.nan, 7, 0.01, "alpha", id="alpha-nan"),
        pytest.param([1.0, 2.0], 0.3, 0, 0.01, "warmup", id="no-warmup"),
        pytest.param([1.0, math.nan], 0.3, 7, 0.01, "value 1 is not a finite", id="nan"),
        pytest.param([math.inf, 1.0], 0.3, 7, 0.01, "value 0 is not a finite", id="inf"),
        pytest.param([1.0], 0.3, 7, -0.1, "min_relative_sd", id="negative-floor"),
    ],
)
def test_bad_arguments_are_refused(
    values: list[float], alpha: float, warmup: int, floor: float, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        ewma_zscores(values, alpha, warmup, min_relative_sd=floor)


@pytest.mark.parametrize(
    ("series", "threshold", "message"),
    [
        pytest.param(_days([1.0, 2.0])[::-1], 3.0, "strictly increase", id="unsorted"),
        pytest.param([(START, 1.0), (START, 2.0)], 3.0, "strictly increase", id="repeated"),
        pytest.param(
            [(START, 1.0), (datetime(2025, 3, 2, tzinfo=UTC), 2.0)], 3.0, "mixes", id="mixed"
        ),
        pytest.param(_days([1.0, 2.0]), 0.0, "threshold", id="zero-threshold"),
        pytest.param(_days([1.0, 2.0]), math.inf, "threshold", id="inf-threshold"),
    ],
)
def test_detect_refuses_a_series_it_cannot_trust(
    series: list[tuple[date, float]], threshold: float, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        detect(series, "orders", threshold)


@pytest.mark.parametrize(
    ("last_seen", "interval", "tolerance", "message"),
    [
        pytest.param(NOW, timedelta(0), 3.0, "expected_interval", id="zero-interval"),
        pytest.param(NOW, HOUR, 0.5, "tolerance", id="tolerance-below-one"),
        pytest.param(NOW, HOUR, math.nan, "tolerance", id="tolerance-nan"),
        pytest.param(datetime(2025, 3, 10), HOUR, 3.0, "timezone", id="naive-and-aware"),
    ],
)
def test_silence_refuses_bad_arguments(
    last_seen: datetime, interval: timedelta, tolerance: float, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        silence(last_seen, NOW, interval, tolerance)
