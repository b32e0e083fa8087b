"""The install lifecycle of a shop: its offline access token (kept fresh by refreshing before it
expires), uninstalling, and the API keys a merchant creates for server-to-server calls.

Layer 4: imports storage, the Shopify connector and layer 0.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import httpx

from cartwise.backfill import BACKFILL
from cartwise.connector.shopify.admin import ShopifyAdmin
from cartwise.connector.shopify.tokens import OfflineToken, refresh_offline_token
from cartwise.connector.shopify.verify import AppCredentials
from cartwise.domain import Platform, ShopRef
from cartwise.errors import InvalidRequest, Unauthorized
from cartwise.pseudonyms import api_key_hash
from cartwise.settings import Settings
from cartwise.storage import ApiKeyRecord, Store

__all__ = [
    "API_KEY_SCOPES",
    "authenticate_api_key",
    "create_api_key",
    "current_token",
    "save_install",
]

API_KEY_PREFIX = "cw_"
API_KEY_SCOPES = ("storefront", "admin")
"""`storefront` keys may ask for recommendations; `admin` keys may also change the shop's rules
and keys."""


def save_install(store: Store, token: OfflineToken) -> None:
    """Record a completed install (authorization-code grant or token exchange)."""
    with store.transaction() as tx:
        tx.shops.ensure(ShopRef(token.shop, Platform.SHOPIFY))
        tx.installs.save_token(
            token.shop,
            access_token=token.access_token,
            scope=token.scope,
            expires_at=token.expires_at,
            refresh_token=token.refresh_token,
            refresh_expires_at=token.refresh_expires_at,
        )


def app_credentials(settings: Settings, now: datetime | None = None) -> AppCredentials:
    """The Shopify app's credentials from settings; Unauthorized when cartwise is not
    configured as a Shopify app."""
    shopify = settings.shopify
    if not shopify.configured or shopify.client_secret is None:
        raise Unauthorized(
            "This cartwise is not configured as a Shopify app.", reason="shopify_not_configured"
        )
    old = shopify.old_client_secret
    return AppCredentials(
        client_id=shopify.client_id,
        client_secret=shopify.client_secret.get_secret_value(),
        old_client_secret=old.get_secret_value() if old else None,
        old_secret_valid_until=shopify.old_client_secret_until,
    )


def schedule_backfill(store: Store, shop: str) -> int | None:
    """Queue the shop's history backfill unless it is done or already queued; the job id."""
    states = store.sync.for_shop(shop)
    if states and all(state.status == "done" for state in states):
        return None
    return store.jobs.enqueue(BACKFILL, shop, dedupe_key=f"{BACKFILL}:{shop}")


def current_token(
    store: Store,
    creds: AppCredentials,
    shop: str,
    *,
    now: datetime | None = None,
    http_client: httpx.Client | None = None,
) -> OfflineToken:
    """A usable offline token for the shop, refreshed first when it expires within minutes
    (the rotated refresh token is stored at once: Shopify invalidates the old one once the new
    one is used). Unauthorized when the app is not installed on the shop."""
    install = store.installs.get(shop)
    if install is None or not install.active or not install.access_token:
        raise Unauthorized(f"cartwise is not installed on {shop}", reason="not_installed")
    token = OfflineToken(
        shop=shop,
        access_token=install.access_token,
        scope=install.scope,
        expires_at=install.expires_at,
        refresh_token=install.refresh_token,
        refresh_expires_at=install.refresh_expires_at,
    )
    if token.refresh_token and token.expires_soon(now or datetime.now(UTC)):
        token = refresh_offline_token(creds, token, http_client=http_client)
        save_install(store, token)
    return token


def create_api_key(
    store: Store, secret: bytes, shop: str, *, label: str = "", scope: str = "storefront"
) -> tuple[ApiKeyRecord, str]:
    """A new key for the shop: returns its record and the key itself, which is shown only
    now; only a keyed hash of it is stored."""
    if scope not in API_KEY_SCOPES:
        raise InvalidRequest(f"scope must be one of {', '.join(API_KEY_SCOPES)}")
    if len(label) > 200:
        raise InvalidRequest("label must be at most 200 characters")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = store.api_keys.add(
        shop, key_hash=api_key_hash(secret, key), prefix=key[:10], label=label, scope=scope
    )
    record = next(r for r in store.api_keys.list(shop) if r.id == key_id)
    return record, key


def authenticate_api_key(store: Store, secret: bytes, key: str) -> ApiKeyRecord | None:
    """The live key record for `key`, or None for an unknown, malformed or revoked key."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 200:
        return None
    return store.api_keys.find(api_key_hash(secret, key))


def shopify_admin(store: Store, settings: Settings, shop: str) -> ShopifyAdmin:
    """An Admin API client for an installed shop with its current token (refreshed first when
    it expires soon); the caller opens and closes it. Unauthorized when not installed."""
    token = current_token(store, app_credentials(settings), shop)
    return ShopifyAdmin(shop, token.access_token, api_version=settings.shopify.api_version)


def reads_all_orders(scope: str) -> bool:
    """Whether a granted scope lets the app read orders older than 60 days."""
    return "read_all_orders" in scope.split(",")
