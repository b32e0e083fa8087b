"""The mandatory privacy webhooks end to end: signed deliveries to `POST /webhooks/shopify`,
the job queue drained, then every table of the SQLite file read back byte by byte (model blobs
unzipped) to see what is left.

Three shops of twenty customers each, with orders stored directly and through orders/create,
carts through checkouts/create and carts/create, a trained model per shop and a dead letter."""

from __future__ import annotations

import io
import logging
import sqlite3
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cartwise import storage
from cartwise.api import create_app
from cartwise.api.auth import reset_bad_key_counts
from cartwise.domain import Order, OrderLine, Product, ShopRules
from cartwise.installs import create_api_key
from cartwise.pseudonyms import customer_key
from cartwise.settings import Settings
from cartwise.storage import Store, SyncState
from cartwise.training import train_shop

from .shopify import SHOP_A, SHOP_B, delivery, install, shopify_settings

SHOP_3 = "shop-p3.myshopify.com"
SHOPS = (SHOP_A, SHOP_B, SHOP_3)
CUSTOMERS_PER_SHOP = 20
WEBHOOK_CUSTOMERS = 5
"""Customers 0-4 of each shop also order and check out through webhooks."""
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=40)


@dataclass(frozen=True)
class Shopper:
    shop: str
    n: int
    platform_id: str
    email: str
    phone: str
    name: str
    key: str
    order_ids: tuple[str, ...]
    cart_token: str | None

    @property
    def personal(self) -> dict[str, str]:
        """Everything that identifies the shopper, as it could be stored."""
        return {
            "platform id": self.platform_id,
            "keyed hash": self.key,
            "email": self.email,
            "phone": self.phone,
            "name": self.name,
        }


def product_ids(s: int) -> list[str]:
    return [f"4{s}00000{n:02d}" for n in range(8)]


def catalog(s: int) -> list[Product]:
    return [
        Product(pid, f"SHOP{s} ITEM {n}", category=f"cat{n % 3}", price=2.0 + n)
        for n, pid in enumerate(product_ids(s))
    ]


def shoppers(secret: bytes) -> dict[str, list[Shopper]]:
    found: dict[str, list[Shopper]] = {}
    for s, shop in enumerate(SHOPS, start=1):
        people = []
        for n in range(CUSTOMERS_PER_SHOP):
            platform_id = f"7{s}{n:011d}"
            direct = (f"5{s}{n:03d}0100000", f"5{s}{n:03d}0200000")
            hooked = (f"5{s}{n:03d}0300000",) if n < WEBHOOK_CUSTOMERS else ()
            people.append(
                Shopper(
                    shop=shop,
                    n=n,
                    platform_id=platform_id,
                    email=f"Buyer.{s}.{n}@Example.test",
                    phone=f"+4420{s}{n:07d}",
                    name=f"Fernsby{s}x{n}",
                    key=customer_key(secret, shop, platform_id),
                    order_ids=direct + hooked,
                    cart_token=f"cart{s}x{n:03d}tok" if n < WEBHOOK_CUSTOMERS else None,
                )
            )
        found[shop] = people
    return found


def basket(s: int, n: int, j: int) -> list[str]:
    ids = product_ids(s)
    return [ids[(n + j) % 8], ids[(2 * n + 3 * j + 1) % 8]]


# --- payloads as Shopify sends them ---------------------------------------------------------------


def customer_json(who: Shopper) -> dict[str, Any]:
    return {
        "id": int(who.platform_id),
        "admin_graphql_api_id": f"gid://shopify/Customer/{who.platform_id}",
        "email": who.email,
        "phone": who.phone,
        "first_name": who.name,
        "last_name": "Tester",
        "default_address": {"country_code": "GB", "phone": who.phone, "name": who.name},
    }


def line_items(products: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "id": 90_000 + i,
            "product_id": int(pid),
            "variant_id": int(pid) * 10 + 1,
            "quantity": 1,
            "price": "4.50",
            "title": f"Item {pid}",
        }
        for i, pid in enumerate(products)
    ]


def order_json(order_id: str, who: Shopper, products: list[str], at: datetime) -> dict[str, Any]:
    return {
        "id": int(order_id),
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{order_id[-4:]}",
        "created_at": at.isoformat(),
        "updated_at": at.isoformat(),
        "cancelled_at": None,
        "test": False,
        "currency": "GBP",
        "total_price": "9.00",
        "email": who.email,
        "phone": who.phone,
        "customer": customer_json(who),
        "billing_address": {"name": who.name, "phone": who.phone, "country_code": "GB"},
        "line_items": line_items(products),
    }


def checkout_json(who: Shopper, products: list[str], at: datetime) -> dict[str, Any]:
    return {
        "id": int(who.platform_id) + 1,
        "token": f"chk{who.cart_token}",
        "cart_token": who.cart_token,
        "email": who.email,
        "phone": who.phone,
        "customer": customer_json(who),
        "created_at": at.isoformat(),
        "updated_at": at.isoformat(),
        "completed_at": None,
        "line_items": line_items(products),
    }


def cart_json(token: str, products: list[str], at: datetime) -> dict[str, Any]:
    return {
        "id": token,
        "token": token,
        "updated_at": at.isoformat(),
        "line_items": line_items(products),
    }


# --- the world ------------------------------------------------------------------------------------


@dataclass
class World:
    app: Flask
    client: FlaskClient
    store: Store
    settings: Settings
    db_path: Path
    people: dict[str, list[Shopper]]
    admin_keys: dict[str, str]

    def post(self, topic: str, payload: dict[str, Any], shop: str, **kw: Any) -> TestResponse:
        headers, body = delivery(topic, payload, shop=shop, **kw)
        return self.client.post("/webhooks/shopify", data=body, headers=headers)

    def deliver(self, topic: str, payload: dict[str, Any], shop: str, **kw: Any) -> str:
        response = self.post(topic, payload, shop, **kw)
        assert response.status_code == 200, response.get_json()
        status: str = response.get_json()["status"]
        return status

    def drain(self) -> None:
        self.app.extensions["cartwise_worker"].drain()

    def shop_id(self, shop: str) -> int:
        conn = sqlite3.connect(self.db_path)
        try:
            row = conn.execute("SELECT id FROM shops WHERE domain = ?", (shop,)).fetchone()
        finally:
            conn.close()
        assert row is not None
        return int(row[0])


@pytest.fixture(autouse=True)
def _forget_bad_keys() -> Iterator[None]:
    reset_bad_key_counts()
    yield
    reset_bad_key_counts()


def build_world(db_path: Path) -> World:
    settings = shopify_settings()
    store = storage.open(f"sqlite:///{db_path}")
    secret = settings.effective_secret_key()
    people = shoppers(secret)
    admin_keys = {}
    for s, shop in enumerate(SHOPS, start=1):
        install(store, shop)
        store.products.upsert_many(shop, catalog(s))
        orders = [
            Order(
                order_id=who.order_ids[j],
                created_at=START + timedelta(hours=24 * j + who.n),
                lines=tuple(OrderLine(pid, 1, 4.5) for pid in basket(s, who.n, j)),
                customer_id=who.key,
            )
            for who in people[shop]
            for j in range(2)
        ]
        store.orders.upsert_many(shop, orders)
        train_shop(store, shop)
        admin_keys[shop] = create_api_key(store, secret, shop, scope="admin")[1]
    app = create_app(settings, store=store, start_worker=False)
    built = World(app, app.test_client(), store, settings, db_path, people, admin_keys)
    for s, shop in enumerate(SHOPS, start=1):
        for who in people[shop][:WEBHOOK_CUSTOMERS]:
            at = START + timedelta(days=10, hours=who.n)
            order = order_json(who.order_ids[2], who, basket(s, who.n, 2), at)
            assert built.deliver("orders/create", order, shop) == "stored"
            checkout = checkout_json(who, basket(s, who.n, 3), at + timedelta(minutes=5))
            assert built.deliver("checkouts/create", checkout, shop) == "stored"
        for c in range(3):
            token = f"anon{s}x{c}"
            anonymous = cart_json(token, basket(s, c, 4), START + timedelta(days=12, hours=c))
            assert built.deliver("carts/create", anonymous, shop) == "stored"
        # A delivery no job can read keeps its body as a dead letter until it is redacted.
        who = people[shop][0]
        broken = {**order_json("5" + who.platform_id[1:], who, [], START), "line_items": 7}
        assert built.deliver("orders/create", broken, shop) == "dead_letter"
    built.drain()
    return built


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db")
    yield built
    built.store.close()


@pytest.fixture(scope="module")
def unchanged_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for the tests that must leave it exactly as it was."""
    built = build_world(tmp_path_factory.mktemp("privacy") / "cartwise.db")
    yield built
    built.store.close()


# --- reading the database back --------------------------------------------------------------------

Rows = dict[str, list[tuple[Any, ...]]]


def dump(db_path: Path) -> Rows:
    """Every row of every table, in a stable order."""
    conn = sqlite3.connect(db_path)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in tables
        }
    finally:
        conn.close()


def columns(db_path: Path, table: str) -> list[str]:
    conn = sqlite3.connect(db_path)
    try:
        return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
    finally:
        conn.close()


def readable(value: Any) -> list[bytes]:
    """The bytes of a cell, plus the unzipped members of a zip (the npz model blobs)."""
    if value is None:
        return []
    raw = value if isinstance(value, bytes) else str(value).encode()
    found = [raw]
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            found += [archive.read(name) for name in archive.namelist()]
    return found


def spellings(text: str) -> list[bytes]:
    """How a string can sit in a cell: UTF-8 (text, JSON) or numpy's UTF-32 (model arrays),
    in the case given and lower-cased (emails are compared case-insensitively)."""
    variants = dict.fromkeys([text, text.lower()])
    return [v.encode(enc) for v in variants for enc in ("utf-8", "utf-32-le", "utf-16-le")]


def occurrences(rows: Rows, needles: dict[str, str]) -> list[tuple[str, str]]:
    """(table, what) for every needle found anywhere in the dump."""
    hits = []
    for table, table_rows in rows.items():
        cells = [raw for row in table_rows for value in row for raw in readable(value)]
        for what, needle in needles.items():
            forms = spellings(needle)
            if any(form in cell for cell in cells for form in forms):
                hits.append((table, what))
    return hits


def without(rows: Rows, db_path: Path, about: Callable[[str, dict[str, Any]], bool]) -> Rows:
    """The dump without the rows `about(table, row)` selects."""
    kept: Rows = {}
    for table, table_rows in rows.items():
        names = columns(db_path, table)
        kept[table] = [r for r in table_rows if not about(table, dict(zip(names, r, strict=True)))]
    return kept


# --- customers/redact -----------------------------------------------------------------------------


def redact_payload(who: Shopper, orders: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {
        "shop_id": 954889,
        "shop_domain": who.shop,
        "customer": {"id": int(who.platform_id), "email": who.email, "phone": who.phone},
        "orders_to_redact": [int(o) for o in (who.order_ids if orders is None else orders)],
    }


def order_pks(world: World, shop: str, order_ids: tuple[str, ...]) -> set[int]:
    conn = sqlite3.connect(world.db_path)
    try:
        marks = ",".join("?" * len(order_ids))
        rows = conn.execute(
            f"SELECT id FROM orders WHERE shop_id = ? AND order_id IN ({marks})",
            (world.shop_id(shop), *order_ids),
        ).fetchall()
    finally:
        conn.close()
    return {row[0] for row in rows}


def about_customer(world: World, who: Shopper) -> Callable[[str, dict[str, Any]], bool]:
    """Rows that are the customer's: their orders and lines, their carts; model versions and
    processing bookkeeping (events, jobs, versions, tombstones) of their shop, which a
    redaction legitimately rewrites."""
    shop_id = world.shop_id(who.shop)
    pks = order_pks(world, who.shop, who.order_ids)

    def about(table: str, row: dict[str, Any]) -> bool:
        if table == "orders":
            return bool(row["customer_id"] == who.key or row["id"] in pks)
        if table == "order_lines":
            return bool(row["order_pk"] in pks)
        if table == "carts":
            return bool(row["customer_id"] == who.key)
        if table == "model_artifacts":
            return bool(row["shop_id"] == shop_id)
        if table in ("raw_events", "jobs", "resource_versions", "redactions", "dead_letters"):
            return bool(row["shop_domain"] == who.shop)
        return False

    return about


TOMBSTONE = "redactions"


def personal_hits(rows: Rows, who: Shopper, *, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [hit for hit in occurrences(rows, who.personal) if hit[0] not in skip]


def test_seeded_data_is_findable(world: World) -> None:
    """The scan finds a customer before any redaction: in orders, carts, the model blob and
    the dead letter, so an empty result after a redaction means something."""
    x = world.people[SHOP_A][0]
    hits = set(occurrences(dump(world.db_path), x.personal))
    assert {
        ("orders", "keyed hash"),
        ("carts", "keyed hash"),
        ("model_artifacts", "keyed hash"),
        ("dead_letters", "email"),
        ("dead_letters", "platform id"),
    } <= hits
    assert ("raw_events", "email") not in hits  # handled deliveries keep no body
    assert len(world.store.orders.for_customer(SHOP_A, x.key)) == 3
    assert world.store.carts.for_customer(SHOP_A, x.key)


def test_customers_redact_erases_the_customer_and_nothing_else(world: World) -> None:
    x = world.people[SHOP_A][0]
    before = dump(world.db_path)
    about = about_customer(world, x)

    assert world.deliver("customers/redact", redact_payload(x), SHOP_A) == "stored"
    world.drain()

    after = dump(world.db_path)
    assert personal_hits(after, x, skip=(TOMBSTONE,)) == []
    assert world.store.orders.for_customer(SHOP_A, x.key) == []
    assert all(world.store.orders.get(SHOP_A, o) is None for o in x.order_ids)
    assert world.store.carts.for_customer(SHOP_A, x.key) == []
    # Every other row, of this shop and the others, is byte for byte what it was.
    assert without(after, world.db_path, about) == without(before, world.db_path, about)
    for who in world.people[SHOP_A][1:]:
        assert len(world.store.orders.for_customer(SHOP_A, who.key)) == len(who.order_ids)
    # The model was rebuilt without the customer, and still serves the others.
    assert world.store.models.latest_version(SHOP_A) is not None
    y = world.people[SHOP_A][1]
    answer = world.client.post(
        "/v1/recommendations",
        json={"cart": [], "customer_id": y.platform_id, "k": 3},
        headers={"X-Cartwise-Key": world.admin_keys[SHOP_A]},
    )
    assert answer.status_code == 200
    assert answer.get_json()["source"] == "model"


def test_no_keyed_hash_is_left_even_in_tombstones(world: World) -> None:
    x = world.people[SHOP_A][0]
    world.deliver("customers/redact", redact_payload(x), SHOP_A)
    world.drain()
    assert personal_hits(dump(world.db_path), x) == []


def test_a_second_redaction_is_a_no_op(world: World) -> None:
    x = world.people[SHOP_A][0]
    first = redact_payload(x)
    headers, body = delivery("customers/redact", first, shop=SHOP_A)
    assert world.client.post("/webhooks/shopify", data=body, headers=headers).get_json() == {
        "status": "stored"
    }
    world.drain()
    once = dump(world.db_path)
    # The same delivery again is recognised; a new request for the same customer is handled.
    replay = world.client.post("/webhooks/shopify", data=body, headers=headers)
    assert replay.status_code == 200
    assert replay.get_json() == {"status": "duplicate"}
    assert world.deliver("customers/redact", first, SHOP_A) == "stored"
    world.drain()
    twice = dump(world.db_path)
    data_tables = (
        "orders",
        "order_lines",
        "carts",
        "products",
        "segment_popularity",
        "shop_rules",
        "api_keys",
        "installs",
        "shops",
        "privacy_exports",
    )
    for table in data_tables:
        assert twice[table] == once[table], table
    assert personal_hits(twice, x, skip=(TOMBSTONE,)) == []
    failed = [
        r for r in twice["jobs"] if r[columns(world.db_path, "jobs").index("status")] == "failed"
    ]
    assert failed == []


def test_a_late_order_of_a_redacted_customer_is_dropped(world: World) -> None:
    x = world.people[SHOP_A][0]
    world.deliver("customers/redact", redact_payload(x), SHOP_A)
    world.drain()
    # Shopify retries carry the payload of when the event fired: placed before the redaction.
    late = order_json("5100000990000", x, basket(1, 0, 5), NOW - timedelta(hours=2))
    retry = order_json(x.order_ids[2], x, basket(1, 0, 2), START + timedelta(days=10))
    assert world.deliver("orders/create", late, SHOP_A) == "stored"
    assert world.deliver("orders/updated", retry, SHOP_A) == "stored"
    world.drain()
    assert world.store.orders.get(SHOP_A, "5100000990000") is None
    assert world.store.orders.get(SHOP_A, x.order_ids[2]) is None
    assert personal_hits(dump(world.db_path), x, skip=(TOMBSTONE,)) == []


def test_a_new_order_of_an_unredacted_customer_is_still_stored(world: World) -> None:
    """The tombstone is the redacted customer's only."""
    x, y = world.people[SHOP_A][0], world.people[SHOP_A][1]
    world.deliver("customers/redact", redact_payload(x), SHOP_A)
    world.drain()
    order = order_json("5100001990000", y, basket(1, 1, 5), NOW - timedelta(hours=2))
    world.deliver("orders/create", order, SHOP_A)
    world.drain()
    stored = world.store.orders.get(SHOP_A, "5100001990000")
    assert stored is not None and stored.customer_id == y.key


def test_a_late_checkout_of_a_redacted_customer_is_dropped(world: World) -> None:
    x = world.people[SHOP_A][0]
    world.deliver("customers/redact", redact_payload(x), SHOP_A)
    world.drain()
    late = checkout_json(x, basket(1, 0, 6), NOW - timedelta(hours=1))
    world.deliver("checkouts/update", late, SHOP_A)
    world.drain()
    assert world.store.carts.for_customer(SHOP_A, x.key) == []
    assert personal_hits(dump(world.db_path), x, skip=(TOMBSTONE,)) == []


def test_an_order_in_the_same_batch_as_the_redaction_does_not_survive(world: World) -> None:
    x = world.people[SHOP_A][0]
    order = order_json("5100000880000", x, basket(1, 0, 5), NOW - timedelta(hours=3))
    assert world.deliver("orders/create", order, SHOP_A) == "stored"
    assert world.deliver("customers/redact", redact_payload(x), SHOP_A) == "stored"
    world.drain()
    assert world.store.orders.get(SHOP_A, "5100000880000") is None
    assert personal_hits(dump(world.db_path), x, skip=(TOMBSTONE,)) == []


def test_a_redaction_also_removes_earlier_exports(world: World) -> None:
    x = world.people[SHOP_A][0]
    world.deliver("customers/data_request", data_request_payload(x, "7001"), SHOP_A)
    world.drain()
    assert world.store.exports.list(SHOP_A)
    world.deliver("customers/redact", redact_payload(x), SHOP_A)
    world.drain()
    assert personal_hits(dump(world.db_path), x, skip=(TOMBSTONE,)) == []


def test_a_redaction_with_only_an_email_blanks_what_names_it(world: World) -> None:
    """A request may carry only the email: stored bodies that name it are blanked, and
    nothing else is touched."""
    x = world.people[SHOP_A][0]
    before = dump(world.db_path)
    payload = {
        "shop_id": 954889,
        "shop_domain": SHOP_A,
        "customer": {"email": x.email.upper()},
        "orders_to_redact": [],
    }
    assert world.deliver("customers/redact", payload, SHOP_A) == "stored"
    world.drain()
    after = dump(world.db_path)
    assert [h for h in occurrences(after, {"email": x.email})] == []
    assert after["orders"] == before["orders"]


# --- customers/data_request -----------------------------------------------------------------------


def data_request_payload(who: Shopper, request_id: str) -> dict[str, Any]:
    return {
        "shop_id": 954889,
        "shop_domain": who.shop,
        "orders_requested": [int(o) for o in who.order_ids],
        "customer": {"id": int(who.platform_id), "email": who.email, "phone": who.phone},
        "data_request": {"id": int(request_id)},
    }


def exports(world: World, shop: str) -> list[dict[str, Any]]:
    response = world.client.get(
        "/v1/admin/data-exports", headers={"X-Cartwise-Key": world.admin_keys[shop]}
    )
    assert response.status_code == 200, response.get_json()
    found: list[dict[str, Any]] = response.get_json()["exports"]
    return found


def test_a_data_request_exports_all_of_the_customer_and_nobody_else(world: World) -> None:
    y = world.people[SHOP_A][2]
    assert (
        world.deliver("customers/data_request", data_request_payload(y, "9001"), SHOP_A) == "stored"
    )
    world.drain()

    [export] = [e for e in exports(world, SHOP_A) if e["request_id"] == "9001"]
    document = export["document"]
    assert document["shop"] == SHOP_A
    assert document["customer_id"] == y.platform_id
    assert {o["order_id"] for o in document["orders"]} == set(y.order_ids)
    assert [c["cart_id"] for c in document["carts"]] == [y.cart_token]
    for o in document["orders"]:
        stored = world.store.orders.get(SHOP_A, o["order_id"])
        assert stored is not None and stored.customer_id == y.key
        assert [ln["product_id"] for ln in o["lines"]] == [ln.product_id for ln in stored.lines]
    text = str(export)
    others = [who for shop in SHOPS for who in world.people[shop] if who != y]
    for who in others:
        for order_id in who.order_ids:
            assert order_id not in text
        for what, value in who.personal.items():
            assert value not in text, (who.shop, who.n, what)
    # Only the shop's own admin sees it.
    assert all(e["request_id"] != "9001" for e in exports(world, SHOP_B))


def test_a_data_request_is_answered_once(world: World) -> None:
    y = world.people[SHOP_A][3]
    payload = data_request_payload(y, "9002")
    world.deliver("customers/data_request", payload, SHOP_A)
    world.deliver("customers/data_request", payload, SHOP_A)  # a second delivery, new ids
    world.drain()
    assert [e["request_id"] for e in exports(world, SHOP_A)].count("9002") == 1


def test_a_data_request_for_an_unknown_customer_exports_nothing(world: World) -> None:
    stranger = {
        "shop_id": 954889,
        "shop_domain": SHOP_A,
        "orders_requested": [],
        "customer": {"id": 7999999999999, "email": "nobody@example.test"},
        "data_request": {"id": 9003},
    }
    world.deliver("customers/data_request", stranger, SHOP_A)
    world.drain()
    [export] = [e for e in exports(world, SHOP_A) if e["request_id"] == "9003"]
    assert export["document"]["orders"] == []
    assert export["document"]["carts"] == []


# --- shop/redact ----------------------------------------------------------------------------------


def test_shop_redact_erases_the_shop_and_leaves_the_others(world: World) -> None:
    # Give A a row in every kind of table: an export, tombstones, rules.
    y = world.people[SHOP_A][1]
    world.deliver("customers/data_request", data_request_payload(y, "9100"), SHOP_A)
    world.deliver("customers/redact", redact_payload(world.people[SHOP_A][0]), SHOP_A)
    world.store.rules.set(SHOP_A, ShopRules(pinned=(product_ids(1)[0],), max_per_vendor=2))
    world.store.sync.save(SyncState(SHOP_A, "orders", "done", objects_done=3))
    world.drain()
    shop_id = world.shop_id(SHOP_A)
    conn = sqlite3.connect(world.db_path)
    try:
        query = "SELECT id FROM orders WHERE shop_id = ?"
        a_order_pks = {row[0] for row in conn.execute(query, (shop_id,))}
    finally:
        conn.close()

    def about_a(table: str, row: dict[str, Any]) -> bool:
        return (
            row.get("shop_id") == shop_id
            or row.get("shop_domain") == SHOP_A
            or row.get("domain") == SHOP_A
            or (table == "order_lines" and row["order_pk"] in a_order_pks)
        )

    before = dump(world.db_path)
    kept = without(before, world.db_path, about_a)
    about_a_before = {t for t, rows in before.items() if len(rows) != len(kept[t])}
    assert {
        "shops", "installs", "api_keys", "products", "orders", "order_lines", "carts",
        "model_artifacts", "shop_rules", "segment_popularity", "raw_events", "jobs",
        "dead_letters", "resource_versions", "redactions", "privacy_exports", "sync_state",
    } <= about_a_before  # fmt: skip

    uninstall = {"id": 954889, "myshopify_domain": SHOP_A, "domain": "shop-a.example"}
    assert world.deliver("app/uninstalled", uninstall, SHOP_A) == "stored"
    world.drain()
    shop_redact = {"shop_id": 954889, "shop_domain": SHOP_A}
    assert world.deliver("shop/redact", shop_redact, SHOP_A) == "stored"
    world.drain()

    after = dump(world.db_path)
    # No row about A in any table, and none of its ids, products or customers anywhere ...
    assert without(after, world.db_path, about_a) == after
    needles = {"domain": SHOP_A, **{f"product {p}": p for p in product_ids(1)}}
    for who in world.people[SHOP_A]:
        needles.update({f"{who.n} {k}": v for k, v in who.personal.items()})
        needles.update({f"{who.n} order {o}": o for o in who.order_ids})
    assert occurrences(after, needles) == []
    # ... its keys went with it ...
    refused = world.client.get(
        "/v1/admin/rules", headers={"X-Cartwise-Key": world.admin_keys[SHOP_A]}
    )
    assert refused.status_code == 401
    # ... and B and the third shop are exactly as they were.
    assert after == kept
    for shop in (SHOP_B, SHOP_3):
        answer = world.client.post(
            "/v1/recommendations",
            json={"cart": []},
            headers={"X-Cartwise-Key": world.admin_keys[shop]},
        )
        assert answer.status_code == 200
        assert answer.get_json()["items"]


def test_shop_redact_is_safe_to_repeat(world: World) -> None:
    payload = {"shop_id": 954889, "shop_domain": SHOP_A}
    world.deliver("shop/redact", payload, SHOP_A)
    world.drain()
    once = dump(world.db_path)
    world.deliver("shop/redact", payload, SHOP_A)
    world.drain()
    assert dump(world.db_path) == once
    assert world.store.shops.get(SHOP_A) is None


def test_shop_redact_runs_without_a_failing_job(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cartwise.jobs")
    world.deliver("shop/redact", {"shop_id": 954889, "shop_domain": SHOP_A}, SHOP_A)
    world.drain()
    assert world.store.shops.get(SHOP_A) is None
    assert [r.getMessage() for r in caplog.records if r.name == "cartwise.jobs"] == []


# --- signatures -----------------------------------------------------------------------------------

COMPLIANCE = {
    "customers/redact": {
        "shop_id": 1,
        "shop_domain": SHOP_A,
        "customer": {"id": 7100000000000},
        "orders_to_redact": [],
    },
    "customers/data_request": {
        "shop_id": 1,
        "shop_domain": SHOP_A,
        "customer": {"id": 7100000000000},
        "orders_requested": [],
        "data_request": {"id": 1},
    },
    "shop/redact": {"shop_id": 1, "shop_domain": SHOP_A},
}


def _forged(topic: str, how: str) -> tuple[dict[str, str], bytes]:
    headers, body = delivery(topic, COMPLIANCE[topic], shop=SHOP_A)
    if how == "wrong secret":
        headers, body = delivery(
            topic, COMPLIANCE[topic], shop=SHOP_A, secret="shpss_not_our_secret_0123456789abcdef"
        )
    elif how == "no signature":
        del headers["X-Shopify-Hmac-Sha256"]
    elif how == "empty signature":
        headers["X-Shopify-Hmac-Sha256"] = ""
    elif how == "body changed":
        body = body.replace(SHOP_A.encode(), SHOP_B.encode())
    elif how == "hex digest":
        import base64

        headers["X-Shopify-Hmac-Sha256"] = base64.b64decode(headers["X-Shopify-Hmac-Sha256"]).hex()
    elif how == "another delivery's signature":
        other_headers, _ = delivery(topic, {**COMPLIANCE[topic], "shop_id": 2}, shop=SHOP_A)
        headers["X-Shopify-Hmac-Sha256"] = other_headers["X-Shopify-Hmac-Sha256"]
    return headers, body


@pytest.mark.parametrize("topic", sorted(COMPLIANCE))
@pytest.mark.parametrize(
    "how",
    [
        "wrong secret",
        "no signature",
        "empty signature",
        "body changed",
        "hex digest",
        "another delivery's signature",
    ],
)
def test_a_bad_signature_on_a_compliance_topic_is_refused(
    unchanged_world: World, topic: str, how: str
) -> None:
    world = unchanged_world
    before = dump(world.db_path)
    headers, body = _forged(topic, how)
    response = world.client.post("/webhooks/shopify", data=body, headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "invalid_signature"
    world.drain()
    assert dump(world.db_path) == before
    assert world.store.shops.get(SHOP_A) is not None


def test_a_signed_compliance_delivery_is_acknowledged_at_once(world: World) -> None:
    for topic in sorted(COMPLIANCE):
        payload = {**COMPLIANCE[topic], "shop_domain": SHOP_3}
        headers, body = delivery(topic, payload, shop=SHOP_3, webhook_id=str(uuid.uuid4()))
        response = world.client.post("/webhooks/shopify", data=body, headers=headers)
        assert response.status_code == 200
        assert response.get_json() == {"status": "stored"}
    world.drain()
    assert world.store.shops.get(SHOP_3) is None  # shop/redact came last
    assert world.store.shops.get(SHOP_A) is not None
