"""Storefront events on SQLite and PostgreSQL: once per event id, gone with their shop."""

from __future__ import annotations

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
