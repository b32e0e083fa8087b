"""Resource versions, redaction tombstones, and pruning of model versions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event

from cartwise import storage
from cartwise.domain import ShopRef
from cartwise.errors import UnknownShop

SHOP = "s.example"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))
MINUS_FIVE = timezone(timedelta(hours=-5))


def test_accept_takes_new_and_newer_versions_only(db: storage.Store) -> None:
    assert db.versions.get(SHOP, "order", "o1") is None
    assert db.versions.accept(SHOP, "order", "o1", T0) is True
    assert db.versions.accept(SHOP, "order", "o1", T0) is False
    assert db.versions.accept(SHOP, "order", "o1", T0 - timedelta(microseconds=1)) is False
    assert db.versions.accept(SHOP, "order", "o1", T0 + timedelta(microseconds=1)) is True
    assert db.versions.get(SHOP, "order", "o1") == T0 + timedelta(microseconds=1)


def test_accept_compares_instants_not_clock_readings(db: storage.Store) -> None:
    assert db.versions.accept(SHOP, "product", "p1", T0)
    # 14:00 at +02:00 is 12:00 UTC: the same instant, though it reads later.
    assert db.versions.accept(SHOP, "product", "p1", T0.astimezone(PLUS_TWO)) is False
    # 11:59 UTC written as 13:59 at +02:00: older.
    older = datetime(2024, 5, 1, 13, 59, tzinfo=PLUS_TWO)
    assert db.versions.accept(SHOP, "product", "p1", older) is False
    # 08:00 at -05:00 is 13:00 UTC: newer, though it reads earlier.
    newer = datetime(2024, 5, 1, 8, 0, tzinfo=MINUS_FIVE)
    assert db.versions.accept(SHOP, "product", "p1", newer) is True
    stored = db.versions.get(SHOP, "product", "p1")
    assert stored == newer
    assert stored is not None and stored.tzinfo == UTC and stored.hour == 13
    # A naive datetime is taken as UTC.
    assert db.versions.accept(SHOP, "product", "p1", datetime(2024, 5, 1, 12, 30)) is False
    assert db.versions.accept(SHOP, "product", "p1", datetime(2024, 5, 1, 13, 30)) is True


def test_versions_are_per_shop_kind_and_resource(db: storage.Store) -> None:
    assert db.versions.accept(SHOP, "order", "1", T0)
    assert db.versions.accept(SHOP, "product", "1", T0)
    assert db.versions.accept(SHOP, "order", "2", T0)
    assert db.versions.accept("other.example", "order", "1", T0)
    assert db.versions.get("other.example", "order", "2") is None


def test_concurrent_accepts_of_one_version_let_exactly_one_through(db: storage.Store) -> None:
    threads = 8
    start = threading.Barrier(threads)
    results: list[bool] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            results.append(db.versions.accept(SHOP, "cart", "c1", T0))
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert failures == []
    assert sorted(results) == [False] * (threads - 1) + [True]
    assert db.versions.get(SHOP, "cart", "c1") == T0


def _seed_versions(db: storage.Store) -> None:
    for kind in ("order", "product"):
        for resource in ("1", "2", "3"):
            db.versions.accept(SHOP, kind, resource, T0)
    db.versions.accept("other.example", "order", "1", T0)


def test_forget_everything_of_a_shop(db: storage.Store) -> None:
    _seed_versions(db)
    assert db.versions.forget(SHOP) == 6
    assert db.versions.get(SHOP, "order", "1") is None
    assert db.versions.get("other.example", "order", "1") == T0
    # Forgotten, so the same version counts as new again.
    assert db.versions.accept(SHOP, "order", "1", T0) is True


def test_forget_by_kind(db: storage.Store) -> None:
    _seed_versions(db)
    assert db.versions.forget(SHOP, "order") == 3
    assert db.versions.get(SHOP, "order", "2") is None
    assert db.versions.get(SHOP, "product", "2") == T0
    assert db.versions.get("other.example", "order", "1") == T0


def test_forget_by_ids(db: storage.Store) -> None:
    _seed_versions(db)
    assert db.versions.forget(SHOP, "order", ["1", "3", "missing"]) == 2
    assert db.versions.get(SHOP, "order", "1") is None
    assert db.versions.get(SHOP, "order", "2") == T0
    assert db.versions.get(SHOP, "product", "1") == T0
    assert db.versions.get("other.example", "order", "1") == T0


def test_forget_with_an_empty_list_of_ids_forgets_none(db: storage.Store) -> None:
    # A customer redaction that deleted no orders passes an empty list: every other
    # order's version must survive, or stale retries of those orders would be applied.
    _seed_versions(db)
    assert db.versions.forget(SHOP, "order", []) == 0
    assert db.versions.forget(SHOP, "order", iter(())) == 0
    assert db.versions.get(SHOP, "order", "1") == T0
    assert db.versions.accept(SHOP, "order", "1", T0) is False


def test_forget_many_ids_in_batches(db: storage.Store) -> None:
    with db.transaction() as tx:
        for i in range(1_200):
            tx.versions.accept(SHOP, "order", str(i), T0)
    assert db.versions.forget(SHOP, "order", (str(i) for i in range(0, 1_200, 2))) == 600
    assert db.versions.get(SHOP, "order", "0") is None
    assert db.versions.get(SHOP, "order", "1") == T0


def test_redactions_record_when_and_are_idempotent(db: storage.Store) -> None:
    before = datetime.now(UTC)
    db.redactions.add(SHOP, "customer", ["k1", "k1", "k2"])
    first = db.redactions.redacted_at(SHOP, "customer", "k1")
    assert first is not None and first.tzinfo == UTC and first >= before - timedelta(seconds=1)
    assert db.redactions.redacted_at(SHOP, "customer", "k2") is not None
    assert db.redactions.redacted_at(SHOP, "customer", "k3") is None
    assert db.redactions.redacted_at(SHOP, "order", "k1") is None
    assert db.redactions.redacted_at("other.example", "customer", "k1") is None
    # Adding again keeps the first tombstone's time.
    db.redactions.add(SHOP, "customer", ["k1", "k3"])
    assert db.redactions.redacted_at(SHOP, "customer", "k1") == first
    assert db.redactions.redacted_at(SHOP, "customer", "k3") is not None
    db.redactions.add(SHOP, "order", [])


def test_redactions_delete_for_shop(db: storage.Store) -> None:
    db.redactions.add(SHOP, "customer", ["k1"])
    db.redactions.add(SHOP, "order", ["o1", "o2"])
    db.redactions.add("other.example", "order", ["o1"])
    assert db.redactions.delete_for_shop(SHOP) == 3
    assert db.redactions.redacted_at(SHOP, "order", "o1") is None
    assert db.redactions.redacted_at("other.example", "order", "o1") is not None
    assert db.redactions.delete_for_shop(SHOP) == 0


def test_prune_keeps_the_newest_model_versions(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef("other.example"))
    for n in range(5):
        db.models.save(domain, f"m{n}".encode(), {"n": n})
    db.models.save("other.example", b"x", {})
    assert db.models.prune(domain, keep=2) == 3
    latest = db.models.latest(domain)
    assert latest is not None and (latest.version, latest.blob) == (5, b"m4")
    assert db.models.prune(domain, keep=2) == 0
    assert db.models.prune(domain, keep=10) == 0
    assert db.models.prune(domain, keep=1) == 1
    assert db.models.latest_version(domain) == 5
    assert db.models.prune(domain, keep=0) == 1
    assert db.models.latest(domain) is None
    assert db.models.prune(domain, keep=0) == 0
    assert db.models.latest_version("other.example") == 1
    with pytest.raises(UnknownShop):
        db.models.prune("nowhere.example", keep=1)


def test_prune_never_deletes_a_version_saved_while_it_runs(db: storage.Store, domain: str) -> None:
    for n in range(5):
        db.models.save(domain, f"m{n}".encode(), {})
    saver = threading.Thread(target=lambda: db.models.save(domain, b"newest", {}))

    def save_meanwhile(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("DELETE FROM model_artifacts") and not saver.is_alive():
            saver.start()
            if db.dialect == "postgresql":
                # Committed between prune's read and its delete. (SQLite writers wait for
                # each other, so there the save simply runs after the prune.)
                saver.join(timeout=30)

    event.listen(db._engine, "before_cursor_execute", save_meanwhile)
    try:
        assert db.models.prune(domain, keep=1) == 4
    finally:
        event.remove(db._engine, "before_cursor_execute", save_meanwhile)
    saver.join(timeout=30)
    latest = db.models.latest(domain)
    assert latest is not None and (latest.version, latest.blob) == (6, b"newest")
    assert db.models.prune(domain, keep=2) == 0
