"""Privacy exports, and the per-customer reads and deletes that privacy requests use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartwise import storage
from cartwise.domain import Cart, CartLine, Order, OrderLine, ShopRef
from cartwise.errors import InvalidRequest, UnknownShop

SHOP = "s.example"
OTHER = "other.example"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def doc(customer: str | int | None, n: int = 0) -> dict[str, object]:
    return {"customer_id": customer, "orders": [{"order_id": f"o{n}", "lines": []}], "n": n}


def test_save_and_list_newest_first(db: storage.Store) -> None:
    before = datetime.now(UTC)
    db.exports.save(SHOP, "r1", doc("c1", 1))
    db.exports.save(SHOP, "r2", doc("c2", 2))
    db.exports.save(OTHER, "r1", doc("c1", 3))
    listed = db.exports.list(SHOP)
    assert [(e.shop, e.request_id, e.document["n"]) for e in listed] == [
        (SHOP, "r2", 2),
        (SHOP, "r1", 1),
    ]
    assert listed[1].document == doc("c1", 1)
    assert listed[0].created_at.tzinfo == UTC
    assert listed[0].created_at >= before - timedelta(seconds=1)
    assert [e.request_id for e in db.exports.list(SHOP, limit=1)] == ["r2"]
    with pytest.raises(InvalidRequest):
        db.exports.list(SHOP, limit=0)


def test_the_same_request_again_keeps_the_first_answer(db: storage.Store) -> None:
    db.exports.save(SHOP, "r1", doc("c1", 1))
    db.exports.save(SHOP, "r1", doc("c1", 2))
    assert [e.document["n"] for e in db.exports.list(SHOP)] == [1]
    # Without a request id there is nothing to recognise a repeat by.
    db.exports.save(SHOP, None, doc("c1", 3))
    db.exports.save(SHOP, None, doc("c1", 4))
    assert [e.document["n"] for e in db.exports.list(SHOP)] == [4, 3, 1]


def test_delete_for_customer_removes_only_that_customers(db: storage.Store) -> None:
    db.exports.save(SHOP, "r1", doc("c1", 1))
    db.exports.save(SHOP, "r2", doc("c2", 2))
    db.exports.save(SHOP, "r3", doc(101, 3))
    db.exports.save(SHOP, "r4", doc("c1", 4))
    db.exports.save(SHOP, "r5", doc(None, 5))
    db.exports.save(OTHER, "r1", doc("c1", 6))
    assert db.exports.delete_for_customer(SHOP, "c1") == 2
    assert [e.request_id for e in db.exports.list(SHOP)] == ["r5", "r3", "r2"]
    assert db.exports.delete_for_customer(SHOP, "101") == 1
    assert db.exports.delete_for_customer(SHOP, "c1") == 0
    assert [e.request_id for e in db.exports.list(OTHER)] == ["r1"]


def test_delete_for_shop(db: storage.Store) -> None:
    db.exports.save(SHOP, "r1", doc("c1"))
    db.exports.save(SHOP, "r2", doc("c2"))
    db.exports.save(OTHER, "r1", doc("c1"))
    assert db.exports.delete_for_shop(SHOP) == 2
    assert db.exports.list(SHOP) == []
    assert len(db.exports.list(OTHER)) == 1
    assert db.exports.delete_for_shop(SHOP) == 0


def order(order_id: str, minutes: int, customer: str | None, *products: str) -> Order:
    lines = tuple(OrderLine(p, 1, 2.5, f"v-{p}") for p in products)
    return Order(order_id, T0 + timedelta(minutes=minutes), lines, customer_id=customer)


def test_orders_get_and_for_customer(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    stored = [
        order("o3", 30, "c1", "p1"),
        order("o1", 10, "c1", "p2", "p3"),
        order("o2", 20, "c2", "p1"),
        order("o4", 40, None, "p4"),
    ]
    db.orders.upsert_many(domain, stored)
    db.orders.upsert_many(OTHER, [order("o9", 0, "c1", "p9")])
    assert db.orders.get(domain, "o1") == stored[1]
    assert db.orders.get(domain, "o9") is None
    assert db.orders.get(OTHER, "o9") is not None
    assert db.orders.for_customer(domain, "c1") == [stored[1], stored[0]]
    assert db.orders.for_customer(domain, "c3") == []
    with pytest.raises(UnknownShop):
        db.orders.get("nowhere.example", "o1")
    with pytest.raises(UnknownShop):
        db.orders.for_customer("nowhere.example", "c1")


def test_orders_delete_by_ids_and_by_customer(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    db.orders.upsert_many(
        domain,
        [
            order("o1", 1, "c1", "p1"),
            order("o2", 2, "c1", "p2"),
            order("o3", 3, "c2", "p3"),
            order("o4", 4, None, "p4"),
            order("o5", 5, "c3", "p5"),
        ],
    )
    db.orders.upsert_many(OTHER, [order("o1", 1, "c1", "p1"), order("o3", 3, "c2", "p1")])
    deleted = db.orders.delete(domain, order_ids=["o2", "o3", "o4", "missing"], customer_id="c1")
    assert sorted(deleted) == ["o1", "o2", "o3", "o4"]
    assert [o.order_id for o in db.orders.iter(domain)] == ["o5"]
    assert db.orders.delete(domain, order_ids=["o1"]) == []
    assert db.orders.delete(domain) == []
    assert db.orders.delete(domain, customer_id="c3") == ["o5"]
    assert db.orders.count(domain) == 0
    assert [o.order_id for o in db.orders.iter(OTHER)] == ["o1", "o3"]
    # The lines went with their orders: storing an order id again starts fresh.
    db.orders.upsert_many(domain, [order("o1", 1, "c1", "p7")])
    assert db.orders.get(domain, "o1") == order("o1", 1, "c1", "p7")


def test_orders_delete_many_ids(db: storage.Store, domain: str) -> None:
    db.orders.upsert_many(domain, [order(f"o{i}", i, None, "p1") for i in range(1_100)])
    doomed = [f"o{i}" for i in range(0, 1_100, 2)]
    assert sorted(db.orders.delete(domain, order_ids=doomed + doomed[:5])) == sorted(doomed)
    assert db.orders.count(domain) == 550


def test_carts_for_customer_and_delete(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    mine = [
        Cart("b", T0 + timedelta(minutes=2), (CartLine("p1", 2, "v1"),), customer_id="c1"),
        Cart("a", T0 + timedelta(minutes=1), (CartLine("p2"),), customer_id="c1"),
    ]
    for cart in mine:
        db.carts.upsert(domain, cart)
    db.carts.upsert(domain, Cart("c", T0, (CartLine("p3"),), customer_id="c2"))
    db.carts.upsert(domain, Cart("d", T0, (CartLine("p4"),)))
    db.carts.upsert(OTHER, Cart("e", T0, (CartLine("p5"),), customer_id="c1"))
    assert db.carts.for_customer(domain, "c1") == [mine[1], mine[0]]
    assert db.carts.for_customer(domain, "nobody") == []
    assert db.carts.delete(domain, customer_id="c1") == 2
    assert db.carts.for_customer(domain, "c1") == []
    assert db.carts.delete(domain, customer_id="c1") == 0
    assert sorted(c.cart_id for c in db.carts.iter(domain)) == ["c", "d"]
    assert [c.cart_id for c in db.carts.for_customer(OTHER, "c1")] == ["e"]
    with pytest.raises(UnknownShop):
        db.carts.for_customer("nowhere.example", "c1")
    with pytest.raises(UnknownShop):
        db.carts.delete("nowhere.example", customer_id="c1")
