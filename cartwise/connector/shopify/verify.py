"""Verification of what Shopify signs: webhooks, session tokens and app-proxy requests.

The HMAC and JWT work is done by Shopify's `shopify_app` package. This module adds what that
package leaves to its callers (secret-rotation windows, required claims, JOSE header checks,
shop-domain validation, duplicate query parameters) and turns every failure into one cartwise
error with a machine reason in `details["reason"]`. Layer 2: imports `cartwise.errors`, the
standard library, `jwt` and `shopify_app` only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from shopify_app.types import (
    AppConfig,
    RequestInput,
    ResultWithExchangeableIdToken,
    ResultWithNonExchangeableIdToken,
)

# The package's __all__ lists only its types, so the verifiers come from their own modules.
from shopify_app.verify.admin_ui_ext import verify_admin_ui_ext_req
from shopify_app.verify.app_proxy import verify_app_proxy_req
from shopify_app.verify.checkout_ui_ext import verify_checkout_ui_ext_req
from shopify_app.verify.webhook import verify_webhook_req

from cartwise.connector.shopify.domains import normalize_shop_domain
from cartwise.connector.shopify.payloads import too_deep
from cartwise.errors import InvalidSignature, Unauthorized

__all__ = [
    "AdminSessionToken",
    "AppCredentials",
    "CheckoutToken",
    "ProxyRequest",
    "VerifiedWebhook",
    "verify_admin_session_token",
    "verify_app_proxy",
    "verify_checkout_token",
    "verify_webhook",
]

# Shopify's clock tolerance for session tokens (shopify-app-js JWT_PERMITTED_CLOCK_TOLERANCE).
_LEEWAY_SECONDS = 10
# shopify_app's window for app-proxy timestamps, in both directions.
_PROXY_WINDOW_SECONDS = 90
# JOSE header members that point the verifier at another key; Shopify never sends them.
_FORBIDDEN_JOSE_MEMBERS = frozenset({"kid", "jku", "jwk", "x5u", "x5c"})
_CUSTOMER_GID = re.compile(r"gid://shopify/Customer/([0-9]+)")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# The admin-extension verifier insists on a request URL, which it only uses for CORS preflights.
_PLACEHOLDER_URL = "https://app.invalid/"


def _utc_now(now: datetime | None) -> datetime:
    """`now`, or the current time; a naive value is refused because it cannot be compared."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


@dataclass(frozen=True)
class AppCredentials:
    """The app's client id and secret, plus the previous secret during a rotation.

    Shopify keeps signing with the old secret for a while after a rotation, so the old secret is
    accepted until `old_secret_valid_until` (or as long as it is configured, when that is None).
    """

    client_id: str
    client_secret: str = field(repr=False)
    old_client_secret: str | None = field(default=None, repr=False)
    old_secret_valid_until: datetime | None = None

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_secret:
            raise ValueError("client_id and client_secret must be non-empty")
        until = self.old_secret_valid_until
        if until is not None and until.tzinfo is None:
            raise ValueError("old_secret_valid_until must be timezone-aware")

    def app_config(self, now: datetime | None = None) -> AppConfig:
        """The configuration `shopify_app` expects; the old secret only while its window lasts."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "old_client_secret": self.old_client_secret if self._old_secret_active(now) else None,
        }

    def _old_secret_active(self, now: datetime | None) -> bool:
        if not self.old_client_secret:
            return False
        until = self.old_secret_valid_until
        return until is None or _utc_now(now) < until


# Classic deliveries use X-Shopify-*, the newer Events deliveries the un-prefixed names; the
# prefixed name wins when both are present, as in shopify_app.
_HMAC_HEADERS = ("x-shopify-hmac-sha256", "shopify-hmac-sha256")
_SHOP_HEADERS = ("x-shopify-shop-domain", "shopify-shop-domain")
_TOPIC_HEADERS = ("x-shopify-topic", "shopify-topic")
_WEBHOOK_ID_HEADERS = ("x-shopify-webhook-id", "shopify-webhook-id")
_EVENT_ID_HEADERS = ("x-shopify-event-id", "shopify-event-id")
_TRIGGERED_AT_HEADERS = ("x-shopify-triggered-at", "shopify-triggered-at")
_API_VERSION_HEADERS = ("x-shopify-api-version", "shopify-api-version")
_WEBHOOK_REASONS = {
    "missing_hmac_header": "missing_signature",
    "invalid_hmac": "invalid_signature",
    "post_method_expected": "method_not_allowed",
}


@dataclass(frozen=True)
class VerifiedWebhook:
    """The delivery metadata of a webhook whose body signature checked out.

    Shopify signs only the body: these fields come from unsigned headers, so a replayed body can
    arrive with other ones. Compare `shop` with the payload where it names one, and dedupe on
    `(shop, webhook_id)`.
    """

    shop: str
    topic: str
    webhook_id: str
    event_id: str | None
    triggered_at: datetime | None
    api_version: str | None


def _webhook_error(reason: str) -> InvalidSignature:
    return InvalidSignature(f"Webhook rejected: {reason.replace('_', ' ')}.", reason=reason)


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased; `.items()` so werkzeug's header objects work too."""
    return {name.lower(): value for name, value in headers.items()}


def _first_header(headers: Mapping[str, str], names: Sequence[str]) -> str | None:
    """The value of the first of `names` present (even if empty), as shopify_app picks it."""
    for name in names:
        if name in headers:
            return headers[name]
    return None


def _parse_triggered_at(value: str | None) -> datetime | None:
    """An aware UTC time from an ISO 8601 header, or None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def verify_webhook(
    creds: AppCredentials,
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime | None = None,
) -> VerifiedWebhook:
    """Check a webhook delivery's HMAC over the raw body and read its delivery headers.

    Raises InvalidSignature (401) for every failure, including those shopify_app answers with 400
    or 405, because Shopify requires 401 for compliance topics. `now` only decides whether the old
    secret is still accepted.
    """
    lowered = _lower_keys(headers)
    signature = _first_header(lowered, _HMAC_HEADERS)
    if not signature:
        raise _webhook_error("missing_signature")
    if not signature.isascii():
        # hmac.compare_digest raises TypeError on non-ASCII str, which shopify_app does not catch.
        raise _webhook_error("invalid_signature")
    if not body:
        raise _webhook_error("empty_body")
    try:
        text = body.decode("utf-8")  # strict: re-encoding gives back exactly these bytes
    except UnicodeDecodeError:
        raise _webhook_error("invalid_body_encoding") from None
    if too_deep(body):
        # shopify_app decodes the body for its log before checking the signature, and a
        # deeply nested body makes that recurse past Python's limit: check it ourselves.
        if method != "POST" or not _body_hmac_matches(creds.app_config(now), body, signature):
            raise _webhook_error("invalid_signature")
        return _webhook_metadata(lowered)
    result = verify_webhook_req(
        {"method": method, "headers": lowered, "url": "", "body": text},
        creds.app_config(now),
    )
    if not result.ok:
        raise _webhook_error(_WEBHOOK_REASONS.get(result.log.code, "invalid_signature"))
    return _webhook_metadata(lowered)


def _body_hmac_matches(config: AppConfig, body: bytes, signature: str) -> bool:
    """Shopify's body signature (base64 HMAC-SHA256), compared in constant time, with the
    current and, in its window, the old secret: what shopify_app checks, for the bodies it
    can't take."""
    for secret in (config["client_secret"], config.get("old_client_secret")):
        if secret:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
            if hmac.compare_digest(base64.b64encode(digest).decode(), signature):
                return True
    return False


def _webhook_metadata(headers: Mapping[str, str]) -> VerifiedWebhook:
    """The delivery headers of a verified webhook; a missing required one is still a 401."""
    shop = normalize_shop_domain(_first_header(headers, _SHOP_HEADERS))
    if shop is None:
        raise _webhook_error("invalid_shop_domain")
    topic = _first_header(headers, _TOPIC_HEADERS)
    if not topic:
        raise _webhook_error("missing_topic")
    webhook_id = _first_header(headers, _WEBHOOK_ID_HEADERS)
    if not webhook_id:
        raise _webhook_error("missing_webhook_id")
    return VerifiedWebhook(
        shop=shop,
        topic=topic,
        webhook_id=webhook_id,
        event_id=_first_header(headers, _EVENT_ID_HEADERS) or None,
        triggered_at=_parse_triggered_at(_first_header(headers, _TRIGGERED_AT_HEADERS)),
        api_version=_first_header(headers, _API_VERSION_HEADERS) or None,
    )


_TOKEN_REASONS = {
    "missing_authorization_header": "missing_authorization",
    "invalid_id_token": "invalid_token",
    "expired_id_token": "expired_token",
    "invalid_aud": "invalid_audience",
}


@dataclass(frozen=True)
class CheckoutToken:
    """A verified checkout UI extension session token: the shop and, if logged in, the buyer."""

    shop: str
    customer_id: str | None
    claims: dict[str, Any]


@dataclass(frozen=True)
class AdminSessionToken:
    """A verified App Bridge session token; `token` is kept for the token exchange."""

    shop: str
    user_id: str | None
    token: str = field(repr=False)
    claims: dict[str, Any]


def _token_error(reason: str, **details: Any) -> Unauthorized:
    return Unauthorized(
        f"Session token rejected: {reason.replace('_', ' ')}.", reason=reason, **details
    )


def _bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if authorization is None or not authorization.strip():
        raise _token_error("missing_authorization")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _token_error("invalid_authorization")
    return token


def _check_jose_header(token: str) -> None:
    """Refuse anything but a plain HS256 header before the signature is even looked at."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _token_error("invalid_token") from None
    if header.get("alg") != "HS256" or _FORBIDDEN_JOSE_MEMBERS & header.keys():
        raise _token_error("invalid_token")


def _token_request(method: str, url: str, token: str) -> RequestInput:
    # No Origin header is passed on purpose: with one, an OPTIONS request would be answered as a
    # CORS preflight (ok=True without a token). Preflights are the HTTP layer's business.
    return {
        "method": method,
        "headers": {"authorization": f"Bearer {token}"},
        "url": url,
        "body": "",
    }


def _verified_claims(
    result: ResultWithNonExchangeableIdToken | ResultWithExchangeableIdToken,
) -> dict[str, Any]:
    if not result.ok or result.id_token is None:
        raise _token_error(_TOKEN_REASONS.get(result.log.code, "invalid_token"))
    return dict(result.id_token.claims)


def _numeric_claim(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _token_error("invalid_token")
    return float(value)


def _check_claims(claims: Mapping[str, Any], required: Sequence[str], now: datetime) -> None:
    """Required claims present, and exp/nbf valid at `now` with Shopify's 10 s leeway.

    shopify_app decodes without PyJWT's `require`, so a token without `exp` would pass it; and it
    checks times against the real clock only.
    """
    for name in required:
        if claims.get(name) in (None, ""):
            raise _token_error("missing_claim", claim=name)
    moment = now.timestamp()
    if _numeric_claim(claims, "exp") <= moment - _LEEWAY_SECONDS:
        raise _token_error("expired_token")
    if _numeric_claim(claims, "nbf") > moment + _LEEWAY_SECONDS:
        raise _token_error("token_not_yet_valid")


def _customer_id(sub: Any) -> str | None:
    """The numeric id of a `gid://shopify/Customer/<id>` subject; None for anything else."""
    match = _CUSTOMER_GID.fullmatch(sub) if isinstance(sub, str) else None
    return match.group(1) if match else None


def verify_checkout_token(
    creds: AppCredentials,
    authorization: str | None,
    *,
    method: str = "POST",
    url: str = "",
    now: datetime | None = None,
) -> CheckoutToken:
    """Verify a checkout UI extension session token (HS256, `dest` = bare shop domain).

    shopify_app checks the signature, exp/nbf against the real clock and `aud`; on top of that
    the header must be plain HS256, exp/nbf/dest/aud must be present and exp/nbf valid at `now`,
    and `dest` must be a myshopify domain. Failures raise Unauthorized (401) with a reason.
    """
    token = _bearer_token(authorization)
    _check_jose_header(token)
    result = verify_checkout_ui_ext_req(
        _token_request(method or "POST", url, token), creds.app_config(now)
    )
    claims = _verified_claims(result)
    _check_claims(claims, ("exp", "nbf", "dest", "aud"), _utc_now(now))
    shop = normalize_shop_domain(claims["dest"])
    if shop is None:
        raise _token_error("invalid_destination")
    return CheckoutToken(shop=shop, customer_id=_customer_id(claims.get("sub")), claims=claims)


def _issuer_shop(iss: Any) -> str | None:
    """The shop of an `https://<shop>/admin` issuer."""
    if not isinstance(iss, str) or not iss.endswith("/admin"):
        return None
    return normalize_shop_domain(iss.removesuffix("/admin"))


def verify_admin_session_token(
    creds: AppCredentials,
    authorization: str | None,
    *,
    method: str = "GET",
    url: str = "",
) -> AdminSessionToken:
    """Verify an App Bridge session token from an embedded admin page's `fetch`.

    Uses shopify_app's admin-extension verifier, which reads only the Authorization header (the
    app-home verifier would also take an `id_token` query parameter and answer with redirects).
    Adds: plain HS256 header, exp/nbf/iss/dest/aud present, `dest` = `https://<myshopify
    domain>`, and `iss` naming the same shop. Failures raise Unauthorized (401) with a reason.
    """
    token = _bearer_token(authorization)
    _check_jose_header(token)
    result = verify_admin_ui_ext_req(
        _token_request(method or "GET", url or _PLACEHOLDER_URL, token), creds.app_config()
    )
    claims = _verified_claims(result)
    _check_claims(claims, ("exp", "nbf", "iss", "dest", "aud"), _utc_now(None))
    dest = claims["dest"]
    shop = normalize_shop_domain(dest)
    if shop is None or not str(dest).startswith("https://"):
        raise _token_error("invalid_destination")
    if _issuer_shop(claims["iss"]) != shop:
        raise _token_error("invalid_issuer")
    sub = claims.get("sub")
    user_id = str(sub) if isinstance(sub, str | int) and not isinstance(sub, bool) else None
    return AdminSessionToken(shop=shop, user_id=user_id or None, token=token, claims=claims)


# Parameters Shopify sends once; a second copy can only come from someone editing the URL.
_PROXY_SINGLE_VALUE_PARAMS = (
    "shop",
    "signature",
    "timestamp",
    "logged_in_customer_id",
    "path_prefix",
)
_PROXY_REASONS = {
    "multiple_shop_parameters": "duplicate_parameter",
    "missing_timestamp": "missing_timestamp",
    "invalid_timestamp": "invalid_timestamp",
    "timestamp_too_old": "stale_timestamp",
    "missing_signature": "missing_signature",
    "invalid_signature": "invalid_signature",
}


@dataclass(frozen=True)
class ProxyRequest:
    """A verified app-proxy request; `params` are the signed query parameters."""

    shop: str
    logged_in_customer_id: str | None
    path_prefix: str | None
    params: dict[str, str]


def _proxy_error(reason: str, **details: Any) -> InvalidSignature:
    return InvalidSignature(
        f"App proxy request rejected: {reason.replace('_', ' ')}.", reason=reason, **details
    )


def _query_values(url: str) -> dict[str, list[str]]:
    """Every query parameter with all its values, parsed as shopify_app parses them."""
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        values.setdefault(key, []).append(value)
    return values


def _check_proxy_params(values: Mapping[str, list[str]]) -> int:
    """Pre-checks shopify_app does not make; returns the timestamp."""
    for name in _PROXY_SINGLE_VALUE_PARAMS:
        if len(values.get(name, ())) > 1:
            raise _proxy_error("duplicate_parameter", parameter=name)
    signature = values.get("signature", [""])[0]
    if not signature:
        raise _proxy_error("missing_signature")
    if not signature.isascii():
        raise _proxy_error("invalid_signature")  # compare_digest would raise TypeError
    timestamp = values.get("timestamp", [""])[0]
    if not timestamp:
        raise _proxy_error("missing_timestamp")
    if _TIMESTAMP.fullmatch(timestamp) is None:
        raise _proxy_error("invalid_timestamp")  # int() alone would take " 1_700_000_000"
    return int(timestamp)


def verify_app_proxy(
    creds: AppCredentials, url: str, *, now: datetime | None = None
) -> ProxyRequest:
    """Verify an app-proxy request URL (hex HMAC over the sorted, unseparated parameters).

    shopify_app checks the signature and a 90 s timestamp window against the real clock; the
    window is checked again at `now`. Duplicated single-value parameters and a shop that is not
    a myshopify domain are refused. Failures raise InvalidSignature (401) with a reason.
    """
    values = _query_values(url)
    timestamp = _check_proxy_params(values)
    result = verify_app_proxy_req(
        {"method": "GET", "headers": {}, "url": url, "body": ""}, creds.app_config(now)
    )
    if not result.ok:
        raise _proxy_error(_PROXY_REASONS.get(result.log.code, "invalid_signature"))
    if abs(_utc_now(now).timestamp() - timestamp) > _PROXY_WINDOW_SECONDS:
        raise _proxy_error("stale_timestamp")
    shop = normalize_shop_domain(values.get("shop", [""])[0])
    if shop is None:
        raise _proxy_error("invalid_shop_domain")
    return ProxyRequest(
        shop=shop,
        logged_in_customer_id=values.get("logged_in_customer_id", [""])[0] or None,
        path_prefix=values.get("path_prefix", [""])[0] or None,
        params={key: ",".join(vals) for key, vals in values.items() if key != "signature"},
    )
