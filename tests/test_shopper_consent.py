"""`cartwise.consent` and ingestion's side of consent, on a real SQLite store: the in-process
memory (its TTL, no database read within it, changes through this process at once, a database
outage), recording choices, what a withdrawal does, and what ingestion and the backfill store
for a customer without consent, in both regimes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import respx
from fake_shopify_admin import SHOP as BACKFILL_SHOP
from fake_shopify_admin import T0, FakeAdmin, catalog
from sqlalchemy import event

from cartwise import storage
from cartwise.backfill import backfill_shopify
from cartwise.connector.shopify.admin import ShopifyAdmin
from cartwise.consent import ConsentMemory, consent_state, set_personalisation, used_history
from cartwise.domain import Cart, CartLine, Order, OrderLine, Product, ShopRef
from cartwise.ingestion import REBUILD, EventProcessor, ShopBatch
from cartwise.recommender import HybridRecommender, Interaction, Item
from cartwise.storage import Store
from cartwise.storage.experiments import ExposureRecord

SHOP = "consent-shop.myshopify.com"
SECRET = b"consent-test-secret-0123456789abcdef"
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(store: Store) -> Store:
    store.shops.ensure(ShopRef(SHOP))
    return store


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reads(db: Store) -> Iterator[list[str]]:
    """The SQL statements `db` runs from now on."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = db._engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


# --- the memory -----------------------------------------------------------------------------


def test_the_memory_reads_a_choice_once_per_ttl(db: Store, reads: list[str]) -> None:
    clock = Clock()
    memory = ConsentMemory(db, ttl=5.0, clock=clock)

    assert memory.allows(SHOP, "k1") is True
    first = len(reads)
    assert first >= 1
    db.consent.record(SHOP, "k1", False, "platform")  # made by another process
    after_write = len(reads)
    for _ in range(50):
        assert memory.allows(SHOP, "k1") is True
    assert len(reads) == after_write  # no database round trip within the TTL

    clock.now = 5.5
    assert memory.allows(SHOP, "k1") is False
    assert len(reads) > after_write


def test_a_choice_made_through_this_process_shows_at_once(db: Store) -> None:
    clock = Clock()
    memory = ConsentMemory(db, clock=clock)
    assert memory.allows(SHOP, "k1") is True

    set_personalisation(db, SHOP, "k1", False, source="shopper", memory=memory)

    assert memory.allows(SHOP, "k1") is False
    assert memory.allows(SHOP, "k2") is True
    assert memory.allows("elsewhere.example", "k1") is True


def test_where_consent_is_required_only_a_grant_personalises(db: Store) -> None:
    memory = ConsentMemory(db, consent_required=True)
    db.consent.record(SHOP, "yes", True, "shopper")
    db.consent.record(SHOP, "no", False, "shopper")
    assert [memory.allows(SHOP, k) for k in ("yes", "no", "never")] == [True, False, False]


def test_without_the_database_nobody_is_personalised(sqlite_url: str, tmp_path: Path) -> None:
    opened = storage.open(sqlite_url)
    opened.shops.ensure(ShopRef(SHOP))
    memory = ConsentMemory(opened)
    opened.close()
    shutil.rmtree(tmp_path)  # SQLite cannot open the file again

    assert memory.allows(SHOP, "k1") is False


# --- recording choices ----------------------------------------------------------------------


def order(order_id: str, customer: str | None, *products: str, hours: float = 0) -> Order:
    lines = tuple(OrderLine(p, 1, 3.0) for p in products)
    return Order(order_id, START + timedelta(hours=hours), lines, customer_id=customer)


def exposure(session: str, customer: str | None) -> ExposureRecord:
    return ExposureRecord("exp", session, "cart", "a", False, START, START, customer)


def queued_rebuilds(db: Store) -> int:
    return sum(1 for job in db.jobs.claim(limit=100) if job.kind == REBUILD)


def test_a_withdrawal_detaches_orders_carts_and_exposures_and_queues_a_rebuild(
    db: Store,
) -> None:
    db.orders.upsert_many(SHOP, [order("o1", "k1", "p1", "p2"), order("o2", "k2", "p1")])
    db.carts.upsert(SHOP, Cart("c1", START, (CartLine("p3"),), customer_id="k1"))
    db.experiments.record_exposures(SHOP, [exposure("s1", "k1"), exposure("s2", "k2")])

    state = set_personalisation(db, SHOP, "k1", False, source="shopper")

    assert (state.personalised, state.detached_orders) == (False, 1)
    assert state.latest is not None and state.latest.source == "shopper"
    assert db.orders.for_customer(SHOP, "k1") == []
    assert db.orders.get(SHOP, "o1") == order("o1", None, "p1", "p2")
    assert db.carts.for_customer(SHOP, "k1") == []
    assert [e.session_id for e in db.experiments.exposures(SHOP, "exp")] == ["s2"]
    assert queued_rebuilds(db) == 1


def test_the_same_choice_again_records_nothing(db: Store) -> None:
    first = set_personalisation(db, SHOP, "k1", False, source="shopper")
    again = set_personalisation(db, SHOP, "k1", False, source="admin")
    assert again.latest == first.latest
    assert len(db.consent.history(SHOP, "k1")) == 1
    assert queued_rebuilds(db) == 0  # there was no history to rebuild without


def test_a_grant_is_recorded_and_detaches_nothing(db: Store) -> None:
    db.orders.upsert_many(SHOP, [order("o1", "k1", "p1")])
    state = set_personalisation(db, SHOP, "k1", True, source="shopper")
    assert (state.personalised, state.detached_orders) == (True, 0)
    assert [o.order_id for o in db.orders.for_customer(SHOP, "k1")] == ["o1"]
    assert consent_state(db, SHOP, "k1", consent_required=True).personalised is True
    assert consent_state(db, SHOP, "k9", consent_required=True).personalised is False
    assert consent_state(db, SHOP, "k9", consent_required=False).personalised is True


def test_used_history_is_titled_from_the_catalog(db: Store) -> None:
    db.products.upsert_many(SHOP, [Product("p1", "Teapot"), Product("p2", "Cosy")])
    lines = [
        Interaction("o1", "k1", "p1", 1, None, START),
        Interaction("o2", "k1", "p1", 1, None, START + timedelta(days=1)),
        Interaction("o2", "k1", "p2", 1, None, START + timedelta(days=1)),
        Interaction("o3", "k1", "gone", 1, None, START + timedelta(days=2)),
    ]
    model = HybridRecommender().fit(lines, [Item("p1", "Teapot"), Item("p2", "Cosy")])

    used = used_history(db, SHOP, "k1", model, k=5)

    assert [(u.product_id, u.title) for u in used] == [("p1", "Teapot"), ("p2", "Cosy")]
    assert used_history(db, SHOP, "k1", None) == []
    assert used_history(db, SHOP, "nobody", model) == []


# --- ingestion ------------------------------------------------------------------------------


def stored_key(db: Store, order_id: str) -> str | None:
    found = db.orders.get(SHOP, order_id)
    assert found is not None
    return found.customer_id


@pytest.mark.parametrize("consent_required", [False, True], ids=["opt-out", "opt-in"])
def test_ingestion_keeps_a_key_only_with_consent(db: Store, consent_required: bool) -> None:
    processor = EventProcessor(db, secret=SECRET, consent_required=consent_required)
    db.consent.record(SHOP, "granted", True, "shopper", at=START - timedelta(days=1))
    db.consent.record(SHOP, "withdrawn", False, "shopper", at=START - timedelta(days=1))
    batch = ShopBatch()

    for n, key in enumerate(("granted", "withdrawn", "never")):
        processor.apply_order(SHOP, order(f"o{n}", key, "p1", "p2"), START, [], batch)
        processor.apply_cart(SHOP, Cart(f"c{n}", START, (CartLine("p3"),), key), batch)

    assert [stored_key(db, f"o{n}") for n in range(3)] == [
        "granted",
        None,
        None if consent_required else "never",
    ]
    carts = {c.cart_id: c.customer_id for c in db.carts.iter(SHOP)}
    assert carts == {"c0": "granted", "c1": None, "c2": None if consent_required else "never"}
    # the lines count for the shop all the same, with nobody's history
    assert db.orders.count(SHOP) == 3
    assert {i.customer_id for i in batch.interactions if i.order_id == "o1"} == {None}


def test_an_order_from_before_a_grant_or_a_withdrawal_keeps_no_key(db: Store) -> None:
    processor = EventProcessor(db, secret=SECRET, consent_required=True)
    db.consent.record(SHOP, "k1", True, "shopper", at=START)
    db.consent.record(SHOP, "k2", True, "shopper", at=START - timedelta(days=2))
    db.consent.record(SHOP, "k2", False, "shopper", at=START + timedelta(days=1))
    db.consent.record(SHOP, "k2", True, "shopper", at=START + timedelta(days=2))

    orders = [
        order("early", "k1", "p1", hours=-1),
        order("late", "k1", "p1", hours=1),
        order("between", "k2", "p1", hours=1),  # a withdrawal came after it
        order("guest", None, "p1"),
    ]
    kept = processor.consented_orders(SHOP, orders)

    assert [o.customer_id for o in kept] == [None, "k1", None, None]
    assert [o.lines for o in kept] == [o.lines for o in orders]


def test_a_backfill_stores_history_only_of_customers_with_consent(db: Store) -> None:
    """The fake shop's orders are by customers 1-8 (and guests); customer 5 opted out before
    the backfill, customer 6 said yes where consent is required, the rest never chose."""
    fake = FakeAdmin()
    catalog(fake)
    processor = EventProcessor(db, secret=SECRET, consent_required=True)
    db.shops.ensure(ShopRef(BACKFILL_SHOP))
    yes, no = processor.customer_key(BACKFILL_SHOP, "6"), processor.customer_key(BACKFILL_SHOP, "5")
    db.consent.record(BACKFILL_SHOP, yes, True, "shopper", at=T0 - timedelta(days=400))
    db.consent.record(BACKFILL_SHOP, no, False, "shopper", at=T0 - timedelta(days=400))

    async def run() -> None:
        async def sleep(_: float) -> None:
            return None

        with respx.mock(assert_all_called=False) as router:
            fake.mount(router)
            async with ShopifyAdmin(BACKFILL_SHOP, "shpat_x", sleep=sleep) as admin:
                await backfill_shopify(
                    db, BACKFILL_SHOP, admin, processor, full_history=True, now=T0, train=False
                )

    asyncio.run(run())

    stored = list(db.orders.iter(BACKFILL_SHOP))
    assert len(stored) == 120
    assert {o.customer_id for o in stored} == {yes, None}
    assert db.orders.for_customer(BACKFILL_SHOP, yes)
