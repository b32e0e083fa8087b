"""Magento payloads → domain records: the documented order (a simple, a downloadable, a bundle
and a configurable) and configurable product, and the module's event bodies."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cartwise.connector.magento.payloads import (
    CartPayload,
    CategoryPayload,
    OrderPayload,
    ProductPayload,
    parse_event,
)
from cartwise.connector.magento.records import (
    CatalogRecord,
    OrderRecord,
    StockLevel,
    VariantStock,
    cart_record,
    catalog_record,
    event_record,
    order_lines,
    order_record,
)
from cartwise.domain import Cart, CartLine, Order, OrderLine, Product
from cartwise.errors import InvalidPayload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "magento"
MEDIA = "https://shop.example.com/media/catalog/product"


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    assert isinstance(data, dict)
    return data


def key(customer_id: str) -> str:
    return f"keyed:{customer_id}"


def item(item_id: int, product_id: int | None, **fields: Any) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "product_id": product_id,
        "product_type": "simple",
        "sku": f"SKU-{product_id}",
        "qty_ordered": 1,
        "price": 10,
        **fields,
    }


def simple(product_id: int, sku: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": product_id,
        "sku": sku,
        "name": sku.title(),
        "price": 10,
        "status": 1,
        "visibility": 4,
        "type_id": "simple",
        "updated_at": "2026-03-02 09:00:00",
        **fields,
    }


# -- orders ---------------------------------------------------------------------------------


def test_the_documented_order() -> None:
    payload = OrderPayload.model_validate(fixture("order_get.json"))
    record = order_record(payload, key)
    assert record == OrderRecord(
        Order(
            order_id="3",
            created_at=datetime(2017, 8, 21, 22, 22, 19, tzinfo=UTC),
            lines=(
                OrderLine("1553", 1, 22.0),
                OrderLine("49", 1, 18.0),
                OrderLine("51", 1, 68.0),  # the bundle; its four parts are folded into it
                OrderLine("67", 1, 52.0, "56"),  # the configurable, with its child as variant
            ),
            customer_id="keyed:3",
        ),
        version=datetime(2017, 8, 21, 22, 22, 20, tzinfo=UTC),
        country="US",
    )


def test_personal_data_is_not_kept() -> None:
    payload = OrderPayload.model_validate(fixture("order_get.json"))
    kept = payload.model_dump_json()
    for value in ("jdoe@example.com", "Jane", "123 Oak Ave", "512-555-1111"):
        assert value not in kept


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"customer_is_guest": 1, "customer_id": None}, id="guest"),
        pytest.param({"customer_is_guest": "1", "customer_id": 3}, id="guest-flag-wins"),
        pytest.param({"customer_id": None}, id="no-customer"),
    ],
)
def test_guests_have_no_customer(changes: dict[str, Any]) -> None:
    payload = OrderPayload.model_validate({**fixture("order_get.json"), **changes})
    assert order_record(payload, key).order.customer_id is None


def test_without_a_customer_key_no_customer_is_kept() -> None:
    payload = OrderPayload.model_validate(fixture("order_get.json"))
    assert order_record(payload).order.customer_id is None


@pytest.mark.parametrize(("state", "cancelled"), [("canceled", True), ("closed", False)])
def test_the_canceled_state_cancels(state: str, cancelled: bool) -> None:
    payload = OrderPayload.model_validate({**fixture("order_get.json"), "state": state})
    assert order_record(payload).order.cancelled is cancelled


def test_times_are_utc_and_iso_8601_is_read_too() -> None:
    data = {
        **fixture("order_get.json"),
        "created_at": "2026-03-02T10:00:00+01:00",
        "updated_at": None,
    }
    record = order_record(OrderPayload.model_validate(data))
    assert record.order.created_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert record.version == record.order.created_at


def test_country_falls_back_to_the_billing_address() -> None:
    data = copy.deepcopy(fixture("order_get.json"))
    del data["extension_attributes"]
    data["billing_address"]["country_id"] = "de"
    assert OrderPayload.model_validate(data).country == "DE"


def test_lines_fold_children_and_skip_what_names_no_product() -> None:
    items = [
        item(1, 67, product_type="configurable", qty_ordered="2.0000", price="52.5000"),
        item(2, 56, parent_item_id=1, qty_ordered="2.0000", price=0),
        item(3, None),  # a custom option line without a product
        item(4, 80, qty_ordered=0),
        item(5, 81, parent_item_id=99),  # its parent is not in the order: a line of its own
        item(6, 82, qty_ordered=0.5),  # a decimal quantity
    ]
    payload = OrderPayload.model_validate(
        {"entity_id": 7, "created_at": "2026-03-02 09:00:00", "items": items}
    )
    assert order_lines(payload.items) == (
        OrderLine("67", 2, 52.5, "56"),
        OrderLine("81", 1, 10.0),
        OrderLine("82", 1, 10.0),
    )


def test_a_configurable_without_a_price_takes_its_childs() -> None:
    items = [
        item(1, 67, product_type="configurable", price=None),
        item(2, 56, parent_item_id=1, price=49),
    ]
    payload = OrderPayload.model_validate(
        {"entity_id": 7, "created_at": "2026-03-02 09:00:00", "items": items}
    )
    assert order_lines(payload.items) == (OrderLine("67", 1, 49.0, "56"),)


# -- products -------------------------------------------------------------------------------


def test_the_documented_configurable_without_children_is_not_available() -> None:
    payload = ProductPayload.model_validate(fixture("product_create_configurable.json"))
    record = catalog_record(payload, media_url=MEDIA)
    assert record == CatalogRecord(
        Product(
            product_id="2078",
            title="Champ Tee",
            category="11",
            tags=("11", "12", "16"),
            price=None,  # a configurable's own price is 0: the price is its children's
            available=False,
            stock=None,
        ),
        (),
        datetime(2017, 11, 29, 19, 57, 20, tzinfo=UTC),
    )


def configurable(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(fixture("product_create_configurable.json"))
    data["extension_attributes"]["configurable_product_links"] = [2080, 2079]
    data["media_gallery_entries"] = [
        {"file": "/m/s/ms-champ-back.jpg", "types": ["thumbnail"], "position": 2},
        {"file": "/m/s/ms-champ-old.jpg", "types": ["image"], "position": 0, "disabled": True},
        {"file": "/m/s/ms-champ.jpg", "types": ["image", "small_image"], "position": 1},
    ]
    data.update(fields)
    return data


def child(product_id: int, sku: str, qty: float, in_stock: bool, **fields: Any) -> dict[str, Any]:
    stock = {"qty": qty, "is_in_stock": in_stock, "manage_stock": True}
    return simple(
        product_id,
        sku,
        visibility=1,
        extension_attributes={"stock_item": stock},
        **fields,
    )


CATEGORIES = {
    "11": {"id": 11, "name": "Men", "level": 2},
    "12": {"id": 12, "name": "Tops", "level": 3},
    "16": {"id": 16, "name": "Tees", "level": 4},
}


def champ(children: list[dict[str, Any]], **fields: Any) -> CatalogRecord | None:
    return catalog_record(
        ProductPayload.model_validate(configurable(**fields)),
        [ProductPayload.model_validate(c) for c in children],
        categories={k: CategoryPayload.model_validate(v) for k, v in CATEGORIES.items()},
        media_url=MEDIA,
    )


def test_a_configurable_is_its_children_as_variants() -> None:
    record = champ(
        [
            child(2079, "MS-Champ-S", 5, True, price=25),
            child(2080, "MS-Champ-M", 0, False, price=24, updated_at="2026-03-03 10:00:00"),
        ]
    )
    assert record == CatalogRecord(
        Product(
            product_id="2078",
            title="Champ Tee",
            category="Tees",
            tags=("Men", "Tops", "Tees"),
            price=25.0,
            available=True,
            stock=5,
            image_url=f"{MEDIA}/m/s/ms-champ.jpg",
            variant_id="2079",
        ),
        (
            VariantStock("2080", "2078", "MS-Champ-M", 0),
            VariantStock("2079", "2078", "MS-Champ-S", 5),
        ),
        datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("children", "fields"),
    [
        pytest.param([child(2079, "S", 0, False), child(2080, "M", 0, False)], {}, id="sold-out"),
        pytest.param([child(2079, "S", 3, True)], {"status": 2}, id="disabled"),
        pytest.param([child(2079, "S", 3, True, status=2)], {}, id="child-disabled"),
        pytest.param([child(2079, "S", 3, True)], {"visibility": 1}, id="hidden"),
    ],
)
def test_a_configurable_nobody_can_buy_is_not_available(
    children: list[dict[str, Any]], fields: dict[str, Any]
) -> None:
    record = champ(children, **fields)
    assert record is not None
    assert record.product.available is False


def test_a_child_not_visible_individually_is_no_product_of_its_own() -> None:
    payload = ProductPayload.model_validate(child(2079, "MS-Champ-S", 5, True))
    assert catalog_record(payload) is None


@pytest.mark.parametrize(
    ("level", "stock", "available"),
    [
        pytest.param(StockLevel(12, True), 12, True, id="in-stock"),
        pytest.param(StockLevel(0, False), 0, False, id="sold-out"),
        pytest.param(StockLevel(0, True), None, True, id="backorders"),
        pytest.param(StockLevel(None, True), None, True, id="unmanaged"),
        pytest.param(StockLevel(3.5, True), 3, True, id="decimal"),
    ],
)
def test_stock_and_availability_of_a_simple_product(
    level: StockLevel, stock: int | None, available: bool
) -> None:
    payload = ProductPayload.model_validate(simple(5, "TEE"))
    record = catalog_record(payload, stock={"TEE": level})
    assert record is not None
    assert (record.product.stock, record.product.available) == (stock, available)


def test_stock_not_managed_wins_over_msi_quantities() -> None:
    data = simple(5, "TEE", extension_attributes={"stock_item": {"manage_stock": False}})
    record = catalog_record(
        ProductPayload.model_validate(data), stock={"TEE": StockLevel(0, False)}
    )
    assert record is not None
    assert (record.product.stock, record.product.available) == (None, True)


def test_a_bundle_keeps_its_price_unless_dynamic() -> None:
    fixed = ProductPayload.model_validate(simple(51, "KIT", type_id="bundle", price=68))
    dynamic = ProductPayload.model_validate(simple(52, "KIT2", type_id="bundle", price=0))
    assert (r := catalog_record(fixed)) is not None and r.product.price == 68.0
    assert (r := catalog_record(dynamic)) is not None and r.product.price is None


@pytest.mark.parametrize(
    ("fields", "image"),
    [
        pytest.param(
            {"custom_attributes": [{"attribute_code": "image", "value": "/t/e/tee.jpg"}]},
            f"{MEDIA}/t/e/tee.jpg",
            id="image-attribute",
        ),
        pytest.param(
            {"custom_attributes": [{"attribute_code": "image", "value": "no_selection"}]},
            None,
            id="no-selection",
        ),
        pytest.param(
            {"media_gallery_entries": [{"file": "https://cdn.example/tee.jpg", "types": []}]},
            "https://cdn.example/tee.jpg",
            id="absolute",
        ),
        pytest.param({"media_gallery_entries": None}, None, id="null-gallery"),
    ],
)
def test_images(fields: dict[str, Any], image: str | None) -> None:
    record = catalog_record(
        ProductPayload.model_validate(simple(5, "TEE", **fields)), media_url=MEDIA
    )
    assert record is not None
    assert record.product.image_url == image


# -- carts and events -----------------------------------------------------------------------


def cart_body(**fields: Any) -> dict[str, Any]:
    return {
        "id": 4,
        "created_at": "2026-03-02 08:59:00",
        "updated_at": "2026-03-02 09:00:00",
        "is_active": True,
        "customer_id": 3,
        "items": [
            {
                "item_id": 13,
                "product_id": 67,
                "sku": "MH01-S-Gray",
                "qty": 2,
                "product_type": "configurable",
            },
            {
                "item_id": 14,
                "parent_item_id": 13,
                "product_id": 56,
                "sku": "MH01-S-Gray",
                "qty": 1,
                "product_type": "simple",
            },
            {"item_id": 15, "product_id": 1553, "sku": "WS12-M-Orange", "qty": 1},
        ],
        **fields,
    }


def test_a_cart_folds_like_an_order() -> None:
    cart = cart_record(CartPayload.model_validate(cart_body()), key)
    assert cart == Cart(
        cart_id="4",
        updated_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        lines=(CartLine("67", 2, "56"), CartLine("1553", 1)),
        customer_id="keyed:3",
    )


def test_the_modules_save_time_versions_a_cart() -> None:
    body = json.dumps({"occurred_at": "2026-03-02T09:00:00.250000+00:00", "cart": cart_body()})
    cart = event_record("cart_saved", body, key)
    assert isinstance(cart, Cart)
    assert cart.updated_at == datetime(2026, 3, 2, 9, 0, 0, 250000, tzinfo=UTC)


def test_an_inactive_cart_is_nothing_to_store() -> None:
    body = json.dumps({"cart": cart_body(is_active=0)})
    assert event_record("cart_saved", body, key) is None


def test_a_guest_cart_has_no_customer() -> None:
    body = json.dumps({"cart": cart_body(customer_id=None, updated_at=None)})
    cart = event_record("cart_saved", body, key)
    assert isinstance(cart, Cart)
    assert cart.customer_id is None
    assert cart.updated_at == datetime(2026, 3, 2, 8, 59, tzinfo=UTC)


def test_order_placed_is_the_rest_order() -> None:
    body = json.dumps({"occurred_at": "2026-03-02 09:00:01", "order": fixture("order_get.json")})
    record = event_record("order_placed", body, key)
    assert record == order_record(OrderPayload.model_validate(fixture("order_get.json")), key)


def test_product_saved_brings_children_stock_categories_and_media() -> None:
    body = {
        "occurred_at": "2026-03-04T12:00:00Z",
        "product": configurable(),
        "children": [child(2079, "MS-Champ-S", 0, True), child(2080, "MS-Champ-M", 0, True)],
        "categories": list(CATEGORIES.values()),
        "source_items": [
            {"sku": "MS-Champ-S", "source_code": "default", "quantity": 2, "status": 1},
            {"sku": "MS-Champ-M", "source_code": "default", "quantity": 0, "status": 0},
        ],
        "media_base_url": MEDIA,
    }
    record = event_record("product_saved", json.dumps(body))
    assert isinstance(record, CatalogRecord)
    assert record.version == datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert record.product.category == "Tees"
    assert record.product.image_url == f"{MEDIA}/m/s/ms-champ.jpg"
    assert record.variants == (
        VariantStock("2080", "2078", "MS-Champ-M", 0),
        VariantStock("2079", "2078", "MS-Champ-S", 2),
    )
    assert (record.product.stock, record.product.variant_id) == (2, "2079")


@pytest.mark.parametrize(
    ("event", "body", "words"),
    [
        pytest.param("order_shipped", b"{}", "unknown Magento event", id="unknown-event"),
        pytest.param("order_placed", b"<xml/>", "not valid JSON", id="not-json"),
        pytest.param("order_placed", b"[1]", "JSON object", id="not-an-object"),
        pytest.param("order_placed", b"[" * 100 + b"]" * 100, "deeper", id="too-deep"),
        pytest.param(
            "order_placed", b'{"order": {"entity_id": 3}}', "order.created_at", id="no-time"
        ),
        pytest.param(
            "cart_saved", b'{"cart": {"id": "abc", "updated_at": "x"}}', "cart.id", id="bad-id"
        ),
        pytest.param("product_saved", b'{"product": {"id": 1}}', "product.sku", id="no-sku"),
        pytest.param("order_placed", b'{"order": NaN}', "not valid JSON", id="nan"),
    ],
)
def test_unreadable_bodies_are_invalid_payloads(event: str, body: bytes, words: str) -> None:
    with pytest.raises(InvalidPayload, match=words):
        parse_event(event, body)


def test_errors_name_fields_never_values() -> None:
    body = json.dumps(
        {"order": {"entity_id": "jdoe@example.com", "created_at": "2026-03-02 09:00:00"}}
    )
    with pytest.raises(InvalidPayload) as exc:
        parse_event("order_placed", body)
    assert "order.entity_id" in exc.value.message
    assert "jdoe" not in exc.value.message
