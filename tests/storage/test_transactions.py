from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from cartwise import storage
from cartwise.domain import Order, OrderLine, Product
from cartwise.errors import UnknownShop

T0 = datetime(2011, 3, 1, tzinfo=UTC)


def test_a_transaction_commits_everything_together(db: storage.Store, domain: str) -> None:
    with db.transaction() as tx:
        tx.products.upsert_many(domain, [Product("p1", "Mug")])
        tx.orders.upsert_many(domain, [Order("o1", T0, (OrderLine("p1"),))])
        assert tx.products.count(domain) == 1
        assert tx.models.save(domain, b"m", {}) == 1
    assert db.products.count(domain) == 1
    assert db.orders.count(domain) == 1
    assert db.models.latest_version(domain) == 1


def test_a_failed_transaction_leaves_nothing_half_written(db: storage.Store, domain: str) -> None:
    db.products.upsert_many(domain, [Product("p0", "Kept")])
    with pytest.raises(UnknownShop), db.transaction() as tx:
        tx.products.upsert_many(domain, [Product("p1", "Mug"), Product("p0", "Overwritten")])
        tx.orders.upsert_many(domain, [Order("o1", T0, (OrderLine("p1"),))])
        tx.orders.upsert_many("nowhere.example", [Order("o2", T0, (OrderLine("p1"),))])
    assert db.products.list(domain) == [Product("p0", "Kept")]
    assert db.orders.count(domain) == 0


def test_any_exception_rolls_back(db: storage.Store, domain: str) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.models.save(domain, b"m", {})
        raise RuntimeError("boom")
    assert db.models.latest_version(domain) is None
    assert db.models.save(domain, b"m", {}) == 1


def test_iterating_inside_a_transaction_sees_its_own_writes(db: storage.Store, domain: str) -> None:
    with db.transaction() as tx:
        tx.orders.upsert_many(domain, [Order("o1", T0, (OrderLine("p1"),))])
        assert [o.order_id for o in tx.orders.iter(domain)] == ["o1"]


def test_concurrent_writers_wait_for_each_other(db: storage.Store, domain: str) -> None:
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def write(worker: int) -> None:
        start.wait()
        try:
            for batch in range(5):
                with db.transaction() as tx:
                    tx.products.upsert_many(
                        domain, [Product(f"w{worker}-{batch}-{i}", "Mug") for i in range(20)]
                    )
                    tx.models.save(domain, b"m", {"worker": worker})
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert db.products.count(domain) == 4 * 5 * 20
    assert db.models.latest_version(domain) == 4 * 5
