"""The per-app services (settings, store, model registry) bound in `app.extensions`, and the
accessor views use to reach them. Imports Flask and layers 0-4, nothing else from `api`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from flask import Flask, current_app

from cartwise.api.ratelimits import EventLimiter, RequestLimits
from cartwise.arms import ExperimentMemory, ExposureLog, StorefrontRecord
from cartwise.cache import MemoryCache
from cartwise.consent import ConsentMemory
from cartwise.serving import CatalogCache, ModelRegistry, ResponseCache
from cartwise.settings import Settings
from cartwise.storage import Store

__all__ = ["EXTENSION_KEY", "Services", "init_app", "services"]

EXTENSION_KEY = "cartwise"


@dataclass(frozen=True, slots=True)
class Services:
    """What a request handler may use; one per app, shared by its threads."""

    settings: Settings
    store: Store
    registry: ModelRegistry
    responses: ResponseCache = field(default_factory=lambda: MemoryCache(ttl=30.0))
    wake_worker: Callable[[str], object] | None = None
    """Called with the shop after a delivery was stored: wakes whatever works its jobs."""
    catalog: CatalogCache | None = None
    experiments: ExperimentMemory | None = None
    """The running experiment per shop; None: answers are never split into arms."""
    exposures: ExposureLog | None = None
    storefront: StorefrontRecord | None = None
    event_limiter: EventLimiter | None = None
    """Products' storefront clicks, for exploration; None: no exploration."""
    request_limits: RequestLimits | None = None
    """Requests per shop and API key (`api.ratelimits`); None: not counted."""
    consent: ConsentMemory | None = None
    """Customers' consent to personalisation; None: every customer is personalised."""


def init_app(app: Flask, bound: Services) -> None:
    app.extensions[EXTENSION_KEY] = bound


def services() -> Services:
    """The services of the app handling the current request."""
    return cast(Services, current_app.extensions[EXTENSION_KEY])
