"""Who is calling: every way in names its shop through a verified credential, never through
the body or the query string.

- checkout UI extension: `Authorization: Bearer <session token>` (HS256, the app's secret);
- app proxy: Shopify's `signature` over the query string;
- server-to-server: `X-Cartwise-Key` (stored as keyed hashes, per shop, revocable);
- embedded admin: `Authorization: Bearer <App Bridge session token>`, or an admin-scoped key;
- demo mode only: no credential, the demo shop.

A client that keeps sending bad API keys is slowed down with 429 and `Retry-After`. Admin calls
are counted against their shop's rate limit as soon as the credential checks out; storefront
views count theirs with `limit_storefront` (see `api.ratelimits`).
Imports Flask and layers 0-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from flask import request

from cartwise import installs
from cartwise.api.context import services
from cartwise.cache import MemoryCache
from cartwise.connector.shopify.verify import (
    AppCredentials,
    verify_admin_session_token,
    verify_app_proxy,
    verify_checkout_token,
)
from cartwise.errors import Forbidden, RateLimited, StorageError, Unauthorized
from cartwise.installs import authenticate_api_key
from cartwise.pseudonyms import api_key_hash
from cartwise.settings import Settings

__all__ = [
    "BAD_KEYS_PER_MINUTE",
    "Caller",
    "admin_caller",
    "app_credentials",
    "forget_api_keys",
    "limit_storefront",
    "proxy_caller",
    "storefront_caller",
]

BAD_KEYS_PER_MINUTE = 20
API_KEY_HEADER = "X-Cartwise-Key"

CallerKind = Literal["checkout", "proxy", "api_key", "admin_session", "demo"]


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller: its shop, and the platform customer id its credential vouches for."""

    shop: str
    kind: CallerKind
    customer_id: str | None = None
    scope: str = "storefront"
    key_id: int | None = None
    """The API key's id when the credential is one."""


_bad_keys: MemoryCache[int] = MemoryCache(maxsize=100_000, ttl=60.0)

KEY_MEMORY_SECONDS = 2.0
"""How long a process trusts a key it has checked before asking the database again."""
_valid_keys: MemoryCache[Caller] = MemoryCache(maxsize=10_000, ttl=KEY_MEMORY_SECONDS)

OUTAGE_MEMORY_SECONDS = 3600.0
"""While the database can't be reached, storefront reads keep being answered for credentials
checked within this long before (a key, an installed shop): a storefront never breaks because
storage is away. A key revoked during the outage is refused once storage answers again."""
_known_keys: MemoryCache[Caller] = MemoryCache(maxsize=10_000, ttl=OUTAGE_MEMORY_SECONDS)
_known_installed: MemoryCache[bool] = MemoryCache(maxsize=100_000, ttl=OUTAGE_MEMORY_SECONDS)


def app_credentials(settings: Settings, now: datetime | None = None) -> AppCredentials:
    return installs.app_credentials(settings, now)


def storefront_caller() -> Caller:
    """The caller of a storefront endpoint (`/v1/recommendations`)."""
    ctx = services()
    key = request.headers.get(API_KEY_HEADER)
    if key is not None:
        return _api_key_caller(key, storefront=True)
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        token = verify_checkout_token(
            app_credentials(ctx.settings),
            authorization,
            method=request.method,
            url=request.url,
        )
        _require_installed(token.shop, storefront=True)
        return Caller(token.shop, "checkout", customer_id=token.customer_id)
    if ctx.settings.demo_mode:
        return Caller(ctx.settings.demo_shop, "demo")
    raise Unauthorized(
        "Send a checkout session token (Authorization: Bearer) or an API key (X-Cartwise-Key).",
        reason="missing_credentials",
    )


def proxy_caller() -> Caller:
    """The caller of an app proxy endpoint: the signed query string names the shop."""
    verified = verify_app_proxy(app_credentials(services().settings), request.url)
    _require_installed(verified.shop, storefront=True)
    return Caller(verified.shop, "proxy", customer_id=verified.logged_in_customer_id)


def admin_caller() -> Caller:
    """The caller of an admin endpoint: an admin-scoped API key or an App Bridge token, counted
    against its shop's admin rate limit (429 past it; 503 while the shared count is down)."""
    caller = _admin_credential()
    limits = services().request_limits
    if limits is not None:
        limits.admin(caller.shop)
    return caller


def limit_storefront(caller: Caller) -> None:
    """Count a storefront read against the caller's shop, and its API key if it used one;
    `RateLimited` (429) past a limit. Views call it right after authenticating."""
    limits = services().request_limits
    if limits is not None:
        limits.storefront(caller.shop, caller.key_id)


def _admin_credential() -> Caller:
    key = request.headers.get(API_KEY_HEADER)
    if key is not None:
        caller = _api_key_caller(key)
        if caller.scope != "admin":
            raise Forbidden("This API key may not change the shop's settings.", reason="scope")
        return caller
    authorization = request.headers.get("Authorization")
    if authorization is None:
        raise Unauthorized(
            "Send an App Bridge session token or an admin API key.", reason="missing_credentials"
        )
    token = verify_admin_session_token(
        app_credentials(services().settings),
        authorization,
        method=request.method,
        url=request.url,
    )
    _require_installed(token.shop)
    return Caller(token.shop, "admin_session", scope="admin")


def _api_key_caller(key: str, *, storefront: bool = False) -> Caller:
    """The caller an API key stands for; for a `storefront` read, the key as last checked when
    the database is away."""
    client = request.remote_addr or "-"
    failures = _bad_keys.get(client) or 0
    if failures >= BAD_KEYS_PER_MINUTE:
        raise RateLimited(
            "Too many invalid API keys from this address; wait a minute.", retry_after=60
        )
    ctx = services()
    secret = ctx.settings.effective_secret_key()
    memo = api_key_hash(secret, key.strip())
    known = _valid_keys.get(memo)
    if known is not None:
        return known
    try:
        record = authenticate_api_key(ctx.store, secret, key.strip())
    except StorageError:
        remembered = _known_keys.get(memo)
        if remembered is None or not storefront:
            raise
        return remembered
    if record is None:
        _bad_keys.set(client, failures + 1)
        raise Unauthorized("The API key is unknown or revoked.", reason="invalid_api_key")
    # A shop that uninstalled the app keeps its data until shop/redact, but its keys stop
    # working with the uninstall (shops that never had an install, e.g. imported ones, keep
    # theirs).
    install = ctx.store.installs.get(record.shop)
    if install is not None and not install.active:
        raise Unauthorized("cartwise is not installed on this shop.", reason="not_installed")
    caller = Caller(record.shop, "api_key", scope=record.scope, key_id=record.id)
    _valid_keys.set(memo, caller)
    _known_keys.set(memo, caller)
    return caller


def forget_api_keys() -> None:
    """Drop the remembered valid keys (a key was revoked or a shop uninstalled here); other
    processes see such a change within `KEY_MEMORY_SECONDS`."""
    _valid_keys.clear()
    _known_keys.clear()


def _require_installed(shop: str, *, storefront: bool = False) -> None:
    """Unauthorized unless the app is installed on `shop`; for a `storefront` read, as last
    seen when the database is away."""
    try:
        active = services().store.installs.is_active(shop)
    except StorageError:
        if not (storefront and _known_installed.get(shop)):
            raise
        return
    if not active:
        _known_installed.set(shop, False)
        raise Unauthorized(
            "cartwise is not installed on this shop.", reason="not_installed", shop=shop
        )
    _known_installed.set(shop, True)


def reset_bad_key_counts() -> None:
    """Forget every address's failed attempts (tests; an operator after a false alarm)."""
    _bad_keys.clear()
