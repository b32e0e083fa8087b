"""Jobs through RQ on Redis (the production profile): the database keeps the jobs, RQ carries
the news that a shop has some.

A webhook's event and its job are written in one database transaction, as in the embedded
profile. After the commit the web worker posts a *ticket* for the shop on the RQ queue; at most
one ticket per shop waits at a time (a Redis key taken with NX), so a burst of deliveries costs
one RQ job. A `cartwise worker` takes the ticket and works the shop's ready jobs through the same
handlers as the in-process thread (`jobs.build_worker`). It clears the shop's key before it
claims anything, so a job written while it works gets a ticket of its own: no news is lost.

The database stays the record. Each `cartwise worker` also sweeps every few seconds: shops with
ready jobs (a ticket lost with Redis, the jobs of a killed worker once their lease ran out) are
ticketed again, or worked right there while Redis does not answer. A web worker never waits on
Redis for long: a short socket timeout, and after a failure it stops trying for a second.
Layer 4: imports jobs, storage and settings; redis and rq.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker

from cartwise import storage
from cartwise.cache.notices import Notices
from cartwise.cache.pause import Pause
from cartwise.jobs import Worker, build_worker
from cartwise.settings import Settings

__all__ = ["TICKET_SECONDS", "Tickets", "run_worker", "work_shop"]

log = logging.getLogger(__name__)

TICKET_SECONDS = 60
"""A shop's ticket key expires after this long, so a ticket lost before it ran can't keep the
shop from being ticketed again for longer (the sweep finds its jobs meanwhile)."""
TICKET_TIMEOUT_SECONDS = 3600
"""The longest one ticket may run (a large shop's backfill); RQ stops it after that, and the
jobs it held come back when their lease runs out."""
_RETRY_AFTER_FAILURE = 1.0
_MAX_PAUSE = 16.0


class Tickets:
    """Posts a shop's ticket on the RQ queue; `post(shop)` is what a web worker calls after it
    stored a delivery. False when Redis did not take it (the sweep will find the jobs)."""

    def __init__(self, redis_url: str, queue: str, *, timeout: float = 0.2) -> None:
        self._redis = Redis.from_url(
            redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._queue = Queue(queue, connection=self._redis)
        self._prefix = f"{queue}:ticket:"
        self._pause = Pause(_RETRY_AFTER_FAILURE, _MAX_PAUSE)
        # an app dropped without `close()` (tests, a reloaded worker) still closes its sockets
        weakref.finalize(self, self._redis.connection_pool.disconnect)

    def post(self, shop: str) -> bool:
        if self._pause.waiting:
            return False
        try:
            if self._redis.set(self._prefix + shop, "1", nx=True, ex=TICKET_SECONDS):
                self._queue.enqueue(
                    "cartwise.rq_jobs.work_shop",
                    shop,
                    job_timeout=TICKET_TIMEOUT_SECONDS,
                    result_ttl=0,
                    failure_ttl=7 * 24 * 3600,
                    description=f"jobs of {shop}",
                )
            self._pause.answered()
            return True
        except RedisError as exc:
            # the sweep finds the jobs meanwhile
            if self._pause.failed():
                log.warning("could not post a job ticket for %s on Redis: %s", shop, exc)
            return False

    def taken(self, shop: str) -> None:
        """A worker is on it: the next job of the shop needs a ticket of its own."""
        self._redis.delete(self._prefix + shop)

    def close(self) -> None:
        self._redis.close()


@dataclass
class _Runtime:
    worker: Worker
    tickets: Tickets
    notices: Notices
    store: storage.Store
    gather: float = 0.0

    @classmethod
    def build(cls, settings: Settings, store: storage.Store) -> _Runtime:
        assert settings.redis_url
        notices = Notices(settings.redis_url, settings.jobs.queue)
        # web workers hear of each model this worker saves and load it at once
        worker = build_worker(store, settings, on_model_saved=notices.publish)
        tickets = Tickets(settings.redis_url, settings.jobs.queue)
        return cls(worker, tickets, notices, store, settings.jobs.gather_seconds)


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()


def _current() -> _Runtime:
    """This process's job runtime: the one `run_worker` set up, or one built from the
    environment (a plain `rq worker` taking cartwise's queue)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            settings = Settings()
            if not settings.redis_url:
                raise RuntimeError("CARTWISE_REDIS_URL is not set: RQ tickets can't be worked")
            store = storage.open(settings.resolved_database_url(), upgrade=settings.auto_migrate)
            _runtime = _Runtime.build(settings, store)
        return _runtime


def work_shop(shop: str) -> None:
    """The RQ job behind a ticket: the shop's ready jobs, until none is left."""
    runtime = _current()
    # deliveries arriving meanwhile find the ticket still waiting and join this run
    time.sleep(runtime.gather)
    runtime.tickets.taken(shop)
    runtime.worker.drain(timeout=TICKET_TIMEOUT_SECONDS, shop=shop)


def sweep(runtime: _Runtime) -> int:
    """Ticket every shop with ready jobs again, or work them here when Redis is away; returns
    how many shops were found."""
    shops = runtime.store.jobs.ready_shops()
    for shop in shops:
        if not runtime.tickets.post(shop):
            runtime.worker.run_once(shop)
    return len(shops)


def run_worker(settings: Settings, store: storage.Store, *, burst: bool = False) -> None:
    """`cartwise worker` with Redis: an RQ worker on the cartwise queue (tickets run in this
    process, no fork per job) and, beside it, the sweep and the periodic tasks. Returns when RQ
    stops (SIGTERM/SIGINT: after the ticket at hand) or, with `burst`, once nothing is left."""
    global _runtime
    assert settings.redis_url
    runtime = _Runtime.build(settings, store)
    worker = runtime.worker
    with _runtime_lock:
        _runtime = runtime
    stop = threading.Event()

    def sweeping() -> None:
        while not stop.wait(settings.jobs.sweep_seconds):
            try:
                worker.tick()
                sweep(runtime)
            except Exception:
                log.exception("the job sweep failed a round; going on")

    side = threading.Thread(target=sweeping, name="cartwise-sweep", daemon=True)
    if not burst:
        side.start()
    connection = Redis.from_url(settings.redis_url)
    try:
        if burst:
            sweep(runtime)
        SimpleWorker(
            [Queue(settings.jobs.queue, connection=connection)], connection=connection
        ).work(burst=burst, logging_level="WARNING")
        if burst:
            worker.drain(timeout=TICKET_TIMEOUT_SECONDS)
    finally:
        stop.set()
        if side.is_alive():
            side.join(timeout=10)
        connection.close()
        runtime.tickets.close()
        runtime.notices.close()
        with _runtime_lock:
            _runtime = None
