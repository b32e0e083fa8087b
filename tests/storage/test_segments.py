from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from cartwise import storage
from cartwise.domain import ShopRef
from cartwise.errors import InvalidRequest, UnknownShop
from cartwise.storage.segments import decayed_weight

# Recent, so the weights are well above what `top` treats as nothing left.
NOW = datetime.now(UTC).replace(microsecond=0)
DE = "country:DE"
MOBILE = "device:mobile"


def test_top_ranks_by_orders_in_each_segment(db: storage.Store, domain: str) -> None:
    at = NOW - timedelta(days=1)
    db.segments.add(domain, [DE, MOBILE], ["p1", "p2"], at)
    db.segments.add(domain, [DE], ["p2", "p3", "p2"], at)
    db.segments.add(domain, [DE], ["p3"], at)
    db.segments.add(domain, [DE], ["p3"], at)
    assert db.segments.top(domain, DE) == ["p3", "p2", "p1"]
    # Ties are broken by product id.
    assert db.segments.top(domain, MOBILE) == ["p1", "p2"]
    assert db.segments.top(domain, DE, limit=2) == ["p3", "p2"]
    assert db.segments.top(domain, "country:FR") == []


def test_a_recent_order_outweighs_an_older_one(db: storage.Store, domain: str) -> None:
    db.segments.add(domain, [DE], ["old"], NOW - timedelta(days=60))
    db.segments.add(domain, [DE], ["old"], NOW - timedelta(days=60))
    db.segments.add(domain, [DE], ["old"], NOW - timedelta(days=60))
    db.segments.add(domain, [DE], ["new"], NOW)
    # Two half-lives: three orders then weigh 3/4 of one order now.
    assert decayed_weight(NOW - timedelta(days=60)) * 3 < decayed_weight(NOW)
    assert db.segments.top(domain, DE) == ["new", "old"]


def test_taking_every_order_back_out_removes_the_product(db: storage.Store, domain: str) -> None:
    first, second = NOW - timedelta(days=3), NOW - timedelta(hours=5, seconds=7)
    db.segments.add(domain, [DE, MOBILE], ["p1", "p2"], first)
    db.segments.add(domain, [DE], ["p1"], second)
    db.segments.add(domain, [DE, MOBILE], ["p1", "p2"], first, sign=-1)
    assert db.segments.top(domain, DE) == ["p1"]
    assert db.segments.top(domain, MOBILE) == []
    db.segments.add(domain, [DE], ["p1"], second, sign=-1)
    assert db.segments.top(domain, DE) == []


def test_empty_segments_and_products_are_ignored(db: storage.Store, domain: str) -> None:
    db.segments.add(domain, ["", DE], ["p1"], NOW)
    db.segments.add(domain, [], ["p2"], NOW)
    db.segments.add(domain, [DE], [], NOW)
    assert db.segments.top(domain, DE) == ["p1"]
    assert db.segments.top(domain, "") == []


def test_segments_are_per_shop(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef("other.example"))
    db.segments.add(domain, [DE], ["p1"], NOW)
    db.segments.add("other.example", [DE], ["p9"], NOW)
    db.segments.add("other.example", [DE], ["p1"], NOW, sign=-1)
    assert db.segments.top(domain, DE) == ["p1"]
    assert db.segments.top("other.example", DE) == ["p9"]


def test_segments_in_a_transaction_roll_back(db: storage.Store, domain: str) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.segments.add(domain, [DE], ["p1"], NOW)
        assert tx.segments.top(domain, DE) == ["p1"]
        raise RuntimeError("abort")
    assert db.segments.top(domain, DE) == []


def test_unknown_shop_and_bad_limit(db: storage.Store, domain: str) -> None:
    with pytest.raises(UnknownShop):
        db.segments.add("nowhere.example", [DE], ["p1"], NOW)
    with pytest.raises(UnknownShop):
        db.segments.top("nowhere.example", DE)
    with pytest.raises(InvalidRequest):
        db.segments.top(domain, DE, limit=0)


def test_concurrent_orders_of_the_same_products_do_not_deadlock(
    db: storage.Store, domain: str
) -> None:
    products = [f"p{i:02}" for i in range(30)]
    segments = [DE, MOBILE, "referrer:instagram.com"]
    rounds = 20
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def work(order: list[str], segs: list[str]) -> None:
        try:
            start.wait()
            for _ in range(rounds):
                db.segments.add(domain, segs, order, NOW)
        except BaseException as exc:
            failures.append(exc)

    # The same rows, listed in opposite orders.
    threads = [
        threading.Thread(target=work, args=(products, segments)),
        threading.Thread(target=work, args=(products[::-1], segments[::-1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert db.segments.top(domain, MOBILE, limit=50) == products
