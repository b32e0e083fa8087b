from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cartwise import storage
from cartwise.domain import Order, OrderLine, ShopRef
from cartwise.errors import UnknownShop
from cartwise.storage import orders as orders_module

T0 = datetime(2011, 3, 1, 9, 30, tzinfo=UTC)


def order(order_id: str, minutes: int = 0, *products: str, customer: str | None = "c1") -> Order:
    lines = tuple(OrderLine(p, quantity=2, price=1.25) for p in products or ("p1",))
    return Order(order_id, T0 + timedelta(minutes=minutes), lines, customer_id=customer)


def test_upsert_counts_new_and_changed_orders_only(db: storage.Store, domain: str) -> None:
    first = [order("o1", 0, "p1", "p2"), order("o2", 1, "p3")]
    assert db.orders.upsert_many(domain, first) == 2
    assert db.orders.upsert_many(domain, first) == 0
    changed = [order("o1", 0, "p1", "p2"), order("o2", 1, "p4")]
    assert db.orders.upsert_many(domain, changed) == 1
    assert db.orders.count(domain) == 2


def test_upsert_replaces_the_lines(db: storage.Store, domain: str) -> None:
    db.orders.upsert_many(domain, [order("o1", 0, "p1", "p2", "p3")])
    replacement = Order(
        "o1",
        T0,
        (OrderLine("p9", quantity=5, price=None, variant_id="v9"),),
        customer_id=None,
        cancelled=True,
    )
    db.orders.upsert_many(domain, [replacement])
    assert list(db.orders.iter(domain)) == [replacement]


def test_the_later_duplicate_wins(db: storage.Store, domain: str) -> None:
    written = db.orders.upsert_many(domain, [order("o1", 0, "p1"), order("o1", 0, "p2")])
    assert written == 1
    assert [line.product_id for o in db.orders.iter(domain) for line in o.lines] == ["p2"]


def test_iter_is_ordered_by_creation_and_filters_since(db: storage.Store, domain: str) -> None:
    db.orders.upsert_many(domain, [order("late", 30), order("early", 0), order("mid", 10)])
    assert [o.order_id for o in db.orders.iter(domain)] == ["early", "mid", "late"]
    since = T0 + timedelta(minutes=10)
    assert [o.order_id for o in db.orders.iter(domain, since=since)] == ["mid", "late"]


def test_iter_streams_across_pages(
    db: storage.Store, domain: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_module, "_PAGE", 3)
    # Several orders share a timestamp, so the page boundary falls inside a tie.
    stored = [order(f"o{i:02}", i // 4, "p1", f"p{i}") for i in range(11)]
    db.orders.upsert_many(domain, reversed(stored))
    assert sorted(db.orders.iter(domain), key=lambda o: o.order_id) == stored
    assert [o.created_at for o in db.orders.iter(domain)] == sorted(o.created_at for o in stored)


def test_datetimes_come_back_aware_utc(db: storage.Store, domain: str) -> None:
    tokyo = timezone(timedelta(hours=9))
    placed = datetime(2011, 3, 1, 18, 30, 15, 123456, tzinfo=tokyo)
    naive = datetime(2011, 3, 2, 8, 0)
    db.orders.upsert_many(
        domain,
        [Order("tokyo", placed, (OrderLine("p1"),)), Order("naive", naive, (OrderLine("p1"),))],
    )
    got = {o.order_id: o.created_at for o in db.orders.iter(domain)}
    assert got["tokyo"] == placed
    assert got["tokyo"].tzinfo == UTC
    assert got["tokyo"].hour == 9
    assert got["naive"] == naive.replace(tzinfo=UTC)
    since = datetime(2011, 3, 1, 18, 0, tzinfo=tokyo)
    assert [o.order_id for o in db.orders.iter(domain, since=since)] == ["tokyo", "naive"]


def test_customers_count_ignores_guests(db: storage.Store, domain: str) -> None:
    db.orders.upsert_many(
        domain,
        [
            order("o1", 0, customer="a"),
            order("o2", 1, customer="a"),
            order("o3", 2, customer="b"),
            order("o4", 3, customer=None),
        ],
    )
    assert db.orders.customers_count(domain) == 2
    assert db.orders.count(domain) == 4


def test_shops_do_not_see_each_other(db: storage.Store, domain: str) -> None:
    db.shops.ensure(other := ShopRef("other.example"))
    db.orders.upsert_many(domain, [order("o1")])
    db.orders.upsert_many(other.domain, [order("o1", 5, "p7")])
    assert [o.lines[0].product_id for o in db.orders.iter(domain)] == ["p1"]
    assert db.orders.count(other.domain) == 1


def test_unknown_shop_fails_at_the_call(db: storage.Store) -> None:
    with pytest.raises(UnknownShop):
        db.orders.iter("nowhere.example")
    with pytest.raises(UnknownShop):
        db.orders.upsert_many("nowhere.example", [order("o1")])
    with pytest.raises(UnknownShop):
        db.orders.customers_count("nowhere.example")


def test_session_keys_are_kept_once_and_go_with_their_order(db: storage.Store, domain: str) -> None:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    db.orders.upsert_many(domain, [Order("o1", at, (OrderLine("a"),)), Order("o2", at, ())])
    db.orders.add_sessions(domain, "o1", ["checkout-1", "cart-1", "", "cart-1"])
    db.orders.add_sessions(domain, "o1", ["cart-1"])
    db.orders.add_sessions(domain, "o2", [])
    assert db.orders.sessions_of(domain, ["o1", "o2", "o3"]) == {"o1": ("cart-1", "checkout-1")}
    db.orders.delete(domain, order_ids=["o1"])
    assert db.orders.sessions_of(domain, ["o1"]) == {}
