"""The model artifacts repository: each shop's trained models as numbered versions 1, 2, ….

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from cartwise.errors import Conflict, InvalidRequest, StorageError
from cartwise.storage._base import Runner, check_limit, require_shop_id
from cartwise.storage.schema import model_artifacts, shops

__all__ = ["ModelArtifact", "ModelRepository"]

_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class ModelArtifact:
    """One saved model: `blob` is what the model serialised itself to, `meta` its JSON notes."""

    version: int
    blob: bytes
    meta: dict[str, Any]
    created_at: datetime


class ModelRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def save(
        self, domain: str, blob: bytes, meta: Mapping[str, Any], *, after: int | None = None
    ) -> int:
        """Store a new model version and return its number: one more than the latest, also
        when several processes save at once. `meta` must be JSON-serialisable. With `after`
        (a version the model was built on), `Conflict` when the latest is another one by then:
        someone saved meanwhile, and the caller must build on theirs (checked in the same
        transaction, under the shop's lock)."""
        meta = dict(meta)
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"model meta is not JSON-serialisable: {exc}") from exc
        with self._runner.write(f"saving a model of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            # Savers of one shop queue on its row (PostgreSQL; SQLite writers are serialised by
            # BEGIN IMMEDIATE already); the unique constraint and retry are the safety net.
            # FOR NO KEY UPDATE, as the KEY SHARE locks that foreign-key checks take on the shop
            # row in the same transaction would turn FOR UPDATE into a deadlock.
            conn.execute(
                select(shops.c.id).where(shops.c.id == shop_id).with_for_update(key_share=True)
            )
            if after is not None:
                latest = conn.execute(
                    select(func.max(model_artifacts.c.version)).where(
                        model_artifacts.c.shop_id == shop_id
                    )
                ).scalar_one()
                if latest != after:
                    raise Conflict(
                        f"model version {latest} of {domain!r} was saved after version {after}"
                    )
            for _ in range(_ATTEMPTS):
                try:
                    return _insert_next(conn, shop_id, bytes(blob), meta)
                except IntegrityError:
                    continue  # another writer took that number: read the latest again
        raise StorageError(f"could not assign a model version for {domain!r}: too much contention")

    def latest(self, domain: str) -> ModelArtifact | None:
        """The newest model of the shop, or None before the first training."""
        with self._runner.read(f"reading the model of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            row = conn.execute(
                select(model_artifacts)
                .where(model_artifacts.c.shop_id == shop_id)
                .order_by(model_artifacts.c.version.desc())
                .limit(1)
            ).one_or_none()
        if row is None:
            return None
        return ModelArtifact(row.version, bytes(row.blob), dict(row.meta), row.created_at)

    def latest_stamp(self, domain: str) -> tuple[int, datetime] | None:
        """(version, created_at) of the newest model without loading the blob. Versions
        restart at 1 once every model of a shop was deleted (a privacy redaction can do that),
        so the creation time is what tells two models of the same number apart."""
        with self._runner.read(f"reading the model version of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            row = conn.execute(
                select(model_artifacts.c.version, model_artifacts.c.created_at)
                .where(model_artifacts.c.shop_id == shop_id)
                .order_by(model_artifacts.c.version.desc())
                .limit(1)
            ).one_or_none()
        return None if row is None else (int(row.version), row.created_at)

    def latest_version(self, domain: str) -> int | None:
        """The newest version number without loading the blob; None before the first training."""
        with self._runner.read(f"reading the model version of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            version = conn.execute(
                select(func.max(model_artifacts.c.version)).where(
                    model_artifacts.c.shop_id == shop_id
                )
            ).scalar_one()
        return None if version is None else int(version)

    def newest_per_shop(self, *, limit: int = 100) -> list[tuple[str, datetime]]:
        """(shop domain, creation time of its newest model) for the `limit` shops trained most
        recently, newest first; shops never trained are left out. Blobs are not read."""
        check_limit(limit)
        newest = func.max(model_artifacts.c.created_at).label("newest")
        with self._runner.read("reading the newest model of each shop") as conn:
            rows = conn.execute(
                select(shops.c.domain, newest)
                .join(model_artifacts, model_artifacts.c.shop_id == shops.c.id)
                .group_by(shops.c.id, shops.c.domain)
                .order_by(newest.desc(), shops.c.domain)
                .limit(limit)
            ).all()
        return [(str(row.domain), row.newest) for row in rows]

    def prune(self, domain: str, *, keep: int) -> int:
        """Delete all but the newest `keep` versions (keep 0: all of them); returns how many."""
        with self._runner.write(f"pruning models of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = delete(model_artifacts).where(model_artifacts.c.shop_id == shop_id)
            if keep > 0:
                oldest_kept = conn.execute(
                    select(model_artifacts.c.version)
                    .where(model_artifacts.c.shop_id == shop_id)
                    .order_by(model_artifacts.c.version.desc())
                    .offset(keep - 1)
                    .limit(1)
                ).scalar_one_or_none()
                if oldest_kept is None:
                    return 0
                # Only versions older than those kept: a version another writer saved since
                # the read above is newer still, and must not be deleted with them.
                stmt = stmt.where(model_artifacts.c.version < oldest_kept)
            return int(conn.execute(stmt).rowcount)


def _insert_next(conn: Connection, shop_id: int, blob: bytes, meta: dict[str, Any]) -> int:
    # A savepoint, so a lost race undoes only this attempt and not the caller's transaction.
    with conn.begin_nested():
        latest = conn.execute(
            select(func.max(model_artifacts.c.version)).where(model_artifacts.c.shop_id == shop_id)
        ).scalar_one()
        version = 1 if latest is None else int(latest) + 1
        conn.execute(
            insert(model_artifacts).values(
                shop_id=shop_id,
                version=version,
                blob=blob,
                meta=meta,
                created_at=datetime.now(UTC),
            )
        )
    return version
