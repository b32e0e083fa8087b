"""The demo storefront in real headless Chromium: search, add to the cart, watch the
recommendations and their reasons follow the cart, add one of them, remove a line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect, sync_playwright

from .conftest import CHROMIUM_ARGS, TIMEOUT_MS

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/cartwise-demo.png")


@pytest.fixture
def page(chromium_path: Path) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS * 3
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            opened = context.new_page()
            opened.set_default_timeout(TIMEOUT_MS)
            opened.set_default_navigation_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            yield opened
            context.close()
        finally:
            browser.close()


def rec_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("#recs li").evaluate_all(
        "nodes => nodes.map(n => n.dataset.productId)"
    )
    return ids


def add_from_search(page: Page, query: str, product_id: str) -> None:
    page.fill("#search", query)
    card = page.locator(f'#products li[data-product-id="{product_id}"]')
    expect(card).to_be_visible()
    card.get_by_role("button").click()


def test_cart_drives_the_recommendations(page: Page, server_url: str) -> None:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(server_url)

    expect(page.locator("#products li.card")).to_have_count(13)
    expect(page.locator("#recs li").first).to_be_visible()
    expect(page.locator("#recs-meta")).to_contain_text("source: trending")
    expect(page.locator('#products li[data-product-id="22961"] button')).to_be_disabled()

    page.fill("#search", "regency")
    expect(page.locator("#products li.card")).to_have_count(3)

    add_from_search(page, "cakestand", "22423")
    expect(page.locator("#cart li")).to_have_count(1)
    expect(page.locator("#recs-meta")).to_contain_text("source: model · model v1")
    expect(page.locator("#recs .reason").first).to_have_text(
        "Often bought with REGENCY CAKESTAND 3 TIER"
    )
    after_one = rec_ids(page)
    assert "22423" not in after_one
    assert "22697" in after_one

    add_from_search(page, "bird", "84879")
    expect(page.locator("#cart li")).to_have_count(2)
    expect(
        page.locator("#recs .reason", has_text="ASSORTED COLOUR BIRD ORNAMENT").first
    ).to_be_visible()
    after_two = rec_ids(page)
    assert after_two != after_one
    assert not {"22423", "84879"} & set(after_two)

    chosen = after_two[0]
    page.locator(f'#recs li[data-product-id="{chosen}"] button').click()
    expect(page.locator("#cart li")).to_have_count(3)
    expect(page.locator(f'#cart li[data-product-id="{chosen}"]')).to_be_visible()
    expect(page.locator(f'#recs li[data-product-id="{chosen}"]')).to_have_count(0)
    expect(page.locator("#cart-count")).to_have_text("3")

    page.fill("#customer", "17850")
    page.fill("#search", "")
    expect(page.locator("#products li.card")).to_have_count(13)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.locator('#cart li[data-product-id="84879"] .remove').click()
    expect(page.locator("#cart li")).to_have_count(2)
    expect(page.locator('#cart li[data-product-id="84879"]')).to_have_count(0)
    assert problems == []


def test_a_failing_api_shows_a_message_and_the_cart_keeps_working(
    page: Page, server_url: str
) -> None:
    def fail(route: Route) -> None:
        route.fulfill(
            status=500,
            content_type="application/json",
            body='{"error": {"code": "internal_error", "message": "Something went wrong"}}',
        )

    page.route("**/v1/recommendations", fail)
    page.goto(server_url)

    add_from_search(page, "bunting", "47566")
    expect(page.locator("#cart li")).to_have_count(1)
    expect(page.locator("#recs-status")).to_contain_text("Recommendations are unavailable")
    expect(page.locator("#recs li")).to_have_count(0)

    page.unroute("**/v1/recommendations")
    page.route("**/v1/recommendations", lambda route: route.abort())
    add_from_search(page, "lunch", "20725")
    expect(page.locator("#cart li")).to_have_count(2)
    expect(page.locator("#recs-status")).to_contain_text("cannot be reached")
