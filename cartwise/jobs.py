"""Background work: a durable job queue in the database, worked by a thread of the web process
by default (RQ on Redis at scale runs the same handlers).

A job is claimed with a lease; a worker that dies leaves its jobs to be claimed again when the
lease runs out (at-least-once), which is why every handler is idempotent. Failed jobs are
retried with capped exponential backoff, then kept as `failed` with their error.
Layer 4: imports storage, ingestion, training, backfill, installs and settings.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from cartwise.backfill import (
    BACKFILL,
    RECONCILE,
    backfill_magento,
    backfill_shopify,
    reconcile_shopify,
)
from cartwise.connector.shopify.admin import ShopifyAdmin
from cartwise.connector.shopify.subscriptions import ensure_webhook_subscriptions
from cartwise.errors import CartwiseError, ModelNotTrained, UnknownShop
from cartwise.ingestion import REBUILD, EventProcessor
from cartwise.installs import reads_all_orders, shopify_admin
from cartwise.magento_stores import client_for
from cartwise.privacy import apply_retention
from cartwise.readouts import refresh_readouts
from cartwise.settings import Settings
from cartwise.storage import Job, Store
from cartwise.training import train_shop
from cartwise.webhooks.topics import PROCESS_EVENT, SHOPIFY_TOPICS

__all__ = ["Handler", "Worker", "build_worker"]

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Job]], None]
"""Runs a batch of jobs of one kind; raises to have them retried (one by one)."""

MAX_ATTEMPTS = 6
READOUT_EVERY_SECONDS = 900.0
"""How often the running experiments' readouts are recomputed."""
_BACKOFF_BASE = 2.0
_BACKOFF_CAP = 600.0


class Worker:
    """Claims ready jobs and runs them through the handler of their kind."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        *,
        poll_seconds: float = 0.1,
        batch_size: int = 200,
        lease: timedelta = timedelta(minutes=5),
        periodic: Sequence[tuple[float, Callable[[], None]]] = (),
        gather_seconds: float = 0.0,
    ) -> None:
        self._store = store
        self._handlers = dict(handlers)
        self._poll = poll_seconds
        self._gather = gather_seconds
        self._batch = batch_size
        self._lease = lease
        self._periodic = [(every, task, [time.monotonic()]) for every, task in periodic]
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, shop: str | None = None) -> int:
        """Claim and run one batch (of `shop`'s jobs only, when given); returns how many jobs
        were claimed. Their leases are renewed while they run, so a lease can be short and a
        dead worker's jobs are taken up again soon."""
        jobs = self._store.jobs.claim(limit=self._batch, lease=self._lease, shop=shop)
        if not jobs:
            return 0
        with self._renewing(jobs):
            self._run(jobs)
        return len(jobs)

    def _run(self, jobs: Sequence[Job]) -> None:
        by_kind: defaultdict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_kind[job.kind].append(job)
        for kind, group in by_kind.items():
            handler = self._handlers.get(kind)
            if handler is None:
                for job in group:
                    self._store.jobs.fail(job.id, f"no handler for job kind {kind!r}")
                continue
            try:
                handler(group)
            except Exception:
                if len(group) == 1:
                    self._failed(group[0])
                    continue
                log.warning(
                    "a batch of %d %s jobs failed; running them one by one", len(group), kind
                )
                for job in group:
                    self._run_alone(handler, job)
                continue
            self._store.jobs.finish_many([job.id for job in group])

    @contextmanager
    def _renewing(self, jobs: Sequence[Job]) -> Iterator[None]:
        """Renew the lease of `jobs` every third of it until the block ends."""
        done = threading.Event()
        ids = [job.id for job in jobs]
        every = self._lease.total_seconds() / 3

        def beat() -> None:
            while not done.wait(every):
                try:
                    self._store.jobs.extend(ids, self._lease)
                except Exception:
                    log.warning("could not renew the lease of %d jobs", len(ids), exc_info=True)

        beating = threading.Thread(target=beat, name="cartwise-job-leases", daemon=True)
        beating.start()
        try:
            yield
        finally:
            done.set()
            beating.join()

    def drain(self, *, timeout: float = 30.0, shop: str | None = None) -> None:
        """Run batches until no job is ready (of `shop`, when given): for tools, tests,
        benchmarks and an RQ ticket."""
        deadline = time.monotonic() + timeout
        while self.run_once(shop):
            if time.monotonic() > deadline:
                raise TimeoutError("the job queue did not drain in time")

    def run(self) -> None:
        """Work the queue in the calling thread until `stop()` (`cartwise worker`)."""
        self._stop.clear()
        self._loop()

    def tick(self) -> None:
        """Run the periodic tasks that are due."""
        self._tick()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cartwise-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for jobs now rather than at the next poll (a job was just queued)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
                busy = self.run_once()
            except Exception:
                log.exception("the job worker failed a round; going on")
                busy = 0
            if busy >= self._batch:
                continue  # a full batch: more are waiting
            if not busy:
                self._wake.wait(self._poll)
            if self._gather and (busy or self._wake.is_set()):
                # jobs are coming in: let a few gather, so one batch (and one model save per
                # shop) takes many deliveries instead of one each
                self._stop.wait(self._gather)
            self._wake.clear()

    def _tick(self) -> None:
        now = time.monotonic()
        for every, task, last in self._periodic:
            if now - last[0] >= every:
                last[0] = now
                try:
                    task()
                except Exception:
                    log.exception("a periodic task failed")

    def _run_alone(self, handler: Handler, job: Job) -> None:
        try:
            handler([job])
        except Exception:
            self._failed(job)
        else:
            self._store.jobs.finish(job.id)

    def _failed(self, job: Job) -> None:
        log.exception(
            "job %s (%s of %s) failed, attempt %d", job.id, job.kind, job.shop, job.attempts
        )
        error = _last_error()
        if job.attempts >= MAX_ATTEMPTS:
            self._store.jobs.fail(job.id, error)
            return
        delay = min(_BACKOFF_CAP, _BACKOFF_BASE**job.attempts)
        self._store.jobs.retry(job.id, error, at=datetime.now(UTC) + timedelta(seconds=delay))


def _last_error() -> str:
    import sys

    exc = sys.exc_info()[1]
    return f"{type(exc).__name__}: {exc}" if exc else "unknown error"


def build_worker(
    store: Store,
    settings: Settings,
    *,
    on_model_saved: Callable[[str], None] | None = None,
) -> Worker:
    """The worker with cartwise's handlers: webhook events, model rebuilds, and the periodic
    rebuild of every shop with orders."""
    processor = EventProcessor(
        store,
        secret=settings.effective_secret_key(),
        settings=settings.jobs,
        on_model_saved=on_model_saved,
        consent_required=settings.consent_required,
    )

    def rebuild(jobs: Sequence[Job]) -> None:
        for shop in dict.fromkeys(job.shop for job in jobs):
            try:
                report = train_shop(store, shop)
            except (ModelNotTrained, UnknownShop):
                continue
            store.models.prune(shop, keep=settings.jobs.keep_model_versions)
            processor.forget(shop)
            log.info("rebuilt the model of %s: version %d", shop, report.version)
            if on_model_saved is not None:
                on_model_saved(shop)
            if report.superseded:
                # updates saved during the fit may hold orders it did not read: train again
                # once the shop has been quiet for a while (at most one such training waits)
                processor.schedule_rebuild(shop, delay=settings.jobs.rebuild_delay_seconds)

    def magento(shop: str, *, reconcile: bool) -> None:
        async def run() -> None:
            allow = settings.magento.allow_private_urls
            async with client_for(store, shop, allow_private=allow) as client:
                await backfill_magento(store, shop, client, processor, reconcile=reconcile)

        asyncio.run(run())

    def backfill(jobs: Sequence[Job]) -> None:
        for shop in dict.fromkeys(job.shop for job in jobs):
            if store.magento.get(shop) is not None:
                magento(shop, reconcile=False)
                continue
            install = store.installs.get(shop)
            if install is None or not install.active:
                continue
            full = reads_all_orders(install.scope)

            async def run(shop: str = shop, full: bool = full) -> None:
                async with shopify_admin(store, settings, shop) as admin:
                    report = await backfill_shopify(
                        store, shop, admin, processor, full_history=full
                    )
                    log.info(
                        "backfilled %s: %s",
                        shop,
                        {r: c.objects for r, c in report.counts.items()},
                    )
                    if settings.app_url:
                        await _check_subscriptions(admin, settings.app_url)

            asyncio.run(run())

    def reconcile(jobs: Sequence[Job]) -> None:
        for shop in dict.fromkeys(job.shop for job in jobs):
            if store.magento.get(shop) is not None:
                magento(shop, reconcile=True)
                continue
            if not store.installs.is_active(shop):
                continue

            async def run(shop: str = shop) -> None:
                async with shopify_admin(store, settings, shop) as admin:
                    await reconcile_shopify(store, shop, admin, processor)

            asyncio.run(run())

    def schedule_reconciliations() -> None:
        shops = [s.domain for s in store.shops.list() if store.installs.is_active(s.domain)]
        shops += [m.shop for m in store.magento.list()]
        for shop in shops:
            if store.sync.for_shop(shop):
                store.jobs.enqueue(RECONCILE, shop, dedupe_key=f"{RECONCILE}:{shop}")

    def schedule_rebuilds() -> None:
        for shop in store.shops.list():
            processor.schedule_rebuild(shop.domain)

    def readouts() -> None:
        window = timedelta(hours=settings.attribution_window_hours)
        refresh_readouts(store, [shop.domain for shop in store.shops.list()], window=window)

    def retention() -> None:
        apply_retention(store, settings.retention_days)

    def purge() -> None:
        store.jobs.purge_finished(datetime.now(UTC) - timedelta(days=1))

    return Worker(
        store,
        {
            PROCESS_EVENT: processor.handle,
            REBUILD: rebuild,
            BACKFILL: backfill,
            RECONCILE: reconcile,
        },
        poll_seconds=settings.jobs.poll_seconds,
        batch_size=settings.jobs.batch_size,
        lease=timedelta(seconds=settings.jobs.lease_seconds),
        gather_seconds=settings.jobs.gather_seconds,
        periodic=[
            (settings.jobs.rebuild_every_hours * 3600, schedule_rebuilds),
            (settings.jobs.reconcile_every_hours * 3600, schedule_reconciliations),
            (3600.0, purge),
            (READOUT_EVERY_SECONDS, readouts),
            (24 * 3600.0, retention),
        ],
    )


async def _check_subscriptions(admin: ShopifyAdmin, app_url: str) -> None:
    """Shops installed before the app's TOML declared its webhooks get shop-specific ones."""
    try:
        report = await ensure_webhook_subscriptions(
            admin, app_url.rstrip("/") + "/webhooks/shopify", SHOPIFY_TOPICS
        )
    except CartwiseError as exc:
        log.warning("could not check the webhook subscriptions of %s: %s", admin.shop, exc)
        return
    if report.created or report.failed:
        log.info(
            "webhook subscriptions of %s: created %s, failed %s",
            admin.shop,
            list(report.created),
            dict(report.failed),
        )
