"""The embedded dashboard in real headless Chromium: App Bridge (stubbed at Shopify's CDN URL,
handing out a token minted here) loads every section, the charts draw, the rules form saves
through the admin API, the preview gives reasons and the back-test reports its figures, with no
console error and no failed request; framed by Shopify's admin it renders, framed by any other
site the browser refuses it."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from playwright.sync_api import Page, Request, Response, Route, expect, sync_playwright
from pydantic import SecretStr
from werkzeug.serving import make_server

from cartwise import storage
from cartwise.api import create_app
from cartwise.connector.shopify.tokens import OfflineToken
from cartwise.domain import Order, OrderLine, Platform, ShopRef
from cartwise.installs import save_install
from cartwise.readouts import compute_readout
from cartwise.schemas import TrackedEvent
from cartwise.settings import Settings, ShopifySettings
from cartwise.storage import Store
from cartwise.storage.experiments import ExposureRecord
from cartwise.training import train_shop

from .conftest import BASKETS, CATALOG, CHROMIUM_ARGS, TIMEOUT_MS

pytestmark = pytest.mark.browser

SHOP = "tea-garden.myshopify.com"
CLIENT_ID = "cartwise-browser-client-id"
CLIENT_SECRET = "shpss_browser_test_secret_0123456789abcdef0123456789"
APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
SCREENSHOT = Path("/tmp/dashboard.png")
SECTIONS = ("overview", "kpis", "experiments", "rules", "backtest")


def admin_token(shop: str = SHOP) -> str:
    """An App Bridge session token, valid long enough for the whole test."""
    now = int(time.time())
    claims = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": CLIENT_ID,
        "sub": "42",
        "exp": now + 600,
        "nbf": now - 5,
        "iat": now - 5,
        "jti": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
    }
    return jwt.encode(claims, CLIENT_SECRET, algorithm="HS256")


def seed(store: Store) -> None:
    """A shop with 60 days of orders (model and back-test), 35 days of storefront events in two
    placements, and a running experiment with a readout."""
    store.shops.ensure(ShopRef(SHOP, Platform.SHOPIFY))
    save_install(
        store,
        OfflineToken(
            shop=SHOP,
            access_token="shpat_browser",
            scope="read_orders,read_products",
            expires_at=None,
            refresh_token=None,
            refresh_expires_at=None,
        ),
    )
    store.products.upsert_many(SHOP, CATALOG)
    prices = {p.product_id: p.price for p in CATALOG}
    now = datetime.now(UTC)
    orders = [
        Order(
            f"o{n}",
            now - timedelta(days=60) + timedelta(hours=7 * n),
            tuple(OrderLine(p, 1, prices[p]) for p in BASKETS[n % len(BASKETS)]),
        )
        for n in range(200)
    ]
    store.orders.upsert_many(SHOP, orders)
    train_shop(store, SHOP)
    batch = []
    for back in range(35):
        day = now - timedelta(days=back, hours=1)
        for placement, shown, clicked in (("cart", 60, 3 + back % 3), ("checkout", 30, 2)):
            for kind, n in (("impression", shown), ("click", clicked), ("add_to_cart", 1)):
                batch += [
                    TrackedEvent(
                        kind=kind,  # type: ignore[arg-type]
                        product_id="22423",
                        session_id=f"v{back}-{i % 9}",
                        placement=placement,  # type: ignore[arg-type]
                        occurred_at=day + timedelta(seconds=i),
                        event_id=f"{back}-{placement}-{kind}-{i}",
                    )
                    for i in range(n)
                ]
    store.tracking.add_many(SHOP, batch)
    started = now - timedelta(days=3)
    definition = {
        "arms": [{"key": "control", "kind": "no_recommendations"}, {"key": "model"}],
        "holdout_share": 0.1,
        "planned_visitors_per_arm": 4000,
    }
    store.experiments.start(SHOP, "checkout-recs", definition, started)
    seen_at = started + timedelta(hours=1)
    store.experiments.record_exposures(
        SHOP,
        [
            ExposureRecord(
                "checkout-recs",
                f"x{n}",
                "cart",
                "model" if n % 2 else "control",
                False,
                seen_at,
                seen_at,
            )
            for n in range(40)
        ],
    )
    buyers = [n for n in range(40) if n % 3 == 0]
    store.orders.upsert_many(
        SHOP,
        [
            Order(f"e{n}", seen_at + timedelta(hours=2), (OrderLine("22423", 1 + n % 2, 12.75),))
            for n in buyers
        ],
    )
    for n in buyers:
        store.orders.add_sessions(SHOP, f"e{n}", [f"x{n}"])
    compute_readout(store, SHOP, "checkout-recs", now=now)


@dataclass
class Served:
    url: str
    store: Store


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store = storage.open(f"sqlite:///{tmp_path / 'cartwise.db'}")
    seed(store)
    settings = Settings(
        demo_mode=False,
        secret_key=SecretStr("browser-test-secret-key-0123456789abcdef"),
        app_url="https://cartwise.example",
        shopify=ShopifySettings(client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)),
    )
    app = create_app(settings, store=store, start_worker=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-server", daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", store)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        store.close()


@dataclass
class Watched:
    page: Page
    problems: list[str]


@pytest.fixture
def watched(chromium_path: Path) -> Iterator[Watched]:
    """A page whose App Bridge is a stub handing out a valid token, and which records every
    console error, page error, failed request and HTTP error."""
    token = admin_token()
    stub = f"window.shopify = {{ idToken: async () => {token!r} }};"
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS * 3
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS * 2)
            expect.set_options(timeout=TIMEOUT_MS * 2)
            page.route(
                APP_BRIDGE,
                lambda route: route.fulfill(
                    status=200, content_type="application/javascript", body=stub
                ),
            )
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))

            def on_response(response: Response) -> None:
                if response.status >= 400:
                    problems.append(f"{response.status}: {response.url}")

            page.on("response", on_response)
            yield Watched(page, problems)
            context.close()
        finally:
            browser.close()


def open_dashboard(page: Page, base: str) -> None:
    page.goto(f"{base}/app?shop={SHOP}&host=YWRtaW4&embedded=1&id_token={admin_token()}")
    expect(page.locator("section[data-state=ready]")).to_have_count(len(SECTIONS))


def test_every_section_renders_with_its_charts_and_nothing_fails(
    watched: Watched, served: Served, tmp_path: Path
) -> None:
    page = watched.page
    open_dashboard(page, served.url)
    assert page.locator("section[data-state=error]").count() == 0

    overview = page.locator("#overview")
    expect(overview.get_by_test_id("model-version")).to_have_text("Version 1")
    events_chart = overview.locator('figure.chart[data-series="3"] svg')
    expect(events_chart).to_have_count(1)
    assert events_chart.locator("polyline").count() == 3
    assert overview.locator("tr[data-placement] svg").count() == 2  # a meter per placement
    expect(overview.locator('tr[data-placement="Cart"]')).to_contain_text("2,100")

    kpis = page.locator('#kpis figure.chart[data-series="2"] svg')
    expect(kpis).to_have_count(3)
    for index in range(3):
        assert kpis.nth(index).locator("polyline").count() == 2

    experiment = page.locator('#experiments article[data-experiment="checkout-recs"]')
    expect(experiment.locator("tr[data-arm]")).to_have_count(2)
    expect(experiment.locator(".decision")).to_contain_text(
        "keep collecting — 20 of 4000 planned visitors in the smaller arm"
    )
    expect(experiment.locator("figure.interval svg")).to_have_count(2)
    assert "winner" not in experiment.inner_text().lower()

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, SCREENSHOT)
    assert watched.problems == []


def test_the_rules_save_and_the_preview_gives_reasons(watched: Watched, served: Served) -> None:
    page = watched.page
    open_dashboard(page, served.url)
    page.fill("#rules-pinned", "47566")
    page.fill("#rules-blocked", "22697\n22699")
    page.fill("#rules-max-price", "20")
    page.fill("#rules-exploration", "10")
    page.get_by_role("button", name="Save rules").click()
    expect(page.locator("#rules-status")).to_contain_text("Saved.")
    rules = served.store.rules.get(SHOP)
    assert rules.pinned == ("47566",)
    assert rules.blocked == frozenset({"22697", "22699"})
    assert (rules.max_price, rules.min_price, rules.exploration_share) == (20.0, None, 0.1)

    page.fill("#preview-cart", "22423")
    page.get_by_role("button", name="Preview").click()
    items = page.locator("#preview-result li")
    expect(items.first).to_be_visible()
    expect(page.locator("#preview-result")).to_contain_text("For this cart the shopper would see:")
    expect(items.first).to_have_attribute("data-product-id", "47566")
    expect(items.first.locator(".reason")).to_have_text("Recommended by the shop")
    reasons = items.locator(".reason").all_inner_texts()
    assert "Often bought with REGENCY CAKESTAND 3 TIER" in reasons
    ids = items.evaluate_all("nodes => nodes.map(n => n.dataset.productId)")
    assert "22697" not in ids and "22423" not in ids

    page.fill("#rules-max-price", "-1")
    page.get_by_role("button", name="Save rules").click()
    expect(page.locator("#rules-status")).to_contain_text("Not saved: max_price")
    watched.problems[:] = [p for p in watched.problems if "/v1/admin/rules" not in p]
    assert [p for p in watched.problems if "422" not in p] == []


def test_the_backtest_runs_once_and_then_answers_from_memory(
    watched: Watched, served: Served
) -> None:
    page = watched.page
    open_dashboard(page, served.url)
    expect(page.get_by_test_id("backtest-cap")).to_contain_text("you have 214 stored")
    page.get_by_role("button", name="Run the back-test").click()
    result = page.locator("#backtest-result")
    expect(result.locator("tr[data-method]")).to_have_count(2)
    expect(result.get_by_test_id("backtest-took")).to_contain_text("Took")
    expect(result.locator('tr[data-method="cartwise"]')).to_contain_text("%")
    page.get_by_role("button", name="Run the back-test").click()
    expect(result.get_by_test_id("backtest-took")).to_contain_text("Kept from the run of")
    assert watched.problems == []


def _proxy(base: str) -> Any:
    """Serve https://cartwise.test/… from the local server, headers and all."""

    def handle(route: Route) -> None:
        upstream = route.request.url.replace("https://cartwise.test", base, 1)
        route.fulfill(response=route.fetch(url=upstream))

    return handle


@pytest.mark.parametrize(
    ("parent", "allowed"),
    [
        pytest.param("https://admin.shopify.com/store/tea-garden/apps/cartwise", True, id="admin"),
        pytest.param(f"https://{SHOP}/admin/apps/cartwise", True, id="shop-admin"),
        pytest.param("https://evil.example/steal", False, id="elsewhere"),
    ],
)
def test_only_the_shops_admin_may_frame_the_dashboard(
    watched: Watched, served: Served, parent: str, allowed: bool
) -> None:
    page = watched.page
    page.route("https://cartwise.test/**", _proxy(served.url))
    src = f"https://cartwise.test/app?shop={SHOP}&embedded=1&id_token={admin_token()}"
    frame_page = f'<!doctype html><title>admin</title><iframe id="app" src="{src}"></iframe>'
    page.route(
        parent, lambda route: route.fulfill(status=200, content_type="text/html", body=frame_page)
    )
    loaded: list[Request] = []
    page.on("requestfinished", lambda r: loaded.append(r) if "/fragments/" in r.url else None)
    page.goto(parent)
    frame = page.frame_locator("#app")
    if allowed:
        expect(frame.locator("section[data-state=ready]")).to_have_count(len(SECTIONS))
        assert watched.problems == []
    else:
        page.wait_for_timeout(1500)
        assert loaded == []
        assert any("frame-ancestors" in p for p in watched.problems)
