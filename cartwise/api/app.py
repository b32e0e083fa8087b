"""The app factory: `create_app(settings)` wires storage, the model registry, the blueprints,
the error handlers and the security headers. Imports Flask and everything below it."""

from __future__ import annotations

from flask import Flask

from cartwise import storage
from cartwise.api import context, demo, errors, headers, health, openapi, recommendations
from cartwise.serving import ModelRegistry
from cartwise.settings import Settings
from cartwise.storage import Store

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 1024 * 1024
"""Larger request bodies are refused with 413 `payload_too_large` before they are read."""


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    registry: ModelRegistry | None = None,
) -> Flask:
    """A cartwise app. `settings` default to `Settings()` (the environment); `store` to
    `storage.open(settings.resolved_database_url())`, which the app then owns for its lifetime;
    `registry` to a `ModelRegistry` over that store. The demo page exists in demo mode only."""
    settings = settings or Settings()
    if store is None:
        store = storage.open(settings.resolved_database_url())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    context.init_app(app, context.Services(settings, store, registry or ModelRegistry(store)))
    errors.init_app(app)
    headers.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(recommendations.bp)
    app.register_blueprint(openapi.bp)
    if settings.demo_mode:
        app.register_blueprint(demo.bp)
    return app
