"""`GET /metrics` in Prometheus text format, and the request hooks that feed it.

Measured as requests pass (a few dict lookups and a histogram observation each): latency per
route, method and status class; recommendation answers by source and placement; the lag of
Shopify webhook deliveries. Read at scrape time: the response cache's hits and misses, pending
jobs, the age of each recently trained shop's model, and whether the database answers at all.
Every metric is described in docs/monitoring.md.

Several gunicorn workers run in prometheus_client's multiprocess mode: `api.server` exports a
fresh `PROMETHEUS_MULTIPROC_DIR` per server run, each worker writes its counters and histograms
to files there, and a scrape, whichever worker answers it, sums all of them. That mode has
limits, which shape this module: a prometheus_client `Gauge` keeps one value per process and
needs a rule to merge them, so no `Gauge` object is used — the gauges (pending jobs, model age,
storage up) are computed from the database at scrape time, which gives the same answer in any
worker; the response cache counts per worker, so in that mode its counts are copied into
file-backed counters as answers are recorded. Process metrics (CPU, memory) are left to the
host's exporters: in that mode they would describe only the worker that answered.

Imports Flask, prometheus_client, `api.context` and layers 0-4.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Request, Response, current_app, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from pydantic import SecretStr
from werkzeug.routing import Rule

from cartwise.api.context import Services, services
from cartwise.cache import CacheStats
from cartwise.errors import ConfigurationError, Forbidden, Unauthorized
from cartwise.serving import ResponseCache
from cartwise.storage import Store

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "LAG_BUCKETS",
    "LATENCY_BUCKETS",
    "MAX_SHOPS",
    "MULTIPROCESS_DIR_ENV",
    "bp",
    "init_app",
    "record_answer",
    "record_defaults",
]

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds: a cached answer takes well under a millisecond, a cold one a few."""

LAG_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0, 172800.0)
"""Seconds from Shopify's trigger to our 200; Shopify retries a delivery for up to 48 hours."""

MAX_SHOPS = 100
"""Model ages are exported for this many shops at most, the most recently trained first."""

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_EXTENSION_KEY = "cartwise_metrics"
_WEBHOOKS_BLUEPRINT = "webhooks"
_SHOPIFY_WEBHOOK = "webhooks.shopify"
_UNMATCHED = "(unmatched)"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = {"1": "1xx", "2": "2xx", "3": "3xx", "4": "4xx"}
# Headers a reverse proxy adds: a request carrying one came from elsewhere, whatever its address.
_FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def init_app(app: Flask, bound: Services) -> None:
    """Time every request of `app` (a WSGI middleware around all Flask does for it, so routing,
    hooks, error handlers and compression are included), watch Shopify webhook deliveries,
    and serve `GET /metrics`.

    Multiprocess mode is on when `PROMETHEUS_MULTIPROC_DIR` is set: prometheus_client's own
    switch (it reads the variable itself to place its files), exported by `api.server`."""
    directory = os.environ.get(MULTIPROCESS_DIR_ENV) or None
    if directory is not None:
        if not os.path.isdir(directory):
            raise ConfigurationError(f"{MULTIPROCESS_DIR_ENV}={directory!r} is not a directory")
        _use_multiprocess_values()
    # No `<name>_created` series beside every counter and histogram: Prometheus stores each
    # as one more series, and nothing here reads them (a process-wide prometheus_client switch).
    disable_created_metrics()  # type: ignore[no-untyped-call]
    metrics = _Metrics(bound, directory)
    app.extensions[_EXTENSION_KEY] = metrics
    app.wsgi_app = _Timing(app.wsgi_app, metrics)  # type: ignore[method-assign]
    # Scoped to the webhooks blueprint: other requests never run it.
    app.after_request_funcs.setdefault(_WEBHOOKS_BLUEPRINT, []).append(metrics.webhook_answered)
    app.register_blueprint(bp)


def record_answer(source: str, placement: str) -> None:
    """Count one recommendation answer of the current app (`source`: the answer's first step,
    `placement`: where the storefront shows it)."""
    metrics: _Metrics | None = current_app.extensions.get(_EXTENSION_KEY)
    if metrics is not None:
        metrics.record_answer(source, placement)


def record_defaults(source: str) -> None:
    """Count one `GET /v1/defaults` answer: a fallback fetched ahead of time, kept apart from the
    answers shoppers see so that it does not move the fallback rate."""
    metrics: _Metrics | None = current_app.extensions.get(_EXTENSION_KEY)
    if metrics is not None:
        metrics.defaults.labels(source).inc()


@bp.get("/metrics")
def scrape() -> Response:
    """The metrics, for Prometheus. With `metrics_token` set, 401 `unauthorized` without
    `Authorization: Bearer <token>`; unset, 403 `forbidden` for any caller but a direct
    loopback one. Never fails on a database outage: `cartwise_storage_up` is 0 then."""
    _authorize(services().settings.metrics_token)
    metrics: _Metrics = current_app.extensions[_EXTENSION_KEY]
    if metrics.mirror is not None:
        metrics.mirror.sync()
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(metrics.scrape), content_type=content_type)


@bp.after_request
def _no_store(response: Response) -> Response:
    """Every answer of `/metrics`, refusals included, is for its caller only."""
    response.headers["Cache-Control"] = "no-store"
    return response


class _Metrics:
    """One app's metrics. Label children are kept in plain dicts: a lookup there costs less
    than prometheus_client's `labels()` (which takes a lock), and two threads racing to add a
    key both get the same child from it."""

    def __init__(self, bound: Services, directory: str | None) -> None:
        own = CollectorRegistry()
        self.latency = Histogram(
            "cartwise_http_request_duration_seconds",
            "Time from the start of a request's handling to its response, by route.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.answers = Counter(
            "cartwise_recommendation_answers",
            "Recommendation answers by source (the first step of the fallback chain that gave "
            "an item) and placement.",
            ["source", "placement"],
            registry=own,
        )
        self.defaults = Counter(
            "cartwise_defaults_answers",
            "GET /v1/defaults answers (fallbacks fetched ahead of time) by source.",
            ["source"],
            registry=own,
        )
        self.webhook_lag = Histogram(
            "cartwise_webhook_lag_seconds",
            "Time from X-Shopify-Triggered-At to the answer of an accepted Shopify webhook.",
            buckets=LAG_BUCKETS,
            registry=own,
        )
        self._timers: dict[tuple[str, str, str], Histogram] = {}
        self._answer_counters: dict[tuple[str, str], Counter] = {}
        self.mirror: _CacheMirror | None
        database = _StorageCollector(bound.store)
        if directory is None:
            own.register(_CacheCollector(bound.responses))
            own.register(database)
            self.mirror = None
            self.scrape = own
        else:
            self.mirror = _CacheMirror(bound.responses, own)
            self.scrape = CollectorRegistry()
            MultiProcessCollector(self.scrape, path=directory)  # type: ignore[no-untyped-call]
            self.scrape.register(database)

    def observe(self, method: str, rule: Rule | None, status: str, elapsed: float) -> None:
        """One answered request, by its URL rule (None: nothing matched), method and the
        class of its status line."""
        if rule is None:
            route = _UNMATCHED
            method = method if method in _METHODS else "other"
        else:
            route = rule.rule
        key = (route, method, _STATUS_CLASSES.get(status[:1], "5xx"))
        timer = self._timers.get(key)
        if timer is None:
            timer = self._timers[key] = self.latency.labels(*key)
        timer.observe(elapsed)

    def webhook_answered(self, response: Response) -> Response:
        if response.status_code < 300 and request.endpoint == _SHOPIFY_WEBHOOK:
            self._observe_lag()
        return response

    def record_answer(self, source: str, placement: str) -> None:
        key = (source, placement)
        counter = self._answer_counters.get(key)
        if counter is None:
            counter = self._answer_counters[key] = self.answers.labels(*key)
        counter.inc()
        if self.mirror is not None:
            self.mirror.maybe_sync()

    def _observe_lag(self) -> None:
        """Shopify's trigger time is ISO 8601 with up to nanoseconds; a missing or unreadable
        header is skipped, a time ahead of ours (clock skew) counts as no lag."""
        raw = request.headers.get("X-Shopify-Triggered-At")
        if not raw:
            return
        try:
            triggered = datetime.fromisoformat(raw.strip())
        except ValueError:
            return
        if triggered.tzinfo is None:
            triggered = triggered.replace(tzinfo=UTC)
        lag = (datetime.now(UTC) - triggered).total_seconds()
        self.webhook_lag.observe(max(0.0, lag))


class _Timing:
    """WSGI middleware: the time from a request's arrival in Flask to its response. Flask
    calls `start_response` while the request is still current, and werkzeug keeps the request
    object in the environ until then: its URL rule is read there, with no context lookup."""

    def __init__(self, wsgi_app: WSGIApplication, metrics: _Metrics) -> None:
        self._wsgi_app = wsgi_app
        self._metrics = metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        answered: list[tuple[str, Rule | None]] = []

        def capture(
            status: str, headers: list[tuple[str, str]], *rest: Any
        ) -> Callable[[bytes], object]:
            found: Request | None = environ.get("werkzeug.request")
            answered.append((status, found.url_rule if found is not None else None))
            return start_response(status, headers, *rest)

        body = self._wsgi_app(environ, capture)
        if answered:
            status, rule = answered[-1]
            method: str = environ.get("REQUEST_METHOD", "")
            self._metrics.observe(method, rule, status, time.perf_counter() - started)
        return body


class _CacheCollector(Collector):
    """The response cache's counts, read when scraped (one process)."""

    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        stats = self._cache.stats()
        lookups = CounterMetricFamily(
            "cartwise_response_cache_requests",
            "Lookups of the recommendation response cache, by result.",
            labels=["result"],
        )
        lookups.add_metric(["hit"], stats.hits)
        lookups.add_metric(["miss"], stats.misses)
        yield lookups
        errors = CounterMetricFamily(
            "cartwise_response_cache_errors",
            "Response cache calls that could not reach its backend (Redis); each is a miss.",
        )
        errors.add_metric([], stats.errors)
        yield errors


class _CacheMirror:
    """Multiprocess mode: this worker's cache counts copied into file-backed counters of the
    same names, so that a scrape answered by any worker sums every worker's counts. Copied by
    the first answer recorded `every` seconds after the last copy (a copy writes to the files,
    which costs a few microseconds), and whenever this worker answers a scrape; so another
    worker's counts reach a scrape at most `every` seconds late, or at its next answer when it
    has been idle since. A thread finding another copying skips: that copy carries its counts."""

    def __init__(
        self, cache: ResponseCache, registry: CollectorRegistry, *, every: float = 1.0
    ) -> None:
        self._cache = cache
        self._every = every
        self._due = 0.0
        lookups = Counter(
            "cartwise_response_cache_requests",
            "Lookups of the recommendation response cache, by result.",
            ["result"],
            registry=registry,
        )
        self._hits = lookups.labels("hit")
        self._misses = lookups.labels("miss")
        self._errors = Counter(
            "cartwise_response_cache_errors",
            "Response cache calls that could not reach its backend (Redis); each is a miss.",
            registry=registry,
        )
        self._seen = CacheStats()
        self._busy = threading.Lock()

    def maybe_sync(self) -> None:
        if time.monotonic() >= self._due:
            self.sync()

    def sync(self) -> None:
        if not self._busy.acquire(blocking=False):
            return
        try:
            self._due = time.monotonic() + self._every
            now, seen = self._cache.stats(), self._seen
            for counter, new, old in (
                (self._hits, now.hits, seen.hits),
                (self._misses, now.misses, seen.misses),
                (self._errors, now.errors, seen.errors),
            ):
                if new > old:
                    counter.inc(new - old)
            self._seen = now
        finally:
            self._busy.release()


class _StorageCollector(Collector):
    """Pending jobs and model ages, queried when scraped (three small queries, no blobs
    read). A database that fails the queries is reported as
    `cartwise_storage_up 0` rather than failing the scrape."""

    def __init__(self, store: Store, *, max_shops: int = MAX_SHOPS) -> None:
        self._store = store
        self._max_shops = max_shops

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "cartwise_storage_up", "1 when the database answered this scrape's queries, else 0."
        )
        try:
            pending = self._store.jobs.pending()
            trained = self._store.models.newest_per_shop(limit=self._max_shops)
        except Exception as exc:  # whatever the database does, the scrape answers
            log.warning("metrics: the database did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily(
            "cartwise_jobs_pending",
            "Jobs not finished: due (queued, ready), scheduled (queued for later), running.",
            labels=["state"],
        )
        for state, count in sorted(pending.items()):
            jobs.add_metric([state], count)
        yield jobs
        now = datetime.now(UTC)
        ages = GaugeMetricFamily(
            "cartwise_model_age_seconds",
            f"Seconds since the shop's newest model was saved ({self._max_shops} most recently "
            "trained shops at most).",
            labels=["shop"],
        )
        for shop, created in trained:
            ages.add_metric([shop], max(0.0, (now - created).total_seconds()))
        yield ages


def _use_multiprocess_values() -> None:
    """prometheus_client decides how to keep metric values when it is first imported, and
    `cartwise serve` imports the app in the server process before it exports the directory
    for its workers: a worker decides again here, before its first metric is made."""
    if values.ValueClass is values.MutexValue:
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def _authorize(token: SecretStr | None) -> None:
    secret = token.get_secret_value() if token is not None else ""
    if secret:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), secret.encode()
        ):
            raise Unauthorized("GET /metrics needs Authorization: Bearer <metrics token>.")
        return
    if not _is_local():
        raise Forbidden(
            "GET /metrics answers loopback callers only; set CARTWISE_METRICS_TOKEN to scrape "
            "it from elsewhere."
        )


def _is_local() -> bool:
    """A loopback peer and no proxy header: behind a reverse proxy on the same host every
    caller's address is loopback, and only the proxy's headers tell them apart."""
    if any(name in request.headers for name in _FORWARDED):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
