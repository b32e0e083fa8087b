"""A shop's experiments, who was exposed to which arm, and the latest computed readout.

The definition is kept as the JSON the merchant's admin call gave (arms, holdout, plan); the
experiments package turns it into an `Experiment`. Imports only layer 0 and the storage
modules below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from cartwise.errors import Conflict, NotFound
from cartwise.storage._base import Runner, chunked, insert_for, require_shop_id
from cartwise.storage.schema import experiment_reports, experiments, exposures, to_utc

__all__ = ["ExperimentRecord", "ExperimentRepository", "ExposureRecord"]


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    """One experiment as stored; `stopped_at` None while it runs."""

    key: str
    definition: Mapping[str, Any]
    started_at: datetime
    stopped_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True, slots=True)
class ExposureRecord:
    """A visitor session answered under an arm in one placement, first and last time."""

    experiment: str
    session_id: str
    placement: str
    arm: str
    holdout: bool
    first_at: datetime
    last_at: datetime
    customer_id: str | None = field(default=None)

    def merged(self, other: ExposureRecord) -> ExposureRecord:
        """The same visit seen twice: the earlier sighting's arm and first time, the later last
        time, and the customer of the later one when it names one (as the stored upsert does)."""
        early = self if self.first_at <= other.first_at else other
        recent, older = (self, other) if self.last_at >= other.last_at else (other, self)
        return ExposureRecord(
            self.experiment,
            self.session_id,
            self.placement,
            early.arm,
            early.holdout,
            early.first_at,
            recent.last_at,
            recent.customer_id or older.customer_id,
        )


class ExperimentRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def start(self, domain: str, key: str, definition: Mapping[str, Any], at: datetime) -> None:
        """Store and start an experiment. `Conflict` when another one is running (visitors are
        split by one experiment at a time) or the key was used before (its exposures and
        readout would mix with the new one's)."""
        with self._runner.write(f"starting experiment {key!r} of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            running = self._running_key(conn, shop_id)
            if running is not None:
                raise Conflict(f"experiment {running!r} is running; stop it first")
            taken = conn.execute(
                select(experiments.c.id).where(
                    experiments.c.shop_id == shop_id, experiments.c.key == key
                )
            ).first()
            if taken is not None:
                raise Conflict(f"experiment key {key!r} was used before; choose another")
            conn.execute(
                experiments.insert().values(
                    shop_id=shop_id, key=key, definition=dict(definition), started_at=to_utc(at)
                )
            )

    def stop(self, domain: str, key: str, at: datetime) -> ExperimentRecord:
        """Stop a running experiment (stopping a stopped one changes nothing)."""
        with self._runner.write(f"stopping experiment {key!r} of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            conn.execute(
                update(experiments)
                .where(
                    experiments.c.shop_id == shop_id,
                    experiments.c.key == key,
                    experiments.c.stopped_at.is_(None),
                )
                .values(stopped_at=to_utc(at))
            )
            record = self._get(conn, shop_id, key)
        if record is None:
            raise NotFound(f"no experiment {key!r}")
        return record

    def get(self, domain: str, key: str) -> ExperimentRecord | None:
        with self._runner.read(f"reading experiment {key!r} of {domain!r}") as conn:
            return self._get(conn, require_shop_id(conn, domain), key)

    def running(self, domain: str) -> ExperimentRecord | None:
        """The shop's running experiment, if any."""
        with self._runner.read(f"reading the running experiment of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            key = self._running_key(conn, shop_id)
            return None if key is None else self._get(conn, shop_id, key)

    def all(self, domain: str) -> list[ExperimentRecord]:
        """Every experiment of the shop, newest first."""
        with self._runner.read(f"listing experiments of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            rows = conn.execute(
                select(experiments)
                .where(experiments.c.shop_id == shop_id)
                .order_by(experiments.c.started_at.desc(), experiments.c.id.desc())
            ).all()
        return [_record(row) for row in rows]

    def record_exposures(self, domain: str, items: Iterable[ExposureRecord]) -> None:
        """Log exposures: a visit seen before keeps its first time and arm and moves its last
        time forward (never back), so replays and out-of-order flushes change nothing."""
        merged: dict[tuple[str, str, str], ExposureRecord] = {}
        for item in items:
            key = (item.experiment, item.session_id, item.placement)
            seen = merged.get(key)
            merged[key] = item if seen is None else seen.merged(item)
        if not merged:
            return
        with self._runner.write(f"logging exposures of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = insert_for(conn, exposures)
            stmt = stmt.on_conflict_do_update(
                index_elements=["shop_id", "experiment", "session_id", "placement"],
                set_={
                    "last_at": _greatest(conn, exposures.c.last_at, stmt.excluded.last_at),
                    "customer_id": func.coalesce(
                        stmt.excluded.customer_id, exposures.c.customer_id
                    ),
                },
            )
            for chunk in chunked(merged.values(), 500):
                conn.execute(
                    stmt,
                    [
                        {
                            "shop_id": shop_id,
                            "experiment": e.experiment,
                            "session_id": e.session_id,
                            "placement": e.placement,
                            "arm": e.arm,
                            "holdout": e.holdout,
                            "customer_id": e.customer_id,
                            "first_at": to_utc(e.first_at),
                            "last_at": to_utc(e.last_at),
                        }
                        for e in chunk
                    ],
                )

    def exposures(self, domain: str, experiment: str) -> list[ExposureRecord]:
        with self._runner.read(f"reading exposures of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            rows = conn.execute(
                select(exposures)
                .where(exposures.c.shop_id == shop_id, exposures.c.experiment == experiment)
                .order_by(exposures.c.id)
            ).all()
        return [
            ExposureRecord(
                r.experiment,
                r.session_id,
                r.placement,
                r.arm,
                bool(r.holdout),
                r.first_at,
                r.last_at,
                r.customer_id,
            )
            for r in rows
        ]

    def forget_customer(self, domain: str, customer_id: str) -> list[str]:
        """Delete the exposures that name the customer; returns their session ids, so the
        caller can delete those sessions' events too."""
        with self._runner.write(f"forgetting a customer's exposures in {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            mine = (exposures.c.shop_id == shop_id) & (exposures.c.customer_id == customer_id)
            sessions = list(
                dict.fromkeys(
                    str(s)
                    for s in conn.execute(select(exposures.c.session_id).where(mine)).scalars()
                )
            )
            conn.execute(delete(exposures).where(mine))
        return sessions

    def save_report(
        self, domain: str, experiment: str, report: Mapping[str, Any], at: datetime
    ) -> None:
        with self._runner.write(f"saving the readout of {experiment!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = insert_for(conn, experiment_reports).values(
                shop_id=shop_id, experiment=experiment, report=dict(report), computed_at=to_utc(at)
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["shop_id", "experiment"],
                    set_={"report": stmt.excluded.report, "computed_at": stmt.excluded.computed_at},
                )
            )

    def report(self, domain: str, experiment: str) -> tuple[dict[str, Any], datetime] | None:
        """The latest readout and when it was computed."""
        with self._runner.read(f"reading the readout of {experiment!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            row = conn.execute(
                select(experiment_reports.c.report, experiment_reports.c.computed_at).where(
                    experiment_reports.c.shop_id == shop_id,
                    experiment_reports.c.experiment == experiment,
                )
            ).first()
        return None if row is None else (dict(row.report), row.computed_at)

    @staticmethod
    def _running_key(conn: Connection, shop_id: int) -> str | None:
        key = conn.execute(
            select(experiments.c.key).where(
                experiments.c.shop_id == shop_id, experiments.c.stopped_at.is_(None)
            )
        ).scalar()
        return None if key is None else str(key)

    @staticmethod
    def _get(conn: Connection, shop_id: int, key: str) -> ExperimentRecord | None:
        row = conn.execute(
            select(experiments).where(experiments.c.shop_id == shop_id, experiments.c.key == key)
        ).first()
        return None if row is None else _record(row)


def _record(row: Any) -> ExperimentRecord:
    return ExperimentRecord(row.key, dict(row.definition), row.started_at, row.stopped_at)


def _greatest(conn: Connection, a: Any, b: Any) -> Any:
    """The later of two timestamps: SQLite's two-argument max(), PostgreSQL's greatest()."""
    return func.max(a, b) if conn.dialect.name == "sqlite" else func.greatest(a, b)
