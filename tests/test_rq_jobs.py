"""Jobs through RQ on a real Redis (127.0.0.1:6379): web workers post coalesced tickets,
`cartwise worker` works them through the same handlers, and the database stays the record when
Redis is away or a worker dies (sweeps, short renewed leases)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from rq import Queue

from cartwise import storage
from cartwise.api import create_app
from cartwise.domain import Platform, ShopRef
from cartwise.jobs import Worker
from cartwise.rq_jobs import Tickets, run_worker
from cartwise.settings import JobSettings, Settings
from cartwise.storage import Job, Store
from tests.api.shopify import (
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET_KEY,
    SHOP_A,
    SHOP_B,
    delivery,
    shopify_settings,
)
from tests.api.test_webhooks import order_payload

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def conn(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def queue_name(conn: redis.Redis) -> Iterator[str]:
    """A queue of this test's own, emptied and its ticket keys removed afterwards."""
    name = f"cartwise-test-{uuid.uuid4().hex[:12]}"
    yield name
    Queue(name, connection=conn).empty()
    for key in conn.scan_iter(f"{name}:*"):
        conn.delete(key)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cartwise.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with storage.open(db_url) as opened:
        for shop in (SHOP_A, SHOP_B):
            opened.shops.ensure(ShopRef(shop, Platform.SHOPIFY))
        yield opened


def settings_for(db_url: str, redis_url: str | None, queue: str) -> Settings:
    return shopify_settings(
        database_url=db_url,
        redis_url=redis_url,
        jobs=JobSettings(in_process=False, queue=queue, sweep_seconds=0.2),
    )


def order(n: int) -> dict[str, object]:
    return order_payload(10_000 + n, created=NOW, updated=NOW, lines=((7, 1), (8, 2)))


def post_orders(settings: Settings, store: Store, shop: str, ids: range) -> None:
    client = create_app(settings, store=store).test_client()
    for n in ids:
        headers, body = delivery("orders/create", order(n), shop=shop)
        response = client.post("/webhooks/shopify", data=body, headers=headers)
        assert response.status_code == 200, response.get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_deliveries_post_one_waiting_ticket_per_shop(
    redis_url: str, conn: redis.Redis, queue_name: str, db_url: str, store: Store
) -> None:
    settings = settings_for(db_url, redis_url, queue_name)
    post_orders(settings, store, SHOP_A, range(5))
    post_orders(settings, store, SHOP_B, range(5, 7))

    waiting = Queue(queue_name, connection=conn)
    assert waiting.count == 2  # five deliveries of A, two of B: one ticket each
    assert {job.args[0] for job in waiting.jobs} == {SHOP_A, SHOP_B}
    assert store.jobs.pending()["due"] == 7
    assert store.orders.count(SHOP_A) == 0  # nothing is worked in the web process


def test_the_worker_works_the_tickets_then_a_new_delivery_gets_a_new_ticket(
    redis_url: str, conn: redis.Redis, queue_name: str, db_url: str, store: Store
) -> None:
    settings = settings_for(db_url, redis_url, queue_name)
    post_orders(settings, store, SHOP_A, range(3))
    post_orders(settings, store, SHOP_B, range(3, 4))

    run_worker(settings, store, burst=True)

    assert store.orders.count(SHOP_A) == 3
    assert store.orders.count(SHOP_B) == 1
    assert store.jobs.pending() == {
        "due": 0,
        "scheduled": store.jobs.pending()["scheduled"],
        "running": 0,
    }
    waiting = Queue(queue_name, connection=conn)
    assert waiting.count == 0
    # the shop's ticket was taken: the next delivery posts a fresh one
    post_orders(settings, store, SHOP_A, range(4, 5))
    assert waiting.count == 1
    run_worker(settings, store, burst=True)
    assert store.orders.count(SHOP_A) == 4


def test_with_redis_away_deliveries_are_kept_and_the_sweep_works_them_later(
    redis_url: str, conn: redis.Redis, queue_name: str, db_url: str, store: Store
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    away = settings_for(db_url, dead, queue_name)
    started = time.monotonic()
    post_orders(away, store, SHOP_A, range(20))
    # a refused connection costs one short try, then Redis is left alone for a second
    assert time.monotonic() - started < 5
    assert store.jobs.pending()["due"] == 20
    assert Queue(queue_name, connection=conn).count == 0

    run_worker(settings_for(db_url, redis_url, queue_name), store, burst=True)

    assert store.orders.count(SHOP_A) == 20
    assert store.jobs.pending()["due"] == 0


def test_tickets_to_an_unreachable_redis_fail_fast_and_say_so(queue_name: str) -> None:
    tickets = Tickets(f"redis://127.0.0.1:{free_port()}/0", queue_name)
    started = time.monotonic()
    assert tickets.post(SHOP_A) is False
    assert tickets.post(SHOP_A) is False  # not tried again within the second
    assert time.monotonic() - started < 1.0


def test_a_running_batch_keeps_its_lease_and_a_dead_workers_jobs_come_back(
    db_url: str, store: Store
) -> None:
    store.jobs.enqueue("slow", SHOP_A, {})
    entered = threading.Event()
    seen: list[int] = []

    def slow(jobs: list[Job]) -> None:
        entered.set()
        seen.extend(job.id for job in jobs)
        time.sleep(1.0)

    lease = timedelta(seconds=0.3)
    worker = Worker(store, {"slow": slow}, lease=lease)
    runner = threading.Thread(target=worker.run_once)
    runner.start()
    assert entered.wait(5)
    time.sleep(0.6)  # twice the lease: only renewal keeps the job from being claimed again
    assert store.jobs.claim(limit=10, lease=lease) == []
    runner.join()
    assert store.jobs.pending() == {"due": 0, "scheduled": 0, "running": 0}
    assert len(seen) == 1

    # a worker that claims and dies (no renewal, no finish): its job is claimed again once
    # the lease has run out
    store.jobs.enqueue("slow", SHOP_A, {})
    first = store.jobs.claim(limit=10, lease=lease)
    assert len(first) == 1
    assert store.jobs.claim(limit=10, lease=lease) == []
    time.sleep(0.4)
    again = store.jobs.claim(limit=10, lease=lease)
    assert [job.id for job in again] == [first[0].id]
    assert again[0].attempts == 2


def test_claim_and_ready_shops_keep_to_the_shop_asked_for(store: Store) -> None:
    store.jobs.enqueue("k", SHOP_A, {})
    store.jobs.enqueue("k", SHOP_B, {})
    store.jobs.enqueue("k", SHOP_B, {})
    assert store.jobs.ready_shops() == [SHOP_A, SHOP_B]
    claimed = store.jobs.claim(limit=10, shop=SHOP_B)
    assert {job.shop for job in claimed} == {SHOP_B} and len(claimed) == 2
    assert store.jobs.ready_shops() == [SHOP_A]


def worker_env(db_url: str, redis_url: str | None, queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTWISE_")}
    env.update(
        {
            "CARTWISE_DATABASE_URL": db_url,
            "CARTWISE_DEMO_MODE": "false",
            "CARTWISE_SECRET_KEY": SECRET_KEY,
            "CARTWISE_SHOPIFY__CLIENT_ID": CLIENT_ID,
            "CARTWISE_SHOPIFY__CLIENT_SECRET": CLIENT_SECRET,
            "CARTWISE_JOBS__QUEUE": queue,
            "CARTWISE_JOBS__POLL_SECONDS": "0.05",
            "CARTWISE_JOBS__SWEEP_SECONDS": "0.2",
        }
    )
    if redis_url:
        env["CARTWISE_REDIS_URL"] = redis_url
    return env


def wait_for(condition: object, timeout: float = 20.0) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.server
@pytest.mark.parametrize("with_redis", [False, True], ids=["database", "rq"])
def test_cartwise_worker_works_new_deliveries_and_stops_cleanly_on_sigterm(
    with_redis: bool, redis_url: str, queue_name: str, db_url: str, store: Store
) -> None:
    url = redis_url if with_redis else None
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("cartwise")), "worker"],
        env=worker_env(db_url, url, queue_name),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        post_orders(settings_for(db_url, url, queue_name), store, SHOP_A, range(5))
        assert wait_for(lambda: store.orders.count(SHOP_A) == 5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
