"""Tests for offline access tokens: token exchange and refresh against a faked Shopify endpoint.

Shopify is faked with respx at the httpx transport; the requests shopify_app sends are checked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import respx

from cartwise.connector.shopify.tokens import (
    OfflineToken,
    exchange_session_token,
    refresh_offline_token,
)
from cartwise.connector.shopify.verify import (
    AdminSessionToken,
    AppCredentials,
    verify_admin_session_token,
)
from cartwise.errors import CartwiseError, InvalidRequest, Unauthorized, UpstreamError

CLIENT_ID = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
SECRET = "shpss_current_" + "k" * 50
CREDS = AppCredentials(CLIENT_ID, SECRET)
SHOP = "test-shop.myshopify.com"
ENDPOINT = f"https://{SHOP}/admin/oauth/access_token"
NEW_ACCESS = "shpat_new_access_token_0123456789"
OLD_ACCESS = "shpat_old_access_token_0123456789"
NEW_REFRESH = "shprt_new_refresh_token_0123456789"
OLD_REFRESH = "shprt_old_refresh_token_0123456789"
GRANTED = {
    "access_token": NEW_ACCESS,
    "scope": "read_orders,read_products",
    "expires_in": 3600,
    "refresh_token": NEW_REFRESH,
    "refresh_token_expires_in": 7_776_000,
}


@pytest.fixture
def shopify() -> Iterator[respx.MockRouter]:
    """Strict: an unmatched request fails the test, and so does a route left uncalled."""
    with respx.mock() as router:
        yield router


def session_token(shop: str = SHOP) -> AdminSessionToken:
    now = int(time.time())
    claims = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": CLIENT_ID,
        "sub": "42",
        "exp": now + 60,
        "nbf": now - 1,
        "iat": now - 1,
        "jti": "f8912129-1af6-4cad-9ca3-76b0f7621087",
        "sid": "aaea182f-1d3a-4b46-9e4b-a0cd3e6c3f53",
    }
    raw = jwt.encode(claims, SECRET, algorithm="HS256")
    return verify_admin_session_token(CREDS, f"Bearer {raw}")


def stored_token(**changes: Any) -> OfflineToken:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "shop": SHOP,
        "access_token": OLD_ACCESS,
        "scope": "read_orders,read_products",
        "expires_at": now + timedelta(seconds=30),
        "refresh_token": OLD_REFRESH,
        "refresh_expires_at": now + timedelta(days=80),
    }
    fields.update(changes)
    return OfflineToken(**fields)


def assert_no_credentials_in(error: CartwiseError, *credentials: str) -> None:
    text = f"{error} {error.details} {error.to_dict()}"
    for credential in (SECRET, *credentials):
        assert credential not in text


def test_token_exchange_gets_an_expiring_offline_token(shopify: respx.MockRouter) -> None:
    route = shopify.post(ENDPOINT).mock(return_value=httpx.Response(200, json=GRANTED))
    identity = session_token()

    token = exchange_session_token(CREDS, SHOP, identity)

    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": identity.token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
        "expiring": 1,
    }
    assert (token.shop, token.access_token, token.refresh_token) == (SHOP, NEW_ACCESS, NEW_REFRESH)
    assert token.scope == "read_orders,read_products"
    assert token.expires_at is not None and token.refresh_expires_at is not None
    expected = datetime.now(UTC) + timedelta(seconds=3600)
    assert abs((token.expires_at - expected).total_seconds()) < 5
    assert token.refresh_expires_at > datetime.now(UTC) + timedelta(days=89)


def test_rejected_session_token_is_unauthorized(shopify: respx.MockRouter) -> None:
    shopify.post(ENDPOINT).mock(
        return_value=httpx.Response(400, json={"error": "invalid_subject_token"})
    )
    identity = session_token()
    with pytest.raises(Unauthorized) as excinfo:
        exchange_session_token(CREDS, SHOP, identity)
    assert excinfo.value.details["reason"] == "invalid_session_token"
    assert excinfo.value.details["status"] == 400
    assert_no_credentials_in(excinfo.value, identity.token)


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        pytest.param(httpx.Response(500, text="oops"), "exchange_error", id="500"),
        pytest.param(
            httpx.Response(401, json={"error": "invalid_client"}), "invalid_client", id="client"
        ),
        pytest.param(httpx.Response(200, text="<html>"), "invalid_response", id="not-json"),
        pytest.param(httpx.Response(200, json=[]), "invalid_response", id="json-list"),
        pytest.param(
            httpx.Response(200, json={"scope": "read_orders"}), "invalid_response", id="no-token"
        ),
    ],
)
def test_failed_token_exchange_is_an_upstream_error(
    shopify: respx.MockRouter, response: httpx.Response, reason: str
) -> None:
    route = shopify.post(ENDPOINT).mock(return_value=response)
    identity = session_token()
    with pytest.raises(UpstreamError) as excinfo:
        exchange_session_token(CREDS, SHOP, identity)
    assert excinfo.value.status == 502
    assert excinfo.value.details["reason"] == reason
    assert route.call_count == 1
    assert_no_credentials_in(excinfo.value, identity.token)


def test_token_exchange_network_error_is_an_upstream_error(shopify: respx.MockRouter) -> None:
    shopify.post(ENDPOINT).mock(side_effect=httpx.ConnectTimeout("timed out"))
    with pytest.raises(UpstreamError) as excinfo:
        exchange_session_token(CREDS, SHOP, session_token())
    assert excinfo.value.details["reason"] == "network_error"


def test_token_exchange_refuses_a_token_of_another_shop(shopify: respx.MockRouter) -> None:
    with pytest.raises(Unauthorized) as excinfo:
        exchange_session_token(CREDS, "other-shop.myshopify.com", session_token())
    assert excinfo.value.details["reason"] == "shop_mismatch"
    assert not shopify.calls


def test_token_exchange_uses_the_given_client(shopify: respx.MockRouter) -> None:
    route = shopify.post(ENDPOINT).mock(return_value=httpx.Response(200, json=GRANTED))
    with httpx.Client() as client:
        exchange_session_token(CREDS, SHOP, session_token(), http_client=client)
        assert not client.is_closed
    assert route.called


def test_refresh_rotates_the_refresh_token(shopify: respx.MockRouter) -> None:
    route = shopify.post(ENDPOINT).mock(return_value=httpx.Response(200, json=GRANTED))

    refreshed = refresh_offline_token(CREDS, stored_token())

    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "grant_type": "refresh_token",
        "refresh_token": OLD_REFRESH,
    }
    assert (refreshed.access_token, refreshed.refresh_token) == (NEW_ACCESS, NEW_REFRESH)
    assert refreshed.shop == SHOP
    assert refreshed.expires_at is not None
    assert refreshed.expires_at > datetime.now(UTC) + timedelta(minutes=59)


def test_refresh_asks_shopify_even_when_the_token_has_minutes_left(
    shopify: respx.MockRouter,
) -> None:
    route = shopify.post(ENDPOINT).mock(return_value=httpx.Response(200, json=GRANTED))
    token = stored_token(expires_at=datetime.now(UTC) + timedelta(minutes=4))

    assert token.expires_soon(datetime.now(UTC))
    assert refresh_offline_token(CREDS, token).access_token == NEW_ACCESS
    assert route.call_count == 1


def test_refresh_keeps_the_scope_when_the_answer_omits_it(shopify: respx.MockRouter) -> None:
    answer = {key: value for key, value in GRANTED.items() if key != "scope"}
    shopify.post(ENDPOINT).mock(return_value=httpx.Response(200, json=answer))
    assert refresh_offline_token(CREDS, stored_token(scope="read_orders")).scope == "read_orders"


def test_revoked_refresh_token_is_unauthorized(shopify: respx.MockRouter) -> None:
    shopify.post(ENDPOINT).mock(return_value=httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(Unauthorized) as excinfo:
        refresh_offline_token(CREDS, stored_token())
    assert excinfo.value.details["reason"] == "invalid_refresh_token"
    assert_no_credentials_in(excinfo.value, OLD_ACCESS, OLD_REFRESH)


def test_expired_refresh_token_is_unauthorized_without_a_request(
    shopify: respx.MockRouter,
) -> None:
    token = stored_token(refresh_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(Unauthorized) as excinfo:
        refresh_offline_token(CREDS, token)
    assert excinfo.value.details["reason"] == "refresh_token_expired"
    assert not shopify.calls


def test_refresh_server_errors_are_retried_then_upstream(shopify: respx.MockRouter) -> None:
    route = shopify.post(ENDPOINT).mock(return_value=httpx.Response(500))
    with pytest.raises(UpstreamError) as excinfo:
        refresh_offline_token(CREDS, stored_token())
    assert excinfo.value.details["reason"] == "server_error"
    assert route.call_count == 3  # shopify_app retries 5xx twice, without waiting
    assert_no_credentials_in(excinfo.value, OLD_ACCESS, OLD_REFRESH)


def test_refresh_network_error_is_upstream(shopify: respx.MockRouter) -> None:
    shopify.post(ENDPOINT).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(UpstreamError) as excinfo:
        refresh_offline_token(CREDS, stored_token())
    assert excinfo.value.details["reason"] == "network_error"


def test_non_expiring_token_cannot_be_refreshed(shopify: respx.MockRouter) -> None:
    token = stored_token(expires_at=None, refresh_token=None, refresh_expires_at=None)
    with pytest.raises(InvalidRequest) as excinfo:
        refresh_offline_token(CREDS, token)
    assert excinfo.value.details["reason"] == "not_refreshable"


def test_repr_hides_tokens() -> None:
    text = repr(stored_token())
    assert OLD_ACCESS not in text
    assert OLD_REFRESH not in text
    assert SHOP in text


@pytest.mark.parametrize(
    ("left", "margin", "soon"),
    [
        pytest.param(timedelta(minutes=10), timedelta(minutes=5), False, id="10-min-left"),
        pytest.param(timedelta(minutes=5), timedelta(minutes=5), True, id="at-margin"),
        pytest.param(timedelta(minutes=1), timedelta(minutes=5), True, id="1-min-left"),
        pytest.param(timedelta(minutes=-1), timedelta(0), True, id="expired"),
    ],
)
def test_expires_soon(left: timedelta, margin: timedelta, soon: bool) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert stored_token(expires_at=now + left).expires_soon(now, margin) is soon


def test_non_expiring_token_never_expires_soon() -> None:
    token = stored_token(expires_at=None, refresh_token=None, refresh_expires_at=None)
    assert not token.expires_soon(datetime.now(UTC))
