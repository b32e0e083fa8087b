"""Storefront events on SQLite and PostgreSQL: once per event id, gone with their shop."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cartwise import storage
from cartwise.domain import ShopRef
from cartwise.schemas import TrackedEvent


def ev(n: int, kind: str = "click") -> TrackedEvent:
    return TrackedEvent.model_validate(
        {"kind": kind, "product_id": f"p{n}", "session_id": "s", "event_id": f"e{n}"}
    )


def test_events_are_stored_once_per_event_id(db: storage.Store, domain: str) -> None:
    assert db.tracking.add_many(domain, [ev(1), ev(2, "impression"), ev(1)]) == 2
    assert db.tracking.add_many(domain, [ev(2, "impression"), ev(3)]) == 1
    assert db.tracking.add_many(domain, []) == 0
    assert db.tracking.counts(domain) == {"click": 2, "impression": 1}


def test_events_go_with_their_shop(db: storage.Store, domain: str) -> None:
    db.tracking.add_many(domain, [ev(1)])
    db.shops.delete(domain)
    db.shops.ensure(ShopRef(domain))
    assert db.tracking.counts(domain) == {}


def at_event(
    n: int, kind: str, when: str, placement: str | None, session: str = "s"
) -> TrackedEvent:
    return TrackedEvent.model_validate(
        {
            "kind": kind,
            "product_id": f"p{n % 3}",
            "session_id": session,
            "event_id": f"e{n}",
            "occurred_at": when,
            "placement": placement,
        }
    )


def test_new_events_are_counted_per_day_placement_and_kind(db: storage.Store, domain: str) -> None:
    batch = [
        at_event(1, "impression", "2026-11-01T23:59:59+00:00", "cart"),
        at_event(2, "impression", "2026-11-02T00:00:00+00:00", "cart"),
        at_event(3, "click", "2026-11-02T08:00:00+00:00", "cart"),
        # 01:00 in Berlin on the 3rd is still the 2nd in UTC
        at_event(4, "click", "2026-11-03T01:00:00+02:00", None),
    ]
    assert db.tracking.add_many(domain, batch) == 4
    # the same events again and one new: only the new one is counted
    assert (
        db.tracking.add_many(domain, [*batch, at_event(5, "click", "2026-11-02T09:00:00Z", "cart")])
        == 1
    )
    daily = [(d.day.isoformat(), d.placement, d.kind, d.count) for d in db.tracking.daily(domain)]
    assert daily == [
        ("2026-11-01", "cart", "impression", 1),
        ("2026-11-02", "", "click", 1),
        ("2026-11-02", "cart", "click", 2),
        ("2026-11-02", "cart", "impression", 1),
    ]
    since = db.tracking.daily(domain, since=date(2026, 11, 2))
    assert sum(d.count for d in since) == 4


def test_events_per_product_and_of_sessions_and_their_deletion(
    db: storage.Store, domain: str
) -> None:
    db.tracking.add_many(
        domain,
        [
            at_event(0, "impression", "2026-11-02T10:00:00Z", "cart", "s1"),
            at_event(3, "impression", "2026-11-02T10:00:00Z", "cart", "s2"),
            at_event(6, "click", "2026-11-02T10:01:00Z", "cart", "s2"),
            at_event(1, "impression", "2026-10-01T10:00:00Z", "cart", "s1"),
        ],
    )
    since = datetime(2026, 11, 1, tzinfo=UTC)
    assert db.tracking.by_product(domain, since) == {"p0": {"impression": 2, "click": 1}}
    got = sorted((e.session_id, e.kind) for e in db.tracking.of_sessions(domain, ["s2"]))
    assert got == [("s2", "click"), ("s2", "impression")]
    assert len(list(db.tracking.of_sessions(domain, ["s1"], since=since))) == 1
    assert db.tracking.delete_sessions(domain, ["s2", "nobody"]) == 2
    assert db.tracking.counts(domain) == {"impression": 2}
    # the daily counts name no one and stay
    assert sum(d.count for d in db.tracking.daily(domain)) == 4
