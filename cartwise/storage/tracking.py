"""Storefront events (impressions, clicks, add-to-carts of recommended products): stored once
per shop and event id, so a batch the storefront sends again changes nothing.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import func, select

from cartwise.schemas import TrackedEvent
from cartwise.storage._base import Runner, chunked, insert_for, require_shop_id
from cartwise.storage.schema import to_utc, tracked_events

__all__ = ["TrackingRepository"]


class TrackingRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def add_many(self, domain: str, events: Iterable[TrackedEvent]) -> int:
        """Store the events not seen before (by event id); returns how many were new."""
        now = datetime.now(UTC)
        rows = {e.event_id: e for e in events}
        if not rows:
            return 0
        added = 0
        with self._runner.write(f"storing events of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = (
                insert_for(conn, tracked_events)
                .on_conflict_do_nothing()
                .returning(tracked_events.c.event_id)
            )
            for chunk in chunked(rows.values(), 500):
                result = conn.execute(
                    stmt,
                    [
                        {
                            "shop_id": shop_id,
                            "event_id": e.event_id,
                            "kind": e.kind,
                            "product_id": e.product_id,
                            "session_id": e.session_id,
                            "request_id": e.request_id,
                            "placement": e.placement,
                            "occurred_at": to_utc(e.occurred_at),
                            "received_at": now,
                        }
                        for e in chunk
                    ],
                )
                added += len(result.all())
        return added

    def counts(self, domain: str) -> dict[str, int]:
        """Events of the shop by kind."""
        with self._runner.read(f"counting events of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            query = (
                select(tracked_events.c.kind, func.count())
                .where(tracked_events.c.shop_id == shop_id)
                .group_by(tracked_events.c.kind)
            )
            return {str(kind): int(n) for kind, n in conn.execute(query)}
