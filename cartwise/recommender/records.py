"""Domain records (orders, carts, products) as the model's records (interactions, items).

Layer 2: imports only `domain` (layer 0) and this package.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cartwise.domain import Cart, Order, Product
from cartwise.recommender.types import Interaction, Item

__all__ = ["cart_interactions", "to_interactions", "to_items"]


def to_interactions(orders: Iterable[Order]) -> Iterator[Interaction]:
    """One interaction per order line; cancelled orders say nothing about taste and are skipped."""
    for order in orders:
        if order.cancelled:
            continue
        for line in order.lines:
            yield Interaction(
                order_id=order.order_id,
                customer_id=order.customer_id,
                product_id=line.product_id,
                quantity=float(line.quantity),
                price=line.price,
                created_at=order.created_at,
                kind="order",
            )


def cart_interactions(carts: Iterable[Cart]) -> Iterator[Interaction]:
    """One interaction per cart line, keyed `cart:<cart_id>` so it never merges with an order."""
    for cart in carts:
        for line in cart.lines:
            yield Interaction(
                order_id=f"cart:{cart.cart_id}",
                customer_id=cart.customer_id,
                product_id=line.product_id,
                quantity=float(line.quantity),
                price=None,
                created_at=cart.updated_at,
                kind="cart",
            )


def to_items(products: Iterable[Product]) -> Iterator[Item]:
    """The model's view of the catalog; `available` is taken as the platform states it."""
    for product in products:
        yield Item(
            product_id=product.product_id,
            title=product.title,
            category=product.category,
            vendor=product.vendor,
            price=product.price,
            tags=product.tags,
            available=product.available,
        )
