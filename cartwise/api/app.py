"""The app factory: `create_app(settings)` wires storage, the model registry, the blueprints,
the error handlers and the security headers. Imports Flask and everything below it."""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Callable

from flask import Flask

from cartwise import cache, storage
from cartwise.api import (
    admin,
    body_limit,
    compression,
    context,
    dashboard,
    demo,
    errors,
    events,
    experiments,
    headers,
    health,
    install,
    metrics,
    openapi,
    preferences,
    recommendations,
    webhooks,
)
from cartwise.api.ratelimits import EventLimiter, RequestLimits
from cartwise.arms import ExperimentMemory, ExposureLog, StorefrontRecord
from cartwise.cache.notices import Notices
from cartwise.consent import ConsentMemory
from cartwise.jobs import Worker, build_worker
from cartwise.rq_jobs import Tickets
from cartwise.serving import (
    CatalogCache,
    ModelRegistry,
    ResponseCache,
    decode_response,
    encode_response,
)
from cartwise.settings import Settings
from cartwise.storage import Store

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 1024 * 1024

RESPONSE_TTL_SECONDS = 30.0
"""How long one session's answer to the same cart and model is reused (a re-render, a retry)."""
"""Larger request bodies are refused with 413 `payload_too_large` before they are read."""


def _wake(settings: Settings, worker: Worker, in_process: bool) -> Callable[[str], object] | None:
    """What tells the job workers that a shop has a new job: this process's own thread, else
    an RQ ticket when Redis is configured, else nothing (`cartwise worker` polls the queue)."""
    if in_process:
        return lambda _shop: worker.wake()
    if settings.redis_url:
        return Tickets(settings.redis_url, settings.jobs.queue).post
    return None


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    registry: ModelRegistry | None = None,
    start_worker: bool | None = None,
) -> Flask:
    """A cartwise app. `settings` default to `Settings()` (the environment); `store` to
    `storage.open(settings.resolved_database_url(), upgrade=settings.auto_migrate)`, which the
    app then owns for its lifetime; `registry` to a `ModelRegistry` over that store. The demo
    page exists in demo mode only.

    The job worker runs in a thread of this process when `start_worker` is True (default:
    `settings.jobs.in_process`); it is reachable as `app.extensions["cartwise_worker"]`.
    Raises `ConfigurationError` for settings a deployment can't run with, and for a database
    schema that is behind when it may not be migrated here (`cartwise db upgrade`)."""
    settings = settings or Settings()
    settings.check()
    if store is None:
        store = storage.open(settings.resolved_database_url(), upgrade=settings.auto_migrate)
    registry = registry or ModelRegistry(store, reload_interval=settings.model.reload_seconds)
    catalog = CatalogCache(store)

    # a new model version only: the catalog memory keeps its products (re-read as they age),
    # which a save per batch of orders would otherwise throw away every time
    notices = Notices(settings.redis_url, settings.jobs.queue) if settings.redis_url else None

    def saved_here(shop: str) -> None:
        # this process at once, whatever Redis does (an order changes the next answer); the
        # others through the notice, each loading at most one version per reload interval
        registry.invalidate(shop)
        if notices is not None:
            notices.publish(shop)

    worker: Worker = build_worker(store, settings, on_model_saved=saved_here)
    app = Flask(__name__)
    body_limit.init_app(app, MAX_BODY_BYTES)
    run_worker = settings.jobs.in_process if start_worker is None else start_worker
    responses: ResponseCache = cache.open(
        settings.redis_url,
        ttl=RESPONSE_TTL_SECONDS,
        encode=encode_response,
        decode=decode_response,
    )
    exposure_log = ExposureLog(store)
    # what is buffered when the process exits normally is written, not lost
    atexit.register(exposure_log.flush)
    bound = context.Services(
        settings,
        store,
        registry,
        responses=responses,
        wake_worker=_wake(settings, worker, run_worker),
        catalog=catalog,
        experiments=ExperimentMemory(store),
        exposures=exposure_log,
        storefront=StorefrontRecord(store),
        event_limiter=EventLimiter(
            settings.events_per_minute,
            settings.redis_url,
            key_prefix=settings.rate_limits.key_prefix,
        ),
        request_limits=RequestLimits(settings.rate_limits, settings.redis_url)
        if settings.rate_limits.enabled
        else None,
        consent=ConsentMemory(store, consent_required=settings.consent_required),
    )
    context.init_app(app, bound)
    if notices is not None:
        # a model saved by any process (a `cartwise worker`, another web worker's job thread)
        # is looked for at once, not at the next version check
        notices.listen(registry.newer)
        weakref.finalize(app, notices.stop)
    app.extensions["cartwise_notices"] = notices
    app.extensions["cartwise_worker"] = worker
    errors.init_app(app)
    metrics.init_app(app, bound)
    headers.init_app(app, app_url=settings.app_url)
    compression.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(recommendations.bp)
    app.register_blueprint(recommendations.proxy_bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(events.proxy_bp)
    app.register_blueprint(preferences.bp)
    app.register_blueprint(preferences.proxy_bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(install.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(experiments.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(openapi.bp)
    if settings.demo_mode:
        app.register_blueprint(demo.bp)
    if run_worker:
        worker.start()
    return app
