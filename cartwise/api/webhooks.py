"""`POST /webhooks/shopify`: every Shopify topic, compliance topics included, at one address;
`POST /webhooks/magento`: the events the cartwise Magento module posts (see docs/magento.md).

The signature is checked on the raw body before anything else (401 with a machine code on any
failure, nothing stored); a signed delivery is stored once and answered 200 at once — also when
it is a duplicate or can't be used (dead-lettered), since anything but a 2xx makes Shopify retry
and finally drop the subscription; the Magento module likewise retries until it gets a 2xx.
Imports Flask and layers 0-4.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from cartwise.api.auth import app_credentials
from cartwise.api.context import services
from cartwise.webhooks import ingest_magento, ingest_shopify

__all__ = ["bp"]

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/shopify")
def shopify() -> Response:
    ctx = services()
    creds = app_credentials(ctx.settings)
    result = ingest_shopify(
        ctx.store,
        creds,
        method=request.method,
        headers=dict(request.headers),
        body=request.get_data(cache=False),
    )
    if ctx.wake_worker is not None and result.outcome == "stored":
        ctx.wake_worker(result.shop)
    return jsonify({"status": result.outcome})


@bp.post("/magento")
def magento() -> Response:
    ctx = services()
    result = ingest_magento(
        ctx.store,
        headers=dict(request.headers),
        body=request.get_data(cache=False),
        window=ctx.settings.magento.signature_window_seconds,
    )
    if ctx.wake_worker is not None and result.outcome == "stored":
        ctx.wake_worker(result.shop)
    return jsonify({"status": result.outcome})
