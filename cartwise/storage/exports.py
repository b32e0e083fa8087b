"""The privacy exports repository: answers to customers/data_request, kept for the merchant.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from cartwise.storage._base import Runner, check_limit, insert_for
from cartwise.storage.schema import privacy_exports

__all__ = ["ExportRecord", "ExportRepository"]


@dataclass(frozen=True, slots=True)
class ExportRecord:
    id: int
    shop: str
    request_id: str | None
    document: dict[str, Any]
    created_at: datetime


class ExportRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def save(self, domain: str, request_id: str | None, document: dict[str, Any]) -> None:
        """Store an export; the same request id again keeps the first answer (idempotent)."""
        with self._runner.write(f"saving a data export of {domain!r}") as conn:
            stmt = insert_for(conn, privacy_exports).values(
                shop_domain=domain,
                request_id=request_id,
                document=document,
                created_at=datetime.now(UTC),
            )
            conn.execute(stmt.on_conflict_do_nothing())

    def list(self, domain: str, *, limit: int = 50) -> list[ExportRecord]:
        check_limit(limit)
        with self._runner.read(f"reading data exports of {domain!r}") as conn:
            rows = conn.execute(
                select(privacy_exports)
                .where(privacy_exports.c.shop_domain == domain)
                .order_by(privacy_exports.c.id.desc())
                .limit(limit)
            ).all()
        return [
            ExportRecord(
                row.id, row.shop_domain, row.request_id, dict(row.document), row.created_at
            )
            for row in rows
        ]

    def delete_for_customer(self, domain: str, customer_id: str) -> int:
        """Delete the exports made for one customer (by platform id); returns how many."""
        with self._runner.write(f"deleting a customer's data exports of {domain!r}") as conn:
            rows = conn.execute(
                select(privacy_exports.c.id, privacy_exports.c.document).where(
                    privacy_exports.c.shop_domain == domain
                )
            ).all()
            doomed = [r.id for r in rows if str(r.document.get("customer_id")) == customer_id]
            if doomed:
                conn.execute(delete(privacy_exports).where(privacy_exports.c.id.in_(doomed)))
        return len(doomed)

    def delete_for_shop(self, domain: str) -> int:
        with self._runner.write(f"deleting data exports of {domain!r}") as conn:
            return int(
                conn.execute(
                    delete(privacy_exports).where(privacy_exports.c.shop_domain == domain)
                ).rowcount
            )
