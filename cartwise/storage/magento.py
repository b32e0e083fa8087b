"""The Magento stores repository: where each connected store is, its integration's credentials,
the secret its cartwise module signs deliveries with, and when it was last synced. Credentials
and the signing secret are returned to callers, never logged or repr'd.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update

from cartwise.storage._base import Runner, insert_for, require_shop_id
from cartwise.storage.schema import magento_stores, shops, to_utc

__all__ = ["MagentoStore", "MagentoStoreRepository"]


@dataclass(frozen=True, slots=True)
class MagentoStore:
    """A connected Magento store as stored; `shop` is its key (host, plus `/<store_code>`).
    A disconnected store (`active` False) keeps its URL but none of its secrets."""

    shop: str
    base_url: str
    store_code: str | None
    active: bool
    use_bearer: bool
    connected_at: datetime
    disconnected_at: datetime | None
    last_synced_at: datetime | None
    consumer_key: str | None = None
    consumer_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    access_token_secret: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)


class MagentoStoreRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def save(
        self,
        domain: str,
        *,
        base_url: str,
        store_code: str | None,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        use_bearer: bool,
        signing_secret: str,
    ) -> None:
        """Connect (or reconnect) the store `domain` (the shop must be known): its URL and
        credentials replace any stored before, and it is active again."""
        now = datetime.now(UTC)
        values = {
            "base_url": base_url,
            "store_code": store_code,
            "consumer_key": consumer_key,
            "consumer_secret": consumer_secret,
            "access_token": access_token,
            "access_token_secret": access_token_secret,
            "use_bearer": use_bearer,
            "signing_secret": signing_secret,
            "active": True,
            "disconnected_at": None,
            "updated_at": now,
        }
        with self._runner.write(f"saving the Magento store {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = insert_for(conn, magento_stores).values(
                shop_id=shop_id, connected_at=now, **values
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[magento_stores.c.shop_id],
                    set_={**values, "connected_at": now},
                )
            )

    def get(self, domain: str) -> MagentoStore | None:
        with self._runner.read(f"reading the Magento store {domain!r}") as conn:
            row = conn.execute(
                select(magento_stores, shops.c.domain)
                .join(shops, shops.c.id == magento_stores.c.shop_id)
                .where(shops.c.domain == domain)
            ).one_or_none()
        return None if row is None else _record(row)

    def list(self, *, active_only: bool = True) -> builtins.list[MagentoStore]:
        """The connected stores (or all, with `active_only=False`), by key."""
        with self._runner.read("listing Magento stores") as conn:
            query = select(magento_stores, shops.c.domain).join(
                shops, shops.c.id == magento_stores.c.shop_id
            )
            if active_only:
                query = query.where(magento_stores.c.active.is_(True))
            rows = conn.execute(query.order_by(shops.c.domain)).all()
        return [_record(row) for row in rows]

    def mark_synced(self, domain: str, at: datetime) -> bool:
        """Record when a sync of the store started (the next incremental sync starts there);
        False for an unknown store."""
        with self._runner.write(f"marking the Magento store {domain!r} synced") as conn:
            result = conn.execute(
                update(magento_stores)
                .where(
                    magento_stores.c.shop_id
                    == select(shops.c.id).where(shops.c.domain == domain).scalar_subquery()
                )
                .values(last_synced_at=to_utc(at), updated_at=datetime.now(UTC))
            )
        return bool(result.rowcount)

    def deactivate(self, domain: str) -> bool:
        """Disconnect the store: its credentials and signing secret are forgotten, so its
        module's deliveries are refused; its data stays. False when it was never connected."""
        now = datetime.now(UTC)
        with self._runner.write(f"disconnecting the Magento store {domain!r}") as conn:
            result = conn.execute(
                update(magento_stores)
                .where(
                    magento_stores.c.shop_id
                    == select(shops.c.id).where(shops.c.domain == domain).scalar_subquery()
                )
                .values(
                    active=False,
                    consumer_key=None,
                    consumer_secret=None,
                    access_token=None,
                    access_token_secret=None,
                    signing_secret=None,
                    disconnected_at=now,
                    updated_at=now,
                )
            )
        return bool(result.rowcount)


def _record(row: Row[Any]) -> MagentoStore:
    return MagentoStore(
        shop=row.domain,
        base_url=row.base_url,
        store_code=row.store_code,
        active=row.active,
        use_bearer=row.use_bearer,
        connected_at=row.connected_at,
        disconnected_at=row.disconnected_at,
        last_synced_at=row.last_synced_at,
        consumer_key=row.consumer_key,
        consumer_secret=row.consumer_secret,
        access_token=row.access_token,
        access_token_secret=row.access_token_secret,
        signing_secret=row.signing_secret,
    )
