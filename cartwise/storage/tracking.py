"""Storefront events (impressions, clicks, add-to-carts of recommended products): stored once
per shop and event id, so a batch the storefront sends again changes nothing. New events are
also counted per day, placement and kind in the same transaction (`event_daily`), which is what
the dashboard reads.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Connection, delete, func, select

from cartwise.schemas import EventKind, TrackedEvent
from cartwise.storage._base import Runner, chunked, insert_for, prepared, require_shop_id
from cartwise.storage.schema import event_daily, to_utc, tracked_events

__all__ = ["DailyCount", "StoredEvent", "TrackingRepository"]


@dataclass(frozen=True, slots=True)
class DailyCount:
    day: date
    placement: str
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    kind: EventKind
    product_id: str
    session_id: str
    occurred_at: datetime
    placement: str | None
    request_id: str | None


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
            stmt = prepared(conn, "tracked_events.insert", _insert_events)
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
                new_ids = {str(r[0]) for r in result.all()}
                added += len(new_ids)
                counts: Counter[tuple[date, str, str]] = Counter(
                    (to_utc(e.occurred_at).date(), str(e.placement or ""), str(e.kind))
                    for e in chunk
                    if e.event_id in new_ids
                )
                _count_daily(conn, shop_id, counts)
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

    def by_product(self, domain: str, since: datetime) -> dict[str, dict[str, int]]:
        """Events of the shop since `since`, counted per product and kind."""
        out: dict[str, dict[str, int]] = {}
        with self._runner.read(f"counting events per product of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            rows = conn.execute(
                select(tracked_events.c.product_id, tracked_events.c.kind, func.count())
                .where(
                    tracked_events.c.shop_id == shop_id,
                    tracked_events.c.occurred_at >= to_utc(since),
                )
                .group_by(tracked_events.c.product_id, tracked_events.c.kind)
            ).all()
        for product_id, kind, n in rows:
            out.setdefault(str(product_id), {})[str(kind)] = int(n)
        return out

    def delete_sessions(self, domain: str, sessions: Iterable[str]) -> int:
        """Delete every event of these sessions (a redacted customer's); the daily counts,
        which name no one, stay. Returns how many events were deleted."""
        deleted = 0
        with self._runner.write(f"deleting events of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            for chunk in chunked(dict.fromkeys(sessions), 500):
                result = conn.execute(
                    delete(tracked_events).where(
                        tracked_events.c.shop_id == shop_id,
                        tracked_events.c.session_id.in_(chunk),
                    )
                )
                deleted += int(result.rowcount or 0)
        return deleted

    def daily(self, domain: str, since: date | None = None) -> list[DailyCount]:
        """Events of the shop counted per day, placement and kind, oldest day first."""
        with self._runner.read(f"reading daily event counts of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            query = select(event_daily).where(event_daily.c.shop_id == shop_id)
            if since is not None:
                query = query.where(event_daily.c.day >= since)
            rows = conn.execute(
                query.order_by(event_daily.c.day, event_daily.c.placement, event_daily.c.kind)
            ).all()
        return [DailyCount(r.day, r.placement, r.kind, int(r._mapping["count"])) for r in rows]

    def of_sessions(
        self, domain: str, sessions: Iterable[str], since: datetime | None = None
    ) -> Iterator[StoredEvent]:
        """The events of these sessions (from `since` on), read 500 sessions at a time."""
        with self._runner.read(f"reading events of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
        for chunk in chunked(dict.fromkeys(sessions), 500):
            query = select(
                tracked_events.c.kind,
                tracked_events.c.product_id,
                tracked_events.c.session_id,
                tracked_events.c.occurred_at,
                tracked_events.c.placement,
                tracked_events.c.request_id,
            ).where(tracked_events.c.shop_id == shop_id, tracked_events.c.session_id.in_(chunk))
            if since is not None:
                query = query.where(tracked_events.c.occurred_at >= to_utc(since))
            with self._runner.read(f"reading events of {domain!r}") as conn:
                rows = conn.execute(query).all()
            for r in rows:
                yield StoredEvent(
                    cast(EventKind, r.kind),
                    r.product_id,
                    r.session_id,
                    r.occurred_at,
                    r.placement,
                    r.request_id,
                )


def _insert_events(conn: Connection) -> Any:
    return (
        insert_for(conn, tracked_events)
        .on_conflict_do_nothing()
        .returning(tracked_events.c.event_id)
    )


def _upsert_daily(conn: Connection) -> Any:
    stmt = insert_for(conn, event_daily)
    return stmt.on_conflict_do_update(
        index_elements=["shop_id", "day", "placement", "kind"],
        set_={"count": event_daily.c.count + stmt.excluded.count},
    )


def _count_daily(conn: Connection, shop_id: int, counts: Counter[tuple[date, str, str]]) -> None:
    if not counts:
        return
    stmt = prepared(conn, "event_daily.upsert", _upsert_daily)
    conn.execute(
        stmt,
        [
            {"shop_id": shop_id, "day": day, "placement": placement, "kind": kind, "count": n}
            for (day, placement, kind), n in sorted(counts.items())
        ],
    )
