"""Variants and inventory levels, and deleting products from the catalog."""

from __future__ import annotations

import pytest

from cartwise import storage
from cartwise.domain import Product, ShopRef
from cartwise.errors import UnknownShop
from cartwise.storage import VariantRecord

OTHER = "other.example"


def test_replace_variants_maps_variants_to_products(db: storage.Store, domain: str) -> None:
    db.inventory.replace_variants(
        domain, "p1", [VariantRecord("v1", "p1", "i1", 3), VariantRecord("v2", "p1")]
    )
    db.inventory.replace_variants(domain, "p2", [VariantRecord("v3", "p2", "i3")])
    assert db.inventory.products_of_variants(domain, ["v1", "v2", "v3", "v9", "v1"]) == {
        "v1": "p1",
        "v2": "p1",
        "v3": "p2",
    }
    assert db.inventory.products_of_variants(domain, []) == {}


def test_replacing_drops_variants_no_longer_listed(db: storage.Store, domain: str) -> None:
    db.inventory.replace_variants(
        domain, "p1", [VariantRecord("v1", "p1"), VariantRecord("v2", "p1")]
    )
    db.inventory.replace_variants(domain, "p1", [VariantRecord("v2", "p1", stock=5)])
    assert db.inventory.products_of_variants(domain, ["v1", "v2"]) == {"v2": "p1"}
    assert db.inventory.product_stock(domain, "p1") == (5, True)
    db.inventory.replace_variants(domain, "p1", [])
    assert db.inventory.products_of_variants(domain, ["v2"]) == {}
    assert db.inventory.product_stock(domain, "p1") == (None, False)


def test_a_variant_moved_to_another_product_follows_it(db: storage.Store, domain: str) -> None:
    db.inventory.replace_variants(domain, "p1", [VariantRecord("v1", "p1", "i1")])
    db.inventory.replace_variants(domain, "p2", [VariantRecord("v1", "p2", "i1")])
    assert db.inventory.products_of_variants(domain, ["v1"]) == {"v1": "p2"}
    assert db.inventory.set_level(domain, "i1", "loc", 2) == "p2"


def test_set_level_returns_the_product_of_the_item(db: storage.Store, domain: str) -> None:
    db.inventory.replace_variants(domain, "p1", [VariantRecord("v1", "p1", "i1", 3)])
    assert db.inventory.set_level(domain, "i1", "loc-a", 2) == "p1"
    assert db.inventory.set_level(domain, "i-unknown", "loc-a", 2) is None


def test_product_stock_sums_levels_across_locations(db: storage.Store, domain: str) -> None:
    db.inventory.replace_variants(
        domain, "p1", [VariantRecord("v1", "p1", "i1", 100), VariantRecord("v2", "p1", "i2", 1)]
    )
    db.inventory.set_level(domain, "i1", "loc-a", 2)
    db.inventory.set_level(domain, "i1", "loc-b", 5)
    # Negative stock at a location counts as none.
    db.inventory.set_level(domain, "i1", "loc-c", -4)
    # i2 has no levels yet: its payload stock counts.
    assert db.inventory.product_stock(domain, "p1") == (8, True)
    db.inventory.set_level(domain, "i2", "loc-a", 0)
    assert db.inventory.product_stock(domain, "p1") == (7, True)
    # A new level for the same location replaces the old one.
    db.inventory.set_level(domain, "i1", "loc-a", 10)
    assert db.inventory.product_stock(domain, "p1") == (15, True)


def test_a_level_that_came_before_its_product_is_used(db: storage.Store, domain: str) -> None:
    assert db.inventory.set_level(domain, "i1", "loc", 6) is None
    db.inventory.replace_variants(domain, "p1", [VariantRecord("v1", "p1", "i1", 0)])
    assert db.inventory.product_stock(domain, "p1") == (6, True)


def test_product_stock_falls_back_to_the_variant_stock(db: storage.Store, domain: str) -> None:
    db.inventory.replace_variants(
        domain, "p1", [VariantRecord("v1", "p1", None, 4), VariantRecord("v2", "p1", "i2", -3)]
    )
    assert db.inventory.product_stock(domain, "p1") == (4, True)


def test_an_untracked_variant_makes_the_stock_unlimited(db: storage.Store, domain: str) -> None:
    db.inventory.replace_variants(
        domain, "p1", [VariantRecord("v1", "p1", "i1", 4), VariantRecord("v2", "p1", None, None)]
    )
    db.inventory.set_level(domain, "i1", "loc", 1)
    assert db.inventory.product_stock(domain, "p1") == (None, True)
    assert db.inventory.product_stock(domain, "unknown") == (None, False)


def test_a_level_without_a_quantity_is_not_a_known_level(db: storage.Store, domain: str) -> None:
    # Shopify reports `available: null` for an item whose stock is not tracked: it must not
    # count as zero, or an untracked product would look sold out.
    db.inventory.replace_variants(
        domain, "p1", [VariantRecord("v1", "p1", "i1", None), VariantRecord("v2", "p1", "i2", 4)]
    )
    assert db.inventory.set_level(domain, "i1", "loc-a", None) == "p1"
    assert db.inventory.product_stock(domain, "p1") == (None, True)
    db.inventory.replace_variants(domain, "p1", [VariantRecord("v2", "p1", "i2", 4)])
    db.inventory.set_level(domain, "i2", "loc-a", None)
    assert db.inventory.product_stock(domain, "p1") == (4, True)
    db.inventory.set_level(domain, "i2", "loc-b", 3)
    assert db.inventory.product_stock(domain, "p1") == (3, True)


def test_inventory_is_per_shop(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    db.inventory.replace_variants(domain, "p1", [VariantRecord("v1", "p1", "i1", 1)])
    db.inventory.replace_variants(OTHER, "p9", [VariantRecord("v1", "p9", "i1", 1)])
    db.inventory.set_level(OTHER, "i1", "loc", 50)
    assert db.inventory.products_of_variants(domain, ["v1"]) == {"v1": "p1"}
    assert db.inventory.product_stock(domain, "p1") == (1, True)
    assert db.inventory.product_stock(OTHER, "p9") == (50, True)
    db.inventory.replace_variants(OTHER, "p9", [])
    assert db.inventory.products_of_variants(domain, ["v1"]) == {"v1": "p1"}


def test_unknown_shop(db: storage.Store) -> None:
    with pytest.raises(UnknownShop):
        db.inventory.replace_variants("nowhere.example", "p1", [])
    with pytest.raises(UnknownShop):
        db.inventory.set_level("nowhere.example", "i1", "loc", 1)
    with pytest.raises(UnknownShop):
        db.inventory.product_stock("nowhere.example", "p1")


def test_delete_removes_one_product(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    db.products.upsert_many(domain, [Product("p1", "Mug"), Product("p2", "Cup")])
    db.products.upsert_many(OTHER, [Product("p1", "Their mug")])
    assert db.products.delete(domain, "p1") is True
    assert db.products.delete(domain, "p1") is False
    assert db.products.delete(domain, "never") is False
    assert set(db.products.get_many(domain, ["p1", "p2"])) == {"p2"}
    assert db.products.count(OTHER) == 1
    with pytest.raises(UnknownShop):
        db.products.delete("nowhere.example", "p1")


def test_replacing_many_gives_what_replacing_one_by_one_gives(
    db: storage.Store, domain: str
) -> None:
    """The backfill's batched path against the webhook path, on the same products: location
    levels, payload stock, untracked variants, a moved variant and a product without any."""
    db.inventory.set_level(domain, "i1", "loc-a", 4)
    db.inventory.set_level(domain, "i1", "loc-b", 3)
    db.inventory.set_level(domain, "i5", "loc-a", None)
    db.inventory.replace_variants(domain, "old", [VariantRecord("v9", "old", "i9", 1)])
    page = {
        "p1": [VariantRecord("v1", "p1", "i1", 100), VariantRecord("v2", "p1", "i2", 5)],
        "p2": [VariantRecord("v3", "p2", "i3", 2), VariantRecord("v4", "p2", None, None)],
        "p3": [VariantRecord("v5", "p3", "i5", 6), VariantRecord("v9", "p3", "i9", 1)],
        "p4": [],
    }
    stocks = db.inventory.replace_variants_many(domain, page)
    batched = {pid: db.inventory.product_stock(domain, pid)[0] for pid in page if page[pid]}
    assert stocks == batched == {"p1": 12, "p2": None, "p3": 7}
    assert db.inventory.products_of_variants(domain, ["v9"]) == {"v9": "p3"}
