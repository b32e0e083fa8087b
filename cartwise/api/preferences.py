"""`GET`/`POST /v1/preferences` (checkout extension, custom storefronts) and `GET`/`POST
/proxy/preferences` (theme through the app proxy): a logged-in customer sees why they are shown
what they are shown and turns personalisation off or on.

The customer comes from the verified credential (the session token's subject, the proxy's
signed `logged_in_customer_id`); only a server-to-server API key names one itself, as
`customer_id`. A POST through the app proxy is signed like a GET, over the query string. Same
CORS as `/v1/recommendations`. Imports Flask and layers 0-4.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from cartwise.api import cors
from cartwise.api.auth import Caller, limit_storefront, proxy_caller, storefront_caller
from cartwise.api.bodies import parse_json, parse_query
from cartwise.api.context import services
from cartwise.consent import ConsentState, consent_state, set_personalisation, used_history
from cartwise.errors import Forbidden
from cartwise.pseudonyms import customer_key
from cartwise.storage.consent import ConsentSource

__all__ = [
    "HISTORY_SHOWN",
    "HistoryItem",
    "Preferences",
    "PreferencesQuery",
    "PreferencesUpdate",
    "ReasonKind",
    "bp",
    "proxy_bp",
]

bp = Blueprint("preferences", __name__, url_prefix="/v1")
proxy_bp = Blueprint("proxy_preferences", __name__, url_prefix="/proxy")

HISTORY_SHOWN = 5
"""How many of the customer's past products "why am I seeing this" names."""

_CUSTOMER_ID = Field(
    default=None,
    min_length=1,
    max_length=128,
    description="The platform customer id; honoured for API key callers only (a checkout or "
    "app proxy caller's customer comes from its credential).",
)


class PreferencesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: str | None = _CUSTOMER_ID


class PreferencesUpdate(BaseModel):
    """`POST /v1/preferences`: `{"personalised": false}` opts out, `true` opts (back) in."""

    model_config = ConfigDict(extra="forbid")

    personalised: bool
    customer_id: str | None = _CUSTOMER_ID


class HistoryItem(BaseModel):
    product_id: str
    title: str


ReasonName = Literal["your_purchases", "your_cart", "popular", "shop_picks"]


class ReasonKind(BaseModel):
    """A kind of reason a recommendation may carry; `personal`: it comes from the customer's
    own history."""

    kind: ReasonName
    personal: bool
    description: str


class Preferences(BaseModel):
    """The customer's personalisation setting and what it means for what they are shown.

    `history`: their past purchases the recommendations use, most influential first (empty
    when they are not personalised). `reasons`: the kinds of reasons their recommendations can
    carry. `last_set_at`/`last_set_by`: their latest recorded choice (null: never made, so
    `personalised_by_default` applies)."""

    personalised: bool
    personalised_by_default: bool
    last_set_at: datetime | None
    last_set_by: ConsentSource | None
    history: list[HistoryItem]
    reasons: list[ReasonKind]


_PERSONAL = ReasonKind(
    kind="your_purchases",
    personal=True,
    description="Something you bought before, or that goes with it.",
)
_ANONYMOUS = [
    ReasonKind(
        kind="your_cart",
        personal=False,
        description="Often bought with, or similar to, something in your cart.",
    ),
    ReasonKind(
        kind="popular",
        personal=False,
        description="Popular in the shop, or with shoppers in your country or on your device.",
    ),
    ReasonKind(kind="shop_picks", personal=False, description="Chosen by the shop."),
]


cors.share(bp, "/preferences")


@bp.get("/preferences")
def read() -> Response:
    """401 without a credential; 403 `forbidden` without a logged-in customer; 429 past the
    shop's storefront rate; else 200."""
    caller = storefront_caller()
    limit_storefront(caller)
    query = parse_query(PreferencesQuery)
    return _answer(caller.shop, _customer(caller, query.customer_id))


@bp.post("/preferences")
def update() -> Response:
    """As `GET`, after recording the choice in the body; 422 for a body that does not validate."""
    caller = storefront_caller()
    limit_storefront(caller)
    body = parse_json(PreferencesUpdate)
    return _update(caller, body)


@proxy_bp.get("/preferences")
def proxy_read() -> Response:
    caller = proxy_caller()
    limit_storefront(caller)
    return _answer(caller.shop, _customer(caller, None))


@proxy_bp.post("/preferences")
def proxy_update() -> Response:
    caller = proxy_caller()
    limit_storefront(caller)
    return _update(caller, parse_json(PreferencesUpdate))


def _customer(caller: Caller, claimed: str | None) -> str:
    """The key the caller's customer is known by (as `/v1/recommendations` computes it);
    403 `forbidden` when the caller names none."""
    trusted = caller.kind in ("checkout", "proxy")
    platform_id = caller.customer_id if trusted else claimed
    if not platform_id:
        how = "log in" if trusted else "send customer_id"
        raise Forbidden(
            f"Preferences belong to a logged-in customer: {how}.", reason="customer_required"
        )
    if caller.kind == "demo":
        return platform_id  # the demo's shoppers are known by their ids as they are
    return customer_key(services().settings.effective_secret_key(), caller.shop, platform_id)


def _update(caller: Caller, body: PreferencesUpdate) -> Response:
    shop = caller.shop
    key = _customer(caller, body.customer_id)
    ctx = services()
    state = set_personalisation(
        ctx.store, shop, key, body.personalised, source="shopper", memory=ctx.consent
    )
    if state.detached_orders and ctx.wake_worker is not None:
        ctx.wake_worker(shop)
    return _answer(shop, key, state)


def _answer(shop: str, key: str, state: ConsentState | None = None) -> Response:
    ctx = services()
    required = ctx.settings.consent_required
    if state is None:
        state = consent_state(ctx.store, shop, key, consent_required=required)
    history: list[HistoryItem] = []
    if state.personalised:
        loaded = ctx.registry.get(shop)
        model = loaded.model if loaded is not None else None
        used = used_history(ctx.store, shop, key, model, k=HISTORY_SHOWN)
        history = [HistoryItem(product_id=p.product_id, title=p.title) for p in used]
    latest = state.latest
    body = Preferences(
        personalised=state.personalised,
        personalised_by_default=not required,
        last_set_at=latest.recorded_at if latest is not None else None,
        last_set_by=latest.source if latest is not None else None,
        history=history,
        reasons=([_PERSONAL] if history else []) + _ANONYMOUS,
    )
    response = Response(body.model_dump_json(), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response
