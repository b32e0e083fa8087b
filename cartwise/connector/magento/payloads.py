"""Magento JSON parsed into pydantic models: REST products, orders, categories and stock, and the
bodies the cartwise Magento module posts (`order_placed`, `cart_saved`, `product_saved`).

The models are tolerant, as Magento's answers vary between versions and extensions: unknown keys
are ignored, optional keys may be missing or null, ids arrive as numbers or numeric strings and
become strings, quantities and prices as numbers or decimal strings, flags as booleans, 0/1 or
"0"/"1". Timestamps are Magento's UTC `YYYY-MM-DD HH:MM:SS` (or ISO 8601 with an offset) and
become aware UTC datetimes. Personal data (emails, names, addresses) is never kept: only the
country of an address is read.

`parse_event(event, body)` is the entry point for module deliveries; failures raise
`InvalidPayload` naming fields, never echoing values. Layer 2: imports `cartwise.errors`,
pydantic and the standard library.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cartwise.connector.json_bodies import describe, load_json
from cartwise.errors import InvalidPayload

__all__ = [
    "EVENT_MODELS",
    "CartItem",
    "CartPayload",
    "CartSaved",
    "CategoryPayload",
    "OrderItem",
    "OrderPayload",
    "OrderPlaced",
    "ProductPayload",
    "ProductSaved",
    "SourceItem",
    "StockItem",
    "describe",
    "load_json",
    "parse_event",
]

_MAX_ID = 10**20
_DIGITS = re.compile(r"[0-9]{1,20}")
_COUNTRY = re.compile(r"[A-Za-z]{2}")

# Magento's product status and visibility codes (Magento\Catalog\Model\Product\Attribute\Source\
# Status and Magento\Catalog\Model\Product\Visibility).
STATUS_ENABLED = 1
VISIBILITY_NOT_VISIBLE = 1


def _id(value: object) -> str | None:
    """An entity id as a canonical decimal string; None for an absent one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("not a Magento id (a boolean)")
    if isinstance(value, int) and 0 <= value < _MAX_ID:
        return str(value)
    if isinstance(value, float) and value.is_integer() and 0 <= value < _MAX_ID:
        return str(int(value))
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return str(int(value.strip()))
    raise ValueError("not a Magento id (expected a whole number)")


def _number(value: object) -> float | None:
    """A quantity or price from a number or a decimal string; None when absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError("not a number") from None
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _flag(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    raise ValueError("not a flag (expected true/false or 0/1)")


def _timestamp(value: object) -> datetime | None:
    """Magento's `YYYY-MM-DD HH:MM:SS` (UTC) or ISO 8601; naive values are UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not a timestamp (expected YYYY-MM-DD HH:MM:SS)") from None
    else:
        raise ValueError("not a timestamp (unexpected type)")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected text")


def _country(value: object) -> str | None:
    if isinstance(value, str) and _COUNTRY.fullmatch(value.strip()):
        return value.strip().upper()
    return None


def _get(data: object, *path: str | int) -> object:
    """`data[a][b]...`, or None where a step is missing."""
    current = data
    for key in path:
        if isinstance(key, int):
            if not isinstance(current, list) or len(current) <= key:
                return None
            current = current[key]
        elif isinstance(current, Mapping):
            current = current.get(key)
        else:
            return None
    return current


class _Model(BaseModel):
    """Ignores keys it does not know and is immutable; a null list is an empty one."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_lists(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        lists = {
            name
            for name, info in cls.model_fields.items()
            if info.default_factory is list or isinstance(info.default, tuple)
        }
        return {k: v for k, v in data.items() if not (v is None and k in lists)}


class StockItem(_Model):
    """Legacy CatalogInventory stock (`extension_attributes.stock_item`, `/V1/stockItems/{sku}`)."""

    qty: float | None = None
    is_in_stock: bool | None = None
    manage_stock: bool | None = None

    @field_validator("qty", mode="before")
    @classmethod
    def _parse_quantity(cls, value: object) -> float | None:
        return _number(value)

    @field_validator("is_in_stock", "manage_stock", mode="before")
    @classmethod
    def _parse_flags(cls, value: object) -> bool | None:
        return _flag(value)


class SourceItem(_Model):
    """MSI stock of one SKU at one source (`/V1/inventory/source-items`); status 1 = in stock."""

    sku: str
    source_code: str = "default"
    quantity: float | None = None
    status: int = 1

    @field_validator("quantity", mode="before")
    @classmethod
    def _parse_quantity(cls, value: object) -> float | None:
        return _number(value)

    @field_validator("sku", "source_code", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> str:
        return _text(value)


class CategoryLink(_Model):
    category_id: str
    position: int = 0

    @field_validator("category_id", mode="before")
    @classmethod
    def _parse_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("position", mode="before")
    @classmethod
    def _parse_position(cls, value: object) -> object:
        return 0 if value is None else value


class _ProductExtension(_Model):
    category_links: list[CategoryLink] = Field(default_factory=list)
    stock_item: StockItem | None = None
    configurable_product_links: list[str] = Field(default_factory=list)

    @field_validator("configurable_product_links", mode="before")
    @classmethod
    def _child_ids(cls, value: object) -> object:
        if isinstance(value, list):
            return [found for found in (_id(v) for v in value) if found is not None]
        return value


class MediaEntry(_Model):
    file: str | None = None
    media_type: str = "image"
    types: tuple[str, ...] = ()
    disabled: bool = False
    position: int = 0

    @field_validator("disabled", mode="before")
    @classmethod
    def _parse_flag(cls, value: object) -> bool:
        return bool(_flag(value))

    @field_validator("position", mode="before")
    @classmethod
    def _parse_position(cls, value: object) -> object:
        return 0 if value is None else value


class CustomAttribute(_Model):
    attribute_code: str
    value: Any = None


class ProductPayload(_Model):
    """A catalog product as `GET /V1/products` lists it. `status` 1 is enabled, 2 disabled;
    `visibility` 1 is "Not Visible Individually" (a configurable's child), 2-4 are shown."""

    id: str
    sku: str
    name: str = ""
    price: float | None = None
    status: int | None = None
    visibility: int | None = None
    type_id: str = "simple"
    updated_at: datetime | None = None
    extension_attributes: _ProductExtension = Field(default_factory=_ProductExtension)
    media_gallery_entries: list[MediaEntry] = Field(default_factory=list)
    custom_attributes: list[CustomAttribute] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _parse_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("sku", "name", "type_id", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> str:
        return _text(value)

    @field_validator("price", mode="before")
    @classmethod
    def _parse_price(cls, value: object) -> float | None:
        return _number(value)

    @field_validator("updated_at", mode="before")
    @classmethod
    def _parse_time(cls, value: object) -> datetime | None:
        return _timestamp(value)

    @field_validator("extension_attributes", mode="before")
    @classmethod
    def _no_extension(cls, value: object) -> object:
        return {} if value is None else value

    @property
    def enabled(self) -> bool:
        return self.status in (None, STATUS_ENABLED)

    @property
    def visible(self) -> bool:
        return self.visibility != VISIBILITY_NOT_VISIBLE

    @property
    def child_ids(self) -> list[str]:
        """The simple products a configurable is made of."""
        return self.extension_attributes.configurable_product_links

    def attribute(self, code: str) -> Any:
        for item in self.custom_attributes:
            if item.attribute_code == code:
                return item.value
        return None

    @property
    def category_ids(self) -> list[str]:
        """Its categories in the merchant's order: `category_links` by position, else the
        `category_ids` attribute."""
        links = sorted(self.extension_attributes.category_links, key=lambda link: link.position)
        if links:
            return list(dict.fromkeys(link.category_id for link in links))
        raw = self.attribute("category_ids")
        values = raw if isinstance(raw, list) else str(raw or "").split(",")
        found = []
        for value in values:
            try:
                category = _id(value)
            except ValueError:
                continue
            if category is not None:
                found.append(category)
        return list(dict.fromkeys(found))

    @property
    def image_file(self) -> str | None:
        """The main image's path under the media URL: the gallery entry with the `image` role,
        else the first enabled image, else the `image` attribute."""
        entries = sorted(
            (e for e in self.media_gallery_entries if e.file and not e.disabled),
            key=lambda e: e.position,
        )
        for entry in entries:
            if "image" in entry.types:
                return entry.file
        if entries:
            return entries[0].file
        value = self.attribute("image")
        if isinstance(value, str) and value.strip() and value != "no_selection":
            return value.strip()
        return None


class CategoryPayload(_Model):
    """A category (`/V1/categories/list`); levels 0 and 1 are the invisible roots."""

    id: str
    name: str = ""
    level: int | None = None
    is_active: bool = True

    @field_validator("id", mode="before")
    @classmethod
    def _parse_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("name", mode="before")
    @classmethod
    def _parse_name(cls, value: object) -> str:
        return _text(value)

    @field_validator("is_active", mode="before")
    @classmethod
    def _parse_flag(cls, value: object) -> bool:
        return _flag(value) is not False


class OrderItem(_Model):
    """An order or quote item. A configurable product is two items: the parent (the price) and
    its child (`parent_item_id` set, the simple product chosen); a bundle is its parent and
    one child per part."""

    item_id: str | None = None
    parent_item_id: str | None = None
    product_id: str | None = None
    product_type: str = "simple"
    sku: str = ""
    qty: float = Field(default=1.0, validation_alias=AliasChoices("qty_ordered", "qty"))
    price: float | None = None

    @field_validator("item_id", "parent_item_id", "product_id", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("product_type", "sku", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> str:
        return _text(value)

    @field_validator("price", mode="before")
    @classmethod
    def _parse_price(cls, value: object) -> float | None:
        return _number(value)

    @field_validator("qty", mode="before")
    @classmethod
    def _quantity(cls, value: object) -> float:
        number = _number(value)
        return 1.0 if number is None else number


CartItem = OrderItem
"""Quote items have the order items' shape (`qty` where orders say `qty_ordered`)."""


class OrderPayload(_Model):
    """An order as `GET /V1/orders` gives it. `state` `canceled` means cancelled; `country` is
    where it ships (the billing country for virtual orders)."""

    entity_id: str
    increment_id: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    state: str | None = None
    customer_id: str | None = None
    customer_is_guest: bool = False
    items: list[OrderItem] = Field(default_factory=list)
    country: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _derive_country(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "country" not in data:
            shipping = _get(
                data,
                "extension_attributes",
                "shipping_assignments",
                0,
                "shipping",
                "address",
                "country_id",
            )
            billing = _get(data, "billing_address", "country_id")
            return {**data, "country": _country(shipping) or _country(billing)}
        return data

    @field_validator("entity_id", "customer_id", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("created_at", "updated_at", mode="before")
    @classmethod
    def _parse_times(cls, value: object) -> datetime | None:
        return _timestamp(value)

    @field_validator("customer_is_guest", mode="before")
    @classmethod
    def _parse_guest(cls, value: object) -> bool:
        return bool(_flag(value))

    @field_validator("increment_id", "state", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> str | None:
        return _text(value) or None

    @property
    def cancelled(self) -> bool:
        return self.state == "canceled"

    def version_at(self) -> datetime:
        """When this state of the order was saved, to drop older ones."""
        return self.updated_at or self.created_at


class CartPayload(_Model):
    """A cart (Magento's quote) as the module posts it: its id, when it was saved, the logged-in
    customer (None for guests) and its items in quote-item shape."""

    id: str = Field(validation_alias=AliasChoices("id", "entity_id"))
    updated_at: datetime
    is_active: bool = True
    customer_id: str | None = Field(
        default=None, validation_alias=AliasChoices("customer_id", AliasPath("customer", "id"))
    )
    items: list[OrderItem] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _created_is_updated(cls, data: Any) -> Any:
        """A quote never saved twice may carry only `created_at` (or `updated_at` null)."""
        if isinstance(data, Mapping) and not data.get("updated_at") and data.get("created_at"):
            return {**data, "updated_at": data["created_at"]}
        return data

    @field_validator("id", "customer_id", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("updated_at", mode="before")
    @classmethod
    def _parse_time(cls, value: object) -> datetime | None:
        return _timestamp(value)

    @field_validator("is_active", mode="before")
    @classmethod
    def _parse_active(cls, value: object) -> bool:
        return _flag(value) is not False


class _Event(_Model):
    occurred_at: datetime | None = None

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _parse_time(cls, value: object) -> datetime | None:
        return _timestamp(value)


class OrderPlaced(_Event):
    """`order_placed`: the order in `GET /V1/orders/{id}` shape, sent after it was committed."""

    order: OrderPayload


class CartSaved(_Event):
    """`cart_saved`: the cart as last saved."""

    cart: CartPayload


class ProductSaved(_Event):
    """`product_saved`: the product in `GET /V1/products/{sku}` shape with, for a configurable,
    its children; the names of its categories; MSI stock of it and its children where the
    store uses MSI; the media URL its image paths are under."""

    product: ProductPayload
    children: list[ProductPayload] = Field(default_factory=list)
    categories: list[CategoryPayload] = Field(default_factory=list)
    source_items: list[SourceItem] = Field(default_factory=list)
    media_base_url: str | None = None

    @field_validator("media_base_url", mode="before")
    @classmethod
    def _media(cls, value: object) -> str | None:
        text = _text(value)
        return text if text.startswith(("https://", "http://")) else None


EVENT_MODELS: Final[dict[str, type[OrderPlaced | CartSaved | ProductSaved]]] = {
    "order_placed": OrderPlaced,
    "cart_saved": CartSaved,
    "product_saved": ProductSaved,
}
"""The module's event names and the body each carries."""


def parse_event(event: str, body: bytes | str) -> OrderPlaced | CartSaved | ProductSaved:
    """The model of a module delivery. InvalidPayload for an unknown event, a body that is not
    a JSON object, or one that fails validation (the message names fields, not values)."""
    model = EVENT_MODELS.get(event)
    if model is None:
        raise InvalidPayload("unknown Magento event", event=event[:64])
    try:
        data = load_json(body)
    except ValueError as exc:
        raise InvalidPayload(str(exc), event=event) from None
    if not isinstance(data, dict):
        raise InvalidPayload("the body must be a JSON object", event=event)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, fields = describe(exc)
        raise InvalidPayload(
            f"invalid {event} body: {message}", event=event, fields=fields
        ) from None
