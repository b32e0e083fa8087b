"""The install flow over HTTP: `/auth/install` → Shopify's consent screen → `/auth/callback`,
and `/auth/token-exchange` for embedded pages; then the stored offline token is refreshed before
it expires. Shopify's token endpoint is faked with respx at the httpx transport."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import respx
from flask.testing import FlaskClient

from cartwise import storage
from cartwise.api import create_app
from cartwise.api.install import STATE_COOKIE
from cartwise.installs import current_token
from cartwise.storage import Store

from .shopify import CLIENT_ID, CLIENT_SECRET, SHOP_A, admin_token, shopify_settings
from .shopify import install as mark_installed

TOKEN_URL = f"https://{SHOP_A}/admin/oauth/access_token"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{tmp_path / 'cartwise.db'}")
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store) -> FlaskClient:
    return create_app(shopify_settings(), store=store, start_worker=False).test_client()


def _signed_query(params: dict[str, str], secret: str = CLIENT_SECRET) -> str:
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**params, "hmac": digest})


def _start(client: FlaskClient) -> str:
    """Begin an install; returns the state Shopify will send back."""
    response = client.get(f"/auth/install?shop={SHOP_A}")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.scheme == "https" and target.netloc == SHOP_A
    assert target.path == "/admin/oauth/authorize"
    query = parse_qs(target.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["https://cartwise.example/auth/callback"]
    assert "read_orders" in query["scope"][0]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie
    (state,) = query["state"]
    assert f"{STATE_COOKIE}={state}" in cookie
    return state


def _callback_params(state: str, **overrides: str) -> dict[str, str]:
    params = {
        "code": "auth-code-123",
        "shop": SHOP_A,
        "state": state,
        "timestamp": str(int(time.time())),
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc2hvcC1h",
    }
    params.update(overrides)
    return params


def test_install_then_callback_stores_an_expiring_offline_token(
    client: FlaskClient, store: Store
) -> None:
    state = _start(client)
    with respx.mock() as shopify:
        route = shopify.post(TOKEN_URL).mock(
            return_value=httpx.Response(
                200,
                json={
                    "access_token": "shpat_first",
                    "scope": "read_orders,read_products",
                    "expires_in": 3600,
                    "refresh_token": "shprt_first",
                    "refresh_token_expires_in": 7_776_000,
                },
            )
        )
        response = client.get("/auth/callback?" + _signed_query(_callback_params(state)))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == f"https://{SHOP_A}/admin/apps/{CLIENT_ID}"
    sent = json.loads(route.calls.last.request.content)
    assert sent["code"] == "auth-code-123" and sent["client_id"] == CLIENT_ID
    assert sent["expiring"] == 1
    stored = store.installs.get(SHOP_A)
    assert stored is not None and stored.active
    assert stored.access_token == "shpat_first" and stored.refresh_token == "shprt_first"
    assert stored.expires_at is not None
    assert timedelta(minutes=55) < stored.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert "shpat_first" not in repr(stored) and "shprt_first" not in repr(stored)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: {**p, "shop": "shop-b.myshopify.com"}, id="shop-swapped"),
        pytest.param(lambda p: {**p, "code": "other"}, id="code-changed"),
        pytest.param(lambda p: {**p, "timestamp": str(int(time.time()) - 3600)}, id="stale"),
    ],
)
def test_a_tampered_callback_is_refused_and_nothing_is_stored(
    client: FlaskClient, store: Store, tamper: object
) -> None:
    state = _start(client)
    params = _callback_params(state)
    query = _signed_query(params)
    if callable(tamper):
        changed = tamper(params)
        # re-encode with the original signature: the values no longer match it
        digest = parse_qs(query)["hmac"][0]
        query = urlencode({**changed, "hmac": digest})
        if changed["timestamp"] != params["timestamp"]:
            query = _signed_query(changed)  # correctly signed, but too old
    with respx.mock(assert_all_called=False) as shopify:
        route = shopify.post(url__regex=r"https://.*/admin/oauth/access_token")
        response = client.get("/auth/callback?" + query)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_signature"
    assert not route.called
    assert store.installs.get(SHOP_A) is None


def test_a_callback_with_another_state_is_refused(client: FlaskClient, store: Store) -> None:
    _start(client)
    with respx.mock(assert_all_called=False) as shopify:
        route = shopify.post(TOKEN_URL)
        response = client.get("/auth/callback?" + _signed_query(_callback_params("forged")))
    assert response.status_code == 401
    assert not route.called
    assert store.installs.get(SHOP_A) is None


@pytest.mark.parametrize(
    "shop", ["evil.com", "shop.myshopify.com.evil.com", "", "https://evil.com/x", "a b"]
)
def test_install_refuses_anything_but_a_shop_domain(client: FlaskClient, shop: str) -> None:
    response = client.get("/auth/install?" + urlencode({"shop": shop}))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert "Location" not in response.headers


def test_shopify_refusing_the_code_is_a_502_without_secrets(
    client: FlaskClient, store: Store
) -> None:
    state = _start(client)
    with respx.mock() as shopify:
        shopify.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "bad"}))
        response = client.get("/auth/callback?" + _signed_query(_callback_params(state)))
    assert response.status_code == 502
    body = response.get_data(as_text=True)
    assert CLIENT_SECRET not in body and "auth-code-123" not in body
    assert store.installs.get(SHOP_A) is None


def test_token_exchange_installs_from_an_embedded_page(client: FlaskClient, store: Store) -> None:
    token = admin_token(SHOP_A)
    with respx.mock() as shopify:
        route = shopify.post(TOKEN_URL).mock(
            return_value=httpx.Response(
                200,
                json={
                    "access_token": "shpat_exchanged",
                    "scope": "read_orders",
                    "expires_in": 3600,
                    "refresh_token": "shprt_exchanged",
                    "refresh_token_expires_in": 7_776_000,
                },
            )
        )
        response = client.post("/auth/token-exchange", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"shop": SHOP_A, "installed": True}
    sent = json.loads(route.calls.last.request.content)
    assert sent["subject_token"] == token
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    stored = store.installs.get(SHOP_A)
    assert stored is not None and stored.access_token == "shpat_exchanged"


def test_token_exchange_without_a_valid_session_token_is_401(client: FlaskClient) -> None:
    with respx.mock(assert_all_called=False) as shopify:
        route = shopify.post(TOKEN_URL)
        response = client.post("/auth/token-exchange", headers={"Authorization": "Bearer x.y.z"})
    assert response.status_code == 401
    assert not route.called


def test_a_token_about_to_expire_is_refreshed_and_the_new_refresh_token_kept(
    store: Store,
) -> None:
    mark_installed(store, SHOP_A)
    soon = datetime.now(UTC) + timedelta(minutes=2)
    store.installs.save_token(
        SHOP_A,
        access_token="shpat_old",
        scope="read_orders",
        expires_at=soon,
        refresh_token="shprt_old",
        refresh_expires_at=datetime.now(UTC) + timedelta(days=60),
    )
    creds = shopify_settings()
    from cartwise.api.auth import app_credentials

    with respx.mock() as shopify:
        route = shopify.post(TOKEN_URL).mock(
            return_value=httpx.Response(
                200,
                json={
                    "access_token": "shpat_new",
                    "scope": "read_orders",
                    "expires_in": 3600,
                    "refresh_token": "shprt_new",
                    "refresh_token_expires_in": 7_776_000,
                },
            )
        )
        token = current_token(store, app_credentials(creds), SHOP_A)
    sent = json.loads(route.calls.last.request.content)
    assert sent["refresh_token"] == "shprt_old"
    assert token.access_token == "shpat_new"
    stored = store.installs.get(SHOP_A)
    assert stored is not None
    assert stored.access_token == "shpat_new" and stored.refresh_token == "shprt_new"

    # fresh enough now: no call to Shopify
    with respx.mock(assert_all_called=False) as shopify:
        route = shopify.post(TOKEN_URL)
        assert current_token(store, app_credentials(creds), SHOP_A).access_token == "shpat_new"
    assert not route.called
