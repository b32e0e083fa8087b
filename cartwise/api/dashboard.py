"""The merchant dashboard, embedded in the Shopify admin: `GET /app` (the app home Shopify frames,
a shell that loads App Bridge and our script), `GET /app/fragments/<name>` (each section as
server-rendered HTML with inline SVG charts), `POST /app/preview` (what a cart would be shown,
with reasons) and `POST /app/backtest` (the shop's own back-test).

The shell is opened with the `id_token` Shopify puts in its URL; every later call carries a
fresh App Bridge token (or an admin API key) and is verified by `auth.admin_caller`. The shop
is always the credential's. Pages may be framed only by that shop's admin. Imports Flask and
layers 0-4.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from flask import Blueprint, Response, current_app, g, jsonify, render_template
from flask.blueprints import BlueprintSetupState
from pydantic import BaseModel, ConfigDict, Field

from cartwise.api import dashboard_data, dashboard_experiments
from cartwise.api import dashboard_format as fmt
from cartwise.api.auth import admin_caller
from cartwise.api.bodies import parse_json
from cartwise.api.context import services
from cartwise.api.dashboard_auth import content_security_policy, framing_shop, shell_caller
from cartwise.api.dashboard_backtest import ORDER_CAP, BacktestCache, run_backtest
from cartwise.errors import CartwiseError, NotFound
from cartwise.pseudonyms import customer_key
from cartwise.schemas import CartItem, Placement, RecommendationRequest
from cartwise.serving import recommend

__all__ = ["BACKTESTS_KEY", "FRAGMENTS", "PreviewRequest", "bp"]

log = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__, url_prefix="/app")

BACKTESTS_KEY = "cartwise_backtests"


@bp.record_once
def _init(state: BlueprintSetupState) -> None:
    state.app.extensions.setdefault(BACKTESTS_KEY, BacktestCache())


class PreviewRequest(BaseModel):
    """`POST /app/preview`: a cart of product ids and, optionally, the platform customer id of
    a shopper whose history should count."""

    model_config = ConfigDict(extra="forbid")

    cart: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=50
    )
    customer_id: str | None = Field(default=None, max_length=128)
    placement: Placement = "cart"
    k: int = Field(default=8, ge=1, le=20)


@bp.after_request
def _headers(response: Response) -> Response:
    """Dashboard answers are the shop's own figures: never cached. Its HTML may be framed by
    the shop's admin only; JSON keeps the API's policy."""
    response.headers["Cache-Control"] = "no-store"
    if response.mimetype == "text/html":
        shop = g.get("dashboard_shop") or framing_shop()
        response.headers["Content-Security-Policy"] = content_security_policy(shop)
    return response


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"fmt": fmt}


@bp.get("")
def home() -> Response | str:
    """The app home: 401 (or 403) as a small HTML page when the token does not verify."""
    try:
        caller = shell_caller()
    except CartwiseError as exc:
        return _refused(exc, "dashboard/refused.html")
    g.dashboard_shop = caller.shop
    return render_template(
        "dashboard/shell.html",
        shop=caller.shop,
        client_id=services().settings.shopify.client_id,
        fragments=FRAGMENTS,
    )


@bp.get("/fragments/<name>")
def fragment(name: str) -> Response | str:
    """One section as HTML; errors are HTML too, for the page to show in the section's place."""
    try:
        caller = admin_caller()
        g.dashboard_shop = caller.shop
        render = _RENDERERS.get(name)
        if render is None:
            raise NotFound(f"There is no dashboard section {name!r}.")
        return render(caller.shop)
    except CartwiseError as exc:
        return _refused(exc, "dashboard/refused_fragment.html")


@bp.post("/preview")
def preview() -> Response:
    """The answer a storefront would give for this cart now (no experiment arm, no exploration
    draw), each item with its reason. 422 for a body that does not validate."""
    caller = admin_caller()
    body = parse_json(PreviewRequest)
    ctx = services()
    customer = (
        customer_key(ctx.settings.effective_secret_key(), caller.shop, body.customer_id)
        if body.customer_id
        else None
    )
    question = RecommendationRequest(
        cart=[CartItem(product_id=p) for p in body.cart], placement=body.placement, k=body.k
    )
    answer = recommend(
        ctx.store, ctx.registry, caller.shop, question, customer=customer, catalog=ctx.catalog
    )
    return Response(answer.model_dump_json(), mimetype="application/json")


@bp.post("/backtest")
def backtest() -> Response:
    """The back-test on the newest `ORDER_CAP` orders, kept per model version: the first call
    runs it (seconds to a minute), later ones answer at once. 422 `import_failed` when the
    orders cannot support one."""
    caller = admin_caller()
    ctx = services()
    stamp = ctx.store.models.latest_stamp(caller.shop)
    cache: BacktestCache = current_app.extensions[BACKTESTS_KEY]
    run, cached = cache.get_or_run(
        (caller.shop, stamp), lambda: run_backtest(ctx.store, caller.shop)
    )
    body = run.response(stamp[0] if stamp is not None else None, cached=cached)
    return jsonify(body.model_dump(mode="json"))


def _overview(shop: str) -> str:
    ctx = services()
    view = dashboard_data.overview(
        ctx.store,
        shop,
        datetime.now(UTC),
        rebuild_every=timedelta(hours=ctx.settings.jobs.rebuild_every_hours),
    )
    for alert in view.alerts:
        log.warning("dashboard alert for %s: %s. %s", shop, alert.title, alert.detail)
    return render_template(
        "dashboard/overview.html",
        view=view,
        clicks_goal=dashboard_data.CLICKS_FOR_STABLE_CTR,
        orders_goal=dashboard_data.ORDERS_TO_BEAT_POPULARITY,
        alert_days=dashboard_data.ALERT_DAYS,
    )


def _kpis(shop: str) -> str:
    view = dashboard_data.kpi_charts(services().store, shop, datetime.now(UTC))
    return render_template("dashboard/kpis.html", view=view)


def _experiments(shop: str) -> str:
    views = dashboard_experiments.experiments(services().store, shop)
    return render_template("dashboard/experiments.html", experiments=views)


def _rules(shop: str) -> str:
    store = services().store
    rules = store.rules.get(shop)
    titles = {
        pid: p.title
        for pid, p in store.products.get_many(shop, [*rules.defaults, *rules.pinned]).items()
    }
    return render_template(
        "dashboard/rules.html", rules=rules, titles=titles, blocked=sorted(rules.blocked)
    )


def _backtest(shop: str) -> str:
    orders = services().store.orders.count(shop)
    return render_template("dashboard/backtest.html", orders=orders, cap=ORDER_CAP)


_RENDERERS: dict[str, Callable[[str], str]] = {
    "overview": _overview,
    "kpis": _kpis,
    "experiments": _experiments,
    "rules": _rules,
    "backtest": _backtest,
}
FRAGMENTS = (
    ("overview", "Overview"),
    ("kpis", "Storefront KPIs"),
    ("experiments", "Experiments"),
    ("rules", "Rules and preview"),
    ("backtest", "Back-test"),
)
"""The sections in page order, with their headings."""


def _refused(exc: CartwiseError, template: str) -> Response:
    if exc.status >= 500:
        log.error("dashboard: %s: %s", exc.code, exc.message)
    response = Response(
        render_template(template, status=exc.status, code=exc.code, message=exc.message),
        status=exc.status,
        mimetype="text/html",
    )
    retry_after = exc.details.get("retry_after")
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response
