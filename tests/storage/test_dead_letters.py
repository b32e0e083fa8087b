"""Raw events by id, dead letters, and blanking or deleting what a shop's deliveries hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartwise import storage
from cartwise.errors import InvalidRequest

SHOP = "s.example"
OTHER = "other.example"
HEADERS = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": "abc="}


def add(
    db: storage.Store,
    delivery_id: str,
    body: bytes = b'{"id": 1}',
    *,
    shop: str = SHOP,
    topic: str = "orders/create",
    event_id: str | None = None,
) -> int | None:
    return db.events.add_raw_returning(
        shop, delivery_id=delivery_id, topic=topic, body=body, headers=HEADERS, event_id=event_id
    )


def letter(db: storage.Store, body: bytes, *, shop: str = SHOP, reason: str = "bad") -> int:
    return db.events.dead_letter(
        shop, topic="orders/create", reason=reason, body=body, headers=HEADERS, delivery_id="d"
    )


def test_add_raw_returning_returns_the_id_then_none_for_duplicates(db: storage.Store) -> None:
    first = add(db, "d1", event_id="e1")
    assert first is not None
    assert add(db, "d1", event_id="e-other") is None
    assert add(db, "d2", event_id="e1") is None
    second = add(db, "d3", event_id="e1", topic="orders/updated")
    third = add(db, "d4", event_id="")
    fourth = add(db, "d5", event_id="")
    assert None not in (second, third, fourth)
    assert len({first, second, third, fourth}) == 4
    # The same delivery id in another shop is another delivery.
    assert add(db, "d1", shop=OTHER, event_id="e1") is not None
    event = db.events.get(first)
    assert event is not None
    assert (event.id, event.shop, event.delivery_id, event.topic, event.event_id) == (
        first,
        SHOP,
        "d1",
        "orders/create",
        "e1",
    )
    assert (event.body, event.headers, event.status) == (b'{"id": 1}', HEADERS, "pending")
    assert db.events.get(10_000) is None


def test_add_raw_returning_inside_a_transaction_rolls_back(db: storage.Store) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        assert (
            tx.events.add_raw_returning(SHOP, delivery_id="d1", topic="t", body=b"x", headers={})
            is not None
        )
        raise RuntimeError("abort")
    assert db.events.count() == 0
    assert add(db, "d1") is not None
    with pytest.raises(InvalidRequest):
        add(db, "")


def test_for_shop_and_count(db: storage.Store) -> None:
    ids = [add(db, f"d{i}") for i in range(3)]
    add(db, "d0", shop=OTHER)
    assert [e.id for e in db.events.for_shop(SHOP)] == ids
    assert ids[1] is not None
    db.events.mark(ids[1], "processed")
    assert [e.id for e in db.events.for_shop(SHOP, status="pending")] == [ids[0], ids[2]]
    assert [e.id for e in db.events.for_shop(SHOP, status="processed")] == [ids[1]]
    assert db.events.for_shop("nowhere.example") == []
    assert db.events.count(SHOP) == 3
    assert db.events.count(OTHER) == 1
    assert db.events.count() == 4


def test_clearing_the_body_keeps_the_row_and_its_duplicate_check(db: storage.Store) -> None:
    event_id = add(db, "d1", b'{"email": "a@example.com"}', event_id="e1")
    assert event_id is not None
    db.events.mark(event_id, "processed", clear_body=True)
    event = db.events.get(event_id)
    assert event is not None and event.body == b"" and event.headers == HEADERS
    assert add(db, "d1") is None
    assert add(db, "d2", event_id="e1") is None


def test_dead_letters_are_kept_with_their_reason(db: storage.Store) -> None:
    before = datetime.now(UTC)
    first = letter(db, b"\x00not json", reason="unreadable: " + "x" * 3000)
    second = db.events.dead_letter(
        OTHER, topic="carts/update", reason="no shop", body=b"{}", headers={}
    )
    third = letter(db, b"{}")
    assert len({first, second, third}) == 3
    mine = db.events.dead_letters(SHOP)
    assert [d.id for d in mine] == [first, third]
    assert (mine[0].shop, mine[0].delivery_id, mine[0].topic) == (SHOP, "d", "orders/create")
    assert mine[0].body == b"\x00not json"
    assert mine[0].headers == HEADERS
    assert mine[0].reason.startswith("unreadable: ") and len(mine[0].reason) == 2000
    assert mine[0].received_at.tzinfo == UTC
    assert mine[0].received_at >= before - timedelta(seconds=1)
    [theirs] = db.events.dead_letters(OTHER)
    assert (theirs.id, theirs.delivery_id, theirs.topic) == (second, None, "carts/update")
    assert [d.id for d in db.events.dead_letters()] == [first, second, third]
    assert [d.id for d in db.events.dead_letters(limit=2)] == [first, second]
    with pytest.raises(InvalidRequest):
        db.events.dead_letters(limit=0)


def test_blank_bodies_blanks_only_matching_rows_of_the_shop(db: storage.Store) -> None:
    hit = add(db, "d1", b'{"customer": 7}')
    miss = add(db, "d2", b'{"customer": 8}')
    add(db, "d1", b'{"customer": 7}', shop=OTHER)
    letter_hit = letter(db, b'{"customer": 7, "x": 1}')
    letter_miss = letter(db, b'{"customer": 9}')
    letter_other = letter(db, b'{"customer": 7}', shop=OTHER)
    cleared = add(db, "d3", b'{"customer": 7}')
    assert cleared is not None
    db.events.mark(cleared, "processed", clear_body=True)
    seen: list[bytes] = []

    def names_seven(body: bytes) -> bool:
        seen.append(body)
        return b'"customer": 7' in body

    assert db.events.blank_bodies(SHOP, names_seven) == 2
    # The predicate saw only this shop's non-empty bodies.
    assert sorted(seen) == sorted(
        [b'{"customer": 7}', b'{"customer": 8}', b'{"customer": 7, "x": 1}', b'{"customer": 9}']
    )
    bodies = {e.id: e.body for e in db.events.for_shop(SHOP)}
    assert hit is not None and miss is not None
    assert (bodies[hit], bodies[miss], bodies[cleared]) == (b"", b'{"customer": 8}', b"")
    letters = {d.id: d.body for d in db.events.dead_letters(SHOP)}
    assert (letters[letter_hit], letters[letter_miss]) == (b"", b'{"customer": 9}')
    assert [e.body for e in db.events.for_shop(OTHER)] == [b'{"customer": 7}']
    assert [(d.id, d.body) for d in db.events.dead_letters(OTHER)] == [
        (letter_other, b'{"customer": 7}')
    ]
    assert db.events.blank_bodies(SHOP, names_seven) == 0


def test_delete_for_shop_removes_its_events_and_dead_letters(db: storage.Store) -> None:
    add(db, "d1")
    add(db, "d2")
    letter(db, b"{}")
    add(db, "d1", shop=OTHER)
    letter(db, b"{}", shop=OTHER)
    assert db.events.delete_for_shop(SHOP) == 3
    assert db.events.count(SHOP) == 0
    assert db.events.dead_letters(SHOP) == []
    assert db.events.count(OTHER) == 1
    assert len(db.events.dead_letters(OTHER)) == 1
    assert db.events.delete_for_shop(SHOP) == 0
    # Deleted, the delivery is new again.
    assert add(db, "d1") is not None
