from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from cartwise import storage
from cartwise.domain import ShopRef
from cartwise.errors import Conflict, InvalidRequest, UnknownShop


def test_versions_count_up_and_latest_is_the_newest(db: storage.Store, domain: str) -> None:
    assert db.models.latest(domain) is None
    assert db.models.latest_version(domain) is None
    before = datetime.now(UTC)
    assert db.models.save(domain, b"\x00first", {"n_items": 3}) == 1
    assert db.models.save(domain, b"\x00second", {"n_items": 4, "tags": ["a"]}) == 2
    latest = db.models.latest(domain)
    assert latest is not None
    assert (latest.version, latest.blob, latest.meta) == (
        2,
        b"\x00second",
        {"n_items": 4, "tags": ["a"]},
    )
    assert latest.created_at >= before
    assert latest.created_at.tzinfo == UTC
    assert db.models.latest_version(domain) == 2


def test_versions_are_per_shop(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef("other.example"))
    db.models.save(domain, b"a", {})
    db.models.save(domain, b"b", {})
    assert db.models.save("other.example", b"c", {}) == 1


def test_concurrent_saves_get_distinct_consecutive_versions(db: storage.Store, domain: str) -> None:
    threads, per_thread = 4, 5
    start = threading.Barrier(threads)
    versions: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        start.wait()
        try:
            for _ in range(per_thread):
                version = db.models.save(domain, b"blob", {})
                with lock:
                    versions.append(version)
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert sorted(versions) == list(range(1, threads * per_thread + 1))
    assert db.models.latest_version(domain) == threads * per_thread


def test_meta_must_be_json(db: storage.Store, domain: str) -> None:
    with pytest.raises(InvalidRequest):
        db.models.save(domain, b"x", {"when": datetime.now(UTC)})
    assert db.models.latest_version(domain) is None


def test_unknown_shop(db: storage.Store) -> None:
    with pytest.raises(UnknownShop):
        db.models.save("nowhere.example", b"x", {})
    with pytest.raises(UnknownShop):
        db.models.latest("nowhere.example")


def test_a_save_built_on_a_version_is_refused_once_another_was_saved_after_it(
    db: storage.Store, domain: str
) -> None:
    assert db.models.save(domain, b"base", {}) == 1
    assert db.models.save(domain, b"on 1", {}, after=1) == 2
    with pytest.raises(Conflict):
        db.models.save(domain, b"also on 1", {}, after=1)
    latest = db.models.latest(domain)
    assert latest is not None and (latest.version, latest.blob) == (2, b"on 1")
