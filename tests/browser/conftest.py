"""Fixtures for browser tests: the app served by werkzeug on a free local port in a thread,
over a real SQLite store with a trained model, and headless Chromium driven by Playwright.

Without /usr/bin/chromium these tests skip, except under CI=true, where they fail."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from cartwise import storage
from cartwise.api import create_app
from cartwise.domain import Platform, Product, ShopRef
from cartwise.recommender import HybridRecommender, Interaction, Item
from cartwise.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000
"""Every browser wait is bounded by this; a broken page fails the test instead of hanging it."""

SHOP = "demo.cartwise.local"

CATALOG = (
    Product("22423", "REGENCY CAKESTAND 3 TIER", price=12.75),
    Product("22697", "GREEN REGENCY TEACUP AND SAUCER", price=2.95),
    Product("22699", "ROSES REGENCY TEACUP AND SAUCER", price=2.95),
    Product("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", price=4.95),
    Product("21212", "PACK OF 72 RETROSPOT CAKE CASES", price=0.55),
    Product("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", price=2.55),
    Product("84879", "ASSORTED COLOUR BIRD ORNAMENT", price=1.69),
    Product("23084", "RABBIT NIGHT LIGHT", price=2.08),
    Product("20725", "LUNCH BAG RED RETROSPOT", price=1.65),
    Product("22386", "JUMBO BAG PINK POLKADOT", price=1.95),
    Product("47566", "PARTY BUNTING", price=4.95),
    Product("22960", "JAM MAKING SET WITH JARS", price=4.25),
    Product("22961", "JAM MAKING SET PRINTED", price=1.45, stock=0),
)

BASKETS = (
    ("22423", "22697", "22699"),
    ("22423", "22697", "22699"),
    ("22423", "22697", "22720"),
    ("22423", "22720", "21212"),
    ("85123A", "84879", "23084"),
    ("85123A", "84879"),
    ("85123A", "84879", "47566"),
    ("20725", "22386"),
    ("20725", "22386", "47566"),
    ("22960", "22720"),
)


def _model_blob() -> bytes:
    start = datetime(2011, 6, 1, tzinfo=UTC)
    interactions = [
        Interaction(f"o{n}", None, pid, 1.0, None, start + timedelta(hours=n))
        for n, basket in enumerate(BASKETS)
        for pid in basket
    ]
    items = [Item(p.product_id, title=p.title, price=p.price) for p in CATALOG]
    return HybridRecommender().fit(interactions, items).to_bytes()


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    store = storage.open(f"sqlite:///{tmp_path / 'cartwise.db'}")
    store.shops.ensure(ShopRef(SHOP, Platform.DEMO))
    store.products.upsert_many(SHOP, CATALOG)
    store.models.save(SHOP, _model_blob(), {"orders": len(BASKETS)})
    app = create_app(Settings(demo_mode=True, demo_shop=SHOP), store=store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="demo-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        store.close()
