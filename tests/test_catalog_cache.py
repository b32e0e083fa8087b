"""The in-process memory of products and rules that serving reads on every request."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cartwise import storage
from cartwise.domain import Platform, Product, ShopRef
from cartwise.serving import CatalogCache
from cartwise.storage import Store

SHOP = "tea.example"
CATALOG = (
    Product("cup", "Teacup", price=2.95),
    Product("pot", "Teapot", price=9.5),
    Product("tin", "Cake tin", price=4.95),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{tmp_path / 'cartwise.db'}")
    opened.shops.ensure(ShopRef(SHOP, Platform.DEMO))
    opened.products.upsert_many(SHOP, CATALOG)
    yield opened
    opened.close()


def reprice(store: Store, product_id: str, price: float) -> None:
    """A change made elsewhere (another worker, a job): nothing tells this process."""
    product = next(p for p in CATALOG if p.product_id == product_id)
    store.products.upsert_many(SHOP, [replace(product, price=price)])


def price(cache: CatalogCache, product_id: str) -> float | None:
    return cache.products(SHOP, [product_id])[product_id].price


def test_products_are_held_for_the_ttl_then_read_again(store: Store) -> None:
    clock = Clock()
    cache = CatalogCache(store, ttl=2.0, clock=clock)
    assert price(cache, "cup") == 2.95
    reprice(store, "cup", 3.5)
    clock.now += 1.9
    assert price(cache, "cup") == 2.95
    clock.now += 0.2
    assert price(cache, "cup") == 3.5


def test_one_stale_product_refreshes_every_stale_one_in_the_same_read(store: Store) -> None:
    clock = Clock()
    cache = CatalogCache(store, ttl=2.0, clock=clock)
    assert set(cache.products(SHOP, ["cup", "pot"])) == {"cup", "pot"}
    clock.now += 3.0
    reprice(store, "pot", 11.0)
    # asking for the cup alone also reads the pot again, stamped now...
    assert price(cache, "cup") == 2.95
    reprice(store, "pot", 12.0)
    clock.now += 1.0
    # ...so within its new ttl the pot is the price read with the cup, not a fresh read
    assert price(cache, "pot") == 11.0
    clock.now += 1.5
    assert price(cache, "pot") == 12.0


def test_products_never_seen_do_not_force_a_refresh_of_fresh_ones(store: Store) -> None:
    clock = Clock()
    cache = CatalogCache(store, ttl=2.0, clock=clock)
    assert price(cache, "cup") == 2.95
    reprice(store, "cup", 3.5)
    clock.now += 1.0
    assert price(cache, "tin") == 4.95
    assert price(cache, "cup") == 2.95


def test_unknown_products_are_remembered_as_missing(store: Store) -> None:
    clock = Clock()
    cache = CatalogCache(store, ttl=2.0, clock=clock)
    assert cache.products(SHOP, ["ghost", "cup"]).keys() == {"cup"}
    store.products.upsert_many(SHOP, [Product("ghost", "Ghost mug", price=1.0)])
    assert cache.products(SHOP, ["ghost"]) == {}
    clock.now += 2.5
    assert cache.products(SHOP, ["ghost"])["ghost"].title == "Ghost mug"


def test_invalidate_shows_a_change_at_once(store: Store) -> None:
    cache = CatalogCache(store, ttl=2.0, clock=Clock())
    assert price(cache, "cup") == 2.95
    reprice(store, "cup", 3.5)
    cache.invalidate(SHOP)
    assert price(cache, "cup") == 3.5
