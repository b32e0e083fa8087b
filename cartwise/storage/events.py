"""The raw events repository: webhook deliveries stored once, as received, until a job runs them.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Row, select, update

from cartwise.errors import InvalidRequest, NotFound
from cartwise.storage._base import Runner, check_limit, insert_for
from cartwise.storage.schema import raw_events

__all__ = ["EventRepository", "EventStatus", "RawEvent"]

EventStatus = Literal["pending", "processed", "failed", "ignored"]


@dataclass(frozen=True, slots=True)
class RawEvent:
    """A webhook delivery as received: `body` is the exact bytes its signature was checked on."""

    id: int
    shop: str
    delivery_id: str
    topic: str
    event_id: str | None
    headers: dict[str, str]
    body: bytes
    received_at: datetime
    processed_at: datetime | None
    status: str
    error: str | None


class EventRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def add_raw(
        self,
        domain: str,
        *,
        delivery_id: str,
        topic: str,
        body: bytes,
        headers: Mapping[str, str],
        event_id: str | None = None,
    ) -> bool:
        """Store a delivery as pending; False when it is a duplicate (the same delivery id, or
        the same event id for the same topic). The shop need not be known yet."""
        if not delivery_id:
            raise InvalidRequest("a webhook delivery needs a delivery id")
        with self._runner.write(f"saving a {topic!r} event of {domain!r}") as conn:
            stmt = insert_for(conn, raw_events).values(
                shop_domain=domain,
                delivery_id=delivery_id,
                topic=topic,
                event_id=event_id or None,
                headers=dict(headers),
                body=bytes(body),
                received_at=datetime.now(UTC),
                status="pending",
            )
            stored = conn.execute(
                stmt.on_conflict_do_nothing().returning(raw_events.c.id)
            ).scalar_one_or_none()
        return stored is not None

    def pending(self, *, limit: int = 100) -> list[RawEvent]:
        """The oldest events no job has handled yet, across all shops, in arrival order."""
        check_limit(limit)
        with self._runner.read("reading pending events") as conn:
            rows = conn.execute(
                select(raw_events)
                .where(raw_events.c.status == "pending")
                .order_by(raw_events.c.id)
                .limit(limit)
            ).all()
        return [_to_event(row) for row in rows]

    def mark(self, event_pk: int, status: EventStatus, *, error: str | None = None) -> None:
        """Record what a job did with the event `event_pk` (its `RawEvent.id`)."""
        with self._runner.write(f"marking event {event_pk}") as conn:
            result = conn.execute(
                update(raw_events)
                .where(raw_events.c.id == event_pk)
                .values(
                    status=status,
                    error=error,
                    processed_at=None if status == "pending" else datetime.now(UTC),
                )
            )
            if result.rowcount == 0:
                raise NotFound(f"unknown event {event_pk}")


def _to_event(row: Row[Any]) -> RawEvent:
    return RawEvent(
        id=row.id,
        shop=row.shop_domain,
        delivery_id=row.delivery_id,
        topic=row.topic,
        event_id=row.event_id,
        headers=dict(row.headers),
        body=bytes(row.body),
        received_at=row.received_at,
        processed_at=row.processed_at,
        status=row.status,
        error=row.error,
    )
