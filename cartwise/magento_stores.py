"""Connecting a Magento store: its URL checked, its integration's credentials stored, and the
secret its cartwise module signs deliveries with generated and shown once.

A Magento store is known by its shop key: its host (and port), plus `/<store_code>` when one
store view is connected, e.g. `shop.example.com/de`.
A newly connected store's history backfill is queued at once.
Layer 4: imports storage, the Magento connector, backfill's job name and layer 0.
"""

from __future__ import annotations

import secrets

from cartwise.backfill import BACKFILL
from cartwise.connector.magento.auth import IntegrationCredentials
from cartwise.connector.magento.client import MagentoClient
from cartwise.connector.magento.urls import (
    Resolver,
    shop_key,
    system_resolver,
    validate_store_code,
    validate_store_url,
)
from cartwise.domain import Platform, ShopRef
from cartwise.errors import Conflict, UnknownShop
from cartwise.storage import Store

__all__ = ["client_for", "connect_store", "disconnect_store"]

SIGNING_SECRET_BYTES = 32


def connect_store(
    store: Store,
    url: str,
    credentials: IntegrationCredentials,
    *,
    store_code: str | None = None,
    allow_private: bool = False,
    resolve: Resolver | None = system_resolver,
    backfill: bool = True,
) -> tuple[str, str]:
    """Connect a Magento store; returns `(shop_key, signing_secret)`. The secret is for the
    module's configuration and is shown only now: connecting the store again issues a new one
    (and the old one stops working at once).

    `url` must be https and resolve to public addresses only (`resolve` looks the host up;
    `allow_private` is for development stores). InvalidRequest (422) with a `reason` for a bad
    URL or store code; Conflict (409) when the key names a shop of another platform. The
    store's history backfill is queued unless `backfill` is False.
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
        if backfill:
            tx.jobs.enqueue(BACKFILL, key, dedupe_key=f"{BACKFILL}:{key}")
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


def client_for(store: Store, shop: str, *, allow_private: bool = False) -> MagentoClient:
    """A REST client for a connected store, with its stored credentials (the caller opens and
    closes it). UnknownShop when the store is not connected."""
    held = store.magento.get(shop)
    if held is None or not held.active or not held.access_token:
        raise UnknownShop(
            f"the Magento store {shop} is not connected: run `cartwise magento-connect` first",
            shop=shop,
        )
    credentials = IntegrationCredentials(
        held.consumer_key or "",
        held.consumer_secret or "",
        held.access_token,
        held.access_token_secret or "",
        bearer=held.use_bearer,
    )
    return MagentoClient(
        held.base_url, credentials, store_code=held.store_code, allow_private=allow_private
    )


def disconnect_store(store: Store, shop: str) -> bool:
    """Forget a store's credentials and signing secret (its module's deliveries are refused
    from now on); its data stays. False when it was never connected."""
    return store.magento.deactivate(shop)
