"""Retention: what names or could name a shopper is kept for a limited time, across every
shop at once. Old webhook deliveries, storefront events, exposures, carts and privacy exports
are deleted; old orders keep their lines (the model's co-occurrence history) but lose their
customer and session keys, so they no longer point at anyone.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from cartwise.storage._base import Runner, chunked
from cartwise.storage.schema import (
    carts,
    dead_letters,
    exposures,
    order_sessions,
    orders,
    privacy_exports,
    raw_events,
    to_utc,
    tracked_events,
)

__all__ = ["RetentionRepository"]


class RetentionRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def purge(self, before: datetime) -> dict[str, int]:
        """Apply retention to everything older than `before`; returns what was done, per kind.
        Webhook deliveries still waiting to be processed are never deleted."""
        cutoff = to_utc(before)
        done: dict[str, int] = {}
        with self._runner.write("applying retention") as conn:
            done["webhook_deliveries"] = conn.execute(
                delete(raw_events).where(
                    raw_events.c.received_at < cutoff, raw_events.c.status != "pending"
                )
            ).rowcount
            done["dead_letters"] = conn.execute(
                delete(dead_letters).where(dead_letters.c.received_at < cutoff)
            ).rowcount
            done["storefront_events"] = conn.execute(
                delete(tracked_events).where(tracked_events.c.received_at < cutoff)
            ).rowcount
            done["exposures"] = conn.execute(
                delete(exposures).where(exposures.c.last_at < cutoff)
            ).rowcount
            done["carts"] = conn.execute(delete(carts).where(carts.c.updated_at < cutoff)).rowcount
            done["privacy_exports"] = conn.execute(
                delete(privacy_exports).where(privacy_exports.c.created_at < cutoff)
            ).rowcount
            old = conn.execute(
                select(orders.c.shop_id, orders.c.order_id).where(orders.c.created_at < cutoff)
            ).all()
            sessions = 0
            for chunk in chunked(old, 500):
                for shop_id in {row.shop_id for row in chunk}:
                    ids = [row.order_id for row in chunk if row.shop_id == shop_id]
                    sessions += conn.execute(
                        delete(order_sessions).where(
                            order_sessions.c.shop_id == shop_id,
                            order_sessions.c.order_id.in_(ids),
                        )
                    ).rowcount
            done["order_session_keys"] = sessions
            done["orders_anonymised"] = conn.execute(
                update(orders)
                .where(orders.c.created_at < cutoff, orders.c.customer_id.is_not(None))
                .values(customer_id=None)
            ).rowcount
        return {kind: int(n) for kind, n in done.items()}
