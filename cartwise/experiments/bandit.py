"""Thompson sampling over candidate items, so new or rarely shown items still earn impressions.

Each item's click or add-to-cart rate has a Beta(1 + successes, 1 + failures) posterior; the
items with the highest draws win the slots. Randomness comes only from the injected generator.
Imports layer 0 only, plus numpy.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import numpy as np

from cartwise.errors import InvalidRequest

MAX_EXPLORATION_SHARE: Final = 0.5

ItemT = TypeVar("ItemT", bound=Hashable)


@dataclass(frozen=True)
class ItemStats:
    """An item's record: impressions, and successes (a click or add-to-cart after one)."""

    impressions: int
    successes: int

    def __post_init__(self) -> None:
        if not 0 <= self.successes <= self.impressions:
            raise InvalidRequest("successes must be between 0 and the number of impressions")


_NO_DATA: Final = ItemStats(0, 0)


def choose(
    candidates: Sequence[ItemT],
    stats: Mapping[ItemT, ItemStats],
    n: int,
    *,
    rng: np.random.Generator,
) -> list[ItemT]:
    """Pick up to `n` distinct candidates, best sampled rate first.

    A candidate missing from `stats` has never been shown and draws from the uniform Beta(1, 1).
    Duplicates in `candidates` count once. Raises `InvalidRequest` for a negative `n`.
    """
    if n < 0:
        raise InvalidRequest("n must not be negative")
    unique = list(dict.fromkeys(candidates))
    if not unique or n == 0:
        return []
    records = [stats.get(item, _NO_DATA) for item in unique]
    alpha = np.array([1 + r.successes for r in records], dtype=np.float64)
    beta = np.array([1 + r.impressions - r.successes for r in records], dtype=np.float64)
    draws = rng.beta(alpha, beta)
    # A stable sort keeps candidate order on (practically impossible) ties.
    order = np.argsort(-draws, kind="stable")
    return [unique[int(i)] for i in order[:n]]


def exploration_slots(k: int, share: float) -> int:
    """How many of `k` slots go to exploration: floor(k · share), so never more than `share`.

    `share` is 0 to 0.5; with few slots the floor can give 0 (k = 1, share = 0.5 → 0).
    """
    if k < 0:
        raise InvalidRequest("k must not be negative")
    if not math.isfinite(share) or not 0.0 <= share <= MAX_EXPLORATION_SHARE:
        raise InvalidRequest(f"share must be between 0 and {MAX_EXPLORATION_SHARE}")
    return math.floor(k * share)
