"""kill -9 during webhook intake, for real: `cartwise serve` with 2 gunicorn workers working
the job queue in process, a sender that retries every delivery until it is acknowledged (as
Shopify does), and a killer that SIGKILLs a random worker every fraction of a second while the
deliveries arrive. Once the queue drains, every acknowledged event and every order must be
stored exactly once and counted once per product; and the model, rebuilt from storage, must
count exactly what the sender sent. One run per database profile, shared by the checks below.

The model as left by incremental updates must count it too, once the queue has drained:
updates saved by concurrent job runners build on one another, an update that a training already
counted is not applied again, and a job taken up after its runner died has its shop retrained.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from .harness import JobRunners, KillRun, kill_run, postgres_database

pytestmark = pytest.mark.server

DELIVERIES = 600
"""Spread over 5 s (`kill_run`), so the killer strikes several times while they arrive."""


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-rq", id="postgres-rq-worker", marks=pytest.mark.postgres),
    ],
)
def run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KillRun]:
    work = tmp_path_factory.mktemp(f"kill9-{request.param}")
    if request.param == "sqlite":
        yield kill_run(f"sqlite:///{work / 'cartwise.db'}", work / "logs", deliveries=DELIVERIES)
        return
    admin = request.getfixturevalue("postgres_admin")
    with postgres_database(admin) as (url, _):
        if request.param == "postgres":
            yield kill_run(url, work / "logs", deliveries=DELIVERIES)
            return
        # the production profile: web workers without a job thread, RQ tickets on Redis, a
        # separate `cartwise worker` (killed and restarted too); a queue of this run's own
        queue = f"cartwise-kill9-{uuid.uuid4().hex[:8]}"
        yield kill_run(
            url,
            work / "logs",
            deliveries=DELIVERIES,
            jobs=JobRunners("worker"),
            env={
                "CARTWISE_REDIS_URL": request.getfixturevalue("redis_url"),
                "CARTWISE_JOBS__QUEUE": queue,
            },
        )


def test_the_killer_struck_while_deliveries_arrived(run: KillRun) -> None:
    assert run.kills_while_sending >= 3, run.kills
    assert {kill.role for kill in run.kills} <= {"web", "jobs"}
    assert {kill.role for kill in run.kills} >= {"web"}


def test_every_delivery_was_acknowledged_after_retries_only_of_transient_failures(
    run: KillRun,
) -> None:
    report = run.report
    assert report.unacked == []
    assert len(report.acked) == DELIVERIES
    refused = {o: n for o, n in report.outcomes.items() if o.isdigit() and o not in ("200", "503")}
    assert refused == {}, report.bodies_500[:3]
    assert report.bodies_500 == []
    # the kills cost connections (the retried attempts), never an answer that loses data
    assert report.attempts > DELIVERIES


def test_acknowledged_events_and_orders_are_stored_exactly_once(run: KillRun) -> None:
    found = run.at_drain
    assert found.lost_events == []
    assert found.duplicated_events == []
    assert found.unprocessed_events == []
    assert found.lost_orders == []
    assert found.duplicated_orders == []
    assert found.storage_counts_off == {}
    assert found.jobs.get("failed", 0) == 0 and found.dead_letters == 0
    assert found.storage_ok
    assert run.integrity in ("ok", None)  # SQLite's file is sound; None: PostgreSQL


def test_the_model_at_drain_counts_the_ground_truth(run: KillRun) -> None:
    found = run.at_drain
    assert found.model_counts_off == {}
    truth, counted = found.model_interactions
    assert counted == truth
    assert found.model_ok


def test_the_model_rebuilt_from_storage_counts_the_ground_truth(run: KillRun) -> None:
    rebuilt = run.after_rebuild
    assert rebuilt.model_version > run.at_drain.model_version
    assert rebuilt.model_counts_off == {}
    truth, counted = rebuilt.model_interactions
    assert counted == truth
    assert rebuilt.storage_ok and rebuilt.model_ok
