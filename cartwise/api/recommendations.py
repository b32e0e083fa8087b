"""`POST /v1/recommendations` (checkout extension, SDK, demo) and `GET /proxy/recommendations`
(theme block through the app proxy): the cart in, ranked products with reasons out.

The shop comes from the verified credential. Checkout extensions run in a web worker whose
origin changes without notice, so this endpoint answers any origin (no credentials) and its
preflight. Imports Flask and layers 0-4.
"""

from __future__ import annotations

import logging
from typing import Literal

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cartwise.api import cors, metrics
from cartwise.api.auth import Caller, limit_storefront, proxy_caller, storefront_caller
from cartwise.api.bodies import invalid, parse_json
from cartwise.api.context import services
from cartwise.arms import treatment_for
from cartwise.errors import UnknownShop
from cartwise.ingestion import segment_keys
from cartwise.pseudonyms import customer_key
from cartwise.schemas import CartItem, Placement, RecommendationRequest, RequestContext
from cartwise.serving import Treatment, fallback_answer, recommend

__all__ = ["DefaultsQuery", "ProxyQuery", "bp", "proxy_bp"]

log = logging.getLogger(__name__)

bp = Blueprint("recommendations", __name__, url_prefix="/v1")
proxy_bp = Blueprint("proxy", __name__, url_prefix="/proxy")

cors.share(bp, "/recommendations")


class DefaultsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    k: int = Field(default=8, ge=1, le=20)


@bp.get("/defaults")
def defaults() -> Response:
    """The answer to show when cartwise cannot be reached (the SDK fetches and keeps it): the
    merchant's curated defaults topped up with trending products. Same credentials as
    `POST /recommendations`; may be cached by the caller for a few minutes."""
    caller = storefront_caller()
    limit_storefront(caller)
    try:
        query = DefaultsQuery.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise invalid(exc) from None
    ctx = services()
    answer = fallback_answer(ctx.store, ctx.registry, caller.shop, query.k, catalog=ctx.catalog)
    metrics.record_defaults(answer.source)
    response = Response(answer.model_dump_json(), mimetype="application/json")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.post("/recommendations")
def recommendations() -> Response:
    """401 without a valid credential; 422 `invalid_request` for a body that does not
    validate; 404 `unknown_shop` when the shop has no data; otherwise 200, even on a fallback."""
    caller = storefront_caller()
    limit_storefront(caller)
    body = parse_json(RecommendationRequest)
    return _answer(caller, body)


class ProxyQuery(BaseModel):
    """The app proxy's own parameters: a comma-separated cart of product ids, and the rest."""

    model_config = ConfigDict(extra="ignore")

    cart: str = Field(
        default="",
        max_length=4000,
        pattern=r"^[^,]{0,128}(,[^,]{0,128})*$",
        description="Product ids, comma-separated, each at most 128 characters; the first 250 "
        "count.",
    )
    k: int = Field(default=8, ge=1, le=20)
    placement: Placement = "cart"
    session_id: str | None = Field(default=None, max_length=128)
    device: Literal["mobile", "tablet", "desktop"] | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")


@proxy_bp.get("/recommendations")
def proxy_recommendations() -> Response:
    """The theme block's call through `https://{shop}/apps/<subpath>/recommendations`; the
    logged-in customer (if any) comes from Shopify's signed `logged_in_customer_id`."""
    caller = proxy_caller()
    limit_storefront(caller)
    try:
        query = ProxyQuery.model_validate(request.args.to_dict())
        ids = [p.strip() for p in query.cart.split(",") if p.strip()][:250]
        body = RecommendationRequest(
            cart=[CartItem(product_id=p) for p in ids],
            session_id=query.session_id,
            placement=query.placement,
            k=query.k if "k" in query.model_fields_set else services().settings.model.default_k,
            context=RequestContext(device=query.device, country=query.country)
            if query.device or query.country
            else None,
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    return _answer(caller, body)


def _answer(caller: Caller, body: RecommendationRequest) -> Response:
    ctx = services()
    if "k" not in body.model_fields_set and body.k != ctx.settings.model.default_k:
        # no `k` asked: the deployment's default (CARTWISE_MODEL__DEFAULT_K)
        body = body.model_copy(update={"k": ctx.settings.model.default_k})
    customer: str | None
    if caller.kind == "demo":
        customer = body.customer_id
    else:
        platform_id = (
            caller.customer_id if caller.kind in ("checkout", "proxy") else body.customer_id
        )
        secret = ctx.settings.effective_secret_key()
        customer = customer_key(secret, caller.shop, platform_id) if platform_id else None
    if customer is not None and ctx.consent is not None:
        # without consent: answered exactly as an anonymous shopper (no history, shared answers)
        customer = customer if ctx.consent.allows(caller.shop, customer) else None
    context = body.context
    segments = (
        segment_keys(context.country, context.device, _host(context.referrer)) if context else []
    )
    treatment = _treatment(caller.shop, body, customer)
    storefront = ctx.storefront
    answer = recommend(
        ctx.store,
        ctx.registry,
        caller.shop,
        body,
        customer=customer,
        segments=segments,
        cache=ctx.responses,
        catalog=ctx.catalog,
        treatment=treatment,
        exploration=(lambda: storefront.stats(caller.shop)) if storefront is not None else None,
    )
    if treatment is not None and ctx.exposures is not None:
        session = body.session_id or f"customer:{customer}"
        ctx.exposures.record(caller.shop, treatment.label, session, body.placement, customer)
    metrics.record_answer(answer.source, body.placement)
    response = Response(answer.model_dump_json(), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _treatment(shop: str, body: RecommendationRequest, customer: str | None) -> Treatment | None:
    """The shopper's arm in the shop's running experiment; None when none runs here or the
    shopper can't be told apart (no customer and no session id). Never fails the answer."""
    memory = services().experiments
    visitor = customer or body.session_id
    if memory is None or not visitor:
        return None
    try:
        running = memory.running(shop)
        if running is None or not running.covers(body.placement):
            return None
        return treatment_for(shop, running.experiment, visitor)
    except UnknownShop:
        raise
    except Exception:
        log.exception("the experiment of %s is unavailable; answering outside it", shop)
        return None


def _host(referrer: str | None) -> str | None:
    if not referrer:
        return None
    host = referrer.split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    return host.removeprefix("www.") or None
