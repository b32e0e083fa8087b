"""Thompson sampling: reproducible with a seed, exploits a clear winner, still explores."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from cartwise.errors import InvalidRequest
from cartwise.experiments import ItemStats, choose, exploration_slots

CANDIDATES = ["sku-1", "sku-2", "sku-3", "sku-4"]
STATS = {
    "sku-1": ItemStats(impressions=1000, successes=50),
    "sku-2": ItemStats(impressions=1000, successes=200),
    "sku-3": ItemStats(impressions=1000, successes=40),
}


def test_a_seeded_generator_gives_the_same_choice() -> None:
    first = choose(CANDIDATES, STATS, 2, rng=np.random.default_rng(42))
    second = choose(CANDIDATES, STATS, 2, rng=np.random.default_rng(42))
    assert first == second
    assert len(first) == 2


def test_the_clearly_better_item_wins_most_draws() -> None:
    rng = np.random.default_rng(1)
    wins = Counter(choose(CANDIDATES[:3], STATS, 1, rng=rng)[0] for _ in range(1000))
    assert wins["sku-2"] > 950


def test_an_item_never_shown_is_still_explored() -> None:
    rng = np.random.default_rng(2)
    wins = Counter(choose(CANDIDATES, STATS, 1, rng=rng)[0] for _ in range(1000))
    # sku-4 has no data: Beta(1, 1) beats sku-2's posterior (about 0.2) most of the time.
    assert wins["sku-4"] > 100


def test_picks_are_distinct_and_capped_by_the_candidates() -> None:
    rng = np.random.default_rng(3)
    picked = choose(["a", "b", "a", "c"], {}, 10, rng=rng)
    assert sorted(picked) == ["a", "b", "c"]
    assert choose(CANDIDATES, STATS, 0, rng=rng) == []
    assert choose([], STATS, 3, rng=rng) == []


@pytest.mark.parametrize(
    ("k", "share", "slots"),
    [
        pytest.param(8, 0.0, 0, id="share-0"),
        pytest.param(0, 0.5, 0, id="no-slots"),
        pytest.param(10, 0.25, 2, id="floor"),
        pytest.param(8, 0.25, 2, id="exact"),
        pytest.param(1, 0.5, 0, id="one-slot"),
        pytest.param(9, 0.5, 4, id="half"),
    ],
)
def test_exploration_slots_round_down(k: int, share: float, slots: int) -> None:
    assert exploration_slots(k, share) == slots


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: exploration_slots(4, 0.6), id="share-too-big"),
        pytest.param(lambda: exploration_slots(4, -0.1), id="share-negative"),
        pytest.param(lambda: exploration_slots(-1, 0.1), id="k-negative"),
        pytest.param(lambda: ItemStats(impressions=1, successes=2), id="more-successes"),
        pytest.param(
            lambda: choose(CANDIDATES, STATS, -1, rng=np.random.default_rng(0)), id="n-negative"
        ),
    ],
)
def test_invalid_arguments_are_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(InvalidRequest):
        call()
