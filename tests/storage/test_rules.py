from __future__ import annotations

import pytest

from cartwise import storage
from cartwise.domain import ShopRef, ShopRules
from cartwise.errors import UnknownShop

FULL = ShopRules(
    defaults=("p3", "p1", "p2"),
    pinned=("p9",),
    blocked=frozenset({"p7", "p5"}),
    min_price=4.5,
    max_price=120.0,
    max_per_vendor=2,
    max_per_category=3,
)


def test_a_shop_without_rules_has_the_empty_rules(db: storage.Store, domain: str) -> None:
    assert db.rules.get(domain) == ShopRules()
    assert db.rules.get("nowhere.example") == ShopRules()


def test_rules_round_trip_and_are_replaced(db: storage.Store, domain: str) -> None:
    db.rules.set(domain, FULL)
    assert db.rules.get(domain) == FULL
    # Order of the defaults and pins is kept.
    assert db.rules.get(domain).defaults == ("p3", "p1", "p2")
    db.rules.set(domain, ShopRules(blocked=frozenset({"p1"})))
    assert db.rules.get(domain) == ShopRules(blocked=frozenset({"p1"}))
    db.rules.set(domain, ShopRules())
    assert db.rules.get(domain) == ShopRules()


def test_rules_are_per_shop(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef("other.example"))
    db.rules.set(domain, FULL)
    assert db.rules.get("other.example") == ShopRules()
    db.rules.set("other.example", ShopRules(pinned=("x",)))
    assert db.rules.get(domain) == FULL


def test_rules_in_a_rolled_back_transaction_are_not_kept(db: storage.Store, domain: str) -> None:
    db.rules.set(domain, FULL)
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.rules.set(domain, ShopRules())
        assert tx.rules.get(domain) == ShopRules()
        raise RuntimeError("abort")
    assert db.rules.get(domain) == FULL


def test_setting_rules_of_an_unknown_shop_fails(db: storage.Store) -> None:
    with pytest.raises(UnknownShop):
        db.rules.set("nowhere.example", FULL)
