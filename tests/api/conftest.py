"""Fixtures for the HTTP API: a real SQLite store in `tmp_path` holding a small gift-shop
catalog, a model fitted on hand-made orders, and Flask test clients over them."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cartwise import storage
from cartwise.api import create_app
from cartwise.domain import Platform, Product, ShopRef
from cartwise.recommender import HybridRecommender, Interaction, Item
from cartwise.settings import Settings
from cartwise.storage import Store

SHOP = "demo.cartwise.local"

CATALOG = (
    Product("22423", "REGENCY CAKESTAND 3 TIER", category="kitchen", price=12.75),
    Product("22697", "GREEN REGENCY TEACUP AND SAUCER", category="kitchen", price=2.95),
    Product("22699", "ROSES REGENCY TEACUP AND SAUCER", category="kitchen", price=2.95),
    Product("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", category="kitchen", price=4.95),
    Product("21212", "PACK OF 72 RETROSPOT CAKE CASES", category="kitchen", price=0.55),
    Product("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", category="home", price=2.55),
    Product("84879", "ASSORTED COLOUR BIRD ORNAMENT", category="home", price=1.69),
    Product("20725", "LUNCH BAG RED RETROSPOT", category="bags", price=1.65),
    Product("22386", "JUMBO BAG PINK POLKADOT", category="bags", price=1.95),
    Product("47566", "PARTY BUNTING", category="party", price=4.95),
)

BASKETS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, ("22423", "22697", "22699")),
    (None, ("22423", "22697", "22699")),
    (None, ("22423", "22697", "22699")),
    (None, ("22423", "22720")),
    (None, ("22423", "22720")),
    (None, ("85123A", "84879")),
    (None, ("85123A", "84879")),
    (None, ("85123A", "84879")),
    ("c1", ("20725", "22386")),
    ("c1", ("20725", "22386")),
    (None, ("47566", "21212", "22423")),
    (None, ("21212", "22720")),
)
"""(customer, products) per order: the cake stand goes with the teacups and the cake tins."""


def fit_model(baskets: tuple[tuple[str | None, tuple[str, ...]], ...] = BASKETS) -> bytes:
    start = datetime(2011, 5, 1, tzinfo=UTC)
    interactions = [
        Interaction(f"o{n}", customer, pid, 1.0, None, start + timedelta(hours=n))
        for n, (customer, products) in enumerate(baskets)
        for pid in products
    ]
    items = [Item(p.product_id, title=p.title, category=p.category, price=p.price) for p in CATALOG]
    return HybridRecommender().fit(interactions, items).to_bytes()


@pytest.fixture
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("db") / "cartwise.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{db_path}")
    opened.shops.ensure(ShopRef(SHOP, Platform.DEMO))
    opened.products.upsert_many(SHOP, CATALOG)
    yield opened
    opened.close()


@pytest.fixture
def take_database_away(store: Store, db_path: Path) -> Callable[[], None]:
    """Make the database unreachable: its pool emptied and its directory removed, so that
    SQLite cannot open it again."""

    def take() -> None:
        store.close()
        shutil.rmtree(db_path.parent)

    return take


@pytest.fixture
def train(store: Store) -> Callable[[], int]:
    """Fit the model on `BASKETS` and save it; returns the new model version."""
    return lambda: store.models.save(SHOP, fit_model(), {"trained_on": len(BASKETS)})


@pytest.fixture
def settings() -> Settings:
    return Settings(demo_mode=True, demo_shop=SHOP)


@pytest.fixture
def app(settings: Settings, store: Store) -> Flask:
    return create_app(settings, store=store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
