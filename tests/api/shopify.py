"""Shopify-side helpers for the API tests: app credentials, deliveries signed the way Shopify
signs them (base64 HMAC-SHA256 of the raw bytes), checkout session tokens, App Bridge tokens
and app proxy queries — all computed here from the bytes, never taken from our own code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt

from cartwise.connector.shopify.tokens import OfflineToken
from cartwise.installs import save_install
from cartwise.settings import Settings, ShopifySettings
from cartwise.storage import Store

CLIENT_ID = "cartwise-test-client-id-0001"
CLIENT_SECRET = "shpss_test_secret_0123456789abcdef0123456789abcdef"
OTHER_SECRET = "shpss_other_app_secret_fedcba9876543210fedcba98765"
SECRET_KEY = "test-only-secret-key-0123456789abcdef-xyz"
SHOP_A = "shop-a.myshopify.com"
SHOP_B = "shop-b.myshopify.com"


def shopify_settings(**overrides: Any) -> Settings:
    """Production-mode settings of a configured Shopify app (demo mode off)."""
    fields: dict[str, Any] = {
        "demo_mode": False,
        "secret_key": SECRET_KEY,
        "app_url": "https://cartwise.example",
        "shopify": ShopifySettings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET),
    }
    fields.update(overrides)
    return Settings(**fields)


def sign(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(
    topic: str,
    payload: dict[str, Any] | bytes,
    *,
    shop: str = SHOP_A,
    webhook_id: str | None = None,
    event_id: str | None = None,
    triggered_at: datetime | None = None,
    secret: str = CLIENT_SECRET,
) -> tuple[dict[str, str], bytes]:
    """The headers and body of one webhook delivery, as Shopify would send it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": (triggered_at or datetime.now(UTC)).isoformat(),
    }
    return headers, body


def checkout_token(shop: str = SHOP_A, *, secret: str = CLIENT_SECRET, **claims: Any) -> str:
    """A checkout UI extension session token (no iss, no sid; dest is the bare domain)."""
    now = int(time.time())
    body: dict[str, Any] = {
        "dest": shop,
        "aud": CLIENT_ID,
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, secret, algorithm="HS256")


def admin_token(shop: str = SHOP_A, *, secret: str = CLIENT_SECRET, **claims: Any) -> str:
    """An App Bridge session token of an embedded admin page."""
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": CLIENT_ID,
        "sub": "42",
        "exp": now + 60,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, secret, algorithm="HS256")


def proxy_query(params: dict[str, str | list[str]], *, secret: str = CLIENT_SECRET) -> str:
    """The query string Shopify forwards through the app proxy, with its `signature`: hex
    HMAC over the sorted `key=value` pairs joined with no separator (repeats joined by ",")."""
    pairs = sorted(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in params.items())
    signature = hmac.new(secret.encode(), "".join(pairs).encode(), hashlib.sha256).hexdigest()
    flat: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            flat.append((key, item))
    flat.append(("signature", signature))
    return urlencode(flat)


def install(store: Store, shop: str) -> None:
    """Mark the app installed on `shop` (as a completed OAuth would)."""
    save_install(
        store,
        OfflineToken(
            shop=shop,
            access_token=f"shpat_{uuid.uuid4().hex}",
            scope="read_orders,read_products",
            expires_at=None,
            refresh_token=None,
            refresh_expires_at=None,
        ),
    )
