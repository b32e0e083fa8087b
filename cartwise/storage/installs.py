"""The installs repository: each shop's platform access token, its refresh token and whether the
app is installed. Tokens are secrets: they are returned to callers, never logged or repr'd.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update

from cartwise.storage._base import Runner, insert_for, require_shop_id
from cartwise.storage.schema import installs, shops

__all__ = ["Install", "InstallRepository"]


@dataclass(frozen=True, slots=True)
class Install:
    """A shop's credentials as stored; `active` is False after the app was uninstalled."""

    shop: str
    active: bool
    scope: str
    installed_at: datetime
    uninstalled_at: datetime | None
    access_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: datetime | None = None


class InstallRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def save_token(
        self,
        domain: str,
        *,
        access_token: str,
        scope: str,
        expires_at: datetime | None,
        refresh_token: str | None,
        refresh_expires_at: datetime | None,
    ) -> None:
        """Store a fresh token and mark the shop installed (the shop must be known)."""
        now = datetime.now(UTC)
        values = {
            "access_token": access_token,
            "scope": scope,
            "expires_at": expires_at,
            "refresh_token": refresh_token,
            "refresh_expires_at": refresh_expires_at,
            "active": True,
            "uninstalled_at": None,
            "updated_at": now,
        }
        with self._runner.write(f"saving the token of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = insert_for(conn, installs).values(shop_id=shop_id, installed_at=now, **values)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=[installs.c.shop_id], set_=values)
            )

    def get(self, domain: str) -> Install | None:
        with self._runner.read(f"reading the install of {domain!r}") as conn:
            row = conn.execute(
                select(installs, shops.c.domain)
                .join(shops, shops.c.id == installs.c.shop_id)
                .where(shops.c.domain == domain)
            ).one_or_none()
        if row is None:
            return None
        return Install(
            shop=row.domain,
            active=row.active,
            scope=row.scope,
            installed_at=row.installed_at,
            uninstalled_at=row.uninstalled_at,
            access_token=row.access_token,
            expires_at=row.expires_at,
            refresh_token=row.refresh_token,
            refresh_expires_at=row.refresh_expires_at,
        )

    def is_active(self, domain: str) -> bool:
        """Whether the app is installed on `domain` now (False for unknown shops)."""
        with self._runner.read(f"reading the install of {domain!r}") as conn:
            active = conn.execute(
                select(installs.c.active)
                .join(shops, shops.c.id == installs.c.shop_id)
                .where(shops.c.domain == domain)
            ).scalar_one_or_none()
        return bool(active)

    def deactivate(self, domain: str) -> bool:
        """Mark the shop uninstalled and forget its tokens (they stop working anyway); data is
        kept until shop/redact. False when the shop had no install."""
        now = datetime.now(UTC)
        with self._runner.write(f"uninstalling {domain!r}") as conn:
            shop_id = conn.execute(
                select(shops.c.id).where(shops.c.domain == domain)
            ).scalar_one_or_none()
            if shop_id is None:
                return False
            result = conn.execute(
                update(installs)
                .where(installs.c.shop_id == shop_id)
                .values(
                    active=False,
                    access_token=None,
                    refresh_token=None,
                    expires_at=None,
                    refresh_expires_at=None,
                    uninstalled_at=now,
                    updated_at=now,
                )
            )
        return bool(result.rowcount)
