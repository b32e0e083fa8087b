"""The consent log on SQLite and PostgreSQL: the latest choice wins, shops and customers stay
apart, withdrawing detaches a customer's orders and carts, and privacy deletes are idempotent.
The rule ingestion applies to a customer's log is checked on its own below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartwise import storage
from cartwise.domain import Cart, CartLine, Order, OrderLine, ShopRef
from cartwise.errors import InvalidRequest, UnknownShop
from cartwise.storage.consent import ConsentEntry, keeps_history, personalised

OTHER = "other.example"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_latest_choice_is_the_current_one(db: storage.Store, domain: str) -> None:
    assert db.consent.latest(domain, "k1") is None
    assert db.consent.current(domain, "k1") is None
    db.consent.record(domain, "k1", False, "shopper", at=at(0))
    db.consent.record(domain, "k1", True, "admin", at=at(5))
    db.consent.record(domain, "k2", False, "platform", at=at(1))

    latest = db.consent.latest(domain, "k1")

    assert latest == ConsentEntry(domain, "k1", True, "admin", at(5))
    assert latest is not None and latest.recorded_at.tzinfo is not None
    assert db.consent.current(domain, "k1") is True
    assert db.consent.current(domain, "k2") is False


def test_an_entry_recorded_later_with_an_earlier_time_does_not_win(
    db: storage.Store, domain: str
) -> None:
    db.consent.record(domain, "k1", False, "shopper", at=at(10))
    db.consent.record(domain, "k1", True, "platform", at=at(2))
    assert db.consent.current(domain, "k1") is False
    # the same instant twice: the one recorded last is the choice
    db.consent.record(domain, "k1", True, "shopper", at=at(10))
    assert db.consent.current(domain, "k1") is True


def test_without_a_time_now_is_recorded(db: storage.Store, domain: str) -> None:
    before = datetime.now(UTC)
    entry = db.consent.record(domain, "k1", False, "shopper")
    stored = db.consent.latest(domain, "k1")
    assert stored == entry
    assert before - timedelta(seconds=1) <= entry.recorded_at <= datetime.now(UTC)
    assert entry.recorded_at.utcoffset() == timedelta(0)


def test_an_unknown_source_is_refused(db: storage.Store, domain: str) -> None:
    with pytest.raises(InvalidRequest):
        db.consent.record(domain, "k1", False, "robot")  # type: ignore[arg-type]
    assert db.consent.history(domain, "k1") == []


def test_history_is_per_shop_and_customer_oldest_first(db: storage.Store, domain: str) -> None:
    db.consent.record(domain, "k1", True, "shopper", at=at(3))
    db.consent.record(domain, "k1", False, "shopper", at=at(1))
    db.consent.record(domain, "k2", False, "shopper", at=at(2))
    db.consent.record(OTHER, "k1", False, "shopper", at=at(4))

    assert [(e.personalised, e.recorded_at) for e in db.consent.history(domain, "k1")] == [
        (False, at(1)),
        (True, at(3)),
    ]
    assert [e.shop for e in db.consent.history(OTHER, "k1")] == [OTHER]
    assert db.consent.current(OTHER, "k2") is None
    found = db.consent.histories(domain, ["k2", "k1", "nobody", "k1"])
    assert sorted(found) == ["k1", "k2"]
    assert [e.personalised for e in found["k1"]] == [False, True]


def test_many_customers_at_once(db: storage.Store, domain: str) -> None:
    keys = [f"k{i:04d}" for i in range(1_200)]
    with db.transaction() as tx:
        for i, key in enumerate(keys[::3]):
            tx.consent.record(domain, key, i % 2 == 0, "shopper", at=at(i))
    found = db.consent.histories(domain, keys)
    assert len(found) == 400
    assert found["k0003"][0].personalised is False


def order(order_id: str, customer: str | None, *products: str) -> Order:
    lines = tuple(OrderLine(p, 1, 2.0) for p in products)
    return Order(order_id, at(int(order_id.removeprefix("o"))), lines, customer_id=customer)


def test_detaching_takes_the_key_off_orders_and_carts_only(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    db.orders.upsert_many(
        domain, [order("o1", "k1", "p1", "p2"), order("o2", "k2", "p1"), order("o3", "k1", "p3")]
    )
    db.orders.upsert_many(OTHER, [order("o1", "k1", "p9")])
    db.carts.upsert(domain, Cart("c1", at(1), (CartLine("p4"),), customer_id="k1"))
    db.carts.upsert(domain, Cart("c2", at(1), (CartLine("p5"),), customer_id="k2"))

    assert db.consent.detach_history(domain, "k1") == {"orders": 2, "carts": 1}

    assert db.orders.for_customer(domain, "k1") == []
    assert db.orders.get(domain, "o1") == order("o1", None, "p1", "p2")
    assert db.orders.get(domain, "o3") == order("o3", None, "p3")
    assert [o.order_id for o in db.orders.for_customer(domain, "k2")] == ["o2"]
    assert db.orders.count(domain) == 3
    assert db.carts.for_customer(domain, "k1") == []
    assert sorted((c.cart_id, c.customer_id) for c in db.carts.iter(domain)) == [
        ("c1", None),
        ("c2", "k2"),
    ]
    assert [o.order_id for o in db.orders.for_customer(OTHER, "k1")] == ["o1"]
    assert db.consent.detach_history(domain, "k1") == {"orders": 0, "carts": 0}
    with pytest.raises(UnknownShop):
        db.consent.detach_history("nowhere.example", "k1")


def test_a_choice_and_its_detaching_are_one_unit(db: storage.Store, domain: str) -> None:
    db.orders.upsert_many(domain, [order("o1", "k1", "p1")])
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.consent.record(domain, "k1", False, "shopper")
        tx.consent.detach_history(domain, "k1")
        raise RuntimeError("the request failed half-way")
    assert db.consent.history(domain, "k1") == []
    assert [o.order_id for o in db.orders.for_customer(domain, "k1")] == ["o1"]


def test_deleting_a_customer_and_a_shop(db: storage.Store, domain: str) -> None:
    db.consent.record(domain, "k1", False, "shopper", at=at(1))
    db.consent.record(domain, "k1", True, "shopper", at=at(2))
    db.consent.record(domain, "k2", False, "shopper", at=at(3))
    db.consent.record(OTHER, "k1", False, "shopper", at=at(4))

    assert db.consent.delete_customer(domain, "k1") == 2
    assert db.consent.delete_customer(domain, "k1") == 0
    assert db.consent.current(domain, "k1") is None
    assert db.consent.current(domain, "k2") is False
    assert db.consent.current(OTHER, "k1") is False

    assert db.consent.delete_shop(domain) == 1
    assert db.consent.delete_shop(domain) == 0
    assert db.consent.histories(domain, ["k1", "k2"]) == {}
    assert db.consent.current(OTHER, "k1") is False


# -- the rule over one customer's log (pure) ------------------------------------------------


def entry(minutes: float, choice: bool) -> ConsentEntry:
    return ConsentEntry("s.example", "k", choice, "shopper", at(minutes))


@pytest.mark.parametrize(
    ("consent_required", "choice", "expected"),
    [
        pytest.param(False, None, True, id="opt-out-regime-no-choice"),
        pytest.param(True, None, False, id="opt-in-regime-no-choice"),
        pytest.param(False, False, False, id="withdrawn"),
        pytest.param(True, False, False, id="withdrawn-opt-in-regime"),
        pytest.param(True, True, True, id="granted"),
    ],
)
def test_personalised_now(consent_required: bool, choice: bool | None, expected: bool) -> None:
    assert personalised(choice, consent_required=consent_required) is expected


@pytest.mark.parametrize(
    ("log", "minutes", "consent_required", "expected"),
    [
        pytest.param([], 5, False, True, id="no-log-opt-out-regime"),
        pytest.param([], 5, True, False, id="no-log-opt-in-regime"),
        pytest.param([entry(1, True)], 5, True, True, id="granted-before"),
        pytest.param([entry(9, True)], 5, True, False, id="granted-only-after"),
        pytest.param([entry(1, False)], 5, False, False, id="withdrawn-before"),
        pytest.param([entry(9, False)], 5, False, False, id="withdrawn-since"),
        pytest.param(
            [entry(1, False), entry(3, True)], 5, False, True, id="withdrawn-then-granted-before"
        ),
        pytest.param(
            [entry(1, True), entry(7, False), entry(9, True)],
            5,
            True,
            False,
            id="a-withdrawal-since-wins-over-a-later-grant",
        ),
        pytest.param([entry(5, True)], 5, True, True, id="granted-at-that-instant"),
    ],
)
def test_what_history_may_be_kept(
    log: list[ConsentEntry], minutes: float, consent_required: bool, expected: bool
) -> None:
    assert keeps_history(log, at(minutes), consent_required=consent_required) is expected
