"""The engine's hyper-parameters, one frozen dataclass: the defaults are the tuned ones.

They were chosen on a validation split carved from the training period only (see
docs/benchmarks.md); each has a meaning a merchant can reason about (half-lives in days, weights
relative to the cart signal), so they transfer to stores other than the one they were tuned on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["HybridParams"]


@dataclass(frozen=True, slots=True)
class HybridParams:
    # co-occurrence (collaborative, item-item)
    cooc_half_life_days: float = 180.0
    """Orders lose half their weight in the co-occurrence counts after this many days."""
    basket_size_exponent: float = 0.5
    """A basket of n products adds 1/n**x per pair: big wholesale baskets say less per pair."""
    cooc_query_exponent: float = 0.5
    """Row normalisation n_i**a of the query item (a=0.5, b=0.5 is the cosine)."""
    cooc_target_exponent: float = 0.5
    """Column normalisation n_j**b of the candidate: higher values favour less popular items."""
    similarity_exponent: float = 2.0
    """Normalised similarities are raised to this power: above 1 strong links dominate."""
    cooc_neighbours: int = 100
    """Neighbours kept per item after fit (memory and latency bound)."""
    cooc_weight: float = 0.5
    """Weight of the co-occurrence signal (max-normalised per request)."""
    # regression over the basket Gram matrix (EASE)
    regression_weight: float = 1.0
    regression_l2: float = 10.0
    """Ridge penalty, relative to the mean basket weight."""
    regression_max_items: int = 4000
    """Items with the most evidence that take part (fit memory is 4 bytes × this²)."""
    regression_neighbours: int = 100
    # content
    content_neighbours: int = 50
    content_weight: float = 0.3
    """Weight of content similarity for a candidate with no co-occurrence evidence."""
    evidence_prior: float = 5.0
    """Decayed order count at which an item's own evidence counts as much as its content."""
    new_item_slots: int = 1
    """Places of each answer (the last ones) open to never-ordered products similar to the cart."""
    new_item_min_similarity: float = 0.5
    """Content similarity, relative to the best match of the request, a new product needs."""
    # popularity / trending
    trending_half_life_days: float = 14.0
    popularity_weight: float = 0.01
    # the shopper's own history
    history_half_life_days: float = 90.0
    history_query_weight: float = 0.3
    """Weight of the shopper's past products as extra query items, relative to the cart."""
    repeat_weight: float = 0.25
    """Weight of "you bought this before" relative to the cart's co-occurrence signal."""

    def replace(self, **changes: Any) -> HybridParams:
        data = asdict(self)
        unknown = set(changes) - set(data)
        if unknown:
            raise ValueError(f"unknown parameters: {sorted(unknown)}")
        data.update(changes)
        return HybridParams(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HybridParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
