"""Who opened the embedded dashboard, and where its pages may be framed.

Shopify loads the app home in the admin's iframe as `/app?shop=…&host=…&id_token=…`; the
`id_token` is an App Bridge session token, verified exactly like the bearer token of the page's
later `fetch` calls (`auth.admin_caller`). The shop is the token's, never the query's: a `shop`
parameter naming another shop is refused. Imports Flask and layers 0-4.
"""

from __future__ import annotations

from flask import request

from cartwise.api.auth import Caller, _require_installed, app_credentials
from cartwise.api.context import services
from cartwise.connector.shopify.domains import normalize_shop_domain
from cartwise.connector.shopify.verify import verify_admin_session_token
from cartwise.errors import Forbidden, Unauthorized

__all__ = ["SHOPIFY_ADMIN", "content_security_policy", "framing_shop", "shell_caller"]

SHOPIFY_ADMIN = "https://admin.shopify.com"


def shell_caller() -> Caller:
    """The caller of `GET /app`: its `id_token` query parameter, verified (signature, audience,
    expiry, shop) and the shop installed. Unauthorized (401) without a valid token or for an
    uninstalled shop; Forbidden (403) when the `shop` parameter names another shop."""
    token = request.args.get("id_token", "")
    if not token:
        raise Unauthorized(
            "Open cartwise from your Shopify admin: this page needs the session token Shopify "
            "adds when it loads the app.",
            reason="missing_credentials",
        )
    verified = verify_admin_session_token(
        app_credentials(services().settings),
        f"Bearer {token}",
        method=request.method,
        url=request.base_url,
    )
    named = request.args.get("shop")
    if named is not None and normalize_shop_domain(named) != verified.shop:
        raise Forbidden("The session token belongs to another shop.", reason="shop_mismatch")
    _require_installed(verified.shop)
    return Caller(verified.shop, "admin_session", scope="admin")


def framing_shop() -> str | None:
    """The shop an unverified request says it comes from, when it is a well-formed myshopify
    domain: error pages may be framed by it (they show nothing of the shop's)."""
    return normalize_shop_domain(request.args.get("shop"))


def content_security_policy(shop: str | None) -> str:
    """The dashboard's policy: our own files plus App Bridge from Shopify's CDN (Shopify requires
    it from there), no inline script or style, and framing only by the shop's admin
    (https://shopify.dev/docs/apps/build/security/set-up-iframe-protection)."""
    ancestors = f"https://{shop} {SHOPIFY_ADMIN}" if shop else SHOPIFY_ADMIN
    return (
        "default-src 'self'; script-src 'self' https://cdn.shopify.com; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        f"form-action 'self'; frame-ancestors {ancestors}"
    )
