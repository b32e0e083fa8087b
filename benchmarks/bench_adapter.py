"""Adapter that plugs cartwise's HybridRecommender into the shared evaluation harness.

    python ../shared/bench/evaluate.py --data DIR --methods ease \
        --engine cartwise=benchmarks/bench_adapter.py:fit

The harness hands over pandas frames; they are turned into cartwise records here and nothing
else is done: the engine runs with its shipped defaults.
"""

from __future__ import annotations

from typing import Any

from cartwise.recommender import HybridRecommender, Interaction, Item


def _tags(raw: object) -> tuple[str, ...]:
    return tuple(t.strip() for t in str(raw or "").split(",") if t.strip())


def _price(raw: object) -> float | None:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if value == value else None


class _Engine:
    def __init__(self, model: HybridRecommender) -> None:
        self.model = model

    def recommend(self, cart: list[str], customer_id: str | None, k: int) -> list[str]:
        return [r.product_id for r in self.model.recommend(cart, customer_id, k)]


def fit(orders_df: Any, products_df: Any, **params: Any) -> _Engine:
    from cartwise.recommender.params import HybridParams

    items = [
        Item(
            product_id=str(r.product_id),
            title=str(r.title or ""),
            category=str(r.category or ""),
            vendor=str(r.vendor or ""),
            price=_price(r.price),
            tags=_tags(r.tags),
        )
        for r in products_df.itertuples(index=False)
    ]
    interactions = (
        Interaction(
            order_id=str(r.order_id),
            customer_id=str(r.customer_id) or None,
            product_id=str(r.product_id),
            quantity=float(r.quantity) if r.quantity == r.quantity else 1.0,
            price=_price(r.price),
            created_at=r.created_at.to_pydatetime(),
        )
        for r in orders_df.itertuples(index=False)
    )
    model = HybridRecommender(HybridParams().replace(**params) if params else None)
    return _Engine(model.fit(interactions, items))
