"""The API keys repository: server-to-server keys stored as keyed hashes, bound to one shop,
revocable. Hashing is the caller's (it holds the secret key); this module never sees a key.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from cartwise.errors import NotFound
from cartwise.storage._base import Runner, require_shop_id
from cartwise.storage.schema import api_keys, shops

__all__ = ["ApiKeyRecord", "ApiKeyRepository"]


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: int
    shop: str
    prefix: str
    label: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def add(self, domain: str, *, key_hash: str, prefix: str, label: str, scope: str) -> int:
        """Store a new key's hash; returns its id."""
        with self._runner.write(f"saving an API key of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            return int(
                conn.execute(
                    insert(api_keys)
                    .values(
                        shop_id=shop_id,
                        key_hash=key_hash,
                        prefix=prefix,
                        label=label,
                        scope=scope,
                        created_at=datetime.now(UTC),
                    )
                    .returning(api_keys.c.id)
                ).scalar_one()
            )

    def find(self, key_hash: str) -> ApiKeyRecord | None:
        """The live (not revoked) key with this hash, or None."""
        with self._runner.read("checking an API key") as conn:
            row = conn.execute(
                select(api_keys, shops.c.domain)
                .join(shops, shops.c.id == api_keys.c.shop_id)
                .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
            ).one_or_none()
        return None if row is None else _record(row)

    def list(self, domain: str) -> builtins.list[ApiKeyRecord]:
        """Every key of the shop, revoked ones included, oldest first."""
        with self._runner.read(f"listing API keys of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            rows = conn.execute(
                select(api_keys, shops.c.domain)
                .join(shops, shops.c.id == api_keys.c.shop_id)
                .where(api_keys.c.shop_id == shop_id)
                .order_by(api_keys.c.id)
            ).all()
        return [_record(row) for row in rows]

    def revoke(self, domain: str, key_id: int) -> None:
        """Revoke key `key_id` of the shop; NotFound for a key of another shop or none at all."""
        with self._runner.write(f"revoking an API key of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            found = conn.execute(
                select(api_keys.c.revoked_at).where(
                    api_keys.c.id == key_id, api_keys.c.shop_id == shop_id
                )
            ).one_or_none()
            if found is None:
                raise NotFound(f"no API key {key_id} in shop {domain!r}")
            if found.revoked_at is None:
                conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id, api_keys.c.shop_id == shop_id)
                    .values(revoked_at=datetime.now(UTC))
                )

    def revoke_all(self, domain: str) -> int:
        """Revoke every key of the shop; returns how many were live."""
        with self._runner.write(f"revoking the API keys of {domain!r}") as conn:
            shop_id = conn.execute(
                select(shops.c.id).where(shops.c.domain == domain)
            ).scalar_one_or_none()
            if shop_id is None:
                return 0
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.shop_id == shop_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return int(result.rowcount)


def _record(row: Row[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        shop=row.domain,
        prefix=row.prefix,
        label=row.label,
        scope=row.scope,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
