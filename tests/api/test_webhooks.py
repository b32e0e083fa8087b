"""`POST /webhooks/shopify` end to end: deliveries signed here the way Shopify signs them, posted
through Flask's test client into a real SQLite file, then worked off with `worker.drain()`.

Covers forged deliveries (401, nothing written), exactly-once effect under duplicates, shuffling
and stale retries (the stored orders and the served model equal a ground truth computed here),
dead letters for signed but unusable deliveries, body limits, concurrent duplicates, and a new
order changing the next recommendation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwise import storage
from cartwise.api import create_app
from cartwise.domain import Order, OrderLine
from cartwise.installs import create_api_key
from cartwise.jobs import Worker
from cartwise.pseudonyms import customer_key
from cartwise.recommender import HybridRecommender
from cartwise.recommender.records import to_interactions, to_items
from cartwise.settings import JobSettings, Settings
from cartwise.storage import Store
from cartwise.webhooks import COMPLIANCE_TOPICS, SHOPIFY_TOPICS

from .shopify import (
    CLIENT_SECRET,
    OTHER_SECRET,
    SHOP_A,
    SHOP_B,
    delivery,
    install,
    shopify_settings,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "shopify"
URL = "/webhooks/shopify"
EST = timezone(timedelta(hours=-5))
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CATALOG_STALENESS_SECONDS = 5.0
"""How long the app may go on showing a product after a job changed it (its catalog cache)."""


@pytest.fixture
def app_settings() -> Settings:
    return shopify_settings(jobs=JobSettings(rebuild_delay_seconds=0))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{tmp_path / 'webhooks.db'}")
    yield opened
    opened.close()


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


def fixture(name: str) -> dict[str, Any]:
    path = FIXTURES / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"the Shopify fixture {path} is missing")
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def post(client: FlaskClient, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    response = client.post(URL, data=body, headers=headers)
    return response.status_code, response.get_json(silent=True)


def nothing_written(store: Store) -> bool:
    return (
        store.events.count() == 0
        and store.jobs.counts() == {}
        and store.events.dead_letters() == []
        and store.shops.list() == []
    )


def shopify_time(moment: datetime) -> str:
    """A timestamp the way Shopify writes it: local offset, whole seconds."""
    return moment.astimezone(EST).replace(microsecond=0).isoformat()


def price_of(product: int) -> str:
    return f"{5 + product % 17}.{product % 100:02d}"


def variant_of(product: int) -> int:
    return product * 10 + 1


def order_payload(
    order_id: int,
    *,
    created: datetime,
    updated: datetime,
    lines: tuple[tuple[int, int], ...],
    cancelled: datetime | None = None,
    customer: int | None = None,
    country: str = "DE",
    test: bool = False,
) -> dict[str, Any]:
    """An orders/* body: numeric ids next to their GIDs, prices as strings, offset timestamps."""
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{order_id % 100_000}",
        "created_at": shopify_time(created),
        "updated_at": shopify_time(updated),
        "cancelled_at": shopify_time(cancelled) if cancelled else None,
        "cancel_reason": "customer" if cancelled else None,
        "financial_status": "refunded" if cancelled else "paid",
        "currency": "EUR",
        "test": test,
        "total_price": f"{sum(float(price_of(p)) * q for p, q in lines):.2f}",
        "customer": None
        if customer is None
        else {
            "id": customer,
            "admin_graphql_api_id": f"gid://shopify/Customer/{customer}",
            "email": f"buyer{customer}@example.com",
        },
        "shipping_address": {"country_code": country},
        "line_items": [
            {
                "id": order_id * 100 + n,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{order_id * 100 + n}",
                "product_id": product,
                "variant_id": variant_of(product),
                "quantity": quantity,
                "price": price_of(product),
                "price_set": {"shop_money": {"amount": price_of(product), "currency_code": "EUR"}},
                "title": f"Product {product}",
                "vendor": "Acme",
                "sku": f"SKU-{product}",
            }
            for n, (product, quantity) in enumerate(lines)
        ],
    }


def product_payload(product: int, *, stock: int = 10, updated: datetime = START) -> dict[str, Any]:
    return {
        "id": product,
        "admin_graphql_api_id": f"gid://shopify/Product/{product}",
        "title": f"Product {product}",
        "product_type": "gifts",
        "vendor": "Acme",
        "status": "active",
        "published_at": shopify_time(START - timedelta(days=30)),
        "updated_at": shopify_time(updated),
        "tags": "gift, bestseller",
        "variants": [
            {
                "id": variant_of(product),
                "admin_graphql_api_id": f"gid://shopify/ProductVariant/{variant_of(product)}",
                "product_id": product,
                "price": price_of(product),
                "inventory_item_id": product * 10 + 7,
                "inventory_quantity": stock,
                "inventory_management": "shopify",
                "inventory_policy": "deny",
            }
        ],
    }


def stored_order(
    secret: bytes,
    order_id: int,
    *,
    created: datetime,
    lines: tuple[tuple[int, int], ...],
    cancelled: bool = False,
    customer: int | None = None,
    shop: str = SHOP_A,
) -> Order:
    """What the store should hold for an order in the state given."""
    return Order(
        order_id=str(order_id),
        created_at=created,
        lines=tuple(
            OrderLine(str(product), quantity, float(price_of(product)), str(variant_of(product)))
            for product, quantity in lines
        ),
        customer_id=None if customer is None else customer_key(secret, shop, str(customer)),
        cancelled=cancelled,
    )


def compliance_payload(topic: str, shop: str = SHOP_A) -> dict[str, Any]:
    name = topic.replace("/", "_")
    body = fixture(name)
    body["shop_domain"] = shop
    return body


def valid_payload(topic: str) -> dict[str, Any]:
    """A usable body for every topic cartwise subscribes to."""
    if topic in COMPLIANCE_TOPICS:
        return compliance_payload(topic)
    if topic.startswith("orders/"):
        return fixture("orders_create")
    if topic.startswith("carts/"):
        return fixture(topic.replace("/", "_"))
    if topic.startswith("checkouts/"):
        return fixture("checkouts_create")
    if topic == "products/delete":
        return {"id": 632910392}
    if topic.startswith("products/"):
        return fixture("products_update")
    if topic == "inventory_levels/update":
        return {
            "inventory_item_id": 271878346596884015,
            "location_id": 24826418,
            "available": 6,
            "updated_at": shopify_time(START),
            "admin_graphql_api_id": "gid://shopify/InventoryLevel/24826418?inventory_item_id=2",
        }
    if topic == "app/uninstalled":
        return {**fixture("app_uninstalled"), "myshopify_domain": SHOP_A}
    raise AssertionError(f"no payload for {topic}")


TOPICS = sorted(SHOPIFY_TOPICS)


def b64_hmac(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@st.composite
def forgeries(
    draw: st.DrawFn, headers: dict[str, str], body: bytes
) -> tuple[dict[str, str], bytes]:
    """A mutation of a correctly signed delivery that must not pass."""
    kind = draw(
        st.sampled_from(
            ["flip", "wrong_secret", "missing", "empty", "hex", "reserialised", "truncated"]
        )
    )
    forged_headers = dict(headers)
    forged_body = body
    signature = headers["X-Shopify-Hmac-Sha256"]
    if kind == "flip":
        at = draw(st.integers(0, len(body) - 1))
        mask = draw(st.integers(1, 255))
        forged_body = body[:at] + bytes([body[at] ^ mask]) + body[at + 1 :]
    elif kind == "wrong_secret":
        secret = draw(st.sampled_from([OTHER_SECRET, CLIENT_SECRET.upper(), ""]) | st.text())
        if secret == CLIENT_SECRET:
            secret = OTHER_SECRET
        forged_headers["X-Shopify-Hmac-Sha256"] = b64_hmac(body, secret)
    elif kind == "missing":
        del forged_headers["X-Shopify-Hmac-Sha256"]
    elif kind == "empty":
        forged_headers["X-Shopify-Hmac-Sha256"] = draw(st.sampled_from(["", " "]))
    elif kind == "hex":
        digest = hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).hexdigest()
        forged_headers["X-Shopify-Hmac-Sha256"] = draw(st.sampled_from([digest, digest.upper()]))
    elif kind == "reserialised":
        data = json.loads(body)
        indent = draw(st.sampled_from([None, 0, 1, 2, "\t"]))
        separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (",", ": "), (" ,", " :")]))
        sort_keys = draw(st.booleans())
        ascii_only = draw(st.booleans())
        forged_body = json.dumps(
            data, indent=indent, separators=separators, sort_keys=sort_keys, ensure_ascii=ascii_only
        ).encode()
        if forged_body == body:
            forged_body = b" " + body
    else:
        cut = draw(st.integers(1, len(signature) - 1))
        forged_headers["X-Shopify-Hmac-Sha256"] = signature[:cut]
    return forged_headers, forged_body


@pytest.mark.parametrize("topic", TOPICS)
def test_forged_deliveries_get_401_and_write_nothing(
    topic: str, client: FlaskClient, store: Store
) -> None:
    headers, body = delivery(topic, valid_payload(topic))

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(forged=forgeries(headers, body))
    def check(forged: tuple[dict[str, str], bytes]) -> None:
        forged_headers, forged_body = forged
        status, answer = post(client, forged_headers, forged_body)
        assert status == 401, answer
        assert answer["error"]["code"] == "invalid_signature"
        assert answer["error"]["details"]["reason"] in {
            "missing_signature",
            "invalid_signature",
            "invalid_body_encoding",
            "empty_body",
        }
        assert nothing_written(store)

    check()

    status, answer = post(client, headers, body)
    assert status == 200, answer
    assert answer == {"status": "stored"}
    assert store.events.count() == 1
    assert store.jobs.counts() == {"queued": 1}


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda h: h.pop("X-Shopify-Shop-Domain"), id="no-shop"),
        pytest.param(lambda h: h.update({"X-Shopify-Shop-Domain": "evil.com"}), id="foreign-shop"),
        pytest.param(lambda h: h.pop("X-Shopify-Topic"), id="no-topic"),
        pytest.param(lambda h: h.pop("X-Shopify-Webhook-Id"), id="no-webhook-id"),
    ],
)
def test_signed_body_with_unusable_delivery_headers_gets_401(
    mutate: Callable[[dict[str, str]], object], client: FlaskClient, store: Store
) -> None:
    headers, body = delivery("orders/create", valid_payload("orders/create"))
    mutate(headers)
    status, answer = post(client, headers, body)
    assert status == 401
    assert answer["error"]["code"] == "invalid_signature"
    assert nothing_written(store)


def test_get_is_not_a_delivery(client: FlaskClient, store: Store) -> None:
    response = client.get(URL)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert nothing_written(store)


@dataclass
class Delivery:
    topic: str
    payload: dict[str, Any]
    webhook_id: str
    event_id: str
    triggered_at: datetime
    order_id: int
    version: int


@dataclass
class OrderHistory:
    order_id: int
    created: datetime
    customer: int | None
    versions: list[tuple[datetime, tuple[tuple[int, int], ...], datetime | None]] = field(
        default_factory=list
    )
    """(updated_at, lines, cancelled_at) in the order Shopify produced them."""


def random_lines(rng: random.Random, products: int) -> tuple[tuple[int, int], ...]:
    size = rng.choice([1, 2, 2, 3, 3, 4])
    chosen = rng.sample(range(1, products + 1), size)
    return tuple((1000 + p, rng.choice([1, 1, 1, 2, 3])) for p in chosen)


def order_histories(rng: random.Random, logical: int, products: int) -> list[OrderHistory]:
    """Orders created a few minutes apart, some edited (lines changed), some cancelled, until
    `logical` states exist in total."""
    histories: list[OrderHistory] = []
    count = 0
    n = 0
    while count < logical:
        created = START + timedelta(minutes=7 * n)
        customer = rng.choice([None, None, 500 + rng.randrange(40)])
        history = OrderHistory(7_000_000 + n, created, customer)
        cancel = rng.random() < 0.2
        # a product bought only in orders that end up cancelled must leave the model
        own = ((9000 + n, 1),) if cancel else ()
        lines = random_lines(rng, products) + own
        history.versions.append((created, lines, None))
        at = created
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            at += timedelta(minutes=rng.randint(1, 90))
            lines = random_lines(rng, products) + own
            history.versions.append((at, lines, None))
        if cancel:
            at += timedelta(minutes=rng.randint(1, 90))
            history.versions.append((at, lines, at))
        history.versions = history.versions[: logical - count]
        count += len(history.versions)
        histories.append(history)
        n += 1
    return histories


def deliveries_of(history: OrderHistory) -> list[Delivery]:
    found = []
    for version, (updated, lines, cancelled) in enumerate(history.versions):
        if cancelled is not None:
            topic = "orders/cancelled"
        elif version == 0:
            topic = "orders/create"
        else:
            topic = "orders/updated"
        payload = order_payload(
            history.order_id,
            created=history.created,
            updated=updated,
            lines=lines,
            cancelled=cancelled,
            customer=history.customer,
        )
        found.append(
            Delivery(
                topic,
                payload,
                str(uuid.uuid4()),
                str(uuid.uuid4()),
                updated + timedelta(seconds=1),
                history.order_id,
                version,
            )
        )
    return found


def test_thousand_deliveries_take_effect_exactly_once(
    client: FlaskClient, store: Store, worker: Worker, app_settings: Settings
) -> None:
    rng = random.Random(20260302)
    histories = order_histories(rng, logical=700, products=60)
    originals = [d for h in histories for d in deliveries_of(h)]
    assert len(originals) == 700

    # 5% of the deliveries are retries of an older state that arrive after a newer one
    last_version = {h.order_id: len(h.versions) - 1 for h in histories}
    older = [d for d in originals if d.version < last_version[d.order_id]]
    stale = rng.sample(older, 50)
    stale_events = {d.event_id for d in stale}
    # 30% of what is sent is a duplicate: the same delivery again, or the same event delivered
    # again under a new webhook id
    duplicates = []
    for original in rng.choices(originals, k=300):
        same_delivery = rng.random() < 0.5
        duplicates.append(
            Delivery(
                original.topic,
                original.payload,
                original.webhook_id if same_delivery else str(uuid.uuid4()),
                original.event_id,
                original.triggered_at,
                original.order_id,
                original.version,
            )
        )
    sent = [d for d in originals + duplicates if d.event_id not in stale_events]
    rng.shuffle(sent)
    retries = [d for d in duplicates + stale if d.event_id in stale_events]
    rng.shuffle(retries)
    sent += retries
    assert len(sent) == 1000

    outcomes: Counter[str] = Counter()
    for item in sent:
        headers, body = delivery(
            item.topic,
            item.payload,
            webhook_id=item.webhook_id,
            event_id=item.event_id,
            triggered_at=item.triggered_at,
        )
        status, answer = post(client, headers, body)
        assert status == 200, answer
        outcomes[answer["status"]] += 1
    worker.drain()

    unique_events = {d.event_id for d in sent}
    assert outcomes == {"stored": len(unique_events), "duplicate": 1000 - len(unique_events)}
    assert store.events.count(SHOP_A) == len(unique_events) == 700
    assert store.events.dead_letters() == []
    jobs = store.jobs.counts(SHOP_A)
    assert set(jobs) == {"done"}, jobs
    statuses = {e.event_id: e.status for e in store.events.for_shop(SHOP_A)}
    assert {statuses[d.event_id] for d in stale} == {"ignored"}
    assert set(statuses.values()) <= {"processed", "ignored"}

    secret = app_settings.effective_secret_key()
    truth = {}
    for history in histories:
        _, lines, cancelled = history.versions[-1]
        truth[str(history.order_id)] = stored_order(
            secret,
            history.order_id,
            created=history.created,
            lines=lines,
            cancelled=cancelled is not None,
            customer=history.customer,
        )
    assert store.orders.count(SHOP_A) == len(truth)
    for order_id, expected in truth.items():
        assert store.orders.get(SHOP_A, order_id) == expected

    # the served model is the one a fit on the true final orders gives
    artifact = store.models.latest(SHOP_A)
    assert artifact is not None
    assert "n_orders" in artifact.meta, "the last model must come from a rebuild"
    served = HybridRecommender.from_bytes(artifact.blob)
    live = sorted(truth.values(), key=lambda o: o.created_at)
    offline = HybridRecommender().fit(to_interactions(live), to_items(store.products.list(SHOP_A)))
    assert (
        served.n_interactions
        == offline.n_interactions
        == sum(len(o.lines) for o in live if not o.cancelled)
    )
    assert artifact.meta["n_orders"] == len(truth)
    assert_same_model(served, offline, carts=[[str(1000 + p)] for p in range(1, 61, 7)])
    only_cancelled = products_only_in_cancelled_orders(truth.values())
    assert len(only_cancelled) > 20
    for product in only_cancelled:
        assert not served.knows(product)


def products_only_in_cancelled_orders(orders: Iterable[Order]) -> set[str]:
    live = {line.product_id for o in orders if not o.cancelled for line in o.lines}
    return {line.product_id for o in orders if o.cancelled for line in o.lines} - live


def assert_same_model(
    served: HybridRecommender, offline: HybridRecommender, *, carts: list[list[str]]
) -> None:
    assert served.n_items == offline.n_items
    left, right = served.trending(k=100), offline.trending(k=100)
    assert [r.product_id for r in left] == [r.product_id for r in right]
    assert [r.score for r in left] == pytest.approx([r.score for r in right], rel=1e-6)
    for cart in carts:
        left, right = served.recommend(cart, k=10), offline.recommend(cart, k=10)
        assert [r.product_id for r in left] == [r.product_id for r in right], cart
        assert [r.score for r in left] == pytest.approx([r.score for r in right], rel=1e-6)


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        pytest.param("orders/create", b'{"id": 1, "line_items": [', "not valid JSON", id="broken"),
        pytest.param("orders/create", b"[1, 2, 3]", "must be a JSON object", id="array"),
        pytest.param("orders/create", b'"an order"', "must be a JSON object", id="string"),
        pytest.param("orders/create", b"\xef\xbb\xbf{}", "id: Field required", id="bom"),
        pytest.param("refunds/create", b'{"id": 1}', "unknown topic", id="unknown-topic"),
        pytest.param(
            "orders/create",
            json.dumps({"created_at": "2026-03-02T10:00:00-05:00", "line_items": []}).encode(),
            "id: Field required",
            id="missing-id",
        ),
        pytest.param(
            "products/update", b'{"id": true, "title": "x"}', "id: not a Shopify id", id="bool-id"
        ),
        pytest.param(
            "orders/updated",
            b'{"id": 1, "created_at": "yesterday"}',
            "created_at",
            id="bad-timestamp",
        ),
        pytest.param("customers/redact", b'{"shop_domain": "x"}', "customer", id="no-customer"),
        pytest.param("orders/create", b'{"id": NaN}', "not valid JSON", id="nan"),
    ],
)
def test_signed_unusable_deliveries_are_dead_lettered(
    topic: str, body: bytes, reason: str, client: FlaskClient, store: Store, worker: Worker
) -> None:
    headers, signed = delivery(topic, body)
    status, answer = post(client, headers, signed)
    assert status == 200, answer
    assert answer == {"status": "dead_letter"}
    letters = store.events.dead_letters(SHOP_A)
    assert len(letters) == 1
    assert reason in letters[0].reason
    assert letters[0].topic == topic
    assert letters[0].delivery_id == headers["X-Shopify-Webhook-Id"]
    assert letters[0].body == body
    assert "x-shopify-hmac-sha256" not in letters[0].headers
    assert store.events.count() == 0
    assert store.jobs.counts() == {}
    worker.drain()
    assert store.jobs.counts() == {}


def test_many_unusable_deliveries_never_get_a_5xx(client: FlaskClient, store: Store) -> None:
    rng = random.Random(7)
    fixture_body = json.dumps(fixture("orders_create")).encode()
    statuses: Counter[int] = Counter()
    for _ in range(100):
        cut = fixture_body[: rng.randrange(1, len(fixture_body) - 1)]
        topic = rng.choice(["orders/create", "orders/updated", "no/such", "carts/update"])
        headers, body = delivery(topic, cut)
        status, _ = post(client, headers, body)
        statuses[status] += 1
    assert statuses == {200: 100}
    assert len(store.events.dead_letters(limit=1000)) == 100
    assert store.jobs.counts() == {}


def padded_order(size: int) -> bytes:
    base = json.dumps({**fixture("orders_create"), "note": ""}).encode()
    pad = size - len(base)
    assert pad >= 0
    body = base.replace(b'"note": ""', b'"note": "' + b"x" * pad + b'"')
    assert len(body) == size
    return body


def test_body_over_one_mebibyte_is_refused_before_anything_is_stored(
    client: FlaskClient, store: Store
) -> None:
    headers, body = delivery("orders/create", padded_order(1024 * 1024 + 1))
    status, answer = post(client, headers, body)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"
    assert nothing_written(store)


def test_body_of_one_mebibyte_is_taken(client: FlaskClient, store: Store) -> None:
    headers, body = delivery("orders/create", padded_order(1024 * 1024))
    status, answer = post(client, headers, body)
    assert status == 200
    assert answer == {"status": "stored"}
    assert store.events.count() == 1


DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_signed_body_is_dead_lettered(
    body: bytes, client: FlaskClient, store: Store
) -> None:
    headers, signed = delivery("orders/create", body)
    status, answer = post(client, headers, signed)
    assert status == 200, answer
    assert answer == {"status": "dead_letter"}
    assert len(store.events.dead_letters()) == 1
    assert store.events.count() == 0
    assert store.jobs.counts() == {}


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_forged_body_gets_401(body: bytes, client: FlaskClient, store: Store) -> None:
    headers, signed = delivery("orders/create", body, secret=OTHER_SECRET)
    status, answer = post(client, headers, signed)
    assert status == 401, answer
    assert nothing_written(store)


def test_nesting_just_under_the_parser_limit_is_dead_lettered_by_depth(
    client: FlaskClient, store: Store
) -> None:
    body = b'{"id": 1, "x": ' + b"[" * 200 + b"]" * 200 + b"}"
    headers, signed = delivery("orders/create", body)
    status, answer = post(client, headers, signed)
    assert status == 200
    assert answer == {"status": "dead_letter"}
    assert "deeper" in store.events.dead_letters()[0].reason


def test_concurrent_duplicates_store_one_event_and_one_job(app: Flask, store: Store) -> None:
    headers, body = delivery("orders/create", valid_payload("orders/create"))
    statuses: list[int] = []
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        for _ in range(10):
            response = client.post(URL, data=body, headers=headers)
            with lock:
                statuses.append(response.status_code)
                outcomes.append((response.get_json(silent=True) or {}).get("status", ""))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 80
    assert Counter(outcomes) == {"stored": 1, "duplicate": 79}
    assert store.events.count() == 1
    assert store.jobs.counts() == {"queued": 1}


def test_order_of_a_shop_never_installed_is_taken_and_stored(
    client: FlaskClient, store: Store, worker: Worker, app_settings: Settings
) -> None:
    payload = order_payload(41, created=START, updated=START, lines=((1001, 1), (1002, 2)))
    headers, body = delivery("orders/create", payload, shop=SHOP_B)
    status, answer = post(client, headers, body)
    assert status == 200
    assert answer == {"status": "stored"}
    worker.drain()
    assert not store.installs.is_active(SHOP_B)
    assert store.orders.get(SHOP_B, "41") == stored_order(
        app_settings.effective_secret_key(),
        41,
        created=START,
        lines=((1001, 1), (1002, 2)),
        shop=SHOP_B,
    )
    assert store.events.count(SHOP_A) == 0


def test_fixture_order_is_stored_with_hashed_customer(
    client: FlaskClient, store: Store, worker: Worker, app_settings: Settings
) -> None:
    payload = fixture("orders_create")
    headers, body = delivery("orders/create", payload)
    assert post(client, headers, body)[0] == 200
    worker.drain()
    order = store.orders.get(SHOP_A, str(payload["id"]))
    assert order is not None
    assert order.created_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)
    assert [(ln.product_id, ln.variant_id, ln.price) for ln in order.lines] == [
        (str(ln["product_id"]), str(ln["variant_id"]), float(ln["price"]))
        for ln in payload["line_items"]
    ]
    raw_customer = str(payload["customer"]["id"])
    assert order.customer_id == customer_key(
        app_settings.effective_secret_key(), SHOP_A, raw_customer
    )
    assert raw_customer not in (order.customer_id or "")
    (event,) = store.events.for_shop(SHOP_A)
    assert event.status == "processed"
    assert event.body == b"", "a handled event's body (personal data) is dropped"


def recommend(client: FlaskClient, key: str, cart: list[str]) -> dict[str, Any]:
    response = client.post(
        "/v1/recommendations",
        json={"cart": [{"product_id": p} for p in cart], "k": 5},
        headers={"X-Cartwise-Key": key},
    )
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def test_a_new_order_changes_the_next_recommendation(
    client: FlaskClient, store: Store, worker: Worker, app_settings: Settings
) -> None:
    install(store, SHOP_A)
    for product in range(1001, 1009):
        headers, body = delivery("products/create", product_payload(product))
        assert post(client, headers, body)[0] == 200
    history = [((1001, 1), (1002, 1)), ((1001, 1), (1002, 1)), ((1003, 1), (1004, 1))]
    for n, lines in enumerate(history):
        at = START + timedelta(hours=n)
        headers, body = delivery(
            "orders/create", order_payload(100 + n, created=at, updated=at, lines=lines)
        )
        assert post(client, headers, body)[0] == 200
    worker.drain()
    first_version = store.models.latest_version(SHOP_A)
    assert first_version is not None
    _, key = create_api_key(store, app_settings.effective_secret_key(), SHOP_A)

    before = recommend(client, key, ["1007"])
    assert not [item for item in before["items"] if item["reason"].startswith("Often bought")]
    assert before["model_version"] == first_version

    at = START + timedelta(hours=5)
    headers, body = delivery(
        "orders/create",
        order_payload(200, created=at, updated=at, lines=((1007, 1), (1008, 1))),
    )
    assert post(client, headers, body)[0] == 200
    worker.drain()

    after = recommend(client, key, ["1007"])
    assert after["model_version"] is not None
    assert after["model_version"] > first_version
    assert after["source"] == "model"
    assert after["items"][0]["product_id"] == "1008"
    assert after["items"][0]["reason"] == "Often bought with Product 1007"
    assert after["items"][0]["variant_id"] == str(variant_of(1008))
    assert after["items"][0]["price"] == float(price_of(1008))
    assert "1007" not in [item["product_id"] for item in after["items"]]


def test_sold_out_product_leaves_the_recommendations(
    client: FlaskClient, store: Store, worker: Worker, app_settings: Settings
) -> None:
    install(store, SHOP_A)
    for product in (1001, 1002, 1003):
        headers, body = delivery("products/create", product_payload(product))
        assert post(client, headers, body)[0] == 200
    for n in range(3):
        at = START + timedelta(hours=n)
        lines = ((1001, 1), (1002, 1), (1003, 1)) if n else ((1001, 1), (1002, 1))
        headers, body = delivery(
            "orders/create", order_payload(300 + n, created=at, updated=at, lines=lines)
        )
        assert post(client, headers, body)[0] == 200
    worker.drain()
    _, key = create_api_key(store, app_settings.effective_secret_key(), SHOP_A)
    assert recommend(client, key, ["1001"])["items"][0]["product_id"] == "1002"

    level = {
        "inventory_item_id": 1002 * 10 + 7,
        "location_id": 655441491,
        "available": 0,
        "updated_at": shopify_time(START + timedelta(days=1)),
    }
    headers, body = delivery("inventory_levels/update", level)
    assert post(client, headers, body)[0] == 200
    worker.drain()
    stored = store.products.get_many(SHOP_A, ["1002"])["1002"]
    assert (stored.stock, stored.available) == (0, False)
    # The app holds catalog rows in process for a couple of seconds, and a job's stock change
    # does not clear them: the sold-out product must be gone once they expire.
    deadline = time.monotonic() + CATALOG_STALENESS_SECONDS
    while True:
        shown = [item["product_id"] for item in recommend(client, key, ["1001"])["items"]]
        if "1002" not in shown or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "1002" not in shown
    assert shown[0] == "1003"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        pytest.param("shop/redact", {"shop_id": 1, "shop_domain": SHOP_A}, id="shop-redact"),
        pytest.param(
            "customers/redact",
            {"shop_id": 1, "shop_domain": SHOP_A, "customer": {"id": 5}, "orders_to_redact": []},
            id="customers-redact",
        ),
        pytest.param(
            "app/uninstalled",
            {"id": 1, "myshopify_domain": SHOP_A, "domain": "shop-a.example"},
            id="uninstalled",
        ),
    ],
)
def test_signed_body_of_one_shop_replayed_for_another_is_not_applied(
    topic: str, payload: dict[str, Any], client: FlaskClient, store: Store, worker: Worker
) -> None:
    """Shopify signs the body only: the shop header of a captured delivery can be swapped."""
    install(store, SHOP_B)
    headers, body = delivery(topic, payload, shop=SHOP_B)
    status, answer = post(client, headers, body)
    assert status == 200
    assert answer == {"status": "dead_letter"}
    (letter,) = store.events.dead_letters()
    assert letter.shop == SHOP_B
    assert "another shop" in letter.reason
    assert store.jobs.counts() == {}
    worker.drain()
    assert store.installs.is_active(SHOP_B)
