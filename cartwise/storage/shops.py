"""The shops repository: the shops cartwise knows, keyed by domain.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime

from sqlalchemy import delete, select

from cartwise.domain import Platform, ShopRef
from cartwise.errors import InvalidRequest
from cartwise.storage._base import Runner, insert_for
from cartwise.storage.schema import shops

__all__ = ["ShopRepository"]


class ShopRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def ensure(self, shop: ShopRef) -> None:
        """Record `shop` if it is new, else update its platform; safe to call on every request."""
        domain = shop.domain
        if not domain or domain != domain.strip() or len(domain) > 255:
            raise InvalidRequest(f"invalid shop domain {domain!r}")
        with self._runner.write(f"saving shop {domain!r}") as conn:
            stmt = insert_for(conn, shops).values(
                domain=domain, platform=str(shop.platform), created_at=datetime.now(UTC)
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[shops.c.domain],
                    set_={"platform": stmt.excluded.platform},
                    where=shops.c.platform != stmt.excluded.platform,
                )
            )

    def get(self, domain: str) -> ShopRef | None:
        with self._runner.read(f"reading shop {domain!r}") as conn:
            row = conn.execute(
                select(shops.c.domain, shops.c.platform).where(shops.c.domain == domain)
            ).one_or_none()
        return None if row is None else ShopRef(row.domain, Platform(row.platform))

    def list(self) -> builtins.list[ShopRef]:
        """Every known shop, by domain."""
        with self._runner.read("listing shops") as conn:
            rows = conn.execute(
                select(shops.c.domain, shops.c.platform).order_by(shops.c.domain)
            ).all()
        return [ShopRef(row.domain, Platform(row.platform)) for row in rows]

    def delete(self, domain: str) -> bool:
        """Delete the shop and, by cascade, everything stored under it; False when unknown."""
        with self._runner.write(f"deleting shop {domain!r}") as conn:
            result = conn.execute(delete(shops).where(shops.c.domain == domain))
        return bool(result.rowcount)
