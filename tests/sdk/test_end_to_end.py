"""The SDK against the real Flask app: a SQLite store with a small catalog and a fitted model,
a real API key, the sync client through `httpx.WSGITransport` and the async one through a
real local server. Skipped when the server's stack is not installed (the SDK-alone job)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

pytest.importorskip("flask")
pytest.importorskip("sqlalchemy")

from flask import Flask
from werkzeug.serving import make_server

from cartwise import storage
from cartwise.api import create_app
from cartwise.domain import Platform, Product, ShopRef, ShopRules
from cartwise.installs import create_api_key
from cartwise.recommender import HybridRecommender, Interaction, Item
from cartwise.sdk import (
    AsyncCartwiseClient,
    CartwiseClient,
    ClientError,
    RecommendationItem,
)
from cartwise.settings import Settings
from cartwise.storage import Store

SHOP = "sdk-e2e.example"
CATALOG = (
    Product("22423", "REGENCY CAKESTAND 3 TIER", price=12.75),
    Product("22697", "GREEN REGENCY TEACUP AND SAUCER", price=2.95),
    Product("22699", "ROSES REGENCY TEACUP AND SAUCER", price=2.95),
    Product("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", price=4.95),
    Product("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", price=2.55),
    Product("84879", "ASSORTED COLOUR BIRD ORNAMENT", price=1.69),
)
BASKETS = (
    ("22423", "22697", "22699"),
    ("22423", "22697", "22699"),
    ("22423", "22720"),
    ("85123A", "84879"),
    ("85123A", "84879"),
)
DEFAULTS = [RecommendationItem(product_id="84879", title="Bird", reason="Popular", score=0.0)]


def fit() -> bytes:
    start = datetime(2011, 5, 1, tzinfo=UTC)
    interactions = [
        Interaction(f"o{n}", None, pid, 1.0, None, start + timedelta(hours=n))
        for n, basket in enumerate(BASKETS)
        for pid in basket
    ]
    items = [Item(p.product_id, title=p.title, price=p.price) for p in CATALOG]
    return HybridRecommender().fit(interactions, items).to_bytes()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{tmp_path / 'cartwise.db'}")
    opened.shops.ensure(ShopRef(SHOP, Platform.DEMO))
    opened.products.upsert_many(SHOP, CATALOG)
    opened.models.save(SHOP, fit(), {"trained_on": len(BASKETS)})
    yield opened
    opened.close()


@pytest.fixture
def settings() -> Settings:
    return Settings(demo_mode=True, demo_shop=SHOP)


@pytest.fixture
def app(settings: Settings, store: Store) -> Flask:
    return create_app(settings, store=store)


@pytest.fixture
def api_key(settings: Settings, store: Store) -> str:
    return create_api_key(store, settings.effective_secret_key(), SHOP, label="sdk test")[1]


def test_the_sync_client_gets_the_model_answer_then_its_cache(app: Flask, api_key: str) -> None:
    transport = httpx.WSGITransport(app=app)
    with CartwiseClient("http://cartwise.test", api_key, transport=transport, budget=5.0) as sdk:
        first = sdk.recommend(["22423"], session_id="s1", k=3)
        again = sdk.recommend(["22423"], session_id="s1", k=3)
    assert first.source == "model"
    assert first.items[0].product_id in {"22697", "22699", "22720"}
    assert first.items[0].reason == "Often bought with REGENCY CAKESTAND 3 TIER"
    assert len(first.request_id) == 32
    assert (again.source, again.items) == ("cache", first.items)


def test_a_wrong_key_falls_back_or_raises_the_servers_code(app: Flask) -> None:
    transport = httpx.WSGITransport(app=app)
    options = {"transport": transport, "budget": 5.0, "defaults": DEFAULTS}
    with CartwiseClient("http://cartwise.test", "ck_wrong", **options) as sdk:  # type: ignore[arg-type]
        got = sdk.recommend(["22423"], k=3)
    assert got.source == "fallback"
    assert [item.product_id for item in got.items] == ["84879"]
    with (
        CartwiseClient("http://cartwise.test", "ck_wrong", strict=True, **options) as sdk,  # type: ignore[arg-type]
        pytest.raises(ClientError) as caught,
    ):
        sdk.recommend(["22423"], k=3)
    assert caught.value.http_status == 401
    assert caught.value.server_code == "unauthorized"


def test_tracked_events_reach_the_server_once(app: Flask, store: Store, api_key: str) -> None:
    transport = httpx.WSGITransport(app=app)
    seen: list[int] = []
    with CartwiseClient(
        "http://cartwise.test",
        api_key,
        transport=transport,
        budget=5.0,
        on_call=lambda info: seen.append(info.status or 0),
    ) as sdk:
        recs = sdk.recommend(["22423"], session_id="s1", k=2)
        for item in recs.items:
            sdk.track("impression", item.product_id, session_id="s1", request_id=recs.request_id)
        sdk.track("click", recs.items[0].product_id, session_id="s1", placement="cart")
        sdk.flush()
        stats = sdk.track_stats
    assert (stats.sent, stats.pending, stats.rejected) == (3, 0, 0)
    assert seen == [200, 202]
    assert store.tracking.counts(SHOP) == {"impression": 2, "click": 1}


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.anyio
async def test_the_async_client_over_a_real_socket(served: str, api_key: str) -> None:
    async with AsyncCartwiseClient(served, api_key, budget=5.0) as sdk:
        got = await sdk.recommend(["85123A"], session_id="s", k=2, placement="checkout")
        empty = await sdk.recommend([], k=2)
    assert got.source == "model"
    assert got.items[0].product_id == "84879"
    assert empty.source == "trending"


class Outage(httpx.BaseTransport):
    """The real app, except that `/v1/recommendations` fails once `down` is set."""

    def __init__(self, app: Flask) -> None:
        self.app = httpx.WSGITransport(app=app)
        self.down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down and request.url.path == "/v1/recommendations":
            raise httpx.ConnectError("connection refused", request=request)
        return self.app.handle_request(request)


def test_the_shops_defaults_come_from_the_server_and_outlive_it(
    app: Flask, store: Store, api_key: str
) -> None:
    store.rules.set(SHOP, ShopRules(defaults=("22720", "85123A")))
    app.extensions["cartwise"].catalog.invalidate(SHOP)
    transport = Outage(app)
    with CartwiseClient("http://cartwise.test", api_key, transport=transport, budget=5.0) as sdk:
        assert sdk.recommend(["22423"], k=3).source == "model"
        fetch = sdk._fetch
        assert fetch is not None
        fetch.result(timeout=10)
        transport.down = True
        got = sdk.recommend(["85123A"], k=3)
    shown = [item.product_id for item in got.items]
    assert got.source == "fallback"
    assert shown[0] == "22720" and "85123A" not in shown and len(shown) == 3  # then trending
    assert got.items[0].title == "SET OF 3 CAKE TINS PANTRY DESIGN"
