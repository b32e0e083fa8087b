"""The authorization-code install flow: authorize URL, callback check and code exchange.

The only user of ShopifyAPI (`shopify`), which is deprecated and keeps its configuration in
class attributes: every use holds one lock and puts the previous values back afterwards, and only
validated shop domains ever reach `shopify.Session` (it silently rewrites any other host). The
code exchange uses httpx. Layer 2: imports `cartwise.errors`, the standard library, httpx and
`shopify` only.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import shopify

from cartwise.connector.shopify.domains import normalize_shop_domain
from cartwise.connector.shopify.tokens import OfflineToken
from cartwise.connector.shopify.verify import AppCredentials
from cartwise.errors import InvalidRequest, InvalidSignature, UpstreamError

__all__ = ["authorize_url", "exchange_code", "new_state", "validate_callback"]

# ShopifyAPI's Session requires an API version; the authorize URL does not contain it.
_SESSION_API_VERSION = "2025-10"
# Shopify's tolerance for a callback timestamp ahead of our clock (shopify-app-js).
_FUTURE_TOLERANCE_SECONDS = 90
_SCOPE = re.compile(r"[a-z0-9_]+")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_session_lock = threading.Lock()


@contextmanager
def _shopify_session_class(api_key: str, secret: str | None) -> Iterator[Any]:
    """`shopify.Session` configured for one use, then restored, under one lock."""
    with _session_lock:
        session_class = shopify.Session
        previous = (session_class.api_key, session_class.secret)
        session_class.setup(api_key=api_key, secret=secret)
        try:
            yield session_class
        finally:
            session_class.setup(api_key=previous[0], secret=previous[1])


def _valid_shop(shop: str) -> str:
    domain = normalize_shop_domain(shop)
    if domain is None:
        raise InvalidRequest(
            "The shop is not a myshopify.com domain.", reason="invalid_shop_domain"
        )
    return domain


def _check_redirect_uri(redirect_uri: str) -> None:
    """An absolute https URL (http only for a local development host)."""
    parts = urlsplit(redirect_uri)
    local = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
    if not parts.netloc or not (parts.scheme == "https" or local):
        raise InvalidRequest(
            "redirect_uri must be an absolute https URL.", reason="invalid_redirect_uri"
        )


def _scope_list(scopes: Sequence[str]) -> list[str]:
    if isinstance(scopes, str):
        raise InvalidRequest(
            "scopes must be a list of scope names, not one string.", reason="invalid_scopes"
        )
    names = list(scopes)
    if not all(isinstance(name, str) and _SCOPE.fullmatch(name) for name in names):
        raise InvalidRequest("A scope name is not valid.", reason="invalid_scopes")
    return names


def new_state() -> str:
    """A fresh OAuth `state` nonce (32 random bytes, hex), as Shopify's own libraries make it."""
    return secrets.token_hex(32)


def authorize_url(
    creds: AppCredentials,
    shop: str,
    *,
    scopes: Sequence[str],
    redirect_uri: str,
    state: str,
) -> str:
    """The `https://{shop}/admin/oauth/authorize?...` URL to send the merchant to.

    Raises InvalidRequest for a shop that is not a myshopify domain, bad scopes, a non-https
    redirect URI or an empty state; the caller stores `state` (signed) to compare on callback.
    """
    domain = _valid_shop(shop)
    scope_names = _scope_list(scopes)
    _check_redirect_uri(redirect_uri)
    if not state:
        raise InvalidRequest("state must be non-empty.", reason="missing_state")
    with _shopify_session_class(creds.client_id, None) as session_class:
        session = session_class(domain, _SESSION_API_VERSION)
        if session.url != domain:  # a class-level port or domain set elsewhere
            raise InvalidRequest("ShopifyAPI rewrote the shop host.", reason="invalid_shop_domain")
        return str(session.create_permission_url(scope_names, redirect_uri, state=state))


def _callback_error(reason: str) -> InvalidSignature:
    return InvalidSignature(
        f"Install callback rejected: {reason.replace('_', ' ')}.", reason=reason
    )


def _hmac_matches(creds: AppCredentials, params: Mapping[str, str], now: datetime | None) -> bool:
    """Whether the callback's hex HMAC matches the current secret or, in its window, the old one."""
    config = creds.app_config(now)
    # ShopifyAPI leaves out only `hmac`; Shopify's own libraries also drop `signature`.
    signed = {key: value for key, value in params.items() if key != "signature"}
    for secret in (config["client_secret"], config["old_client_secret"]):
        if not secret:
            continue
        with _shopify_session_class(creds.client_id, secret) as session_class:
            if session_class.validate_hmac(signed):
                return True
    return False


def validate_callback(
    creds: AppCredentials,
    params: Mapping[str, str],
    *,
    now: datetime | None = None,
    max_age: timedelta = timedelta(minutes=10),
) -> str:
    """Check the install callback's query parameters; returns the normalised shop domain.

    Checks the shop domain, the hex HMAC (ShopifyAPI's `validate_hmac`, whose own 24 h limit in
    `validate_params` is replaced by `max_age` and a 90 s future tolerance at `now`). Comparing
    `state` with the stored value is the caller's job. Raises InvalidSignature with a reason.
    Pass each parameter once: a multi-valued parameter (a list value) is refused.
    """
    if not all(isinstance(value, str) for value in params.values()):
        raise _callback_error("duplicate_parameter")
    shop = normalize_shop_domain(params.get("shop"))
    if shop is None:
        raise _callback_error("invalid_shop_domain")
    if not params.get("hmac"):
        raise _callback_error("missing_signature")
    timestamp = params.get("timestamp", "")
    if _TIMESTAMP.fullmatch(timestamp) is None:
        raise _callback_error("invalid_timestamp")
    if not _hmac_matches(creds, params, now):
        raise _callback_error("invalid_signature")
    current = (now if now is not None else datetime.now(UTC)).timestamp()
    if current - int(timestamp) > max_age.total_seconds():
        raise _callback_error("stale_timestamp")
    if int(timestamp) - current > _FUTURE_TOLERANCE_SECONDS:
        raise _callback_error("timestamp_in_future")
    return shop


def _post(
    client: httpx.Client | None, url: str, payload: dict[str, Any], timeout: float
) -> httpx.Response:
    headers = {"Accept": "application/json"}
    if client is not None:
        return client.post(url, json=payload, headers=headers, timeout=timeout)
    with httpx.Client(timeout=timeout) as own_client:
        return own_client.post(url, json=payload, headers=headers)


def _shopify_error_code(response: httpx.Response) -> str | None:
    """Shopify's `error` code (e.g. `invalid_request`), only when it is a plain token."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None


def _optional_seconds(data: Mapping[str, Any], name: str) -> timedelta | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(name)
    return timedelta(seconds=value)


def _parse_token(shop: str, response: httpx.Response, requested_at: datetime) -> OfflineToken:
    """An OfflineToken from the token endpoint's JSON; lifetimes count from the request time."""
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("body")
    access_token, scope = data.get("access_token"), data.get("scope", "")
    refresh_token = data.get("refresh_token")
    if not isinstance(access_token, str) or not access_token or not isinstance(scope, str):
        raise ValueError("access_token")
    if refresh_token is not None and not isinstance(refresh_token, str):
        raise ValueError("refresh_token")
    expires_in = _optional_seconds(data, "expires_in")
    refresh_expires_in = _optional_seconds(data, "refresh_token_expires_in")
    return OfflineToken(
        shop=shop,
        access_token=access_token,
        scope=scope,
        expires_at=requested_at + expires_in if expires_in is not None else None,
        refresh_token=refresh_token or None,
        refresh_expires_at=requested_at + refresh_expires_in if refresh_expires_in else None,
    )


def exchange_code(
    creds: AppCredentials,
    shop: str,
    code: str,
    *,
    http_client: httpx.Client | None = None,
    timeout: float = 10.0,
) -> OfflineToken:
    """Trade the callback's authorization code for an expiring offline access token.

    Call only after `validate_callback` and the state check. Raises InvalidRequest for a bad shop
    or empty code, and UpstreamError (whose message names no secret, code or token) for a network
    error, a non-2xx answer or an unreadable body.
    """
    domain = _valid_shop(shop)
    if not code:
        raise InvalidRequest("The authorization code is empty.", reason="missing_code")
    url = f"https://{domain}/admin/oauth/access_token"
    payload = {
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "code": code,
        "expiring": 1,
    }
    requested_at = datetime.now(UTC)
    try:
        response = _post(http_client, url, payload, timeout)
    except httpx.HTTPError as exc:
        raise UpstreamError(
            f"Could not reach {domain} to finish the install.",
            reason="network_error",
            shop=domain,
            error=type(exc).__name__,
        ) from None
    if not response.is_success:
        raise UpstreamError(
            f"{domain} refused the authorization code (HTTP {response.status_code}).",
            reason="http_error",
            shop=domain,
            status=response.status_code,
            error=_shopify_error_code(response),
        )
    try:
        return _parse_token(domain, response, requested_at)
    except ValueError:
        raise UpstreamError(
            f"{domain} answered the code exchange with an unreadable token.",
            reason="invalid_response",
            shop=domain,
        ) from None
