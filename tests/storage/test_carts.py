from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartwise import storage
from cartwise.domain import Cart, CartLine
from cartwise.errors import UnknownShop

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_upsert_and_iter_round_trip(db: storage.Store, domain: str) -> None:
    cart = Cart("tok1", T0, (CartLine("p1", 2, "v1"), CartLine("p2")), customer_id="c1")
    db.carts.upsert(domain, cart)
    db.carts.upsert(domain, cart)
    assert list(db.carts.iter(domain)) == [cart]


def test_a_newer_state_replaces_and_an_older_one_is_ignored(db: storage.Store, domain: str) -> None:
    db.carts.upsert(domain, Cart("tok1", T0, (CartLine("p1"),)))
    newer = Cart("tok1", T0 + timedelta(minutes=5), (CartLine("p1"), CartLine("p2")))
    db.carts.upsert(domain, newer)
    db.carts.upsert(domain, Cart("tok1", T0 + timedelta(minutes=1), ()))
    assert list(db.carts.iter(domain)) == [newer]


def test_iter_orders_by_update_and_filters_since(db: storage.Store, domain: str) -> None:
    for i, token in enumerate(["b", "c", "a"]):
        db.carts.upsert(domain, Cart(token, T0 + timedelta(hours=i)))
    assert [c.cart_id for c in db.carts.iter(domain)] == ["b", "c", "a"]
    since = T0 + timedelta(hours=1)
    assert [c.cart_id for c in db.carts.iter(domain, since=since)] == ["c", "a"]


def test_unknown_shop(db: storage.Store) -> None:
    with pytest.raises(UnknownShop):
        db.carts.upsert("nowhere.example", Cart("tok", T0))
