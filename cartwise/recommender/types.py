"""The recommender's input and output records: plain frozen dataclasses, validated on entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["Interaction", "Item", "Recommendation"]


@dataclass(frozen=True, slots=True)
class Interaction:
    """One product in one order (or cart). `created_at` should be timezone-aware (naive = UTC)."""

    order_id: str
    customer_id: str | None
    product_id: str
    quantity: float
    price: float | None
    created_at: datetime
    kind: Literal["order", "cart"] = "order"


@dataclass(frozen=True, slots=True)
class Item:
    """A catalog product as the model sees it. Unavailable items are never recommended."""

    product_id: str
    title: str = ""
    category: str = ""
    vendor: str = ""
    price: float | None = None
    tags: tuple[str, ...] = ()
    available: bool = True


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A ranked product with its score (higher is better, comparable within one answer only)
    and a human reason, e.g. "Often bought with REGENCY CAKESTAND 3 TIER"."""

    product_id: str
    score: float
    reason: str
