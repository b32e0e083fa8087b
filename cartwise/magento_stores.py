"""Connecting a Magento store: its URL checked, its integration's credentials stored, and the
secret its cartwise module signs deliveries with generated and shown once.

A Magento store is known by its shop key: its host (and port), plus `/<store_code>` when one
store view is connected, e.g. `shop.example.com/de`.
Layer 4: imports storage, the Magento connector and layer 0.
"""

from __future__ import annotations

import secrets

from cartwise.connector.magento.auth import IntegrationCredentials
from cartwise.connector.magento.urls import (
    Resolver,
    shop_key,
    system_resolver,
    validate_store_code,
    validate_store_url,
)
from cartwise.domain import Platform, ShopRef
from cartwise.errors import Conflict
from cartwise.storage import Store

__all__ = ["connect_store", "disconnect_store"]

SIGNING_SECRET_BYTES = 32


def connect_store(
    store: Store,
    url: str,
    credentials: IntegrationCredentials,
    *,
    store_code: str | None = None,
    allow_private: bool = False,
    resolve: Resolver | None = system_resolver,
) -> tuple[str, str]:
    """Connect a Magento store; returns `(shop_key, signing_secret)`. The secret is for the
    module's configuration and is shown only now: connecting the store again issues a new one
    (and the old one stops working at once).

    `url` must be https and resolve to public addresses only (`resolve` looks the host up;
    `allow_private` is for development stores). InvalidRequest (422) with a `reason` for a bad
    URL or store code; Conflict (409) when the key names a shop of another platform.
    """
    target = validate_store_url(url, allow_private=allow_private, resolve=resolve)
    code = validate_store_code(store_code)
    key = shop_key(target, code)
    signing_secret = secrets.token_urlsafe(SIGNING_SECRET_BYTES)
    with store.transaction() as tx:
        known = tx.shops.get(key)
        if known is not None and known.platform is not Platform.MAGENTO:
            raise Conflict(f"{key!r} is already a {known.platform} shop.", shop=key)
        tx.shops.ensure(ShopRef(key, Platform.MAGENTO))
        tx.magento.save(
            key,
            base_url=target.base_url,
            store_code=code,
            consumer_key=credentials.consumer_key,
            consumer_secret=credentials.consumer_secret,
            access_token=credentials.access_token,
            access_token_secret=credentials.access_token_secret,
            use_bearer=credentials.bearer,
            signing_secret=signing_secret,
        )
    return key, signing_secret


def disconnect_store(store: Store, shop: str) -> bool:
    """Forget a store's credentials and signing secret (its module's deliveries are refused
    from now on); its data stays. False when it was never connected."""
    return store.magento.deactivate(shop)
