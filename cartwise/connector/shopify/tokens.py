"""Expiring offline access tokens: getting one by token exchange, and refreshing it.

The HTTP calls are made by Shopify's `shopify_app` package; this module maps its results onto
`OfflineToken` and the cartwise error tree, and keeps tokens out of reprs and messages. Layer 2:
imports `cartwise.errors`, the standard library, httpx and `shopify_app` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from shopify_app.exchange.refresh_token import refresh_access_token
from shopify_app.exchange.token_exchange import token_exchange
from shopify_app.types import IdTokenDetails, TokenExchangeAccessToken, TokenExchangeResult

from cartwise.connector.shopify.domains import normalize_shop_domain
from cartwise.connector.shopify.verify import AdminSessionToken, AppCredentials
from cartwise.errors import CartwiseError, InvalidRequest, Unauthorized, UpstreamError

__all__ = ["OfflineToken", "exchange_session_token", "refresh_offline_token"]

_MYSHOPIFY_SUFFIX = ".myshopify.com"
# shopify_app log codes that mean "the credential presented is no good", not "Shopify failed".
_UNAUTHORIZED_CODES = {
    "invalid_subject_token": "invalid_session_token",
    "invalid_grant": "invalid_refresh_token",
    "refresh_token_expired": "refresh_token_expired",
}


@dataclass(frozen=True)
class OfflineToken:
    """An offline Admin API token for one shop; expiring tokens carry a refresh token.

    `expires_at`/`refresh_expires_at` are aware UTC times, None for a non-expiring token.
    """

    shop: str
    access_token: str = field(repr=False)
    scope: str
    expires_at: datetime | None
    refresh_token: str | None = field(repr=False)
    refresh_expires_at: datetime | None

    def expires_soon(self, now: datetime, margin: timedelta = timedelta(minutes=5)) -> bool:
        """Whether the access token expires within `margin` of `now` (never, if it does not)."""
        return self.expires_at is not None and now + margin >= self.expires_at


def _parse_expiry(value: str | None) -> datetime | None:
    """shopify_app's `YYYY-MM-DDTHH:MM:SSZ` expiry strings, as aware datetimes."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _format_expiry(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _failure(operation: str, shop: str, result: TokenExchangeResult) -> CartwiseError:
    """The cartwise error for a failed shopify_app result; never mentions a token."""
    code = result.log.code
    details: dict[str, Any] = {"shop": shop}
    if result.http_logs:
        details["status"] = result.http_logs[-1].res.status
    if code in _UNAUTHORIZED_CODES:
        return Unauthorized(
            f"Shopify refused the {operation}.", reason=_UNAUTHORIZED_CODES[code], **details
        )
    return UpstreamError(f"The {operation} with Shopify failed ({code}).", reason=code, **details)


def _offline_token(shop: str, operation: str, result: TokenExchangeResult) -> OfflineToken:
    """The token of a successful result; an answer without one is an upstream failure."""
    issued = result.access_token
    if not result.ok or issued is None:
        raise _failure(operation, shop, result)
    if not issued.token:
        raise UpstreamError(
            f"Shopify's {operation} answer had no access token.",
            reason="invalid_response",
            shop=shop,
        )
    refresh_token = issued.refresh_token or None
    return OfflineToken(
        shop=shop,
        access_token=issued.token,
        scope=issued.scope,
        expires_at=_parse_expiry(issued.expires),
        refresh_token=refresh_token,
        refresh_expires_at=_parse_expiry(issued.refresh_token_expires) if refresh_token else None,
    )


def _library_error(operation: str, shop: str, exc: Exception) -> UpstreamError:
    # shopify_app lets a few malformed answers escape as plain exceptions: a 200 whose body is not
    # JSON (ValueError), a JSON list or odd field types (AttributeError/TypeError).
    return UpstreamError(
        f"Shopify's {operation} answer could not be read.",
        reason="invalid_response",
        shop=shop,
        error=type(exc).__name__,
    )


def exchange_session_token(
    creds: AppCredentials,
    shop: str,
    id_token: AdminSessionToken,
    *,
    http_client: httpx.Client | None = None,
) -> OfflineToken:
    """Trade a verified App Bridge session token for an expiring offline access token.

    `shop` must be the token's shop. Raises Unauthorized when Shopify refuses the session token
    (reason `invalid_session_token`; ask App Bridge for a new one) and UpstreamError for anything
    else (network, invalid client credentials, rate limit, 5xx, unreadable answer). shopify_app
    retries a 429 twice after sleeping 1 s each time, so such a call can block for 2 s.
    """
    domain = normalize_shop_domain(shop)
    if domain is None or domain != id_token.shop:
        raise Unauthorized("The session token belongs to another shop.", reason="shop_mismatch")
    # The library takes the shop from `dest`; pin it to the validated domain.
    details = IdTokenDetails(
        exchangeable=True,
        token=id_token.token,
        claims={**id_token.claims, "dest": f"https://{domain}"},
    )
    try:
        result = token_exchange(
            "offline",
            creds.app_config(),
            id_token=details,
            expiring=True,
            http_client=http_client,
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise _library_error("token exchange", domain, exc) from None
    return _offline_token(domain, "token exchange", result)


def refresh_offline_token(
    creds: AppCredentials,
    token: OfflineToken,
    *,
    http_client: httpx.Client | None = None,
) -> OfflineToken:
    """Get a new access token (and a new refresh token) for an expiring offline token.

    Always asks Shopify; call it when `token.expires_soon(now)`. Store the result at once: the
    refresh token rotates. Raises InvalidRequest for a token without a refresh token, Unauthorized
    when the refresh token is expired or revoked (the merchant must open the app again) and
    UpstreamError otherwise. shopify_app retries 5xx answers twice, without waiting.
    """
    if not token.refresh_token:
        raise InvalidRequest("A non-expiring token cannot be refreshed.", reason="not_refreshable")
    domain = normalize_shop_domain(token.shop)
    if domain is None:
        raise InvalidRequest(
            "The token's shop is not a myshopify domain.", reason="invalid_shop_domain"
        )
    current = TokenExchangeAccessToken(
        # shopify_app builds https://{shop}.myshopify.com itself, so it wants the bare name.
        shop=domain.removesuffix(_MYSHOPIFY_SUFFIX),
        token=token.access_token,
        # No expiry on purpose: with one, shopify_app skips the refresh while the token has more
        # than 60 s left, and the caller's own margin decides when to refresh.
        expires=None,
        scope=token.scope,
        access_mode="offline",
        refresh_token=token.refresh_token,
        refresh_token_expires=_format_expiry(token.refresh_expires_at),
        user=None,
    )
    try:
        result = refresh_access_token(current, creds.app_config(), http_client)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _library_error("token refresh", domain, exc) from None
    refreshed = _offline_token(domain, "token refresh", result)
    # Keep the known scope when a refresh answer leaves it out.
    return refreshed if refreshed.scope else replace(refreshed, scope=token.scope)
