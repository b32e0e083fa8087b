"""Magento payloads → cartwise's domain records, so the rest of cartwise cannot tell a Magento
store from a Shopify one.

Magento's catalog differs from Shopify's in shape, not in meaning: a configurable product is the
product and its simple children ("Not Visible Individually") are its variants; an order or cart
item of a configurable is a parent item (the price) plus a child item (the variant), folded here
into one line; a bundle's part items fold into the bundle's line. Stock comes from MSI source
items or the legacy stock item; status, visibility and stock decide `available`.
Layer 2: imports `cartwise.domain`, `cartwise.errors` and the Magento payload models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cartwise.connector.magento.payloads import (
    CartPayload,
    CartSaved,
    CategoryPayload,
    OrderItem,
    OrderPayload,
    OrderPlaced,
    ProductPayload,
    ProductSaved,
    SourceItem,
    StockItem,
    parse_event,
)
from cartwise.domain import Cart, CartLine, Order, OrderLine, Product

__all__ = [
    "CatalogRecord",
    "CustomerKey",
    "OrderRecord",
    "StockLevel",
    "VariantStock",
    "cart_record",
    "catalog_record",
    "event_record",
    "order_lines",
    "order_record",
    "stock_from_item",
    "stock_from_sources",
]

CustomerKey = Callable[[str], str]
"""Turns a Magento customer id into the keyed hash stored in its place."""

_COMPOSITE = frozenset({"configurable", "bundle", "grouped"})
"""Product types whose own price and stock stand for their parts' (often 0 and unmanaged)."""
_ROOT_LEVEL = 1
"""Categories at levels 0 and 1 are Magento's invisible roots ("Default Category")."""


@dataclass(frozen=True, slots=True)
class StockLevel:
    """Stock of one SKU: `quantity` None when Magento does not manage it (always in stock)."""

    quantity: float | None
    in_stock: bool


@dataclass(frozen=True, slots=True)
class VariantStock:
    """A configurable's child as a variant: its units left, None when not limited."""

    variant_id: str
    product_id: str
    sku: str
    stock: int | None


@dataclass(frozen=True, slots=True)
class CatalogRecord:
    """A product with its variants, and when this state of it was produced (None: unknown)."""

    product: Product
    variants: tuple[VariantStock, ...] = ()
    version: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order (its customer already a keyed hash), its version and the country it ships to."""

    order: Order
    version: datetime
    country: str | None = None


def stock_from_sources(items: Iterable[SourceItem]) -> dict[str, StockLevel]:
    """SKU → stock over its MSI sources: the units of every source, in stock when any is."""
    quantities: dict[str, float] = {}
    in_stock: dict[str, bool] = {}
    for item in items:
        quantities[item.sku] = quantities.get(item.sku, 0.0) + max(0.0, item.quantity or 0.0)
        in_stock[item.sku] = in_stock.get(item.sku, False) or item.status == 1
    return {sku: StockLevel(quantities[sku], in_stock[sku]) for sku in quantities}


def stock_from_item(item: StockItem | None) -> StockLevel | None:
    """The legacy stock item's level; None when there is none."""
    if item is None:
        return None
    if item.manage_stock is False:
        return StockLevel(None, True)
    return StockLevel(item.qty, item.is_in_stock is not False)


def _level(product: ProductPayload, stock: Mapping[str, StockLevel]) -> StockLevel | None:
    embedded = product.extension_attributes.stock_item
    if embedded is not None and embedded.manage_stock is False:
        return StockLevel(None, True)
    return stock.get(product.sku) or stock_from_item(embedded)


def _units(level: StockLevel | None) -> int | None:
    """Units left that limit sales; None when unmanaged, unknown, or on backorder (in stock
    with nothing left, as Magento marks a SKU whose backorders are allowed)."""
    if level is None or level.quantity is None:
        return None
    if level.in_stock and level.quantity <= 0:
        return None
    return max(0, int(level.quantity))


def _sellable(product: ProductPayload, level: StockLevel | None) -> bool:
    if not product.enabled:
        return False
    if level is None:
        return True
    units = _units(level)
    return level.in_stock and (units is None or units > 0)


def _categories(
    product: ProductPayload, categories: Mapping[str, CategoryPayload]
) -> tuple[str, tuple[str, ...]]:
    """(category, tags): the most specific named category and every category's name, in the
    merchant's order; ids stand in for names that are not known."""
    ids = product.category_ids
    known = [categories[i] for i in ids if i in categories and categories[i].name]
    named = [c for c in known if c.level is None or c.level > _ROOT_LEVEL]
    roots = {c.id for c in known if c not in named}
    labels = [categories[i].name if i in categories and categories[i].name else i for i in ids]
    tags = tuple(
        dict.fromkeys(label for i, label in zip(ids, labels, strict=True) if i not in roots)
    )
    if named:
        deepest = max(named, key=lambda c: c.level or 0)
        return deepest.name, tags
    return (tags[0] if tags else ""), tags


def _image(file: str | None, media_url: str | None) -> str | None:
    if not file:
        return None
    if file.startswith(("https://", "http://")):
        return file
    if media_url is None:
        return None
    return f"{media_url.rstrip('/')}/{file.lstrip('/')}"


def _price(value: float | None, composite: bool) -> float | None:
    if value is None or value < 0 or (composite and value == 0):
        return None
    return value


def catalog_record(
    product: ProductPayload,
    children: Sequence[ProductPayload] = (),
    *,
    stock: Mapping[str, StockLevel] | None = None,
    categories: Mapping[str, CategoryPayload] | None = None,
    media_url: str | None = None,
    version: datetime | None = None,
) -> CatalogRecord | None:
    """The domain record of a product that is shown on its own; None for a simple product
    "Not Visible Individually" (a configurable's child: it is a variant of its parent).

    `stock` maps SKUs to levels (MSI); without one, the product's embedded stock item is used.
    `categories` maps category ids to categories, for names; `media_url` is the base URL of
    product images (`…/media/catalog/product`). `version` defaults to the newest `updated_at`
    of the product and its children.
    """
    stock = stock or {}
    if not product.visible and product.type_id not in _COMPOSITE:
        return None
    category, tags = _categories(product, categories or {})
    newest = [p.updated_at for p in (product, *children) if p.updated_at is not None]
    version = version or (max(newest) if newest else None)
    base = Product(
        product_id=product.id,
        title=product.name,
        category=category,
        tags=tags,
        image_url=_image(product.image_file, media_url),
    )
    if product.type_id == "configurable":
        return _configurable(product, children, stock, base, media_url, version)
    level = _level(product, stock)
    composite = product.type_id in _COMPOSITE
    available = product.enabled and product.visible and _sellable(product, level)
    return CatalogRecord(
        replace(
            base,
            price=_price(product.price, composite),
            available=available,
            stock=None if composite else _units(level),
        ),
        (),
        version,
    )


def _configurable(
    parent: ProductPayload,
    children: Sequence[ProductPayload],
    stock: Mapping[str, StockLevel],
    base: Product,
    media_url: str | None,
    version: datetime | None,
) -> CatalogRecord:
    """A configurable: its children are its variants; it is available while one of them can
    be bought, shows the first such child's price, and has their units as its stock."""
    by_id = {child.id: child for child in children}
    order = parent.child_ids or [child.id for child in children]
    ordered = [by_id[i] for i in dict.fromkeys(order) if i in by_id]
    levels = {child.id: _level(child, stock) for child in ordered}
    variants = tuple(
        VariantStock(child.id, parent.id, child.sku, _units(levels[child.id])) for child in ordered
    )
    sellable = [child for child in ordered if _sellable(child, levels[child.id])]
    chosen = sellable[0] if sellable else (ordered[0] if ordered else None)
    units = [variant.stock for variant in variants]
    price = _price(chosen.price, False) if chosen is not None else None
    image = base.image_url or (_image(chosen.image_file, media_url) if chosen else None)
    return CatalogRecord(
        replace(
            base,
            price=price if price is not None else _price(parent.price, True),
            available=parent.enabled and parent.visible and bool(sellable),
            stock=None if not units or None in units else sum(u or 0 for u in units),
            image_url=image,
            variant_id=chosen.id if chosen is not None else None,
        ),
        variants,
        version,
    )


def order_lines(items: Sequence[OrderItem]) -> tuple[OrderLine, ...]:
    """Order or cart items as lines: a child item is folded into its parent's line (a
    configurable's single child becomes the line's variant); items without a product or with
    no quantity are skipped."""
    known = {item.item_id for item in items if item.item_id is not None}
    children: dict[str, list[OrderItem]] = {}
    tops: list[OrderItem] = []
    for item in items:
        if item.parent_item_id is not None and item.parent_item_id in known:
            children.setdefault(item.parent_item_id, []).append(item)
        else:
            tops.append(item)
    lines = []
    for item in tops:
        if item.product_id is None or item.qty <= 0:
            continue
        parts = children.get(item.item_id or "", [])
        single = parts[0] if item.product_type == "configurable" and len(parts) == 1 else None
        price = item.price if item.price is not None or single is None else single.price
        lines.append(
            OrderLine(
                product_id=item.product_id,
                quantity=max(1, round(item.qty)),
                price=price,
                variant_id=single.product_id if single is not None else None,
            )
        )
    return tuple(lines)


def _customer(customer_id: str | None, customer_key: CustomerKey | None) -> str | None:
    """The stored customer id: only ever the caller's keyed hash of Magento's id."""
    if customer_id is None or customer_key is None:
        return None
    return customer_key(customer_id)


def order_record(payload: OrderPayload, customer_key: CustomerKey | None = None) -> OrderRecord:
    """The domain order: `entity_id` is its id, a guest's order has no customer, the state
    `canceled` marks it cancelled."""
    customer = None if payload.customer_is_guest else payload.customer_id
    order = Order(
        order_id=payload.entity_id,
        created_at=payload.created_at,
        lines=order_lines(payload.items),
        customer_id=_customer(customer, customer_key),
        cancelled=payload.cancelled,
    )
    return OrderRecord(order, payload.version_at(), payload.country)


def cart_record(
    payload: CartPayload,
    customer_key: CustomerKey | None = None,
    *,
    saved_at: datetime | None = None,
) -> Cart:
    """The domain cart. `saved_at` (the module's time of the save, finer than Magento's
    seconds) versions it when given, so two saves within a second keep the later one."""
    lines = tuple(
        CartLine(line.product_id, line.quantity, line.variant_id)
        for line in order_lines(payload.items)
    )
    return Cart(
        cart_id=payload.id,
        updated_at=saved_at or payload.updated_at,
        lines=lines,
        customer_id=_customer(payload.customer_id, customer_key),
    )


def event_record(
    event: str, body: bytes | str, customer_key: CustomerKey | None = None
) -> OrderRecord | Cart | CatalogRecord | None:
    """What a module delivery says, as domain records: an `OrderRecord`, a `Cart` or a
    `CatalogRecord`; None when there is nothing to store (an inactive cart, a product that is
    only a variant). InvalidPayload when the body can't be read."""
    parsed = parse_event(event, body)
    if isinstance(parsed, OrderPlaced):
        return order_record(parsed.order, customer_key)
    if isinstance(parsed, CartSaved):
        if not parsed.cart.is_active:
            return None  # converted to an order, which is counted instead
        return cart_record(parsed.cart, customer_key, saved_at=parsed.occurred_at)
    assert isinstance(parsed, ProductSaved)
    return catalog_record(
        parsed.product,
        parsed.children,
        stock=stock_from_sources(parsed.source_items),
        categories={c.id: c for c in parsed.categories},
        media_url=parsed.media_base_url,
        version=parsed.occurred_at,
    )
