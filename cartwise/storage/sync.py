"""Backfill and sync progress per shop and resource (`sync_state`): what a resumed backfill
and the next reconciliation start from, and what the merchant's status page shows.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import delete, select

from cartwise.storage._base import Runner, insert_for
from cartwise.storage.schema import sync_state, to_utc

__all__ = ["SyncRepository", "SyncState"]


@dataclass(frozen=True, slots=True)
class SyncState:
    """`status`: "running" (a bulk operation is on), "done", "failed". `lines_done` counts the
    result lines whose records are stored; `window_start` is the oldest order the platform let
    us read (None: all history); `synced_until` where the next reconciliation starts."""

    shop: str
    resource: str
    status: str
    operation_id: str | None = None
    lines_done: int = 0
    objects_done: int = 0
    written: int = 0
    window_start: datetime | None = None
    synced_until: datetime | None = None
    message: str | None = None
    updated_at: datetime | None = None

    def but(self, **changes: object) -> SyncState:
        return replace(self, **changes)  # type: ignore[arg-type]


class SyncRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def get(self, domain: str, resource: str) -> SyncState | None:
        with self._runner.read(f"reading the sync state of {domain!r}") as conn:
            row = conn.execute(
                select(sync_state).where(
                    sync_state.c.shop_domain == domain, sync_state.c.resource == resource
                )
            ).first()
        if row is None:
            return None
        return SyncState(
            shop=row.shop_domain,
            resource=row.resource,
            status=row.status,
            operation_id=row.operation_id,
            lines_done=row.lines_done,
            objects_done=row.objects_done,
            written=row.written,
            window_start=row.window_start,
            synced_until=row.synced_until,
            message=row.message,
            updated_at=row.updated_at,
        )

    def for_shop(self, domain: str) -> list[SyncState]:
        return [
            state
            for resource in self._resources(domain)
            if (state := self.get(domain, resource)) is not None
        ]

    def _resources(self, domain: str) -> list[str]:
        with self._runner.read(f"reading the sync state of {domain!r}") as conn:
            return list(
                conn.execute(
                    select(sync_state.c.resource)
                    .where(sync_state.c.shop_domain == domain)
                    .order_by(sync_state.c.resource)
                ).scalars()
            )

    def save(self, state: SyncState) -> SyncState:
        """Insert or replace the state; `updated_at` is set to now."""
        saved = state.but(updated_at=datetime.now(UTC))
        values = {
            "shop_domain": saved.shop,
            "resource": saved.resource,
            "status": saved.status,
            "operation_id": saved.operation_id,
            "lines_done": saved.lines_done,
            "objects_done": saved.objects_done,
            "written": saved.written,
            "window_start": to_utc(saved.window_start) if saved.window_start else None,
            "synced_until": to_utc(saved.synced_until) if saved.synced_until else None,
            "message": saved.message,
            "updated_at": saved.updated_at,
        }
        with self._runner.write(f"saving the sync state of {saved.shop!r}") as conn:
            stmt = insert_for(conn, sync_state).values(**values)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[sync_state.c.shop_domain, sync_state.c.resource],
                    set_={k: v for k, v in values.items() if k not in ("shop_domain", "resource")},
                )
            )
        return saved

    def delete_for_shop(self, domain: str) -> int:
        with self._runner.write(f"deleting the sync state of {domain!r}") as conn:
            return int(
                conn.execute(delete(sync_state).where(sync_state.c.shop_domain == domain)).rowcount
            )
