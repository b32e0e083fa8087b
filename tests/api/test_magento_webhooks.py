"""`POST /webhooks/magento` end to end: deliveries signed here the way the cartwise Magento module
signs them (hex HMAC-SHA256 of "<t>.<raw body>"), posted through Flask's test client into a real
SQLite file, then worked off with `worker.drain()`.

Covers forged, stale, future and missing signatures (401, nothing stored), duplicates (stored
once), dead letters, and platform blindness: an order, a product and a cart delivered by Magento
are stored as exactly the records a Shopify delivery of the same order, product and cart gives.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cartwise import storage
from cartwise.api import create_app
from cartwise.connector.magento.auth import IntegrationCredentials
from cartwise.connector.magento.payloads import OrderPlaced, parse_event
from cartwise.connector.magento.records import event_record
from cartwise.domain import Platform, ShopRef
from cartwise.jobs import Worker
from cartwise.magento_stores import connect_store, disconnect_store
from cartwise.pseudonyms import customer_key
from cartwise.settings import JobSettings, Settings
from cartwise.storage import Store
from cartwise.webhooks.magento import verify_signature

from .shopify import SHOP_A, install, shopify_settings
from .shopify import delivery as shopify_delivery

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "magento"
URL = "/webhooks/magento"
STORE_URL = "https://shop.example.com"
CREDS = IntegrationCredentials(
    consumer_key="x2fl2ad8tbofr2o3v6l3iwhw1v4t3wmj",
    consumer_secret="k8q3t0pjyswtkxkz1rk0ozbmqsvy1zyc",
    access_token="wd8s6u2kd5ya4ndqh8t3cthfoxxdjqnn",
    access_token_secret="3zqcmj1idr2fw7r4ahsxnwh3oovoy5fy",
)
MEDIA = f"{STORE_URL}/media/catalog/product"
PLACED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def public(host: str) -> Iterable[str]:
    return ["93.184.215.14"]


@pytest.fixture
def app_settings() -> Settings:
    return shopify_settings(jobs=JobSettings(rebuild_delay_seconds=0))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{tmp_path / 'magento.db'}")
    yield opened
    opened.close()


@pytest.fixture
def connected(store: Store) -> tuple[str, str]:
    """(shop key, signing secret) of a connected store."""
    return connect_store(store, STORE_URL, CREDS, resolve=public, backfill=False)


@pytest.fixture
def app(app_settings: Settings, store: Store) -> Flask:
    return create_app(app_settings, store=store, start_worker=False)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def worker(app: Flask) -> Worker:
    found = app.extensions["cartwise_worker"]
    assert isinstance(found, Worker)
    return found


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def delivery(
    event: str,
    payload: dict[str, Any] | bytes,
    *,
    shop: str,
    secret: str,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """The headers and body of one delivery, as the module sends it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    t = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "X-Cartwise-Store": shop,
        "X-Cartwise-Event": event,
        "X-Cartwise-Event-Id": event_id or str(uuid.uuid4()),
        "X-Cartwise-Signature": f"t={t},v1={sign(secret, t, body)}",
    }
    return headers, body


def post(client: FlaskClient, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    response = client.post(URL, data=body, headers=headers)
    return response.status_code, response.get_json(silent=True)


def nothing_stored(store: Store) -> bool:
    return (
        store.events.count() == 0
        and store.jobs.counts() == {}
        and store.events.dead_letters() == []
    )


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    assert isinstance(data, dict)
    return data


def magento_order() -> dict[str, Any]:
    """The documented order, cut down to a configurable (parent and child item) and two of a
    simple product."""
    data = copy.deepcopy(fixture("order_get.json"))
    by_id = {i["item_id"]: i for i in data["items"]}
    tee = {**by_id[3], "qty_ordered": 2}
    data.update(
        created_at="2026-03-02 09:00:00",
        updated_at="2026-03-02 09:00:01",
        items=[by_id[10], by_id[11], tee],
    )
    return data


def order_placed() -> dict[str, Any]:
    return {"occurred_at": "2026-03-02T09:00:01+00:00", "order": magento_order()}


# -- the intake -----------------------------------------------------------------------------


def test_a_signed_delivery_is_stored_once_and_queued(
    client: FlaskClient, store: Store, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    headers, body = delivery("order_placed", order_placed(), shop=shop, secret=secret)
    assert post(client, headers, body) == (200, {"status": "stored"})
    assert post(client, headers, body) == (200, {"status": "duplicate"})
    resigned, _ = delivery(
        "order_placed",
        body,
        shop=shop,
        secret=secret,
        event_id=headers["X-Cartwise-Event-Id"],
        timestamp=int(time.time()) - 5,
    )
    assert post(client, resigned, body) == (200, {"status": "duplicate"})
    (event,) = store.events.for_shop(shop)
    assert (event.topic, event.delivery_id, event.body) == (
        "magento/order_placed",
        headers["X-Cartwise-Event-Id"],
        body,
    )
    assert "x-cartwise-signature" not in event.headers
    assert event.headers["x-cartwise-store"] == shop
    assert store.jobs.counts() == {"queued": 1}


def _with(name: str, value: str | None) -> Callable[[dict[str, str], str, bytes], None]:
    def change(headers: dict[str, str], secret: str, body: bytes) -> None:
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value

    return change


def _signed(timestamp: Callable[[int], int], secret: str | None = None) -> Any:
    def change(headers: dict[str, str], real_secret: str, body: bytes) -> None:
        t = timestamp(int(time.time()))
        headers["X-Cartwise-Signature"] = f"t={t},v1={sign(secret or real_secret, t, body)}"

    return change


def _signature_text(text: Callable[[str], str]) -> Any:
    def change(headers: dict[str, str], secret: str, body: bytes) -> None:
        headers["X-Cartwise-Signature"] = text(headers["X-Cartwise-Signature"])

    return change


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        pytest.param(_with("X-Cartwise-Signature", None), "missing_signature", id="no-signature"),
        pytest.param(_with("X-Cartwise-Signature", ""), "missing_signature", id="empty"),
        pytest.param(_signed(lambda now: now, "another-secret"), "invalid_signature", id="forged"),
        pytest.param(_signed(lambda now: now - 301), "stale_signature", id="old"),
        pytest.param(_signed(lambda now: now - 86_400), "stale_signature", id="day-old"),
        pytest.param(_signed(lambda now: now + 301), "stale_signature", id="future"),
        pytest.param(
            _signature_text(lambda s: s.split(",")[1]), "malformed_signature", id="no-time"
        ),
        pytest.param(_signature_text(lambda s: s.split(",")[0]), "malformed_signature", id="no-v1"),
        pytest.param(
            _signature_text(lambda s: s.replace("t=", "t=x")), "malformed_signature", id="bad-t"
        ),
        pytest.param(_signature_text(lambda s: s[:-2]), "malformed_signature", id="truncated-hex"),
        pytest.param(
            _signature_text(lambda s: s.replace("v1=", "v0=")), "malformed_signature", id="v0"
        ),
        pytest.param(
            _signature_text(lambda s: s[:-1] + ("0" if s[-1] != "0" else "1")),
            "invalid_signature",
            id="one-digit-off",
        ),
        pytest.param(_signature_text(lambda s: s + "é"), "malformed_signature", id="non-ascii"),
        pytest.param(_with("X-Cartwise-Store", None), "missing_store", id="no-store"),
        pytest.param(
            _with("X-Cartwise-Store", "other.example.com"), "unknown_store", id="unknown-store"
        ),
        pytest.param(_with("X-Cartwise-Event", None), "missing_event", id="no-event"),
        pytest.param(_with("X-Cartwise-Event-Id", None), "missing_event_id", id="no-event-id"),
        pytest.param(_with("X-Cartwise-Event-Id", "x" * 256), "missing_event_id", id="long-id"),
    ],
)
def test_forged_stale_and_incomplete_deliveries_get_401_and_store_nothing(
    forge: Callable[[dict[str, str], str, bytes], None],
    reason: str,
    client: FlaskClient,
    store: Store,
    connected: tuple[str, str],
) -> None:
    shop, secret = connected
    headers, body = delivery("order_placed", order_placed(), shop=shop, secret=secret)
    forge(headers, secret, body)
    status, answer = post(client, headers, body)
    assert status == 401, answer
    assert answer["error"]["code"] == "invalid_signature"
    assert answer["error"]["details"]["reason"] == reason
    assert nothing_stored(store)


def test_a_body_changed_after_signing_gets_401(
    client: FlaskClient, store: Store, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    headers, body = delivery("order_placed", order_placed(), shop=shop, secret=secret)
    for changed in (body + b" ", body.replace(b'"qty_ordered": 2', b'"qty_ordered": 20'), b""):
        status, answer = post(client, headers, changed)
        assert status == 401
        assert answer["error"]["details"]["reason"] == "invalid_signature"
    assert nothing_stored(store)


def test_a_disconnected_store_is_refused(
    client: FlaskClient, store: Store, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    disconnect_store(store, shop)
    headers, body = delivery("order_placed", order_placed(), shop=shop, secret=secret)
    status, answer = post(client, headers, body)
    assert (status, answer["error"]["details"]["reason"]) == (401, "unknown_store")
    assert nothing_stored(store)


def test_a_reconnected_store_refuses_the_old_secret(
    client: FlaskClient, store: Store, connected: tuple[str, str]
) -> None:
    shop, old = connected
    _, new = connect_store(store, STORE_URL, CREDS, resolve=public, backfill=False)
    headers, body = delivery("order_placed", order_placed(), shop=shop, secret=old)
    assert post(client, headers, body)[0] == 401
    headers, body = delivery("order_placed", order_placed(), shop=shop, secret=new)
    assert post(client, headers, body)[0] == 200


@pytest.mark.parametrize("skew", [-290, 290], ids=["late", "early-clock"])
def test_the_window_holds_both_ways(
    skew: int, client: FlaskClient, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    headers, body = delivery(
        "order_placed",
        order_placed(),
        shop=shop,
        secret=secret,
        timestamp=int(time.time()) + skew,
    )
    assert post(client, headers, body) == (200, {"status": "stored"})


def test_any_of_several_signatures_may_match(
    client: FlaskClient, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    headers, body = delivery("order_placed", order_placed(), shop=shop, secret=secret)
    t = int(time.time())
    headers["X-Cartwise-Signature"] = (
        f"t={t},v1={sign('the-previous-secret', t, body)},v1={sign(secret, t, body).upper()}"
    )
    assert post(client, headers, body) == (200, {"status": "stored"})


@pytest.mark.parametrize(
    ("event", "body", "words"),
    [
        pytest.param("order_shipped", b'{"order": {}}', "unknown Magento event", id="event"),
        pytest.param("Order Placed!", b"{}", "unknown Magento event", id="odd-event-name"),
        pytest.param("order_placed", b"<html/>", "not valid JSON", id="not-json"),
        pytest.param("order_placed", b'{"order": {"entity_id": 1}}', "created_at", id="field"),
        pytest.param("cart_saved", b"[]", "JSON object", id="array"),
    ],
)
def test_signed_unusable_deliveries_are_dead_lettered_with_200(
    event: str,
    body: bytes,
    words: str,
    client: FlaskClient,
    store: Store,
    connected: tuple[str, str],
) -> None:
    shop, secret = connected
    headers, body = delivery(event, body, shop=shop, secret=secret)
    assert post(client, headers, body) == (200, {"status": "dead_letter"})
    (letter,) = store.events.dead_letters(shop)
    assert words in letter.reason
    assert letter.topic.startswith("magento/")
    assert letter.delivery_id == headers["X-Cartwise-Event-Id"]
    assert store.events.count() == 0
    assert store.jobs.counts() == {}


def test_a_body_over_one_mebibyte_is_refused(
    client: FlaskClient, store: Store, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    headers, body = delivery(
        "order_placed", b'{"x": "' + b"a" * (1024 * 1024) + b'"}', shop=shop, secret=secret
    )
    status, answer = post(client, headers, body)
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    assert nothing_stored(store)


def test_concurrent_duplicates_store_one_event(
    app: Flask, store: Store, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    headers, body = delivery("order_placed", order_placed(), shop=shop, secret=secret)
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        for _ in range(5):
            response = client.post(URL, data=body, headers=headers)
            with lock:
                outcomes.append((response.get_json(silent=True) or {}).get("status", "error"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(outcomes) == {"stored": 1, "duplicate": 29}
    assert store.events.count() == 1
    assert store.jobs.counts() == {"queued": 1}


# -- platform blindness -------------------------------------------------------------------


def shopify_order() -> dict[str, Any]:
    """The same order as `magento_order`, as Shopify would deliver it."""
    return {
        "id": 3,
        "admin_graphql_api_id": "gid://shopify/Order/3",
        "created_at": "2026-03-02T04:00:00-05:00",
        "updated_at": "2026-03-02T04:00:01-05:00",
        "cancelled_at": None,
        "test": False,
        "currency": "USD",
        "customer": {"id": 3, "email": "jdoe@example.com"},
        "shipping_address": {"country_code": "US"},
        "line_items": [
            {"id": 1, "product_id": 67, "variant_id": 56, "quantity": 1, "price": "52.00"},
            {"id": 2, "product_id": 1553, "variant_id": None, "quantity": 2, "price": "22.00"},
        ],
    }


def magento_product_saved() -> dict[str, Any]:
    parent = copy.deepcopy(fixture("product_create_configurable.json"))
    parent.update(id=67, sku="MH01", name="Chaz Kangeroo Hoodie", updated_at="2026-03-02 08:00:00")
    parent["extension_attributes"]["category_links"] = [
        {"position": 0, "category_id": "15"},
        {"position": 1, "category_id": "16"},
    ]
    parent["extension_attributes"]["configurable_product_links"] = [56, 57]
    parent["media_gallery_entries"] = [
        {"file": "/m/h/mh01-gray_main.jpg", "types": ["image"], "position": 1, "disabled": False}
    ]

    def child(product_id: int, sku: str, price: int) -> dict[str, Any]:
        return {
            "id": product_id,
            "sku": sku,
            "name": sku,
            "price": price,
            "status": 1,
            "visibility": 1,
            "type_id": "simple",
            "updated_at": "2026-03-02 08:00:00",
        }

    return {
        "occurred_at": "2026-03-02T08:00:00+00:00",
        "product": parent,
        "children": [child(56, "MH01-S-Gray", 52), child(57, "MH01-M-Gray", 54)],
        "categories": [
            {"id": 15, "name": "Men", "level": 2},
            {"id": 16, "name": "Hoodies & Sweatshirts", "level": 3},
        ],
        "source_items": [
            {"sku": "MH01-S-Gray", "source_code": "default", "quantity": 0, "status": 0},
            {"sku": "MH01-M-Gray", "source_code": "default", "quantity": 7, "status": 1},
        ],
        "media_base_url": MEDIA,
    }


def shopify_product() -> dict[str, Any]:
    """The same hoodie as `magento_product_saved`, as Shopify would deliver it."""

    def variant(variant_id: int, price: str, stock: int) -> dict[str, Any]:
        return {
            "id": variant_id,
            "product_id": 67,
            "price": price,
            "inventory_item_id": variant_id * 10,
            "inventory_quantity": stock,
            "inventory_management": "shopify",
            "inventory_policy": "deny",
        }

    return {
        "id": 67,
        "title": "Chaz Kangeroo Hoodie",
        "product_type": "Hoodies & Sweatshirts",
        "vendor": "",
        "status": "active",
        "published_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-03-02T08:00:00Z",
        "tags": "Men, Hoodies & Sweatshirts",
        "image": {"src": f"{MEDIA}/m/h/mh01-gray_main.jpg"},
        "variants": [variant(56, "52.00", 0), variant(57, "54.00", 7)],
    }


def magento_cart_saved() -> dict[str, Any]:
    return {
        "occurred_at": "2026-03-02T08:30:00+00:00",
        "cart": {
            "id": 4,
            "updated_at": "2026-03-02 08:30:00",
            "is_active": True,
            "customer_id": None,
            "items": [
                {"item_id": 13, "product_id": 67, "qty": 1, "product_type": "configurable"},
                {"item_id": 14, "parent_item_id": 13, "product_id": 56, "qty": 1},
                {"item_id": 15, "product_id": 1553, "qty": 2, "product_type": "simple"},
            ],
        },
    }


def shopify_cart() -> dict[str, Any]:
    return {
        "id": "4",
        "token": "4",
        "updated_at": "2026-03-02T08:30:00Z",
        "line_items": [
            {"product_id": 67, "variant_id": 56, "quantity": 1},
            {"product_id": 1553, "variant_id": None, "quantity": 2},
        ],
    }


def test_magento_and_shopify_deliveries_give_the_same_records(
    client: FlaskClient,
    store: Store,
    worker: Worker,
    connected: tuple[str, str],
    app_settings: Settings,
) -> None:
    shop, secret = connected
    install(store, SHOP_A)
    for event, payload in (
        ("product_saved", magento_product_saved()),
        ("cart_saved", magento_cart_saved()),
        ("order_placed", order_placed()),
    ):
        headers, body = delivery(event, payload, shop=shop, secret=secret)
        assert post(client, headers, body) == (200, {"status": "stored"})
    for topic, payload in (
        ("products/create", shopify_product()),
        ("carts/create", shopify_cart()),
        ("orders/create", shopify_order()),
    ):
        headers, body = shopify_delivery(topic, payload)
        assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    worker.drain()

    assert [e.status for e in store.events.for_shop(shop)] == ["processed"] * 3
    assert [e.body for e in store.events.for_shop(shop)] == [b""] * 3
    assert store.shops.get(shop) == ShopRef(shop, Platform.MAGENTO)

    magento_product = store.products.get_many(shop, ["67"])["67"]
    assert magento_product == store.products.get_many(SHOP_A, ["67"])["67"]
    assert (magento_product.stock, magento_product.price, magento_product.variant_id) == (
        7,
        54.0,
        "57",
    )
    assert store.inventory.products_of_variants(shop, ["56", "57"]) == {"56": "67", "57": "67"}

    assert list(store.carts.iter(shop)) == list(store.carts.iter(SHOP_A))

    secret_key = app_settings.effective_secret_key()
    magento_order_stored = store.orders.get(shop, "3")
    shopify_order_stored = store.orders.get(SHOP_A, "3")
    assert magento_order_stored is not None and shopify_order_stored is not None
    # Customer ids are keyed per shop, so the same customer differs only by the shop's key.
    assert magento_order_stored.customer_id == customer_key(secret_key, shop, "3")
    assert shopify_order_stored.customer_id == customer_key(secret_key, SHOP_A, "3")
    assert replace(magento_order_stored, customer_id=None) == replace(
        shopify_order_stored, customer_id=None
    )
    assert store.segments.top(shop, "country:US") == store.segments.top(SHOP_A, "country:US")
    assert store.segments.top(shop, "country:US")


def test_a_replayed_order_with_a_new_event_id_is_counted_once(
    client: FlaskClient, store: Store, worker: Worker, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    body = json.dumps(order_placed()).encode()
    for _ in range(3):
        headers, _ = delivery("order_placed", body, shop=shop, secret=secret)
        assert post(client, headers, body) == (200, {"status": "stored"})
    worker.drain()
    assert [e.status for e in store.events.for_shop(shop)] == ["processed", "ignored", "ignored"]
    assert store.orders.count(shop) == 1


def test_a_child_saved_alone_is_ignored(
    client: FlaskClient, store: Store, worker: Worker, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    payload = magento_product_saved()
    lone = {"product": payload["children"][0]}
    headers, body = delivery("product_saved", lone, shop=shop, secret=secret)
    assert post(client, headers, body) == (200, {"status": "stored"})
    worker.drain()
    (event,) = store.events.for_shop(shop)
    assert event.status == "ignored"
    assert store.products.count(shop) == 0


def test_the_worked_example_of_the_docs_verifies() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "magento.md").read_text()
    example = text.split("### Worked example", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    lines = dict(line.split(": ", 1) for line in example.strip().splitlines())
    header = lines["header"].removeprefix("X-Cartwise-Signature: ")
    t = int(lines["t"])
    body = lines["body"].encode()
    assert header == f"t={t},v1={sign(lines['secret'], t, body)}"
    assert verify_signature([lines["secret"]], body, header, now=t + 10) == t
    parsed = parse_event("order_placed", body)
    assert isinstance(parsed, OrderPlaced) and parsed.order.entity_id == "3"


def test_the_event_bodies_of_the_docs_are_read() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "magento.md").read_text()
    section = text.split("### Event bodies", 1)[1].split("\n## ", 1)[0]
    blocks = [part.split("```", 1)[0] for part in section.split("```json\n")[1:]]
    events = ["order_placed", "cart_saved", "product_saved"]
    assert len(blocks) == len(events)
    for event, block in zip(events, blocks, strict=True):
        assert event_record(event, block, customer_key=str) is not None
