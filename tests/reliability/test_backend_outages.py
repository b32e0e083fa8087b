"""Redis and PostgreSQL misbehaving under load, for real: each sits behind the fault proxy
(`faultproxy.py`) between `cartwise serve` (2 gunicorn workers) and the real server, and the
proxy blackholes, resets, refuses or slows every connection for a few seconds at a time.

- Redis is a cache: its loss must cost the storefront nothing (every answer 200 with a valid
  body), Redis must be used again soon after it returns, and the workers' connections to it
  must not pile up.
- PostgreSQL is the record: while it resets or refuses connections, a webhook is answered 503
  (Shopify retries) or 200, never 500; once it is back every acknowledged delivery is stored
  exactly once, and the workers' pools hold no more connections than a pool keeps.
- PostgreSQL slow: recommendations keep being answered from memory.
- PostgreSQL really stopped (as by a crash: `pg_ctl stop -m immediate`) for 6 s and started
  again, on a server of the test's own: the same for webhooks, and every storefront answer is
  still a 200 with items (the model, products and keys held in memory).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cartwise import storage

from .faultproxy import FaultProxy
from .harness import (
    SHOP,
    Audit,
    Delivery,
    RecommendationLoad,
    Sender,
    SendReport,
    Service,
    audit,
    make_deliveries,
    postgres_database,
    seed_shop,
    service_env,
    wait_drained,
)
from .private_postgres import PrivatePostgres

pytestmark = pytest.mark.server

POOL_SIZE = 5
"""SQLAlchemy's QueuePool keeps at most this many idle connections per process."""


def _nothing_lost(report: SendReport, found: Audit, deliveries: list[Delivery]) -> None:
    """A database outage cost the webhooks only retries: answers 200 or 503 (never a 500),
    every delivery acknowledged in the end and stored exactly once, counts exact."""
    statuses = {o for o in report.outcomes if o.isdigit()}
    assert statuses <= {"200", "503"}, report.bodies_500[:3]
    assert report.unacked == [] and len(report.acked) == len(deliveries)
    assert found.lost_events == [] and found.duplicated_events == []
    assert found.lost_orders == [] and found.duplicated_orders == []
    assert found.storage_counts_off == {} and found.storage_ok


def _answer_prefix(url: str) -> str:
    """The Redis keys of this run's cached answers: shop and model version are in the clear."""
    with storage.open(url) as store:
        stamp = store.models.latest_stamp(SHOP)
    assert stamp is not None
    version, created = stamp
    return f"cartwise:answer:{SHOP}:{version}-{int(created.timestamp() * 1000)}:"


def test_redis_blackholed_then_resetting_costs_the_storefront_no_answer(
    redis_server: tuple[str, int], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'cartwise.db'}"
    seeded = seed_shop(url)
    prefix = _answer_prefix(url)
    direct = redis.Redis(host=redis_server[0], port=redis_server[1])

    def cached() -> list[bytes]:
        return list(direct.scan_iter(match=prefix + "*", count=1000))

    with FaultProxy(*redis_server) as proxy:
        env = service_env(url, redis_url=f"redis://{proxy.address}/0")
        with Service(env, tmp_path / "logs") as service:
            load = RecommendationLoad(service.port, seeded.api_key, pause=0.005).start()
            time.sleep(2)
            assert cached(), "the answers are cached in Redis before the fault"
            connections_before = proxy.open_connections
            load.mark("blackhole")
            proxy.blackhole()
            time.sleep(3)
            proxy.pass_through()
            time.sleep(1)
            load.mark("reset")
            proxy.reset()
            time.sleep(3)
            direct.delete(*cached() or [b"-"])
            load.mark("restored")
            proxy.pass_through()
            restored = time.monotonic()
            while not cached() and time.monotonic() - restored < 30:
                time.sleep(0.05)
            back_after = time.monotonic() - restored
            time.sleep(1)
            answers = load.stop()
            connections_after = proxy.open_connections
    during = load.between("blackhole", "restored")
    assert len(during) > 100
    assert all(a.status == 200 and a.valid for a in answers), load.errors.most_common(3)
    assert back_after < 30, "Redis is used again within 30 s of its return"
    assert connections_after <= connections_before


@pytest.fixture
def postgres_behind_proxy(postgres_admin: str) -> Iterator[tuple[FaultProxy, str, str]]:
    """(the proxy, the app's URL through it, the harness's URL straight to the server)."""
    from sqlalchemy import make_url

    server = make_url(postgres_admin)
    with (
        FaultProxy(server.host or "127.0.0.1", server.port or 5432) as proxy,
        postgres_database(postgres_admin, host="127.0.0.1", port=proxy.port) as (url, direct),
    ):
        yield proxy, url, direct


@pytest.mark.postgres
def test_postgres_resetting_then_refusing_gets_503s_and_loses_no_acknowledged_delivery(
    postgres_behind_proxy: tuple[FaultProxy, str, str], tmp_path: Path
) -> None:
    proxy, url, direct = postgres_behind_proxy
    seeded = seed_shop(direct)
    deliveries = make_deliveries(1200, seeded.at)
    with Service(service_env(url), tmp_path / "logs") as service:
        sender = Sender(service.port, deliveries, threads=2, give_up=60)
        sending = threading.Thread(target=sender.run)
        sending.start()
        time.sleep(1)
        proxy.reset()
        time.sleep(2)
        proxy.pass_through()
        time.sleep(1)
        proxy.down()
        time.sleep(2)
        proxy.pass_through()
        sending.join()
        report = sender.report
        with storage.open(direct) as store:
            wait_drained(store, timeout=90)
            found = audit(store, seeded, deliveries, report)
        time.sleep(1)
        pooled = proxy.open_connections
        assert service.arbiter_alive
    statuses = {o for o in report.outcomes if o.isdigit()}
    assert "503" in statuses, report.outcomes
    _nothing_lost(report, found, deliveries)
    assert pooled <= service.web_workers * POOL_SIZE


@pytest.mark.postgres
def test_postgres_slow_leaves_recommendations_answered_from_memory(
    postgres_behind_proxy: tuple[FaultProxy, str, str], tmp_path: Path
) -> None:
    proxy, url, direct = postgres_behind_proxy
    seeded = seed_shop(direct)
    latency = 0.3
    with Service(service_env(url), tmp_path / "logs") as service:
        load = RecommendationLoad(service.port, seeded.api_key, threads=2, pause=0.005).start()
        time.sleep(1)
        load.mark("slow")
        proxy.latency(latency * 1000)
        time.sleep(5)
        load.mark("restored")
        proxy.pass_through()
        time.sleep(1)
        answers = load.stop()
    slow = load.between("slow", "restored")
    assert all(a.status == 200 and a.valid for a in answers), load.errors.most_common(3)
    from_memory = [a for a in slow if a.seconds < latency]
    # most answers make no database round trip; the others wait for the catalog, model or
    # API key to be read again (every few seconds), each read one or more slow round trips
    assert len(from_memory) >= len(slow) / 2, sorted(a.seconds for a in slow)[-5:]


@pytest.mark.postgres
def test_postgres_stopped_and_started_again_loses_no_acknowledged_delivery(
    own_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    server = own_postgres
    with postgres_database(server.admin_url) as (url, direct):
        seeded = seed_shop(direct)
        deliveries = make_deliveries(1200, seeded.at)
        with Service(service_env(url), tmp_path / "logs") as service:
            load = RecommendationLoad(service.port, seeded.api_key, threads=1, pause=0.01).start()
            sender = Sender(service.port, deliveries, threads=2, give_up=60, spread=6)
            sending = threading.Thread(target=sender.run)
            sending.start()
            time.sleep(1.5)
            load.mark("stopped")
            server.stop("immediate")
            time.sleep(6)  # longer than the model's version check interval (5 s)
            server.start()
            load.mark("started")
            sending.join()
            time.sleep(1)
            answers = load.stop()
            report = sender.report
            with storage.open(direct) as store:
                wait_drained(store, timeout=90)
                found = audit(store, seeded, deliveries, report)
            assert service.arbiter_alive
    statuses = {o for o in report.outcomes if o.isdigit()}
    assert "503" in statuses or any(not o.isdigit() for o in report.outcomes), report.outcomes
    _nothing_lost(report, found, deliveries)
    during = load.between("stopped", "started")
    assert during, "no recommendation was asked while the server was down"
    failed = [a for a in answers if a.status != 200 or not a.valid]
    assert failed == [], (len(answers), failed[:5], load.errors.most_common(3))
