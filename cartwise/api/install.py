"""The install flow: `GET /auth/install` → Shopify's consent screen → `GET /auth/callback`
(authorization-code grant, expiring offline token), and `POST /auth/token-exchange` for an
embedded admin page holding an App Bridge session token (the recommended path).

The shop domain is validated before it is used anywhere; the `state` nonce travels in an
HttpOnly cookie and must come back unchanged. Imports Flask and layers 0-4.
"""

from __future__ import annotations

import hmac
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, redirect, request
from werkzeug.wrappers.response import Response as BaseResponse

from cartwise.api.auth import app_credentials
from cartwise.api.context import services
from cartwise.connector.shopify.domains import normalize_shop_domain
from cartwise.connector.shopify.oauth import (
    authorize_url,
    exchange_code,
    new_state,
    validate_callback,
)
from cartwise.connector.shopify.tokens import exchange_session_token
from cartwise.connector.shopify.verify import verify_admin_session_token
from cartwise.errors import ConfigurationError, InvalidRequest, InvalidSignature
from cartwise.installs import save_install, schedule_backfill

__all__ = ["STATE_COOKIE", "bp"]

bp = Blueprint("install", __name__, url_prefix="/auth")

STATE_COOKIE = "cartwise_oauth_state"
_STATE_MAX_AGE = 600


@bp.get("/install")
def install() -> BaseResponse:
    ctx = services()
    creds = app_credentials(ctx.settings)
    shop = normalize_shop_domain(request.args.get("shop"))
    if shop is None:
        raise InvalidRequest("`shop` must be a shop domain like your-shop.myshopify.com.")
    state = new_state()
    scopes = [s.strip() for s in ctx.settings.shopify.scopes.split(",") if s.strip()]
    url = authorize_url(
        creds, shop, scopes=scopes, redirect_uri=_app_url() + "/auth/callback", state=state
    )
    response = redirect(url, code=302)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=_STATE_MAX_AGE,
        httponly=True,
        secure=True,
        samesite="Lax",
        path="/auth",
    )
    return response


@bp.get("/callback")
def callback() -> BaseResponse:
    ctx = services()
    creds = app_credentials(ctx.settings)
    params = request.args.to_dict()
    shop = validate_callback(creds, params)
    expected = request.cookies.get(STATE_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, params.get("state", "")):
        raise InvalidSignature("The install request's state does not match.", reason="bad_state")
    code = params.get("code")
    if not code:
        raise InvalidRequest("The callback carries no authorization code.")
    save_install(ctx.store, exchange_code(creds, shop, code))
    schedule_backfill(ctx.store, shop)
    response = redirect(f"https://{shop}/admin/apps/{quote(creds.client_id)}", code=302)
    response.delete_cookie(STATE_COOKIE, path="/auth")
    return response


@bp.post("/token-exchange")
def token_exchange() -> Response:
    """An embedded page's session token → an expiring offline token stored for the shop."""
    ctx = services()
    creds = app_credentials(ctx.settings)
    session = verify_admin_session_token(
        creds, request.headers.get("Authorization"), method="POST", url=request.url
    )
    save_install(ctx.store, exchange_session_token(creds, session.shop, session))
    schedule_backfill(ctx.store, session.shop)
    return jsonify({"shop": session.shop, "installed": True})


def _app_url() -> str:
    url = services().settings.app_url
    if not url:
        raise ConfigurationError("CARTWISE_APP_URL must be set to install the Shopify app.")
    return url.rstrip("/")
