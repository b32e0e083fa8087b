"""The two queries `/metrics` makes at scrape time: pending jobs by state, and the newest model
of each recently trained shop."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from cartwise import storage
from cartwise.domain import ShopRef
from cartwise.errors import InvalidRequest


def test_pending_jobs_are_counted_by_state_and_finished_ones_left_out(
    db: storage.Store,
) -> None:
    assert db.jobs.pending() == {"due": 0, "scheduled": 0, "running": 0}
    now = datetime.now(UTC)
    for n in range(3):
        db.jobs.enqueue("sync", "s.example", {"n": n}, run_after=now - timedelta(minutes=n))
    db.jobs.enqueue("rebuild", "s.example", run_after=now + timedelta(hours=1))
    done, failed, running = db.jobs.claim(limit=3)
    db.jobs.finish(done.id)
    db.jobs.fail(failed.id, "boom")
    db.jobs.enqueue("sync", "t.example")

    assert db.jobs.pending() == {"due": 1, "scheduled": 1, "running": 1}
    db.jobs.finish(running.id)
    assert db.jobs.pending() == {"due": 1, "scheduled": 1, "running": 0}


def test_newest_model_per_shop_most_recently_trained_first(db: storage.Store, domain: str) -> None:
    assert db.models.newest_per_shop() == []
    db.shops.ensure(ShopRef("other.example"))
    db.shops.ensure(ShopRef("never-trained.example"))
    db.models.save(domain, b"a", {})
    time.sleep(0.01)
    db.models.save("other.example", b"b", {})
    time.sleep(0.01)
    db.models.save(domain, b"c", {})
    newest = db.models.latest(domain)
    assert newest is not None

    found = db.models.newest_per_shop()

    assert [shop for shop, _ in found] == [domain, "other.example"]
    assert found[0][1] == newest.created_at
    assert all(created.tzinfo == UTC for _, created in found)
    assert db.models.newest_per_shop(limit=1) == found[:1]


def test_newest_model_per_shop_needs_a_positive_limit(db: storage.Store) -> None:
    with pytest.raises(InvalidRequest):
        db.models.newest_per_shop(limit=0)
