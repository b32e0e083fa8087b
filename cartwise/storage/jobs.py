"""The job queue's table: jobs enqueued (often in the same transaction as the event they
handle), claimed with a lease, finished or retried later. A job whose worker died is claimed
again once its lease runs out, so job functions must be idempotent.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from cartwise.errors import InvalidRequest
from cartwise.storage._base import (
    SQLITE_DATETIME,
    Runner,
    check_limit,
    chunked,
    insert_for,
    prepared,
    sqlite_insert_returning_id,
)
from cartwise.storage.schema import jobs, to_utc

__all__ = ["Job", "JobRepository"]


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    shop: str
    payload: dict[str, Any]
    attempts: int


def _ready(now: datetime) -> Any:
    """Queued and due, or running with an expired lease."""
    return or_(
        (jobs.c.status == "queued") & (jobs.c.run_after <= now),
        (jobs.c.status == "running") & (jobs.c.leased_until < now),
    )


def _insert_job(conn: Connection) -> Any:
    return insert_for(conn, jobs).on_conflict_do_nothing().returning(jobs.c.id)


class JobRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def enqueue(
        self,
        kind: str,
        shop: str,
        payload: Mapping[str, Any] | None = None,
        *,
        dedupe_key: str | None = None,
        run_after: datetime | None = None,
    ) -> int | None:
        """Queue a job; returns its id, or None when a queued job already holds `dedupe_key`."""
        if not kind:
            raise InvalidRequest("a job needs a kind")
        now = datetime.now(UTC)
        with self._runner.write(f"queueing a {kind!r} job") as conn:
            if conn.dialect.name == "sqlite":
                stamp = now.replace(tzinfo=None).strftime(SQLITE_DATETIME)
                due = to_utc(run_after or now).replace(tzinfo=None).strftime(SQLITE_DATETIME)
                return sqlite_insert_returning_id(
                    conn,
                    jobs,
                    {
                        "kind": kind,
                        "shop_domain": shop,
                        "payload": json.dumps(dict(payload or {})),
                        "status": "queued",
                        "attempts": 0,
                        "run_after": due,
                        "dedupe_key": dedupe_key,
                        "created_at": stamp,
                    },
                )
            stmt = prepared(conn, "jobs.insert", _insert_job)
            return conn.execute(
                stmt,
                {
                    "kind": kind,
                    "shop_domain": shop,
                    "payload": dict(payload or {}),
                    "status": "queued",
                    "attempts": 0,
                    "run_after": run_after or now,
                    "dedupe_key": dedupe_key,
                    "created_at": now,
                },
            ).scalar_one_or_none()

    def claim(
        self,
        *,
        limit: int = 10,
        lease: timedelta = timedelta(minutes=5),
        shop: str | None = None,
    ) -> list[Job]:
        """Take up to `limit` ready jobs (oldest first; of `shop` only, when given) for
        `lease`; a job is ready when queued and due, or running with an expired lease (its
        worker died)."""
        check_limit(limit)
        now = datetime.now(UTC)
        with self._runner.write("claiming jobs") as conn:
            query = (
                select(jobs.c.id, jobs.c.kind, jobs.c.shop_domain, jobs.c.payload, jobs.c.attempts)
                .where(_ready(now))
                .order_by(jobs.c.run_after, jobs.c.id)
                .limit(limit)
            )
            if shop is not None:
                query = query.where(jobs.c.shop_domain == shop)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if not rows:
                return []
            conn.execute(
                update(jobs)
                .where(jobs.c.id.in_([row.id for row in rows]))
                .values(
                    status="running",
                    leased_until=now + lease,
                    attempts=jobs.c.attempts + 1,
                    # a running job no longer blocks a new one of the same key
                    dedupe_key=None,
                )
            )
        return [
            Job(row.id, row.kind, row.shop_domain, dict(row.payload), row.attempts + 1)
            for row in rows
        ]

    def extend(self, job_ids: Sequence[int], lease: timedelta) -> int:
        """Push the lease of jobs still running out to `lease` from now (a live worker's
        heartbeat, so a short lease can be used and a dead worker's jobs come back soon);
        returns how many were still running."""
        if not job_ids:
            return 0
        with self._runner.write("extending job leases") as conn:
            result = conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(list(job_ids)), jobs.c.status == "running")
                .values(leased_until=datetime.now(UTC) + lease)
            )
        return int(result.rowcount)

    def ready_shops(self, *, limit: int = 100) -> list[str]:
        """Shops with at least one ready job (see `claim`), the longest-waiting first: what a
        sweep hands out when the news of a job may have been lost."""
        check_limit(limit)
        now = datetime.now(UTC)
        with self._runner.read("finding shops with ready jobs") as conn:
            query = (
                select(jobs.c.shop_domain, func.min(jobs.c.run_after).label("since"))
                .where(_ready(now))
                .group_by(jobs.c.shop_domain)
                .order_by("since")
                .limit(limit)
            )
            return [str(row.shop_domain) for row in conn.execute(query)]

    def finish(self, job_id: int) -> None:
        self.finish_many([job_id])

    def finish_many(self, job_ids: Sequence[int]) -> None:
        """Mark a batch of jobs done in one statement."""
        if not job_ids:
            return
        with self._runner.write(f"finishing {len(job_ids)} jobs") as conn:
            for batch in chunked(job_ids, 500):
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(batch))
                    .values(status="done", finished_at=datetime.now(UTC), leased_until=None)
                )

    def retry(self, job_id: int, error: str, *, at: datetime) -> None:
        with self._runner.write(f"rescheduling job {job_id}") as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(status="queued", error=error[:2000], run_after=at, leased_until=None)
            )

    def fail(self, job_id: int, error: str) -> None:
        """Give up on a job: it stays in the table with its error for an operator to see."""
        with self._runner.write(f"failing job {job_id}") as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    status="failed",
                    error=error[:2000],
                    finished_at=datetime.now(UTC),
                    leased_until=None,
                )
            )

    def counts(self, shop: str | None = None) -> dict[str, int]:
        """Jobs by status (for health pages, tests and benchmarks)."""
        with self._runner.read("counting jobs") as conn:
            query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
            if shop is not None:
                query = query.where(jobs.c.shop_domain == shop)
            return {status: int(n) for status, n in conn.execute(query)}

    def pending(self) -> dict[str, int]:
        """Jobs not finished yet, by state: "due" (queued and ready now), "scheduled" (queued
        for later: a delayed rebuild, a retry) and "running" (claimed; one whose worker died
        stays here until claimed again). Both counts read only the unfinished jobs' range of
        the (status, run_after) index, so finished jobs cost nothing (for monitoring)."""
        now = datetime.now(UTC)
        with self._runner.read("counting pending jobs") as conn:
            query = (
                select(jobs.c.status, func.count())
                .where(jobs.c.status.in_(("queued", "running")))
                .group_by(jobs.c.status)
            )
            by_status = {str(status): int(n) for status, n in conn.execute(query)}
            due = conn.execute(
                select(func.count()).where(jobs.c.status == "queued", jobs.c.run_after <= now)
            ).scalar_one()
        return {
            "due": int(due),
            "scheduled": by_status.get("queued", 0) - int(due),
            "running": by_status.get("running", 0),
        }

    def purge_finished(self, before: datetime) -> int:
        """Delete done jobs finished before `before`; returns how many."""
        with self._runner.write("purging finished jobs") as conn:
            result = conn.execute(
                delete(jobs).where(jobs.c.status == "done", jobs.c.finished_at < before)
            )
        return int(result.rowcount)

    def delete_for_shop(self, shop: str) -> int:
        with self._runner.write(f"deleting the jobs of {shop!r}") as conn:
            return int(conn.execute(delete(jobs).where(jobs.c.shop_domain == shop)).rowcount)
