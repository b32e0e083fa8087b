"""Resource versions and redaction tombstones: what keeps a late or replayed delivery from
overwriting newer state, or bringing back data a privacy request removed.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, select

from cartwise.storage._base import Runner, chunked, insert_for
from cartwise.storage.schema import redactions, resource_versions, to_utc

__all__ = ["RedactionRepository", "VersionRepository"]

TombstoneKind = Literal["customer", "order"]


class _EveryId(tuple[str, ...]):
    """The default of `VersionRepository.forget`'s `ids`: none named, so all of them. Told apart
    by identity, so an empty list a caller passes still means no ids at all."""

    __slots__ = ()


_EVERY_ID: Iterable[str] = _EveryId()


class VersionRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def accept(self, domain: str, kind: str, resource_id: str, version_at: datetime) -> bool:
        """Record `version_at` as the newest state of a resource and return True, unless a
        state at least as new was applied before (then False: the caller drops its update).

        Atomic under concurrency: one statement that inserts, or updates only when newer.
        """
        with self._runner.write(f"versioning {kind} {resource_id!r} of {domain!r}") as conn:
            stmt = insert_for(conn, resource_versions).values(
                shop_domain=domain,
                kind=kind,
                resource_id=resource_id,
                version_at=to_utc(version_at),
            )
            accepted = conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[
                        resource_versions.c.shop_domain,
                        resource_versions.c.kind,
                        resource_versions.c.resource_id,
                    ],
                    set_={"version_at": stmt.excluded.version_at},
                    where=resource_versions.c.version_at < stmt.excluded.version_at,
                ).returning(resource_versions.c.resource_id)
            ).scalar_one_or_none()
        return accepted is not None

    def accept_many(self, domain: str, kind: str, versions: dict[str, datetime]) -> set[str]:
        """`accept` for many resources at once (a backfill page): the ids whose version was
        recorded, in one statement per chunk, so it holds under concurrent webhooks too."""
        accepted: set[str] = set()
        if not versions:
            return accepted
        with self._runner.write(f"versioning {len(versions)} {kind}s of {domain!r}") as conn:
            stmt = insert_for(conn, resource_versions)
            upsert = stmt.on_conflict_do_update(
                index_elements=[
                    resource_versions.c.shop_domain,
                    resource_versions.c.kind,
                    resource_versions.c.resource_id,
                ],
                set_={"version_at": stmt.excluded.version_at},
                where=resource_versions.c.version_at < stmt.excluded.version_at,
            ).returning(resource_versions.c.resource_id)
            # One cached statement run over many rows (SQLAlchemy batches it as multi-row
            # VALUES): compiling a new statement per page cost more than the writes.
            rows = conn.execute(
                upsert,
                [
                    {
                        "shop_domain": domain,
                        "kind": kind,
                        "resource_id": rid,
                        "version_at": to_utc(at),
                    }
                    for rid, at in versions.items()
                ],
            )
            accepted.update(str(r) for r in rows.scalars())
        return accepted

    def get(self, domain: str, kind: str, resource_id: str) -> datetime | None:
        with self._runner.read(f"reading the version of {kind} {resource_id!r}") as conn:
            return conn.execute(
                select(resource_versions.c.version_at).where(
                    resource_versions.c.shop_domain == domain,
                    resource_versions.c.kind == kind,
                    resource_versions.c.resource_id == resource_id,
                )
            ).scalar_one_or_none()

    def forget(self, domain: str, kind: str | None = None, ids: Iterable[str] = _EVERY_ID) -> int:
        """Drop versions of the shop: all, all of `kind`, or only `ids` of `kind`. `ids` passed
        but empty drops nothing (it does not mean all)."""
        every = ids is _EVERY_ID
        id_list = [] if every else list(ids)
        if not every and not id_list:
            return 0
        with self._runner.write(f"deleting versions of {domain!r}") as conn:
            base = delete(resource_versions).where(resource_versions.c.shop_domain == domain)
            if kind is not None:
                base = base.where(resource_versions.c.kind == kind)
            if every:
                return int(conn.execute(base).rowcount)
            total = 0
            for batch in chunked(id_list, 500):
                stmt = base.where(resource_versions.c.resource_id.in_(batch))
                total += int(conn.execute(stmt).rowcount)
            return total


class RedactionRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def add(self, domain: str, kind: TombstoneKind, keys: Iterable[str]) -> None:
        now = datetime.now(UTC)
        rows = [
            {"shop_domain": domain, "kind": kind, "key": key, "redacted_at": now}
            for key in dict.fromkeys(keys)
        ]
        if not rows:
            return
        with self._runner.write(f"recording redactions of {domain!r}") as conn:
            conn.execute(insert_for(conn, redactions).on_conflict_do_nothing(), rows)

    def redacted_at(self, domain: str, kind: TombstoneKind, key: str) -> datetime | None:
        """When `key` was redacted, or None when it never was."""
        with self._runner.read(f"reading redactions of {domain!r}") as conn:
            return conn.execute(
                select(redactions.c.redacted_at).where(
                    redactions.c.shop_domain == domain,
                    redactions.c.kind == kind,
                    redactions.c.key == key,
                )
            ).scalar_one_or_none()

    def redacted_among(
        self, domain: str, kind: TombstoneKind, keys: Iterable[str]
    ) -> dict[str, datetime]:
        """`redacted_at` for many keys at once: only those redacted, with when."""
        found: dict[str, datetime] = {}
        with self._runner.read(f"reading redactions of {domain!r}") as conn:
            for chunk in chunked(dict.fromkeys(keys), 500):
                rows = conn.execute(
                    select(redactions.c.key, redactions.c.redacted_at).where(
                        redactions.c.shop_domain == domain,
                        redactions.c.kind == kind,
                        redactions.c.key.in_(chunk),
                    )
                )
                found.update({str(k): at for k, at in rows})
        return found

    def delete_for_shop(self, domain: str) -> int:
        with self._runner.write(f"deleting redactions of {domain!r}") as conn:
            return int(
                conn.execute(delete(redactions).where(redactions.c.shop_domain == domain)).rowcount
            )
