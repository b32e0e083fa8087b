"""`POST /v1/events` (checkout extension, SDK, custom storefronts) and `POST /proxy/events`
(theme block through the app proxy): impressions, clicks and add-to-carts of recommended
products, stored once per event id. Answers 202 with how many were new. Same credentials and
CORS as `/v1/recommendations`. Imports Flask and layers 0-4.
"""

from __future__ import annotations

from flask import Blueprint, Response

from cartwise.api import cors
from cartwise.api.auth import Caller, proxy_caller, storefront_caller
from cartwise.api.bodies import parse_json
from cartwise.api.context import services
from cartwise.schemas import EventBatch, EventsAccepted

__all__ = ["accept_events", "bp", "proxy_bp"]

bp = Blueprint("events", __name__, url_prefix="/v1")
proxy_bp = Blueprint("proxy_events", __name__, url_prefix="/proxy")


cors.share(bp, "/events")


@bp.post("/events")
def events() -> Response:
    """401 without a credential; 422 for a batch that does not validate (nothing stored)."""
    return accept_events(storefront_caller())


@proxy_bp.post("/events")
def proxy_events() -> Response:
    return accept_events(proxy_caller())


def accept_events(caller: Caller) -> Response:
    """Store the request's batch for the caller's shop; 202 with the counts; 429 with
    Retry-After (nothing stored) past the shop's events per minute."""
    batch = parse_json(EventBatch)
    ctx = services()
    if ctx.event_limiter is not None:
        ctx.event_limiter.check(caller.shop, len(batch.events))
    added = ctx.store.tracking.add_many(caller.shop, batch.events)
    body = EventsAccepted(accepted=added, duplicates=len(batch.events) - added)
    response = Response(body.model_dump_json(), status=202, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response
