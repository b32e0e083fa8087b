"""Retention on SQLite and PostgreSQL: what could name a shopper goes after the cutoff, orders
stay for the model without their customer, pending deliveries are never lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cartwise import storage
from cartwise.domain import Cart, CartLine, Order, OrderLine
from cartwise.privacy import apply_retention
from cartwise.schemas import TrackedEvent
from cartwise.storage.experiments import ExposureRecord

NOW = datetime.now(UTC)


def fill(db: storage.Store, domain: str) -> int:
    """One of everything; returns the pk of a delivery still pending."""
    pending = db.events.add_raw_returning(
        domain, delivery_id="d-pending", topic="orders/create", body=b"{}", headers={}
    )
    done = db.events.add_raw_returning(
        domain, delivery_id="d-done", topic="orders/create", body=b"{}", headers={}
    )
    assert pending is not None and done is not None
    db.events.mark(done, "processed")
    db.tracking.add_many(
        domain,
        [
            TrackedEvent.model_validate(
                {"kind": "click", "product_id": "a", "session_id": "s1", "event_id": "e1"}
            )
        ],
    )
    db.experiments.record_exposures(
        domain, [ExposureRecord("x", "s1", "cart", "model", False, NOW, NOW, "c1")]
    )
    db.carts.upsert(domain, Cart("cart-1", NOW, (CartLine("a"),), customer_id="c1"))
    db.exports.save(domain, "req-1", {"customer": "c1"})
    old, recent = NOW - timedelta(days=200), NOW - timedelta(days=10)
    db.orders.upsert_many(
        domain,
        [
            Order("old", old, (OrderLine("a", 1, 2.0),), customer_id="c1"),
            Order("recent", recent, (OrderLine("b", 1, 3.0),), customer_id="c1"),
        ],
    )
    db.orders.add_sessions(domain, "old", ["tok-old"])
    db.orders.add_sessions(domain, "recent", ["tok-recent"])
    return pending


def test_nothing_younger_than_the_cutoff_is_touched(db: storage.Store, domain: str) -> None:
    fill(db, domain)
    done = db.retention.purge(NOW - timedelta(days=300))
    assert set(done.values()) == {0}


def test_everything_older_goes_and_orders_lose_their_keys(db: storage.Store, domain: str) -> None:
    pending = fill(db, domain)
    done = apply_retention(db, 180, now=NOW)
    # only the old order is past 180 days; the rest was made just now
    assert done["orders_anonymised"] == 1 and done["order_session_keys"] == 1
    old = db.orders.get(domain, "old")
    assert old is not None and old.customer_id is None and old.lines[0].product_id == "a"
    recent = db.orders.get(domain, "recent")
    assert recent is not None and recent.customer_id == "c1"
    assert db.orders.sessions_of(domain, ["old", "recent"]) == {"recent": ("tok-recent",)}
    # a cutoff in the future takes everything else that may name someone
    done = db.retention.purge(NOW + timedelta(days=1))
    assert done["webhook_deliveries"] == 1  # the processed one; the pending one stays
    assert [e.id for e in db.events.for_shop(domain)] == [pending]
    assert done["storefront_events"] == 1 and db.tracking.counts(domain) == {}
    assert done["exposures"] == 1 and db.experiments.exposures(domain, "x") == []
    assert done["carts"] == 1 and done["privacy_exports"] == 1
    assert db.exports.list(domain) == []
    # the per-day counts name no one and stay
    assert sum(d.count for d in db.tracking.daily(domain)) == 1
    assert db.orders.count(domain) == 2
