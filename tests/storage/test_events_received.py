"""`received_times`: when a shop's latest webhook deliveries arrived, newest first, its own only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from cartwise import storage
from cartwise.errors import InvalidRequest

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def arrive(db: storage.Store, shop: str, delivery_id: str, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        db.events.add_raw(
            shop, delivery_id=delivery_id, topic="orders/create", body=b"{}", headers={}
        )


def test_the_latest_deliveries_come_newest_first_and_only_the_shops_own(
    db: storage.Store,
) -> None:
    for n in range(5):
        arrive(db, "a.example", f"a{n}", T0 + timedelta(minutes=10 * n))
    arrive(db, "b.example", "b0", T0 + timedelta(hours=5))
    times = db.events.received_times("a.example", limit=3)
    assert times == [T0 + timedelta(minutes=m) for m in (40, 30, 20)]
    assert db.events.received_times("a.example") == [
        T0 + timedelta(minutes=10 * n) for n in reversed(range(5))
    ]
    assert db.events.received_times("nobody.example") == []


def test_a_limit_below_one_is_refused(db: storage.Store) -> None:
    with pytest.raises(InvalidRequest):
        db.events.received_times("a.example", limit=0)
