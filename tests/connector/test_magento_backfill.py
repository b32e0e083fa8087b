"""Backfill and sync of a connected Magento store through its REST API (respx at the
transport): catalog and orders stored through ingestion's rules, the model trained, a
resumed run taking up from the newest change stored, and a sync that writes nothing twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from cartwise.backfill import backfill_magento
from cartwise.connector.magento.client import MagentoClient
from cartwise.errors import UpstreamRejected
from cartwise.ingestion import EventProcessor
from cartwise.magento_stores import connect_store
from cartwise.storage import Store

from .test_magento_client import API, CREDS, START, STORE, listing, mock_catalog, order

SECRET = b"magento-backfill-secret-0123456789abcdef"


def run(store: Store, shop: str, page_size: int = 100, **kw: Any) -> Any:
    async def go() -> Any:
        async with MagentoClient(STORE, CREDS, page_size=page_size) as client:
            return await backfill_magento(
                store, shop, client, EventProcessor(store, secret=SECRET), **kw
            )

    return asyncio.run(go())


@pytest.fixture
def shop(store: Store) -> str:
    key, _ = connect_store(store, STORE, CREDS, resolve=None, backfill=False)
    return key


def orders_route(orders: list[dict[str, Any]]) -> respx.Route:
    return respx.get(f"{API}/orders").mock(side_effect=listing(orders))


@respx.mock
def test_a_magento_backfill_stores_catalog_and_orders_then_trains(store: Store, shop: str) -> None:
    mock_catalog()
    orders_route([order(100 + i, updated=START + timedelta(hours=i)) for i in range(30)])
    report = run(store, shop)
    assert report.counts["orders"].written == 30
    assert store.orders.count(shop) == 30
    assert set(store.products.get_many(shop, ["67", "1553"])) == {"67", "1553"}
    assert report.trained and store.models.latest(shop) is not None
    first = store.orders.get(shop, "100")
    assert first is not None and first.lines
    assert first.customer_id is None or not first.customer_id.isdigit()  # keyed, never raw
    stored = store.magento.get(shop)
    assert stored is not None and stored.last_synced_at is not None


@respx.mock
def test_a_sync_fetches_only_what_changed_and_writes_nothing_twice(store: Store, shop: str) -> None:
    mock_catalog()
    orders = [order(100 + i, updated=START + timedelta(hours=i)) for i in range(10)]
    route = orders_route(orders)
    run(store, shop, now=START + timedelta(days=1))
    later = START + timedelta(days=2)
    orders.append(order(500, updated=later))
    changed = order(105, updated=later)
    changed["state"] = "canceled"
    orders[5] = changed

    report = run(store, shop, reconcile=True, now=later + timedelta(minutes=5))
    asked = route.calls.last.request.url.params
    assert asked["searchCriteria[filter_groups][0][filters][0][field]"] == "updated_at"
    assert report.counts["orders"].written == 2
    assert store.orders.get(shop, "105").cancelled  # type: ignore[union-attr]
    assert store.orders.count(shop) == 11

    again = run(store, shop, reconcile=True, now=later + timedelta(minutes=10))
    assert again.counts["orders"].objects >= 2  # the overlap is read again
    assert again.counts["orders"].written == 0 and not again.trained


@respx.mock
def test_a_run_that_stopped_half_way_is_taken_up_from_the_newest_change_stored(
    store: Store, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cartwise.backfill.PAGE", 10)
    mock_catalog()
    orders = [order(100 + i, updated=START + timedelta(hours=i)) for i in range(30)]
    calls = {"n": 0}
    answer = listing(orders)

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 3:
            return httpx.Response(404, json={"message": "gone"})  # not retried: the run stops
        return answer(request)

    respx.get(f"{API}/orders").mock(side_effect=flaky)
    with pytest.raises(UpstreamRejected):
        run(store, shop, page_size=10)
    state = store.sync.get(shop, "orders")
    assert state is not None and state.status == "running"
    assert state.synced_until is not None and state.synced_until < START + timedelta(hours=29)
    held = store.orders.count(shop)
    assert 0 < held < 30

    report = run(store, shop, page_size=10)
    assert store.orders.count(shop) == 30
    assert report.counts["orders"].objects <= 30 - held + 10  # taken up, not started over
    assert store.sync.get(shop, "orders").status == "done"  # type: ignore[union-attr]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> str:
    for name, value in {
        "CARTWISE_DATABASE_URL": sqlite_url,
        "CARTWISE_DEMO_MODE": "false",
        "CARTWISE_SECRET_KEY": SECRET.decode(),
        "CARTWISE_MAGENTO__ALLOW_PRIVATE_URLS": "true",  # no DNS lookups in tests
        "CARTWISE_MAGENTO_CONSUMER_KEY": CREDS.consumer_key,
        "CARTWISE_MAGENTO_CONSUMER_SECRET": CREDS.consumer_secret,
        "CARTWISE_MAGENTO_ACCESS_TOKEN": CREDS.access_token,
        "CARTWISE_MAGENTO_ACCESS_TOKEN_SECRET": CREDS.access_token_secret,
    }.items():
        monkeypatch.setenv(name, value)
    return sqlite_url


@respx.mock
def test_connect_then_backfill_from_the_command_line(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cartwise import storage
    from cartwise.cli import main

    mock_catalog()
    orders_route([order(100 + i, updated=START + timedelta(hours=i)) for i in range(5)])
    assert main(["magento-connect", "--url", STORE]) == 0
    out = capsys.readouterr().out
    assert "connected shop.example.com" in out
    secret = out.rsplit(": ", 1)[1].strip()
    assert len(secret) >= 40
    assert main(["backfill", "--magento-url", STORE]) == 0
    out = capsys.readouterr().out
    assert "orders: 5 read, 5 written" in out and "model trained" in out
    with storage.open(cli_env) as store:
        held = store.magento.get("shop.example.com")
        assert held is not None and held.signing_secret == secret


def test_the_commands_explain_what_is_missing(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cartwise.cli import main

    assert main(["backfill", "--magento-url", STORE]) == 2
    assert "not connected" in capsys.readouterr().err
    monkeypatch.delenv("CARTWISE_MAGENTO_ACCESS_TOKEN_SECRET")
    assert main(["magento-connect", "--url", STORE]) == 2
    assert "CARTWISE_MAGENTO_ACCESS_TOKEN_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("CARTWISE_MAGENTO__ALLOW_PRIVATE_URLS", "false")
    assert main(["magento-connect", "--url", "http://shop.example.com", "--bearer"]) == 2
    assert "https" in capsys.readouterr().err


@respx.mock
def test_connecting_queues_the_backfill_and_the_worker_runs_it(store: Store) -> None:
    from cartwise.jobs import build_worker
    from cartwise.settings import Settings

    mock_catalog()
    orders_route([order(100 + i, updated=START + timedelta(hours=i)) for i in range(4)])
    shop, _ = connect_store(store, STORE, CREDS, resolve=None)
    worker = build_worker(store, Settings(demo_mode=False, secret_key=SECRET.decode()))
    assert worker.run_once() == 1
    assert store.orders.count(shop) == 4
    assert store.jobs.counts(shop) == {"done": 1}
    assert {s.status for s in store.sync.for_shop(shop)} == {"done"}
