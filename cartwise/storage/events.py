"""The raw events repository: webhook deliveries stored once, as received, until a job runs them.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from cartwise.errors import InvalidRequest, NotFound
from cartwise.storage._base import (
    SQLITE_DATETIME,
    Runner,
    check_limit,
    chunked,
    insert_for,
    prepared,
    sqlite_insert_returning_id,
)
from cartwise.storage.schema import dead_letters, raw_events

__all__ = ["DeadLetter", "EventRepository", "EventStatus", "RawEvent"]

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


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A signed delivery that could not be used, kept with the reason."""

    id: int
    shop: str
    delivery_id: str | None
    topic: str
    reason: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime


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
        stored = self.add_raw_returning(
            domain,
            delivery_id=delivery_id,
            topic=topic,
            body=body,
            headers=headers,
            event_id=event_id,
        )
        return stored is not None

    def add_raw_returning(
        self,
        domain: str,
        *,
        delivery_id: str,
        topic: str,
        body: bytes,
        headers: Mapping[str, str],
        event_id: str | None = None,
    ) -> int | None:
        """Like `add_raw`, but returns the new event's id (None for a duplicate)."""
        if not delivery_id:
            raise InvalidRequest("a webhook delivery needs a delivery id")
        now = datetime.now(UTC)
        with self._runner.write(f"saving a {topic!r} event of {domain!r}") as conn:
            if conn.dialect.name == "sqlite":
                return sqlite_insert_returning_id(
                    conn,
                    raw_events,
                    {
                        "shop_domain": domain,
                        "delivery_id": delivery_id,
                        "topic": topic,
                        "event_id": event_id or None,
                        "headers": json.dumps(dict(headers)),
                        "body": bytes(body),
                        "received_at": now.replace(tzinfo=None).strftime(SQLITE_DATETIME),
                        "status": "pending",
                    },
                )
            stmt = prepared(conn, "raw_events.insert", _insert_event)
            stored = conn.execute(
                stmt,
                {
                    "shop_domain": domain,
                    "delivery_id": delivery_id,
                    "topic": topic,
                    "event_id": event_id or None,
                    "headers": dict(headers),
                    "body": bytes(body),
                    "received_at": now,
                    "status": "pending",
                },
            ).scalar_one_or_none()
        return None if stored is None else int(stored)

    def get(self, event_pk: int) -> RawEvent | None:
        with self._runner.read(f"reading event {event_pk}") as conn:
            row = conn.execute(select(raw_events).where(raw_events.c.id == event_pk)).one_or_none()
        return None if row is None else _to_event(row)

    def get_many(self, event_pks: Iterable[int]) -> dict[int, RawEvent]:
        """The stored events among `event_pks`, by id (a batch of jobs' events in one read)."""
        found: dict[int, RawEvent] = {}
        with self._runner.read("reading events") as conn:
            for batch in chunked(dict.fromkeys(event_pks), 500):
                rows = conn.execute(select(raw_events).where(raw_events.c.id.in_(batch)))
                found.update((row.id, _to_event(row)) for row in rows)
        return found

    def for_shop(self, domain: str, *, status: EventStatus | None = None) -> list[RawEvent]:
        """The shop's stored events in arrival order (optionally only those of `status`)."""
        with self._runner.read(f"reading events of {domain!r}") as conn:
            query = select(raw_events).where(raw_events.c.shop_domain == domain)
            if status is not None:
                query = query.where(raw_events.c.status == status)
            rows = conn.execute(query.order_by(raw_events.c.id)).all()
        return [_to_event(row) for row in rows]

    def count(self, domain: str | None = None) -> int:
        with self._runner.read("counting events") as conn:
            query = select(func.count()).select_from(raw_events)
            if domain is not None:
                query = query.where(raw_events.c.shop_domain == domain)
            return int(conn.execute(query).scalar_one())

    def received_times(self, domain: str, *, limit: int = 50) -> list[datetime]:
        """When the shop's latest `limit` deliveries arrived, newest first (the dashboard's
        webhook-silence check). Reads neither bodies nor headers."""
        check_limit(limit)
        with self._runner.read(f"reading delivery times of {domain!r}") as conn:
            rows = conn.execute(
                select(raw_events.c.received_at)
                .where(raw_events.c.shop_domain == domain)
                .order_by(raw_events.c.id.desc())
                .limit(limit)
            ).scalars()
            return list(rows)

    def delete_for_shop(self, domain: str) -> int:
        with self._runner.write(f"deleting events of {domain!r}") as conn:
            n = conn.execute(delete(raw_events).where(raw_events.c.shop_domain == domain)).rowcount
            n += conn.execute(
                delete(dead_letters).where(dead_letters.c.shop_domain == domain)
            ).rowcount
        return int(n)

    def blank_bodies(self, domain: str, predicate: Callable[[bytes], bool]) -> int:
        """Blank the body of every stored event and dead letter of the shop for which
        `predicate(body)` holds (e.g. it names a redacted customer); returns how many."""
        blanked = 0
        with self._runner.write(f"redacting events of {domain!r}") as conn:
            for table in (raw_events, dead_letters):
                rows = conn.execute(
                    select(table.c.id, table.c.body).where(
                        table.c.shop_domain == domain, func.length(table.c.body) > 0
                    )
                ).all()
                hits = [row.id for row in rows if predicate(bytes(row.body))]
                if hits:
                    conn.execute(update(table).where(table.c.id.in_(hits)).values(body=b""))
                    blanked += len(hits)
        return blanked

    def dead_letter(
        self,
        domain: str,
        *,
        topic: str,
        reason: str,
        body: bytes,
        headers: Mapping[str, str],
        delivery_id: str | None = None,
    ) -> int:
        with self._runner.write(f"dead-lettering a {topic!r} event of {domain!r}") as conn:
            return int(
                conn.execute(
                    insert(dead_letters)
                    .values(
                        shop_domain=domain,
                        delivery_id=delivery_id,
                        topic=topic,
                        reason=reason[:2000],
                        headers=dict(headers),
                        body=bytes(body),
                        received_at=datetime.now(UTC),
                    )
                    .returning(dead_letters.c.id)
                ).scalar_one()
            )

    def dead_letters(self, domain: str | None = None, *, limit: int = 100) -> list[DeadLetter]:
        check_limit(limit)
        with self._runner.read("reading dead letters") as conn:
            query = select(dead_letters)
            if domain is not None:
                query = query.where(dead_letters.c.shop_domain == domain)
            rows = conn.execute(query.order_by(dead_letters.c.id).limit(limit)).all()
        return [
            DeadLetter(
                id=row.id,
                shop=row.shop_domain,
                delivery_id=row.delivery_id,
                topic=row.topic,
                reason=row.reason,
                headers=dict(row.headers),
                body=bytes(row.body),
                received_at=row.received_at,
            )
            for row in rows
        ]

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

    def mark(
        self,
        event_pk: int,
        status: EventStatus,
        *,
        error: str | None = None,
        clear_body: bool = False,
    ) -> None:
        """Record what a job did with the event `event_pk` (its `RawEvent.id`); with
        `clear_body`, drop its body in the same statement (a handled event's body may hold
        personal data; the row stays, so later duplicates of the delivery are still
        recognised)."""
        values: dict[str, object] = {
            "status": status,
            "error": error,
            "processed_at": None if status == "pending" else datetime.now(UTC),
        }
        if clear_body:
            values["body"] = b""
        with self._runner.write(f"marking event {event_pk}") as conn:
            result = conn.execute(
                update(raw_events).where(raw_events.c.id == event_pk).values(**values)
            )
            if result.rowcount == 0:
                raise NotFound(f"unknown event {event_pk}")


def _insert_event(conn: Connection) -> Any:
    return insert_for(conn, raw_events).on_conflict_do_nothing().returning(raw_events.c.id)


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
