"""Tests for the Shopify payload parsers: the recorded fixtures, current payload shapes (GIDs,
numbers as strings, trimmed keys, GraphQL nodes) and the errors, which never echo personal data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel, ValidationError

from cartwise.connector.shopify.payloads import (
    TOPIC_MODELS,
    CartPayload,
    CheckoutPayload,
    Customer,
    CustomersDataRequestPayload,
    CustomersRedactPayload,
    InventoryLevelPayload,
    LineItem,
    OrderPayload,
    ProductDeletePayload,
    ProductPayload,
    ShopPayload,
    ShopRedactPayload,
    VariantPayload,
    normalize_id,
    normalize_token,
    parse,
)
from cartwise.domain import CartLine, OrderLine
from cartwise.errors import InvalidPayload

M = TypeVar("M", bound=BaseModel)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "shopify"
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"Shopify fixtures not found at {FIXTURES} (shared/ checkout)"
)

SEEDED_EMAIL = "seeded.person@example.org"


def parse_as(model: type[M], topic: str, body: bytes | str | Mapping[str, object]) -> M:
    parsed = parse(topic, body)
    assert isinstance(parsed, model)
    return parsed


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def key(customer_id: str) -> str:
    return f"hashed:{customer_id}"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


# --- the recorded fixtures ------------------------------------------------------------------


@needs_fixtures
def test_every_fixture_parses_with_its_topic() -> None:
    files = sorted(FIXTURES.glob("*.json"))
    assert files
    for path in files:
        topic = path.stem.replace("_", "/", 1)
        assert topic in TOPIC_MODELS, path.name
        assert isinstance(parse(topic, path.read_bytes()), TOPIC_MODELS[topic])


@needs_fixtures
@pytest.mark.parametrize("topic", ["orders/create", "orders/paid", "orders/updated"])
def test_fixture_order(topic: str) -> None:
    payload = parse_as(OrderPayload, topic, fixture("orders_create"))

    assert payload.id == "450789469"
    assert payload.created_at == utc(2008, 1, 10, 16, 0)
    assert payload.created_at.utcoffset() == timedelta(0)
    assert payload.version_at() == utc(2008, 1, 10, 16, 0)
    assert not payload.cancelled
    assert not payload.test
    assert payload.cart_token == "68778783ad298f1c80c3bafcddeea02f"
    assert payload.checkout_token is None
    assert payload.customer is not None
    assert payload.customer.id == "207119551"
    assert payload.country == "US"
    assert payload.device is None  # client_details.user_agent is null
    assert payload.referrer == "otherexample.com"
    assert [line.vendor for line in payload.line_items] == ["", "", ""]  # null vendor

    order = payload.to_order()
    assert order.order_id == "450789469"
    assert order.created_at == utc(2008, 1, 10, 16, 0)
    assert order.cancelled is False
    assert order.customer_id is None  # no key given: the raw id is never passed on
    assert order.lines == (
        OrderLine("632910392", 1, 199.0, "39072856"),
        OrderLine("632910392", 1, 199.0, "49148385"),
        OrderLine("632910392", 1, 199.0, "457924702"),
    )
    assert payload.to_order(key).customer_id == "hashed:207119551"


@needs_fixtures
def test_fixture_product() -> None:
    payload = parse_as(ProductPayload, "products/update", fixture("products_update"))

    assert payload.version_at() == utc(2011, 10, 20, 18, 5, 13)
    assert payload.published_at == utc(2008, 1, 1)
    assert [variant.id for variant in payload.variants] == [
        "808950810",
        "49148385",
        "39072856",
        "457924702",
    ]
    product = payload.to_product()
    assert product.product_id == "632910392"
    assert product.title == "IPod Nano - 8GB"
    assert product.category == "Cult Products"
    assert product.vendor == "Apple"
    assert product.tags == ("Emotive", "Flash Memory", "MP3", "Music")
    assert product.price == 199.0
    assert product.variant_id == "808950810"
    assert product.stock is None  # every variant keeps selling when out of stock
    assert product.available is True
    assert (
        product.image_url
        == "http://static.shopify.com/s/files/1/6909/3384/products/ipod-nano.png?0"
    )


@needs_fixtures
@pytest.mark.parametrize(
    ("name", "token", "updated_at"),
    [
        ("carts_create", "49801807939c296be1e9a4bf6783a705", utc(2012, 2, 13, 19, 39, 12)),
        ("carts_update", "3eed8183d4281db6ea82ee2b8f23e9cc", utc(2012, 2, 13, 19, 39, 37)),
    ],
)
def test_fixture_carts(name: str, token: str, updated_at: datetime) -> None:
    payload = parse_as(CartPayload, name.replace("_", "/"), fixture(name))

    assert payload.id == token
    assert payload.updated_at == updated_at
    assert payload.customer is None
    assert [
        (line.product_id, line.variant_id, line.quantity, line.price) for line in payload.line_items
    ] == [(None, "1", 1, 1.0)]
    # The old cart shape names only the variant: no product, no line.
    assert payload.to_cart().lines == ()
    cart = payload.to_cart(product_of_variant={"1": "632910392"}.get)
    assert cart.cart_id == token
    assert cart.updated_at == updated_at
    assert cart.lines == (CartLine("632910392", 1, "1"),)
    assert cart.customer_id is None


@needs_fixtures
def test_fixture_checkout() -> None:
    payload = parse_as(CheckoutPayload, "checkouts/create", fixture("checkouts_create"))

    assert payload.id == "68778783ad298f1c80c3bafcddeea02f"  # its cart's token
    assert payload.updated_at == utc(2012, 10, 12, 11, 5, 27)
    assert payload.completed_at is None
    assert payload.email == "bob.norman@hostmail.com"
    cart = payload.to_cart(key)
    assert cart.cart_id == "68778783ad298f1c80c3bafcddeea02f"
    assert cart.customer_id == "hashed:207119551"
    assert cart.lines == (
        CartLine("632910392", 1, "49148385"),
        CartLine("632910392", 1, "808950810"),
    )
    assert payload.to_cart().customer_id is None


@needs_fixtures
def test_fixture_privacy_payloads() -> None:
    redact = parse_as(CustomersRedactPayload, "customers/redact", fixture("customers_redact"))
    assert redact.shop_id == "954889"
    assert redact.shop_domain == "{shop}.myshopify.com"
    assert redact.customer.id == "191167"
    assert redact.customer.email == "john@example.com"
    assert redact.customer.phone == "555-625-1199"
    assert redact.orders_to_redact == ["299938", "280263", "220458"]

    request = parse_as(
        CustomersDataRequestPayload, "customers/data_request", fixture("customers_data_request")
    )
    assert request.shop_id == "954889"
    assert request.customer.id == "191167"
    assert request.orders_requested == ["299938", "280263", "220458"]
    assert request.data_request_id == "9999"

    shop = parse_as(ShopRedactPayload, "shop/redact", fixture("shop_redact"))
    assert (shop.shop_id, shop.shop_domain) == ("954889", "{shop}.myshopify.com")


@needs_fixtures
def test_fixture_app_uninstalled() -> None:
    shop = parse_as(ShopPayload, "app/uninstalled", fixture("app_uninstalled"))
    assert shop.id == "690933842"
    assert shop.myshopify_domain == "apple.myshopify.com"
    assert shop.domain == "shop.apple.com"


# --- current payload shapes -----------------------------------------------------------------


def current_order(**changes: Any) -> dict[str, Any]:
    """An orders/create body as recent API versions send it."""
    body: dict[str, Any] = {
        "id": 820982911946154508,
        "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
        "created_at": "2026-10-05T12:30:00+02:00",
        "updated_at": "2026-10-05T12:31:10+02:00",
        "cancelled_at": None,
        "test": False,
        "email": SEEDED_EMAIL,
        "phone": "+441234567890",
        "cart_token": "hWN4yB2ZbMHv2L3c1kQ7?key=5f0b1c2d",
        "checkout_token": "c1-4b3a",
        "current_total_price_set": {
            "shop_money": {"amount": "40.00", "currency_code": "EUR"},
            "presentment_money": {"amount": "40.00", "currency_code": "EUR"},
        },
        "customer": {
            "id": "gid://shopify/Customer/115310627314723954",
            "email": SEEDED_EMAIL,
            "admin_graphql_api_id": "gid://shopify/Customer/115310627314723954",
            "default_address": {"country_code": "FR"},
        },
        "shipping_address": None,
        "billing_address": {"country_code": "gb"},
        "client_details": {
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
        },
        "referring_site": "https://www.Google.com/search?q=socks",
        "line_items": [
            {
                "id": 1,
                "admin_graphql_api_id": "gid://shopify/LineItem/1",
                "product_id": "7513594",
                "variant_id": "gid://shopify/ProductVariant/34",
                "quantity": "2",
                "price": 12.5,
                "price_set": {"shop_money": {"amount": "12.50", "currency_code": "EUR"}},
                "title": "Socks",
                "vendor": None,
                "sku": None,
            },
            {"id": 2, "product_id": None, "variant_id": None, "quantity": 1, "price": "5.00"},
            {"id": 3, "product_id": 7513595, "variant_id": 35, "price": "15.00"},
            {"id": 4, "product_id": 7513596, "variant_id": 36, "quantity": 0, "price": "1"},
        ],
    }
    body.update(changes)
    return body


def test_current_order() -> None:
    payload = parse_as(OrderPayload, "orders/create", json.dumps(current_order()).encode())

    assert payload.id == "820982911946154508"
    assert payload.created_at == utc(2026, 10, 5, 10, 30)
    assert payload.version_at() == utc(2026, 10, 5, 10, 31, 10)
    assert payload.cart_token == "hWN4yB2ZbMHv2L3c1kQ7"  # the `?key=` part is not the token
    assert payload.customer is not None
    assert payload.customer.id == "115310627314723954"
    assert payload.country == "GB"  # no shipping address: the billing one
    assert payload.device == "mobile"
    assert payload.referrer == "google.com"
    assert payload.line_items[0].quantity == 2
    assert payload.line_items[0].price == 12.5
    assert payload.line_items[0].vendor == ""
    assert payload.line_items[2].quantity == 1  # missing quantity

    order = payload.to_order(key)
    assert order.order_id == "820982911946154508"
    assert order.customer_id == "hashed:115310627314723954"
    assert order.cancelled is False
    # The custom item (no product) and the zero-quantity line are skipped.
    assert order.lines == (
        OrderLine("7513594", 2, 12.5, "34"),
        OrderLine("7513595", 1, 15.0, "35"),
    )


def test_cancelled_and_test_orders() -> None:
    payload = parse_as(
        OrderPayload,
        "orders/cancelled",
        current_order(cancelled_at="2026-10-06T08:00:00Z", test=True),
    )
    assert payload.cancelled
    assert payload.cancelled_at == utc(2026, 10, 6, 8)
    assert payload.test is True
    assert payload.to_order().cancelled is True


def test_order_with_only_the_required_keys() -> None:
    payload = parse_as(
        OrderPayload, "orders/paid", {"id": "5", "created_at": "2026-01-02T03:04:05"}
    )

    assert payload.created_at == utc(2026, 1, 2, 3, 4, 5)  # naive is UTC
    assert payload.version_at() == payload.created_at
    assert payload.updated_at is None
    assert payload.cancelled is False
    assert payload.test is False
    assert payload.customer is None
    assert (payload.country, payload.device, payload.referrer) == (None, None, None)
    order = payload.to_order(key)
    assert order.lines == ()
    assert order.customer_id is None


def test_order_country_falls_back_to_the_customer_address() -> None:
    body = current_order(billing_address=None)
    assert parse_as(OrderPayload, "orders/create", body).country == "FR"
    body = current_order(shipping_address={"country_code": "de"})
    assert parse_as(OrderPayload, "orders/create", body).country == "DE"
    body = current_order(billing_address={"country_code": "United Kingdom"}, customer=None)
    assert parse_as(OrderPayload, "orders/create", body).country is None


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Mobile/15E148", "tablet"),
        ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Safari/537.36", "tablet"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126.0 Mobile Safari/537.36", "mobile"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "mobile"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36", "desktop"),
        ("", None),
        (None, None),
    ],
)
def test_device_from_user_agent(user_agent: str | None, device: str | None) -> None:
    body = current_order(client_details={"user_agent": user_agent})
    assert parse_as(OrderPayload, "orders/create", body).device == device


def test_device_without_client_details() -> None:
    assert (
        parse_as(OrderPayload, "orders/create", current_order(client_details=None)).device is None
    )


@pytest.mark.parametrize(
    ("site", "host"),
    [
        ("http://www.otherexample.com", "otherexample.com"),
        ("https://WWW.Shop.Example.co.uk:8443/path?q=1", "shop.example.co.uk"),
        ("duckduckgo.com/?q=x", "duckduckgo.com"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("", None),
        (None, None),
        ("http://[broken", None),
    ],
)
def test_referrer_host(site: str | None, host: str | None) -> None:
    body = current_order(referring_site=site)
    assert parse_as(OrderPayload, "orders/create", body).referrer == host


def test_order_in_graphql_shape() -> None:
    node = {
        "id": "gid://shopify/Order/9",
        "createdAt": "2026-03-01T10:00:00Z",
        "cancelledAt": None,
        "customer": {"id": "gid://shopify/Customer/77"},
        "shippingAddress": {"countryCodeV2": "NL"},
        "lineItems": {
            "nodes": [
                {
                    "quantity": 3,
                    "product": {"id": "gid://shopify/Product/1"},
                    "variant": {"id": "gid://shopify/ProductVariant/2"},
                    "originalUnitPriceSet": {"shopMoney": {"amount": "9.5"}},
                },
                {"quantity": 1, "product": None, "variant": None},
            ]
        },
    }
    order = OrderPayload.model_validate(node).to_order(key)
    assert order.order_id == "9"
    assert order.created_at == utc(2026, 3, 1, 10)
    assert order.customer_id == "hashed:77"
    assert order.lines == (OrderLine("1", 3, 9.5, "2"),)
    assert OrderPayload.model_validate(node).country == "NL"


def test_line_item_defaults() -> None:
    item = LineItem.model_validate({"quantity": None, "title": None, "price": ""})
    assert item == LineItem(product_id=None, variant_id=None, quantity=1, price=None)
    assert item.title == item.vendor == item.sku == ""


def test_current_cart() -> None:
    token = "Z2NwLWV1cm9wZS13ZXN0NDowMUhXNE1aN1"
    body = {
        "id": token,
        "token": token,
        "note": None,
        "updated_at": "2026-10-05T12:00:00.123Z",
        "created_at": "2026-10-05T11:00:00Z",
        "line_items": [
            {"id": 34, "product_id": 7513594, "variant_id": 34, "quantity": 2, "price": "12.50"},
            {"id": 35, "variant_id": "35", "quantity": 1, "price": "15.00"},
            {"id": 36, "variant_id": 36, "quantity": 1},
            {"id": 37, "product_id": 7513597, "variant_id": 37, "quantity": 0},
        ],
    }
    payload = parse_as(CartPayload, "carts/update", body)
    assert payload.id == token
    assert payload.updated_at == datetime(2026, 10, 5, 12, 0, 0, 123000, tzinfo=UTC)

    lookup = {"35": "7513595"}.get
    cart = payload.to_cart(product_of_variant=lookup)
    assert cart.cart_id == token
    assert cart.lines == (CartLine("7513594", 2, "34"), CartLine("7513595", 1, "35"))
    assert payload.to_cart().lines == (CartLine("7513594", 2, "34"),)


def test_cart_token_forms() -> None:
    stamp = "2026-01-01T00:00:00Z"
    assert parse_as(CartPayload, "carts/create", {"id": 7, "updated_at": stamp}).id == "7"
    keyed = {"token": "abc123?key=secret", "id": "abc123?key=secret", "updated_at": stamp}
    assert parse_as(CartPayload, "carts/create", keyed).id == "abc123"
    gid = {"id": "gid://shopify/Cart/abc123?key=secret", "updated_at": stamp}
    assert parse_as(CartPayload, "carts/create", gid).id == "abc123"
    assert normalize_token("gid://shopify/Cart/abc123?key=secret") == "abc123"


def test_cart_without_updated_at_uses_created_at() -> None:
    body = {"token": "t", "created_at": "2026-01-01T05:00:00+05:00", "line_items": None}
    payload = parse_as(CartPayload, "carts/create", body)
    assert payload.updated_at == utc(2026, 1, 1)
    assert payload.line_items == []


def test_checkout_id_falls_back_to_its_token_then_its_id() -> None:
    base: dict[str, Any] = {"updated_at": "2026-01-01T00:00:00Z", "line_items": []}
    with_token = {**base, "cart_token": None, "token": "chk-token", "id": 450789469}
    assert parse_as(CheckoutPayload, "checkouts/update", with_token).id == "chk-token"
    only_id = {**base, "cart_token": "", "id": 450789469}
    assert parse_as(CheckoutPayload, "checkouts/update", only_id).id == "450789469"


def test_completed_guest_checkout() -> None:
    body = {
        "id": 1,
        "token": "tok",
        "cart_token": "cart-tok",
        "updated_at": "2026-01-01T00:00:00Z",
        "completed_at": "2026-01-01T00:10:00-01:00",
        "customer": {},
        "email": SEEDED_EMAIL,
        "line_items": [{"product_id": "gid://shopify/Product/5", "variant_id": 6, "quantity": 4}],
    }
    payload = parse_as(CheckoutPayload, "checkouts/update", body)
    assert payload.completed_at == utc(2026, 1, 1, 1, 10)
    cart = payload.to_cart(key)
    assert cart.cart_id == "cart-tok"
    assert cart.customer_id is None  # a customer object without an id
    assert cart.lines == (CartLine("5", 4, "6"),)


def variant(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": 1,
        "price": "10.00",
        "inventory_quantity": 0,
        "inventory_policy": "deny",
        "inventory_management": "shopify",
    }
    body.update(fields)
    return body


def current_product(*variants: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": 632910392,
        "admin_graphql_api_id": "gid://shopify/Product/632910392",
        "title": "Wool socks",
        "product_type": "Socks",
        "vendor": "Knit Co",
        "status": "active",
        "published_at": "2026-01-01T00:00:00-05:00",
        "updated_at": "2026-10-01T00:00:00Z",
        "tags": ["winter ", "", " wool"],
        "image": {"src": "https://cdn.shopify.com/a.png"},
        "images": [{"src": "https://cdn.shopify.com/b.png"}],
        "variants": list(variants),
    }
    body.update(changes)
    return body


def product_of(body: dict[str, Any]) -> ProductPayload:
    return parse_as(ProductPayload, "products/update", json.dumps(body))


def test_current_product() -> None:
    payload = product_of(
        current_product(
            variant(id="gid://shopify/ProductVariant/11", inventory_quantity=0, price="9.00"),
            variant(
                id="12",
                inventory_quantity=5,
                price=11,
                inventory_item_id="gid://shopify/InventoryItem/3",
            ),
            variant(id=13, inventory_quantity=-3, price="12.00"),
        )
    )
    assert payload.variants[1].inventory_item_id == "3"
    product = payload.to_product()
    assert product.product_id == "632910392"
    assert product.tags == ("winter", "wool")
    assert product.image_url == "https://cdn.shopify.com/a.png"
    assert product.available is True
    assert product.stock == 5  # negative stock counts as none
    assert (product.variant_id, product.price) == ("12", 11.0)  # the first sellable variant


def test_sold_out_product() -> None:
    product = product_of(
        current_product(variant(id=1, price="9.00"), variant(id=2, inventory_quantity=-1))
    ).to_product()
    assert product.available is False
    assert product.stock == 0
    assert (product.variant_id, product.price) == ("1", 9.0)  # no sellable one: the first


def test_keep_selling_and_untracked_variants_are_unlimited() -> None:
    keeps_selling = variant(id=1, inventory_policy="continue", inventory_quantity=-4)
    untracked = variant(id=2, inventory_management=None, inventory_quantity=0)
    product = product_of(current_product(keeps_selling, untracked)).to_product()
    assert product.stock is None
    assert product.available is True
    assert product.variant_id == "1"

    limited = variant(id=3, inventory_quantity=7)
    mixed = product_of(current_product(keeps_selling, limited)).to_product()
    assert mixed.stock == 7  # only the variant whose stock limits sales is counted


@pytest.mark.parametrize(
    ("changes", "available"),
    [
        ({"status": "draft"}, False),
        ({"status": "archived"}, False),
        ({"status": "ACTIVE"}, True),
        ({"status": None}, True),
        ({"published_at": None}, False),  # an explicit null: unpublished
        ({"published_at": ""}, False),
    ],
)
def test_product_availability(changes: dict[str, Any], available: bool) -> None:
    body = current_product(variant(inventory_quantity=1), **changes)
    assert product_of(body).to_product().available is available


def test_trimmed_product_counts_as_published_and_sellable() -> None:
    payload = product_of({"id": "gid://shopify/Product/8"})
    assert payload.published_at is None
    assert payload.version_at() is None
    product = payload.to_product()
    assert product.product_id == "8"
    assert (product.title, product.category, product.vendor, product.tags) == ("", "", "", ())
    assert product.available is True  # no `published_at` key, no variants listed
    assert (product.price, product.variant_id, product.stock, product.image_url) == (
        None,
        None,
        None,
        None,
    )


def test_product_tags_and_images() -> None:
    body = current_product(tags=" a, b ,,c ", image=None)
    payload = product_of(body)
    assert payload.tags == ("a", "b", "c")
    assert payload.image_url == "https://cdn.shopify.com/b.png"
    assert product_of(current_product(tags=None, image=None, images=[])).image_url is None
    assert product_of(current_product(tags="")).tags == ()


def test_explicit_variant_availability_wins() -> None:
    assert not VariantPayload.model_validate(
        variant(inventory_quantity=5, available=False)
    ).sellable
    assert VariantPayload.model_validate(variant(available=True)).sellable


def test_product_in_graphql_shape() -> None:
    node = {
        "id": "gid://shopify/Product/42",
        "title": "Scarf",
        "productType": "Accessories",
        "vendor": "Knit Co",
        "status": "ACTIVE",
        "tags": ["wool", "winter"],
        "updatedAt": "2026-10-01T00:00:00Z",
        "featuredImage": {"url": "https://cdn.shopify.com/scarf.png"},
        "variants": {
            "edges": [
                {
                    "node": {
                        "id": "gid://shopify/ProductVariant/100",
                        "price": "20.00",
                        "inventoryQuantity": 0,
                        "inventoryPolicy": "DENY",
                        "inventoryItem": {"id": "gid://shopify/InventoryItem/500", "tracked": True},
                    }
                },
                {
                    "node": {
                        "id": "gid://shopify/ProductVariant/101",
                        "price": "25.00",
                        "inventoryQuantity": 0,
                        "inventoryPolicy": "DENY",
                        "inventoryItem": {
                            "id": "gid://shopify/InventoryItem/501",
                            "tracked": False,
                        },
                    }
                },
            ]
        },
    }
    payload = ProductPayload.model_validate(node)
    assert payload.variants[0].inventory_item_id == "500"
    assert payload.variants[0].inventory_policy == "deny"
    assert payload.variants[1].tracked is False
    product = payload.to_product()
    assert product.product_id == "42"
    assert product.category == "Accessories"
    assert product.tags == ("wool", "winter")
    assert product.image_url == "https://cdn.shopify.com/scarf.png"
    assert product.stock == 0
    assert product.available is True
    assert (product.variant_id, product.price) == ("101", 25.0)


def test_product_delete_and_inventory_level() -> None:
    deleted = parse_as(
        ProductDeletePayload, "products/delete", b'{"id": "gid://shopify/Product/3"}'
    )
    assert deleted.id == "3"

    level = parse_as(
        InventoryLevelPayload,
        "inventory_levels/update",
        {
            "inventory_item_id": 271878346596884015,
            "location_id": "24826418",
            "available": "6",
            "updated_at": "2026-10-05T08:00:00-04:00",
            "admin_graphql_api_id": "gid://shopify/InventoryLevel/24826418?inventory_item_id=1",
        },
    )
    assert level.inventory_item_id == "271878346596884015"
    assert level.location_id == "24826418"
    assert level.available == 6
    assert level.updated_at == utc(2026, 10, 5, 12)


def test_privacy_payloads_with_current_shapes() -> None:
    redact = parse_as(
        CustomersRedactPayload,
        "customers/redact",
        {
            "shop_id": "954889",
            "shop_domain": "Shop-One.myshopify.com ",
            "customer": {"email": SEEDED_EMAIL},
            "orders_to_redact": ["299938", "gid://shopify/Order/280263", None],
        },
    )
    assert redact.shop_domain == "shop-one.myshopify.com"
    assert redact.customer == Customer(id=None, email=SEEDED_EMAIL, phone=None)
    assert redact.orders_to_redact == ["299938", "280263"]

    request = parse_as(
        CustomersDataRequestPayload,
        "customers/data_request",
        {"shop_domain": "s.myshopify.com", "customer": {"id": 1}, "data_request": None},
    )
    assert request.shop_id is None
    assert request.orders_requested == []
    assert request.data_request_id is None


def test_timestamps_become_aware_utc() -> None:
    body = {"id": 1, "created_at": "2026-06-01T02:00:00+05:30"}
    created = parse_as(OrderPayload, "orders/create", body).created_at
    assert created == utc(2026, 5, 31, 20, 30)
    assert created.utcoffset() == timedelta(0)
    aware = datetime(2026, 6, 1, 2, tzinfo=timezone(timedelta(hours=-3)))
    assert OrderPayload.model_validate({"id": 1, "created_at": aware}).created_at == utc(
        2026, 6, 1, 5
    )


def test_payloads_are_frozen_and_keep_personal_data_out_of_repr() -> None:
    payload = parse_as(OrderPayload, "orders/create", current_order())
    with pytest.raises(ValidationError):
        payload.id = "1"
    assert SEEDED_EMAIL not in repr(payload)
    assert "+441234567890" not in repr(payload)


def test_body_may_be_text_or_an_object() -> None:
    text = json.dumps({"id": 3})
    assert parse_as(ProductDeletePayload, "products/delete", text).id == "3"
    assert parse_as(ProductDeletePayload, " Products/Delete", {"id": 3}).id == "3"
    raw = bytearray(b'{"id": 3}')
    assert parse_as(ProductDeletePayload, "products/delete", raw).id == "3"  # type: ignore[arg-type]


def test_topic_models() -> None:
    assert set(TOPIC_MODELS) == {
        "orders/create",
        "orders/paid",
        "orders/updated",
        "orders/cancelled",
        "carts/create",
        "carts/update",
        "checkouts/create",
        "checkouts/update",
        "products/create",
        "products/update",
        "products/delete",
        "inventory_levels/update",
        "app/uninstalled",
        "customers/data_request",
        "customers/redact",
        "shop/redact",
    }
    assert TOPIC_MODELS["orders/cancelled"] is OrderPayload
    assert TOPIC_MODELS["checkouts/update"] is CheckoutPayload


# --- errors ---------------------------------------------------------------------------------


def deep(depth: int) -> bytes:
    return b'{"id": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("topic", "body", "words"),
    [
        pytest.param("orders/delete", b"{}", "unknown webhook topic", id="unknown-topic"),
        pytest.param("", b"{}", "unknown webhook topic", id="empty-topic"),
        pytest.param("orders/create", b"not json", "not valid JSON", id="not-json"),
        pytest.param("orders/create", b"", "not valid JSON", id="empty"),
        pytest.param("orders/create", b"\xff\xfe\x00", "not valid JSON", id="bad-utf8"),
        pytest.param("orders/create", b'{"id": NaN}', "not valid JSON", id="nan"),
        pytest.param("orders/create", b"[1, 2]", "JSON object", id="array"),
        pytest.param("orders/create", b'"text"', "JSON object", id="string"),
        pytest.param("orders/create", deep(10_000), "nests deeper than", id="deep-array"),
        pytest.param(
            "orders/create",
            b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
            "nests deeper than",
            id="deep",
        ),
        pytest.param("orders/create", b'{"id": 1' + b"0" * 5000 + b"}", "JSON", id="long-number"),
        pytest.param(
            "orders/create", b'{"created_at": "2026-01-01"}', "id: Field required", id="no-id"
        ),
        pytest.param(
            "orders/create", b'{"id": null, "created_at": "2026-01-01"}', "id", id="null-id"
        ),
        pytest.param("orders/create", b'{"id": 1}', "created_at: Field required", id="no-date"),
        pytest.param("carts/update", b'{"updated_at": "2026-01-01"}', "id", id="no-token"),
        pytest.param("products/update", b'{"id": true}', "not a Shopify id", id="bool-id"),
        pytest.param("products/update", b'{"id": 1.5}', "not a Shopify id", id="fraction-id"),
        pytest.param("customers/redact", b'{"shop_domain": "s"}', "customer", id="no-customer"),
        pytest.param("shop/redact", b"{}", "shop_domain", id="no-shop"),
    ],
)
def test_invalid_payloads(topic: str, body: bytes, words: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse(topic, body)
    assert caught.value.code == "invalid_payload"
    assert caught.value.status == 422
    assert words in caught.value.message


def test_a_body_of_the_wrong_type() -> None:
    with pytest.raises(InvalidPayload, match="bytes, text or an object"):
        parse("orders/create", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidPayload, match="unknown webhook topic"):
        parse(None, b"{}")  # type: ignore[arg-type]


def test_a_deeply_nested_object_body() -> None:
    nested: dict[str, Any] = {}
    for _ in range(10_000):
        nested = {"x": nested}
    # Only known keys are read, so a deep unknown key is harmless.
    body = {"id": 1, "created_at": "2026-01-01", "note_attributes": nested}
    assert parse_as(OrderPayload, "orders/create", body).id == "1"


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        pytest.param(SEEDED_EMAIL, {}, id="topic"),
        pytest.param("orders/create", {"id": SEEDED_EMAIL, "created_at": "2026-01-01"}, id="id"),
        pytest.param("orders/create", {"id": 1, "created_at": SEEDED_EMAIL}, id="date"),
        pytest.param(
            "orders/create",
            {"id": 1, "created_at": "2026-01-01", "customer": SEEDED_EMAIL},
            id="customer",
        ),
        pytest.param(
            "orders/create",
            {
                "id": 1,
                "created_at": "2026-01-01",
                "email": [SEEDED_EMAIL],
                "line_items": SEEDED_EMAIL,
            },
            id="email-and-lines",
        ),
        pytest.param(
            "orders/create",
            {
                "id": 1,
                "created_at": "2026-01-01",
                "line_items": [{"price": SEEDED_EMAIL, "quantity": SEEDED_EMAIL}],
            },
            id="line",
        ),
        pytest.param(
            "carts/update", {"token": SEEDED_EMAIL * 50, "updated_at": "2026-01-01"}, id="token"
        ),
        pytest.param(
            "customers/redact",
            {"shop_domain": "s", "customer": {"id": SEEDED_EMAIL, "email": SEEDED_EMAIL}},
            id="redact",
        ),
        pytest.param(
            "customers/redact",
            {"shop_domain": "s", "customer": {}, "orders_to_redact": SEEDED_EMAIL},
            id="orders",
        ),
        pytest.param("products/update", {"id": 1, "tags": {SEEDED_EMAIL: 1}}, id="tags"),
    ],
)
def test_error_messages_never_contain_personal_data(topic: str, body: dict[str, Any]) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse(topic, json.dumps(body).encode())
    error = caught.value
    assert SEEDED_EMAIL not in str(error)
    assert SEEDED_EMAIL not in json.dumps(error.to_dict())
    # The pydantic error (which shows input values) is not chained into tracebacks either.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (123, "123"),
        ("123", "123"),
        (" 123 ", "123"),
        ("0123", "123"),
        (123.0, "123"),
        (0, "0"),
        (18446744073709551615, "18446744073709551615"),
        ("gid://shopify/Product/123", "123"),
        ("gid://shopify/ProductVariant/9?x=1", "9"),
        (None, None),
        ("", None),
        ("   ", None),
    ],
)
def test_normalize_id(value: object, expected: str | None) -> None:
    assert normalize_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        1.5,
        float("nan"),
        float("inf"),
        -1,
        10**20,
        "abc",
        "12a",
        "1.5",
        "-5",
        "gid://shopify/Cart/abc",
        "gid://shopify/Product/",
        "١٢٣",
        "²",
        [1],
        {"id": 1},
        SEEDED_EMAIL,
    ],
)
def test_normalize_id_rejects(value: object) -> None:
    with pytest.raises(InvalidPayload) as caught:
        normalize_id(value)
    assert caught.value.code == "invalid_payload"
    assert SEEDED_EMAIL not in caught.value.message
