"""Shopify webhook bodies parsed into pydantic models and converted into domain records.

A webhook body is the bare REST resource of its topic (no `{"order": ...}` wrapper), serialised
at the subscription's API version, so the parsers are tolerant: unknown keys are ignored, optional
keys may be missing, ids arrive as JSON numbers, numeric strings or GraphQL GIDs and all become
the numeric tail string, prices arrive as strings, numbers or money objects, `tags` is a comma
string or a list, and timestamps become timezone-aware UTC. Product, variant and order nodes in
the GraphQL Admin API's camelCase shape (used by backfills) are read too.

`parse(topic, body)` is the single entry point for raw bodies; anything it cannot read raises
`InvalidPayload` with a message that names fields but never echoes their values, because bodies
carry personal data (emails, phones, addresses).

Layer 2: imports only `cartwise.domain`, `cartwise.errors`, pydantic and the standard library.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

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

from cartwise.connector.json_bodies import describe, load_json, too_deep
from cartwise.domain import Cart, CartLine, Order, OrderLine, Product
from cartwise.errors import InvalidPayload

__all__ = [
    "TOPIC_MODELS",
    "CartPayload",
    "CheckoutPayload",
    "Customer",
    "CustomersDataRequestPayload",
    "CustomersRedactPayload",
    "InventoryLevelPayload",
    "LineItem",
    "OrderPayload",
    "ProductDeletePayload",
    "ProductPayload",
    "ShopPayload",
    "ShopRedactPayload",
    "VariantPayload",
    "normalize_id",
    "normalize_token",
    "parse",
    "too_deep",
]

CustomerKey = Callable[[str], str]
"""Turns a platform customer id into the keyed hash the caller stores instead of the raw id."""

ProductOfVariant = Callable[[str], "str | None"]
"""Looks up the product id of a variant id, for cart lines that name only the variant."""

# Shopify ids are 64-bit integers: at most 20 decimal digits.
_MAX_ID = 10**20
_DIGITS = re.compile(r"[0-9]{1,20}")
_GID = re.compile(r"gid://[A-Za-z0-9_.-]+/[A-Za-z0-9_]+/([0-9]{1,20})(?:\?.*)?", re.DOTALL)
_MAX_TOKEN_LENGTH = 512
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")
_SAFE_TOPIC = re.compile(r"[a-z_]{1,40}/[a-z_]{1,40}")
_DEVICES = frozenset({"mobile", "tablet", "desktop"})
_TABLET_MARKERS = ("ipad", "tablet", "kindle", "silk/", "playbook")
_MOBILE_MARKERS = ("mobi", "iphone", "ipod", "android", "windows phone", "blackberry", "opera mini")


# --- value normalisers: raise ValueError (never echoing the value) so pydantic names the field --


def _id(value: object) -> str | None:
    """The numeric tail of an id, or None for an absent one; ValueError for anything else."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not a Shopify id (a boolean)")
    if isinstance(value, int):
        if 0 <= value < _MAX_ID:
            return str(value)
        raise ValueError("not a Shopify id (out of range)")
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and 0 <= value < _MAX_ID:
            return str(int(value))
        raise ValueError("not a Shopify id (not a whole number)")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _DIGITS.fullmatch(text):
            return str(int(text))  # canonical: "0123" and 123 are the same id
        gid = _GID.fullmatch(text)
        if gid:
            return str(int(gid.group(1)))
        raise ValueError("not a Shopify id (expected a number, numeric string or gid:// id)")
    raise ValueError("not a Shopify id (unexpected type)")


def normalize_id(value: object) -> str | None:
    """Normalise a Shopify id so REST numbers, numeric strings and GraphQL GIDs compare equal.

    `123`, `"123"` and `"gid://shopify/Product/123"` all give `"123"`; None and `""` give None;
    anything else (booleans, fractions, other strings) raises `InvalidPayload`.
    """
    try:
        return _id(value)
    except ValueError as exc:
        raise InvalidPayload(str(exc)) from None


def _token(value: object) -> str | None:
    """A cart/checkout token: a GID prefix and a `?key=...` suffix are dropped so that the token
    of a cart, of the checkout made from it and of its order compare equal."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return _id(value)
    if not isinstance(value, str):
        raise ValueError("not a token (expected a string)")
    text = value.strip()
    if text.startswith("gid://"):
        text = text.rsplit("/", 1)[-1]
    text = text.split("?", 1)[0].strip()
    if not text:
        return None
    if len(text) > _MAX_TOKEN_LENGTH or not text.isprintable():
        raise ValueError("not a token (too long or unprintable)")
    return text


def normalize_token(value: object) -> str | None:
    """Normalise a cart or checkout token the way the payload models do; see `normalize_id`."""
    try:
        return _token(value)
    except ValueError as exc:
        raise InvalidPayload(str(exc)) from None


def _timestamp(value: object) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text (naive means UTC) or epoch seconds."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        else:
            raise ValueError("not a timestamp (unexpected type)")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise ValueError("not an ISO 8601 timestamp") from None


def _money(value: object) -> float | None:
    """A price from `"19.99"`, `19.99` or a money object (`{"amount": ...}`, `price_set`)."""
    if isinstance(value, Mapping):
        for key in ("amount", "shop_money", "shopMoney"):
            if key in value:
                return _money(value[key])
        return None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a price (unexpected type)")
    try:
        price = float(value)
    except (ValueError, OverflowError):
        raise ValueError("not a price (expected a decimal number)") from None
    if not math.isfinite(price) or price < 0:
        raise ValueError("not a price (negative or not finite)")
    return price


def _text(value: object) -> str:
    """Display text where Shopify may send null (e.g. a line item's `vendor`)."""
    return _optional_text(value) or ""


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected text")


def _lower_text(value: object) -> str | None:
    text = _optional_text(value)
    return text.lower() if text else None


def _tags(value: object) -> tuple[str, ...]:
    """Tags from REST's comma-separated string or GraphQL's list; stripped, empties dropped."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable[object] = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ValueError("tags must be a comma-separated string or a list")
    return tuple(tag for tag in (_text(item) for item in items) if tag)


def _nodes(value: object) -> object:
    """A GraphQL connection (`{"nodes": [...]}` or `{"edges": [{"node": ...}]}`) as a list;
    None as an empty list; anything else unchanged for pydantic to judge."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        if isinstance(value.get("nodes"), list):
            return value["nodes"]
        edges = value.get("edges")
        if isinstance(edges, list):
            return [edge.get("node") if isinstance(edge, Mapping) else edge for edge in edges]
    return value


def _ids(value: object) -> list[str]:
    """A list of ids (e.g. `orders_to_redact`), normalised, absent entries dropped."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError("expected a list of ids")
    return [found for found in (_id(item) for item in value) if found is not None]


def _domain(value: object) -> str | None:
    text = _optional_text(value)
    return text.lower() if text else None


def _country_code(value: object) -> str | None:
    if isinstance(value, str) and _COUNTRY_CODE.fullmatch(value.strip()):
        return value.strip().upper()
    return None


def _host(value: object) -> str | None:
    """The host of a referrer URL, lower-case, without `www.`; None when there is none."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if "//" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    host = host.removeprefix("www.")
    return host or None


def _device(user_agent: object) -> str | None:
    """A coarse device class from a user agent, by substrings: enough to split recommendations
    by screen size, not a browser detector."""
    if not isinstance(user_agent, str) or not user_agent.strip():
        return None
    agent = user_agent.lower()
    if any(marker in agent for marker in _TABLET_MARKERS) or (
        "android" in agent and "mobi" not in agent
    ):
        return "tablet"
    if any(marker in agent for marker in _MOBILE_MARKERS):
        return "mobile"
    return "desktop"


def _get(data: Mapping[str, Any], *path: str) -> object:
    """`data[a][b]...`, or None where a step is missing or not an object."""
    current: object = data
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


# --- models ---------------------------------------------------------------------------------


class _Model(BaseModel):
    """Every payload model ignores keys it does not know (payloads grow each API version) and is
    immutable once parsed."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class LineItem(_Model):
    """One line of an order, cart or checkout; `product_id` is None for custom items and
    deleted products."""

    product_id: str | None = Field(
        default=None, validation_alias=AliasChoices("product_id", AliasPath("product", "id"))
    )
    variant_id: str | None = Field(
        default=None, validation_alias=AliasChoices("variant_id", AliasPath("variant", "id"))
    )
    quantity: int = Field(default=1, ge=0)
    price: float | None = Field(
        default=None, validation_alias=AliasChoices("price", "price_set", "originalUnitPriceSet")
    )
    title: str = ""
    vendor: str = ""
    sku: str = ""

    @field_validator("product_id", "variant_id", mode="before")
    @classmethod
    def _normalise_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("quantity", mode="before")
    @classmethod
    def _default_quantity(cls, value: object) -> object:
        return 1 if value is None else value

    @field_validator("price", mode="before")
    @classmethod
    def _parse_price(cls, value: object) -> float | None:
        return _money(value)

    @field_validator("title", "vendor", "sku", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> str:
        return _text(value)


class Customer(_Model):
    """A customer reference; privacy payloads may carry only an email."""

    id: str | None = Field(
        default=None, validation_alias=AliasChoices("id", "admin_graphql_api_id")
    )
    email: str | None = Field(default=None, repr=False)  # personal data: kept out of logs
    phone: str | None = Field(default=None, repr=False)

    @field_validator("id", mode="before")
    @classmethod
    def _normalise_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("email", "phone", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> str | None:
        return _optional_text(value)


def _customer_id(customer: Customer | None, customer_key: CustomerKey | None) -> str | None:
    """The stored customer id: only ever the caller's keyed hash, never the raw platform id."""
    if customer is None or customer.id is None or customer_key is None:
        return None
    return customer_key(customer.id)


class OrderPayload(_Model):
    """An order (orders/create, /paid, /updated, /cancelled), with the context signals
    (country, device, referrer) that recommendations are segmented by."""

    id: str = Field(validation_alias=AliasChoices("id", "admin_graphql_api_id"))
    created_at: datetime = Field(validation_alias=AliasChoices("created_at", "createdAt"))
    updated_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("updated_at", "updatedAt")
    )
    cancelled_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("cancelled_at", "cancelledAt")
    )
    test: bool = False
    cart_token: str | None = None
    checkout_token: str | None = None
    customer: Customer | None = None
    email: str | None = Field(default=None, repr=False)  # personal data: kept out of logs
    phone: str | None = Field(default=None, repr=False)
    line_items: list[LineItem] = Field(
        default_factory=list, validation_alias=AliasChoices("line_items", "lineItems")
    )
    country: str | None = None
    device: str | None = None
    referrer: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _derive_context(cls, data: Any) -> Any:
        """Fill `country`, `device` and `referrer` from the nested objects they come from."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if "country" not in data:
            data["country"] = _order_country(data)
        if "device" not in data:
            data["device"] = _device(_get(data, "client_details", "user_agent"))
        if "referrer" not in data:
            data["referrer"] = data.get("referring_site")
        return data

    @field_validator("id", mode="before")
    @classmethod
    def _normalise_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("created_at", "updated_at", "cancelled_at", mode="before")
    @classmethod
    def _parse_timestamp(cls, value: object) -> datetime | None:
        return _timestamp(value)

    @field_validator("test", mode="before")
    @classmethod
    def _default_test(cls, value: object) -> object:
        return False if value is None else value

    @field_validator("cart_token", "checkout_token", mode="before")
    @classmethod
    def _normalise_token(cls, value: object) -> str | None:
        return _token(value)

    @field_validator("email", "phone", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> str | None:
        return _optional_text(value)

    @field_validator("line_items", mode="before")
    @classmethod
    def _unwrap_lines(cls, value: object) -> object:
        return _nodes(value)

    @field_validator("country", mode="before")
    @classmethod
    def _parse_country(cls, value: object) -> str | None:
        return _country_code(value)

    @field_validator("device", mode="before")
    @classmethod
    def _parse_device(cls, value: object) -> str | None:
        return value if isinstance(value, str) and value in _DEVICES else None

    @field_validator("referrer", mode="before")
    @classmethod
    def _parse_referrer(cls, value: object) -> str | None:
        return _host(value)

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def version_at(self) -> datetime:
        """When this state of the order was produced: webhooks arrive unordered and retried,
        so the caller keeps the newest version and drops stale ones."""
        return self.updated_at or self.created_at

    def to_order(self, customer_key: CustomerKey | None = None) -> Order:
        """The domain order. Lines without a product (custom items, deleted products) or with
        quantity 0 say nothing about products and are skipped; the customer id is included only
        as `customer_key(id)` so raw platform ids are never stored."""
        lines = tuple(
            OrderLine(
                product_id=line.product_id,
                quantity=line.quantity,
                price=line.price,
                variant_id=line.variant_id,
            )
            for line in self.line_items
            if line.product_id is not None and line.quantity > 0
        )
        return Order(
            order_id=self.id,
            created_at=self.created_at,
            lines=lines,
            customer_id=_customer_id(self.customer, customer_key),
            cancelled=self.cancelled,
        )


def _order_country(data: Mapping[str, Any]) -> str | None:
    """Where the order goes: shipping address, else billing address, else the customer's
    default address."""
    for path in (
        ("shipping_address",),
        ("shippingAddress",),
        ("billing_address",),
        ("billingAddress",),
        ("customer", "default_address"),
        ("customer", "defaultAddress"),
    ):
        address = _get(data, *path)
        if not isinstance(address, Mapping):
            continue
        for key in ("country_code", "countryCodeV2", "countryCode"):
            code = _country_code(address.get(key))
            if code:
                return code
    return None


class _CartLike(_Model):
    """What carts and checkouts share: the token, lines, a customer (checkouts only) and a
    version time. `_id_keys` says where each kind keeps the token its cart is known by."""

    _id_keys: ClassVar[tuple[str, ...]] = ("id",)

    id: str
    updated_at: datetime
    line_items: list[LineItem] = Field(default_factory=list)
    customer: Customer | None = None

    @model_validator(mode="before")
    @classmethod
    def _choose_id(cls, data: Any) -> Any:
        """Set `id` from the first present of `_id_keys` (reported missing when none is), and
        version a payload trimmed of `updated_at` by its `created_at`."""
        if not isinstance(data, Mapping):
            return data
        chosen = dict(data)
        chosen.pop("id", None)
        for key in cls._id_keys:
            if _present(data.get(key)):
                chosen["id"] = data[key]
                break
        if not _present(data.get("updated_at")) and _present(data.get("created_at")):
            chosen["updated_at"] = data["created_at"]
        return chosen

    @field_validator("id", mode="before")
    @classmethod
    def _normalise_token(cls, value: object) -> str | None:
        return _token(value)

    @field_validator("updated_at", mode="before")
    @classmethod
    def _parse_timestamp(cls, value: object) -> datetime | None:
        return _timestamp(value)

    @field_validator("line_items", mode="before")
    @classmethod
    def _unwrap_lines(cls, value: object) -> object:
        return _nodes(value)

    def to_cart(
        self,
        customer_key: CustomerKey | None = None,
        product_of_variant: ProductOfVariant | None = None,
    ) -> Cart:
        """The domain cart. Cart payloads often name only the variant, so `product_of_variant`
        fills the product in; lines still without one, or with quantity 0, are skipped."""
        lines: list[CartLine] = []
        for line in self.line_items:
            product_id = line.product_id
            if product_id is None and line.variant_id is not None and product_of_variant:
                product_id = product_of_variant(line.variant_id) or None
            if product_id is None or line.quantity <= 0:
                continue
            lines.append(CartLine(product_id, line.quantity, line.variant_id))
        return Cart(
            cart_id=self.id,
            updated_at=self.updated_at,
            lines=tuple(lines),
            customer_id=_customer_id(self.customer, customer_key),
        )


class CartPayload(_CartLike):
    """A cart (carts/create, carts/update). `id` is the cart token, the key orders and
    checkouts refer to it by; cart payloads carry no customer."""

    _id_keys: ClassVar[tuple[str, ...]] = ("token", "id")


class CheckoutPayload(_CartLike):
    """A checkout (checkouts/create, checkouts/update), read as the cart it was made from: `id`
    is its `cart_token` when it has one so it updates that cart, else its own token or id."""

    _id_keys: ClassVar[tuple[str, ...]] = ("cart_token", "token", "id")

    completed_at: datetime | None = None
    email: str | None = Field(default=None, repr=False)  # personal data: kept out of logs
    phone: str | None = Field(default=None, repr=False)

    @field_validator("completed_at", mode="before")
    @classmethod
    def _parse_completed_at(cls, value: object) -> datetime | None:
        return _timestamp(value)

    @field_validator("email", "phone", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> str | None:
        return _optional_text(value)


class VariantPayload(_Model):
    """A product variant: the unit that has a price and stock."""

    id: str = Field(validation_alias=AliasChoices("id", "admin_graphql_api_id"))
    price: float | None = None
    inventory_quantity: int | None = Field(
        default=None, validation_alias=AliasChoices("inventory_quantity", "inventoryQuantity")
    )
    inventory_item_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("inventory_item_id", AliasPath("inventoryItem", "id")),
    )
    inventory_policy: str | None = Field(
        default=None, validation_alias=AliasChoices("inventory_policy", "inventoryPolicy")
    )
    inventory_management: str | None = None
    available: bool | None = Field(
        default=None, validation_alias=AliasChoices("available", "availableForSale")
    )

    @model_validator(mode="before")
    @classmethod
    def _tracked_from_graphql(cls, data: Any) -> Any:
        """GraphQL says `inventoryItem.tracked` where REST says `inventory_management`."""
        if isinstance(data, Mapping) and "inventory_management" not in data:
            tracked = _get(data, "inventoryItem", "tracked")
            if isinstance(tracked, bool):
                return {**data, "inventory_management": "shopify" if tracked else None}
        return data

    @field_validator("id", "inventory_item_id", mode="before")
    @classmethod
    def _normalise_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("price", mode="before")
    @classmethod
    def _parse_price(cls, value: object) -> float | None:
        return _money(value)

    @field_validator("inventory_policy", "inventory_management", mode="before")
    @classmethod
    def _parse_lower(cls, value: object) -> str | None:
        return _lower_text(value)

    @property
    def tracked(self) -> bool:
        """Shopify counts stock only for tracked variants; untracked ones never run out."""
        return self.inventory_management is not None

    @property
    def limited(self) -> bool:
        """Whether stock limits sales: tracked and not set to keep selling when out of stock."""
        return self.tracked and self.inventory_policy != "continue"

    @property
    def sellable(self) -> bool:
        """Whether it can be bought now; an explicit `available` from the platform wins."""
        if self.available is not None:
            return self.available
        return not self.limited or (self.inventory_quantity or 0) > 0


class ProductPayload(_Model):
    """A product (products/create, products/update) with its variants."""

    id: str = Field(validation_alias=AliasChoices("id", "admin_graphql_api_id"))
    title: str = ""
    product_type: str = Field(
        default="", validation_alias=AliasChoices("product_type", "productType")
    )
    vendor: str = ""
    status: str | None = None
    published_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("published_at", "publishedAt")
    )
    updated_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("updated_at", "updatedAt")
    )
    tags: tuple[str, ...] = ()
    image_url: str | None = None
    variants: list[VariantPayload] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _derive_image_url(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "image_url" not in data:
            return {**data, "image_url": _product_image(data)}
        return data

    @field_validator("id", mode="before")
    @classmethod
    def _normalise_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("title", "product_type", "vendor", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> str:
        return _text(value)

    @field_validator("status", mode="before")
    @classmethod
    def _parse_status(cls, value: object) -> str | None:
        return _lower_text(value)

    @field_validator("published_at", "updated_at", mode="before")
    @classmethod
    def _parse_timestamp(cls, value: object) -> datetime | None:
        return _timestamp(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _parse_tags(cls, value: object) -> tuple[str, ...]:
        return _tags(value)

    @field_validator("image_url", mode="before")
    @classmethod
    def _parse_image_url(cls, value: object) -> str | None:
        return value.strip() or None if isinstance(value, str) else None

    @field_validator("variants", mode="before")
    @classmethod
    def _unwrap_variants(cls, value: object) -> object:
        return _nodes(value)

    def version_at(self) -> datetime | None:
        """When this state of the product was produced, to drop stale deliveries."""
        return self.updated_at

    @property
    def published(self) -> bool:
        """An explicit `published_at: null` means unpublished; a payload trimmed of the key is
        taken as published, so `include_fields` subscriptions don't hide every product."""
        return "published_at" not in self.model_fields_set or self.published_at is not None

    @property
    def available(self) -> bool:
        """Whether to recommend it: active, published, and with a variant that can be bought
        (a product listed without variants counts as sellable)."""
        sellable = not self.variants or any(variant.sellable for variant in self.variants)
        return self.status in (None, "active") and self.published and sellable

    @property
    def stock(self) -> int | None:
        """Units left over the variants whose stock limits sales; None when none does, as
        untracked or keep-selling variants are unlimited."""
        limited = [variant for variant in self.variants if variant.limited]
        if not limited:
            return None
        return sum(max(0, variant.inventory_quantity or 0) for variant in limited)

    def _chosen_variant(self) -> VariantPayload | None:
        """The variant shown for the product: the first sellable one, else the first one."""
        for variant in self.variants:
            if variant.sellable:
                return variant
        return self.variants[0] if self.variants else None

    def to_product(self) -> Product:
        variant = self._chosen_variant()
        return Product(
            product_id=self.id,
            title=self.title,
            category=self.product_type,
            vendor=self.vendor,
            price=variant.price if variant else None,
            tags=self.tags,
            available=self.available,
            stock=self.stock,
            image_url=self.image_url,
            variant_id=variant.id if variant else None,
        )


def _product_image(data: Mapping[str, Any]) -> object:
    """The main image: REST `image.src`, else `images[0].src`, else GraphQL `featuredImage.url`."""
    image = _get(data, "image", "src")
    if _present(image):
        return image
    images = _nodes(data.get("images"))
    if isinstance(images, list) and images:
        first = images[0]
        if isinstance(first, Mapping):
            for key in ("src", "url"):
                if _present(first.get(key)):
                    return first[key]
    return _get(data, "featuredImage", "url")


class ProductDeletePayload(_Model):
    """products/delete: essentially only the id."""

    id: str = Field(validation_alias=AliasChoices("id", "admin_graphql_api_id"))

    @field_validator("id", mode="before")
    @classmethod
    def _normalise_id(cls, value: object) -> str | None:
        return _id(value)


class InventoryLevelPayload(_Model):
    """inventory_levels/update: stock of one inventory item at one location. It does not name
    the variant; the caller maps `inventory_item_id` to one."""

    inventory_item_id: str
    location_id: str | None = None
    available: int | None = None
    updated_at: datetime | None = None

    @field_validator("inventory_item_id", "location_id", mode="before")
    @classmethod
    def _normalise_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("updated_at", mode="before")
    @classmethod
    def _parse_timestamp(cls, value: object) -> datetime | None:
        return _timestamp(value)


class ShopPayload(_Model):
    """app/uninstalled: the Shop resource; only what identifies the shop is kept."""

    id: str | None = None
    myshopify_domain: str | None = None
    domain: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _normalise_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("myshopify_domain", "domain", mode="before")
    @classmethod
    def _parse_domain(cls, value: object) -> str | None:
        return _domain(value)


class _PrivacyPayload(_Model):
    """What every mandatory compliance webhook carries: the shop it is about."""

    shop_id: str | None = None
    shop_domain: str

    @field_validator("shop_id", mode="before")
    @classmethod
    def _normalise_id(cls, value: object) -> str | None:
        return _id(value)

    @field_validator("shop_domain", mode="before")
    @classmethod
    def _parse_domain(cls, value: object) -> str | None:
        return _domain(value)


class CustomersRedactPayload(_PrivacyPayload):
    """customers/redact: erase this customer's data and these orders."""

    customer: Customer
    orders_to_redact: list[str] = Field(default_factory=list)

    @field_validator("orders_to_redact", mode="before")
    @classmethod
    def _normalise_ids(cls, value: object) -> list[str]:
        return _ids(value)


class CustomersDataRequestPayload(_PrivacyPayload):
    """customers/data_request: the merchant wants what is stored about this customer."""

    customer: Customer
    orders_requested: list[str] = Field(default_factory=list)
    data_request_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("data_request_id", AliasPath("data_request", "id")),
    )

    @field_validator("orders_requested", mode="before")
    @classmethod
    def _normalise_ids(cls, value: object) -> list[str]:
        return _ids(value)

    @field_validator("data_request_id", mode="before")
    @classmethod
    def _normalise_request_id(cls, value: object) -> str | None:
        return _id(value)


class ShopRedactPayload(_PrivacyPayload):
    """shop/redact: sent 48 hours after uninstall; erase everything about the shop."""


TOPIC_MODELS: Final[dict[str, type[BaseModel]]] = {
    "orders/create": OrderPayload,
    "orders/paid": OrderPayload,
    "orders/updated": OrderPayload,
    "orders/cancelled": OrderPayload,
    "carts/create": CartPayload,
    "carts/update": CartPayload,
    "checkouts/create": CheckoutPayload,
    "checkouts/update": CheckoutPayload,
    "products/create": ProductPayload,
    "products/update": ProductPayload,
    "products/delete": ProductDeletePayload,
    "inventory_levels/update": InventoryLevelPayload,
    "app/uninstalled": ShopPayload,
    "customers/data_request": CustomersDataRequestPayload,
    "customers/redact": CustomersRedactPayload,
    "shop/redact": ShopRedactPayload,
}


# --- parsing --------------------------------------------------------------------------------


def _load(body: object) -> dict[str, object]:
    """The JSON object of a body; InvalidPayload for anything else."""
    if isinstance(body, Mapping):
        return dict(body)
    if isinstance(body, bytearray | memoryview):
        body = bytes(body)
    if not isinstance(body, bytes | str):
        raise InvalidPayload("payload body must be JSON bytes, text or an object")
    try:
        data = load_json(body, what="payload body")
    except ValueError as exc:
        raise InvalidPayload(str(exc)) from None
    if not isinstance(data, dict):
        raise InvalidPayload("payload body must be a JSON object")
    return data


def _model_for(topic: object) -> type[BaseModel]:
    key = topic.strip().lower() if isinstance(topic, str) else ""
    model = TOPIC_MODELS.get(key)
    if model is None:
        shown = f" {key!r}" if _SAFE_TOPIC.fullmatch(key) else ""
        raise InvalidPayload(f"unknown webhook topic{shown}")
    return model


def parse(topic: str, body: bytes | str | Mapping[str, object]) -> BaseModel:
    """The model of `topic` validated from a webhook body (raw bytes, text or a decoded object).

    Raises `InvalidPayload` for an unknown topic, a body that is not a JSON object, or one that
    fails validation; the message names the fields at fault and never contains their values.
    """
    model = _model_for(topic)
    data = _load(body)
    name = topic.strip().lower()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, fields = describe(exc)
        raise InvalidPayload(
            f"invalid {name} payload: {message}", topic=name, fields=fields
        ) from None
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise InvalidPayload(f"invalid {name} payload", topic=name) from None
