from __future__ import annotations

import pytest

from cartwise import storage
from cartwise.errors import InvalidRequest, NotFound

BODY = b'{"id": 1, "note": "caf\xc3\xa9"}\n'


def add(db: storage.Store, delivery_id: str, event_id: str | None = None, **kw: str) -> bool:
    return db.events.add_raw(
        kw.get("shop", "s.example"),
        delivery_id=delivery_id,
        topic=kw.get("topic", "orders/create"),
        body=BODY,
        headers={"X-Shopify-Topic": "orders/create"},
        event_id=event_id,
    )


def test_a_delivery_is_stored_once_even_before_the_shop_is_known(db: storage.Store) -> None:
    assert add(db, "d1") is True
    assert add(db, "d1") is False
    [event] = db.events.pending()
    assert (event.shop, event.delivery_id, event.topic) == ("s.example", "d1", "orders/create")
    assert event.body == BODY
    assert event.headers == {"X-Shopify-Topic": "orders/create"}
    assert event.status == "pending"
    assert event.processed_at is None
    assert event.received_at.tzinfo is not None


def test_the_same_event_under_a_new_delivery_id_is_a_duplicate(db: storage.Store) -> None:
    assert add(db, "d1", event_id="e1") is True
    assert add(db, "d2", event_id="e1") is False
    assert add(db, "d3", event_id="e1", topic="orders/updated") is True
    assert add(db, "d4") is True
    assert add(db, "d5") is True


def test_delivery_ids_are_per_shop(db: storage.Store) -> None:
    assert add(db, "d1", shop="a.example") is True
    assert add(db, "d1", shop="b.example") is True


def test_mark_takes_events_out_of_pending(db: storage.Store) -> None:
    for delivery in ["d1", "d2", "d3"]:
        add(db, delivery)
    first, second, third = db.events.pending()
    db.events.mark(first.id, "processed")
    db.events.mark(second.id, "failed", error="bad payload")
    assert [e.delivery_id for e in db.events.pending()] == ["d3"]
    assert [e.delivery_id for e in db.events.pending(limit=1)] == [third.delivery_id]


def test_mark_can_drop_the_body_in_the_same_write(db: storage.Store) -> None:
    for delivery in ["d1", "d2"]:
        add(db, delivery)
    first, second = db.events.pending()
    db.events.mark(first.id, "processed", clear_body=True)
    db.events.mark(second.id, "processed")
    got = db.events.get_many([first.id, second.id])
    assert (got[first.id].status, got[first.id].body) == ("processed", b"")
    assert (got[second.id].status, got[second.id].body) == ("processed", BODY)


def test_get_many_reads_the_known_events_by_id(db: storage.Store) -> None:
    for delivery in ["d1", "d2", "d3"]:
        add(db, delivery)
    first, _, third = db.events.pending()
    got = db.events.get_many([third.id, first.id, third.id, 98765])
    assert sorted(got) == [first.id, third.id]
    assert got[first.id] == db.events.get(first.id)
    assert got[third.id].delivery_id == "d3"
    assert db.events.get_many([]) == {}


def test_mark_unknown_event_is_not_found(db: storage.Store) -> None:
    with pytest.raises(NotFound):
        db.events.mark(12345, "processed")


def test_empty_delivery_id_is_rejected(db: storage.Store) -> None:
    with pytest.raises(InvalidRequest):
        add(db, "")
