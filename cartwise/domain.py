"""The shared vocabulary of cartwise: shops, products, orders, carts, as plain frozen dataclasses.

Platform payloads are parsed into these at the edge; storage persists them; training turns them
into recommender interactions. Layer 0: imports nothing from cartwise but `errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Cart",
    "CartLine",
    "Order",
    "OrderLine",
    "Platform",
    "Product",
    "ShopRef",
    "ShopRules",
]


class Platform(StrEnum):
    SHOPIFY = "shopify"
    MAGENTO = "magento"
    DEMO = "demo"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class ShopRef:
    """A shop as cartwise names it: `domain` is the shop's stable key (e.g. `x.myshopify.com`)."""

    domain: str
    platform: Platform = Platform.CSV


@dataclass(frozen=True, slots=True)
class Product:
    """A sellable product. `price` is in the shop's currency; `stock` None means untracked."""

    product_id: str
    title: str
    category: str = ""
    vendor: str = ""
    price: float | None = None
    tags: tuple[str, ...] = ()
    available: bool = True
    stock: int | None = None
    image_url: str | None = None
    variant_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    product_id: str
    quantity: int = 1
    price: float | None = None
    variant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """A placed order. `customer_id` None is a guest; `created_at` is timezone-aware UTC."""

    order_id: str
    created_at: datetime
    lines: tuple[OrderLine, ...]
    customer_id: str | None = None
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class CartLine:
    product_id: str
    quantity: int = 1
    variant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Cart:
    """A cart as last seen: `cart_id` is the platform's cart token."""

    cart_id: str
    updated_at: datetime
    lines: tuple[CartLine, ...] = field(default_factory=tuple)
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class ShopRules:
    """The merchant's say over what a storefront shows: curated defaults (the fallback when the
    model has nothing), pinned products (shown first), blocked products (never shown), a price
    band and diversity caps per vendor and per category (None = no limit), and the share of
    each answer's slots given to exploration (0 to 0.5; 0 = off): products the model ranks a
    little lower, chosen by Thompson sampling on their storefront clicks."""

    defaults: tuple[str, ...] = ()
    pinned: tuple[str, ...] = ()
    blocked: frozenset[str] = frozenset()
    min_price: float | None = None
    max_price: float | None = None
    max_per_vendor: int | None = None
    max_per_category: int | None = None
    exploration_share: float = 0.0
