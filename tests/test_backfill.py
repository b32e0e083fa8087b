"""Backfill and reconciliation against a stateful fake of the Admin API (respx at the
transport): bulk queries, resume after a crash, the 60-day window, platform-blind records,
redactions respected, and a reconciliation that writes nothing the second time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import respx
from fake_shopify_admin import SHOP, T0, FakeAdmin, catalog, gid, iso

from cartwise.backfill import ORDER_WINDOW_DAYS, backfill_shopify, reconcile_shopify
from cartwise.connector.shopify.admin import ShopifyAdmin
from cartwise.connector.shopify.payloads import OrderPayload
from cartwise.errors import UpstreamError
from cartwise.ingestion import EventProcessor
from cartwise.pseudonyms import tombstone_key
from cartwise.storage import Store

SECRET = b"backfill-test-secret-0123456789abcdef"


@dataclass
class FakeTime:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeAdmin:
    admin = FakeAdmin()
    catalog(admin)
    return admin


def processor(store: Store) -> EventProcessor:
    return EventProcessor(store, secret=SECRET)


def backfill(store: Store, fake: FakeAdmin, *, full: bool = True, **kw: Any) -> Any:
    time = FakeTime()

    async def go() -> Any:
        with respx.mock(assert_all_called=False) as router:
            fake.mount(router)
            async with ShopifyAdmin(SHOP, "shpat_x", sleep=time.sleep, clock=time.clock) as a:
                return await backfill_shopify(
                    store, SHOP, a, processor(store), full_history=full, now=T0, **kw
                )

    return asyncio.run(go())


def reconcile(store: Store, fake: FakeAdmin, *, now: Any) -> Any:
    time = FakeTime()

    async def go() -> Any:
        with respx.mock(assert_all_called=False) as router:
            fake.mount(router)
            async with ShopifyAdmin(SHOP, "shpat_x", sleep=time.sleep, clock=time.clock) as a:
                return await reconcile_shopify(store, SHOP, a, processor(store), now=now)

    return asyncio.run(go())


def test_a_backfill_stores_the_catalog_and_all_orders_then_trains(
    store: Store, fake: FakeAdmin
) -> None:
    report = backfill(store, fake)
    assert store.products.count(SHOP) == 20
    assert store.orders.count(SHOP) == 120
    assert report.counts["orders"].written == 120
    assert report.trained and store.models.latest(SHOP) is not None
    product = store.products.get_many(SHOP, ["4"])["4"]
    assert (product.title, product.category, product.tags, product.stock) == (
        "Product 4",
        "Tea",
        ("gift",),
        10,
    )
    assert store.inventory.products_of_variants(SHOP, ["41", "42"]) == {"41": "4", "42": "4"}
    states = {s.resource: s for s in store.sync.for_shop(SHOP)}
    assert {s.status for s in states.values()} == {"done"}
    assert states["orders"].window_start is None and states["orders"].message is None
    assert store.segments.top(SHOP, "country:DE", limit=3)


def test_without_read_all_orders_only_the_last_60_days_are_asked_and_the_status_says_so(
    store: Store, fake: FakeAdmin
) -> None:
    report = backfill(store, fake, full=False)
    start = T0 - timedelta(days=ORDER_WINDOW_DAYS)
    assert f"created_at:>='{iso(start)}'" in fake.bulk_queries[1]
    expected = sum(1 for o in fake.orders.values() if o["createdAt"] >= iso(start))
    assert 0 < expected < 120
    assert store.orders.count(SHOP) == expected
    state = store.sync.get(SHOP, "orders")
    assert state is not None and state.window_start == start
    assert "read_all_orders" in (state.message or "")
    assert report.window_start == start


def test_a_backfilled_order_is_the_record_a_webhook_of_it_would_give(
    store: Store, fake: FakeAdmin
) -> None:
    backfill(store, fake)
    stored = store.orders.get(SHOP, "1005")
    rest = {  # the same order as the orders/create webhook serialises it
        "id": 1005,
        "created_at": fake.orders[1005]["createdAt"],
        "updated_at": fake.orders[1005]["updatedAt"],
        "customer": {"id": 5},
        "line_items": [
            {
                "id": int(ln["id"].rsplit("/", 1)[1]),
                "quantity": 1,
                "product_id": int(ln["product"]["id"].rsplit("/", 1)[1]),
                "variant_id": int(ln["variant"]["id"].rsplit("/", 1)[1]),
                "price": ln["originalUnitPriceSet"]["shopMoney"]["amount"],
            }
            for ln in fake.lines[1005]
        ],
    }
    proc = processor(store)
    webhook = OrderPayload.model_validate(rest).to_order(lambda c: proc.customer_key(SHOP, c))
    assert stored == webhook
    assert stored is not None and stored.customer_id != "5"


def test_a_crashed_backfill_resumes_its_bulk_operation_without_duplicates(
    store: Store, fake: FakeAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cartwise.backfill.PAGE", 25)
    pages: list[tuple[int, int]] = []

    def crash_on_third_page(resource: str, lines: int, total: int) -> None:
        if resource == "orders":
            pages.append((lines, total))
            if len(pages) == 3:
                raise KeyboardInterrupt  # the process dies here

    with pytest.raises(KeyboardInterrupt):
        backfill(store, fake, progress=crash_on_third_page)
    state = store.sync.get(SHOP, "orders")
    assert state is not None and state.status == "running"
    assert state.lines_done == pages[-1][0] and 0 < pages[0][0] < pages[-1][0] < pages[-1][1]
    assert store.orders.count(SHOP) == 75
    queries = len(fake.bulk_queries)

    report = backfill(store, fake)
    assert len(fake.bulk_queries) == queries  # the running operation was picked up again
    assert store.orders.count(SHOP) == 120
    assert report.counts["orders"].objects == 120
    assert store.sync.get(SHOP, "orders").status == "done"  # type: ignore[union-attr]


def test_a_failed_bulk_operation_is_recorded_and_reported(store: Store, fake: FakeAdmin) -> None:
    fake.fail_status = "FAILED"
    with pytest.raises(UpstreamError, match="FAILED"):
        backfill(store, fake)
    state = store.sync.get(SHOP, "products")
    assert state is not None and state.status == "failed"


def test_history_does_not_bring_back_a_redacted_customer(store: Store, fake: FakeAdmin) -> None:
    backfill(store, fake)
    proc = processor(store)
    key = proc.customer_key(SHOP, "5")
    store.orders.delete(SHOP, customer_id=key)
    store.redactions.add(SHOP, "customer", [tombstone_key(key)])
    store.sync.delete_for_shop(SHOP)
    store.versions.forget(SHOP)  # a fresh start: only the tombstone remembers the customer
    backfill(store, fake)
    assert store.orders.for_customer(SHOP, key) == []
    assert store.orders.count(SHOP) == 120 - sum(
        1 for o in fake.orders.values() if o["customer"] == {"id": gid("Customer", 5)}
    )


def test_reconciliation_stores_what_changed_and_a_second_run_writes_nothing(
    store: Store, fake: FakeAdmin
) -> None:
    backfill(store, fake)
    version = store.models.latest_version(SHOP)
    later = T0 + timedelta(hours=2)
    fake.add_order(5000, [1, 2], customer=3, created=later, updated=later)  # a lost webhook
    fake.add_order(
        1010,
        [1 + 10 % 20, 1 + 70 % 20],
        customer=1,
        created=T0 - timedelta(days=10),
        updated=later,
        cancelled=True,
    )
    fake.add_product(7, stock=0, updated=later)

    first = reconcile(store, fake, now=later + timedelta(minutes=5))
    assert first.counts["orders"].written == 2
    assert first.counts["products"].written == 1
    assert store.orders.get(SHOP, "5000") is not None
    assert store.orders.get(SHOP, "1010").cancelled  # type: ignore[union-attr]
    assert not store.products.get_many(SHOP, ["7"])["7"].available
    assert first.trained and store.models.latest_version(SHOP) != version

    version = store.models.latest_version(SHOP)
    second = reconcile(store, fake, now=later + timedelta(minutes=10))
    assert second.counts["orders"].objects >= 2  # it read them again (the overlap)
    assert second.counts["orders"].written == 0
    assert second.counts["products"].written == 0
    assert not second.trained and store.models.latest_version(SHOP) == version


def test_a_shop_never_backfilled_has_nothing_to_reconcile(store: Store, fake: FakeAdmin) -> None:
    report = reconcile(store, fake, now=T0)
    assert report.counts == {}


def test_an_install_queues_the_backfill_and_the_worker_runs_it(
    store: Store, fake: FakeAdmin
) -> None:

    from cartwise.connector.shopify.tokens import OfflineToken
    from cartwise.installs import save_install, schedule_backfill
    from cartwise.jobs import build_worker
    from cartwise.settings import Settings, ShopifySettings

    settings = Settings(
        demo_mode=False,
        secret_key=SECRET.decode(),
        shopify=ShopifySettings(client_id="cid", client_secret="shpss_" + "x" * 32),
    )
    save_install(
        store, OfflineToken(SHOP, "shpat_x", "read_products,read_orders", None, None, None)
    )
    assert schedule_backfill(store, SHOP) is not None
    assert schedule_backfill(store, SHOP) is None  # queued once
    fake.polls_until_done = 0
    saved: list[str] = []
    worker = build_worker(store, settings, on_model_saved=saved.append)
    with respx.mock(assert_all_called=False) as router:
        fake.mount(router)
        assert worker.run_once() == 1
    assert store.orders.count(SHOP) > 0
    assert "created_at:>=" in fake.bulk_queries[1]  # no read_all_orders: the 60-day window
    assert store.models.latest(SHOP) is not None and saved == [SHOP]
    assert all(s.status == "done" for s in store.sync.for_shop(SHOP))
    assert schedule_backfill(store, SHOP) is None  # done: not again


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> str:
    for name, value in {
        "CARTWISE_DATABASE_URL": sqlite_url,
        "CARTWISE_DEMO_MODE": "false",
        "CARTWISE_SECRET_KEY": SECRET.decode(),
        "CARTWISE_SHOPIFY__CLIENT_ID": "cid",
        "CARTWISE_SHOPIFY__CLIENT_SECRET": "shpss_" + "x" * 32,
    }.items():
        monkeypatch.setenv(name, value)
    return sqlite_url


def test_the_backfill_command_runs_it_and_reports(
    store: Store, fake: FakeAdmin, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cartwise.cli import main
    from cartwise.connector.shopify.tokens import OfflineToken
    from cartwise.installs import save_install

    save_install(
        store, OfflineToken(SHOP, "shpat_x", "read_products,read_all_orders", None, None, None)
    )
    fake.polls_until_done = 0
    with respx.mock(assert_all_called=False) as router:
        fake.mount(router)
        assert main(["backfill", "--shop", SHOP]) == 0
        out = capsys.readouterr().out
        assert "products: 20 read, 20 written" in out
        assert "orders: 120 read, 120 written" in out
        assert "model trained" in out
        assert "created_at" not in fake.bulk_queries[1]  # read_all_orders: all history
        assert main(["backfill", "--shop", SHOP, "--reconcile"]) == 0
        out = capsys.readouterr().out
        assert "orders: " in out and " 0 written" in out and "model unchanged" in out
    assert store.orders.count(SHOP) == 120


def test_the_backfill_command_refuses_a_shop_not_installed(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cartwise.cli import main

    assert main(["backfill", "--shop", SHOP]) == 2
    assert "not installed" in capsys.readouterr().err
