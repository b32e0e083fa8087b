from __future__ import annotations

import pytest

from cartwise import storage
from cartwise.domain import Platform, ShopRef
from cartwise.errors import InvalidRequest


def test_ensure_is_idempotent(db: storage.Store, shop: ShopRef) -> None:
    db.shops.ensure(shop)
    db.shops.ensure(shop)
    assert db.shops.list() == [shop]
    assert db.shops.get(shop.domain) == shop


def test_ensure_updates_the_platform(db: storage.Store) -> None:
    db.shops.ensure(ShopRef("a.example", Platform.CSV))
    db.shops.ensure(ShopRef("a.example", Platform.MAGENTO))
    assert db.shops.get("a.example") == ShopRef("a.example", Platform.MAGENTO)


def test_unknown_shop_is_none(db: storage.Store) -> None:
    assert db.shops.get("nowhere.example") is None


def test_list_is_ordered_by_domain(db: storage.Store) -> None:
    for domain in ["c.example", "a.example", "b.example"]:
        db.shops.ensure(ShopRef(domain))
    assert [s.domain for s in db.shops.list()] == ["a.example", "b.example", "c.example"]


@pytest.mark.parametrize("domain", ["", " padded.example ", "x" * 256])
def test_invalid_domains_are_rejected(db: storage.Store, domain: str) -> None:
    with pytest.raises(InvalidRequest):
        db.shops.ensure(ShopRef(domain))
    assert db.shops.list() == []
