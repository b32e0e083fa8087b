"""Tests for the authorization-code install flow: authorize URL, callback HMAC, code exchange.

The callback HMAC is computed here with hmac (and checked against Shopify's documented example);
Shopify's token endpoint is faked with respx at the httpx transport.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
import shopify

from cartwise.connector.shopify.oauth import (
    authorize_url,
    exchange_code,
    new_state,
    validate_callback,
)
from cartwise.connector.shopify.verify import AppCredentials
from cartwise.errors import CartwiseError, InvalidRequest, InvalidSignature, UpstreamError

CLIENT_ID = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
SECRET = "shpss_current_" + "k" * 50
OLD_SECRET = "shpss_previous_" + "o" * 49
OTHER_SECRET = "shpss_another_app_" + "x" * 46
CREDS = AppCredentials(CLIENT_ID, SECRET)
SHOP = "test-shop.myshopify.com"
ENDPOINT = f"https://{SHOP}/admin/oauth/access_token"
CODE = "0907a61c0c8d55e99db179b68161bc00"
REDIRECT = "https://cartwise.example/shopify/callback"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def shopify_api() -> Iterator[respx.MockRouter]:
    """Strict: an unmatched request fails the test, and so does a route left uncalled."""
    with respx.mock() as router:
        yield router


def sign(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    """The callback parameters plus Shopify's hex HMAC over the sorted `k=v&k=v` string."""
    message = "&".join(f"{key}={value}" for key, value in sorted(params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {**params, "hmac": digest}


def callback(timestamp: datetime = NOW, **changes: str) -> dict[str, str]:
    params = {
        "code": CODE,
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvdGVzdC1zaG9w",
        "shop": SHOP,
        "state": "4f0c2d1e",
        "timestamp": str(int(timestamp.timestamp())),
    }
    params.update(changes)
    return params


def test_new_state_is_32_random_bytes_in_hex() -> None:
    first, second = new_state(), new_state()
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != second


def test_authorize_url_names_the_shop_and_the_request() -> None:
    url = authorize_url(
        CREDS, SHOP, scopes=["read_orders", "read_products"], redirect_uri=REDIRECT, state="s1"
    )

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", SHOP, "/admin/oauth/authorize")
    assert parse_qs(parts.query) == {
        "client_id": [CLIENT_ID],
        "scope": ["read_orders,read_products"],
        "redirect_uri": [REDIRECT],
        "state": ["s1"],
    }
    assert SECRET not in url


def test_authorize_url_normalises_the_shop() -> None:
    url = authorize_url(
        CREDS, "https://Test-Shop.myshopify.com/", scopes=[], redirect_uri=REDIRECT, state="s"
    )
    assert urlsplit(url).netloc == SHOP


def test_shopify_api_configuration_is_put_back_after_use() -> None:
    before = (shopify.Session.api_key, shopify.Session.secret)
    authorize_url(CREDS, SHOP, scopes=["read_orders"], redirect_uri=REDIRECT, state="s")
    validate_callback(CREDS, sign(callback()), now=NOW)
    assert (shopify.Session.api_key, shopify.Session.secret) == before


@pytest.mark.parametrize(
    "shop",
    [
        pytest.param("evil.com", id="other-host"),
        pytest.param("shop.myshopify.com.evil.com", id="suffix-attack"),
        pytest.param("https://evil.com/x", id="url"),
        pytest.param("shop", id="bare-name"),
        pytest.param("", id="empty"),
    ],
)
def test_authorize_url_refuses_bad_shops_before_shopify_api(
    monkeypatch: pytest.MonkeyPatch, shop: str
) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("shopify.Session must not see an unvalidated shop")

    monkeypatch.setattr(shopify, "Session", unreachable)
    with pytest.raises(InvalidRequest) as excinfo:
        authorize_url(CREDS, shop, scopes=["read_orders"], redirect_uri=REDIRECT, state="s")
    assert excinfo.value.details["reason"] == "invalid_shop_domain"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"scopes": "read_orders,read_products"}, "invalid_scopes", id="scope-string"),
        pytest.param({"scopes": ["read_orders&x=1"]}, "invalid_scopes", id="scope-injection"),
        pytest.param({"redirect_uri": "/callback"}, "invalid_redirect_uri", id="relative"),
        pytest.param(
            {"redirect_uri": "http://cartwise.example/cb"}, "invalid_redirect_uri", id="http"
        ),
        pytest.param({"state": ""}, "missing_state", id="no-state"),
    ],
)
def test_authorize_url_refuses_bad_arguments(changes: dict[str, Any], reason: str) -> None:
    arguments: dict[str, Any] = {
        "scopes": ["read_orders"],
        "redirect_uri": REDIRECT,
        "state": "s",
        **changes,
    }
    with pytest.raises(InvalidRequest) as excinfo:
        authorize_url(CREDS, SHOP, **arguments)
    assert excinfo.value.details["reason"] == reason


def test_authorize_url_allows_a_local_http_redirect() -> None:
    url = authorize_url(CREDS, SHOP, scopes=[], redirect_uri="http://localhost:8000/cb", state="s")
    assert "redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcb" in url


def test_shopify_docs_callback_example_validates() -> None:
    params = {
        "code": "0907a61c0c8d55e99db179b68161bc00",
        "hmac": "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf",
        "shop": "some-shop.myshopify.com",
        "state": "0.6784241404160823",
        "timestamp": "1337178173",
    }
    now = datetime.fromtimestamp(1337178173 + 60, UTC)
    assert validate_callback(AppCredentials(CLIENT_ID, "hush"), params, now=now) == (
        "some-shop.myshopify.com"
    )


def test_signed_callback_gives_the_shop() -> None:
    assert validate_callback(CREDS, sign(callback()), now=NOW + timedelta(seconds=5)) == SHOP


def test_callback_signature_parameter_is_not_signed() -> None:
    params = {**sign(callback()), "signature": "ignored-as-shopify-does"}
    assert validate_callback(CREDS, params, now=NOW) == SHOP


def test_callback_signed_with_old_secret_counts_only_inside_its_window() -> None:
    creds = AppCredentials(CLIENT_ID, SECRET, OLD_SECRET, NOW + timedelta(minutes=1))
    params = sign(callback(), OLD_SECRET)

    assert validate_callback(creds, params, now=NOW) == SHOP
    with pytest.raises(InvalidSignature):
        validate_callback(creds, params, now=NOW + timedelta(minutes=1))


def _bad_callbacks() -> list[Any]:
    def tampered(**changes: str) -> dict[str, str]:
        return {**sign(callback()), **changes}

    return [
        pytest.param(tampered(shop="other-shop.myshopify.com"), "invalid_signature", id="shop"),
        pytest.param(tampered(code="another-code"), "invalid_signature", id="code"),
        pytest.param(tampered(state="forged"), "invalid_signature", id="state"),
        pytest.param({**sign(callback()), "extra": "1"}, "invalid_signature", id="added-param"),
        pytest.param(sign(callback(), OTHER_SECRET), "invalid_signature", id="wrong-secret"),
        pytest.param(
            tampered(hmac=sign(callback())["hmac"].upper()), "invalid_signature", id="upper-hex"
        ),
        pytest.param(callback(), "missing_signature", id="no-hmac"),
        pytest.param(tampered(hmac=""), "missing_signature", id="empty-hmac"),
        pytest.param(sign(callback(shop="evil.com")), "invalid_shop_domain", id="evil-shop"),
        pytest.param(
            sign(callback(shop=f"{SHOP}.evil.com")), "invalid_shop_domain", id="suffix-shop"
        ),
        pytest.param(
            sign({k: v for k, v in callback().items() if k != "shop"}),
            "invalid_shop_domain",
            id="no-shop",
        ),
        pytest.param(
            sign(callback(NOW - timedelta(minutes=11))), "stale_timestamp", id="11-min-old"
        ),
        pytest.param(sign(callback(NOW - timedelta(days=2))), "stale_timestamp", id="2-days-old"),
        pytest.param(
            sign(callback(NOW + timedelta(seconds=91))), "timestamp_in_future", id="future"
        ),
        pytest.param(
            sign({**callback(), "timestamp": "soon"}), "invalid_timestamp", id="bad-timestamp"
        ),
        pytest.param(
            sign({k: v for k, v in callback().items() if k != "timestamp"}),
            "invalid_timestamp",
            id="no-timestamp",
        ),
        pytest.param(
            {**sign(callback()), "shop": [SHOP, "other-shop.myshopify.com"]},
            "duplicate_parameter",
            id="list-value",
        ),
    ]


@pytest.mark.parametrize(("params", "reason"), _bad_callbacks())
def test_bad_callbacks_are_refused(params: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidSignature) as excinfo:
        validate_callback(CREDS, params, now=NOW)
    assert excinfo.value.status == 401
    assert excinfo.value.details["reason"] == reason


def test_callback_max_age_is_configurable() -> None:
    params = sign(callback(NOW - timedelta(minutes=3)))
    assert validate_callback(CREDS, params, now=NOW) == SHOP
    with pytest.raises(InvalidSignature):
        validate_callback(CREDS, params, now=NOW, max_age=timedelta(minutes=2))


def test_callback_comparison_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    validate_callback(CREDS, sign(callback()), now=NOW)
    assert calls


def assert_no_credentials_in(error: CartwiseError, *credentials: str) -> None:
    text = f"{error} {error.details} {error.to_dict()}"
    for credential in (SECRET, CODE, *credentials):
        assert credential not in text


def test_exchange_code_posts_json_and_parses_the_token(shopify_api: respx.MockRouter) -> None:
    route = shopify_api.post(ENDPOINT).mock(
        return_value=httpx.Response(
            200,
            json={
                "access_token": "shpat_new_access_token_0123456789",
                "scope": "read_orders,read_products",
                "expires_in": 3600,
                "refresh_token": "shprt_new_refresh_token_0123456789",
                "refresh_token_expires_in": 7_776_000,
            },
        )
    )
    before = datetime.now(UTC)

    token = exchange_code(CREDS, SHOP, CODE)

    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "code": CODE,
        "expiring": 1,
    }
    assert token.shop == SHOP
    assert token.access_token == "shpat_new_access_token_0123456789"
    assert token.scope == "read_orders,read_products"
    assert token.refresh_token == "shprt_new_refresh_token_0123456789"
    assert token.expires_at is not None and token.refresh_expires_at is not None
    assert (
        before + timedelta(seconds=3600)
        <= token.expires_at
        <= datetime.now(UTC) + timedelta(seconds=3600)
    )
    assert token.refresh_expires_at >= before + timedelta(days=90)


def test_exchange_code_accepts_a_non_expiring_answer(shopify_api: respx.MockRouter) -> None:
    shopify_api.post(ENDPOINT).mock(
        return_value=httpx.Response(200, json={"access_token": "shpat_x", "scope": "read_orders"})
    )
    token = exchange_code(CREDS, SHOP, CODE)
    assert (token.expires_at, token.refresh_token, token.refresh_expires_at) == (None, None, None)
    assert not token.expires_soon(datetime.now(UTC))


def test_exchange_code_uses_the_given_client_and_timeout(shopify_api: respx.MockRouter) -> None:
    route = shopify_api.post(ENDPOINT).mock(
        return_value=httpx.Response(200, json={"access_token": "shpat_x", "scope": ""})
    )
    with httpx.Client() as client:
        exchange_code(CREDS, SHOP, CODE, http_client=client, timeout=2.5)
    assert route.calls.last.request.extensions["timeout"]["connect"] == 2.5


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        pytest.param(
            httpx.Response(400, json={"error": "invalid_request", "error_description": CODE}),
            "http_error",
            id="400",
        ),
        pytest.param(httpx.Response(403, text=f"code {CODE} rejected"), "http_error", id="403"),
        pytest.param(httpx.Response(500, text="oops"), "http_error", id="500"),
        pytest.param(httpx.Response(503), "http_error", id="503"),
        pytest.param(httpx.Response(302, headers={"Location": "/"}), "http_error", id="302"),
        pytest.param(httpx.Response(200, text="<html>"), "invalid_response", id="not-json"),
        pytest.param(httpx.Response(200, json={"scope": "x"}), "invalid_response", id="no-token"),
        pytest.param(
            httpx.Response(200, json={"access_token": "t", "expires_in": "3600"}),
            "invalid_response",
            id="text-lifetime",
        ),
        pytest.param(httpx.Response(200, json=["t"]), "invalid_response", id="json-list"),
    ],
)
def test_failed_code_exchange_is_an_upstream_error(
    shopify_api: respx.MockRouter, response: httpx.Response, reason: str
) -> None:
    shopify_api.post(ENDPOINT).mock(return_value=response)
    with pytest.raises(UpstreamError) as excinfo:
        exchange_code(CREDS, SHOP, CODE)
    assert excinfo.value.status == 502
    assert excinfo.value.details["reason"] == reason
    assert_no_credentials_in(excinfo.value)


def test_shopify_error_code_is_kept(shopify_api: respx.MockRouter) -> None:
    shopify_api.post(ENDPOINT).mock(
        return_value=httpx.Response(400, json={"error": "invalid_request"})
    )
    with pytest.raises(UpstreamError) as excinfo:
        exchange_code(CREDS, SHOP, CODE)
    assert excinfo.value.details["error"] == "invalid_request"
    assert excinfo.value.details["status"] == 400


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ConnectTimeout("timed out"), id="connect-timeout"),
        pytest.param(httpx.ReadTimeout("timed out"), id="read-timeout"),
        pytest.param(httpx.ConnectError("refused"), id="refused"),
    ],
)
def test_code_exchange_network_error_is_an_upstream_error(
    shopify_api: respx.MockRouter, failure: Exception
) -> None:
    shopify_api.post(ENDPOINT).mock(side_effect=failure)
    with pytest.raises(UpstreamError) as excinfo:
        exchange_code(CREDS, SHOP, CODE)
    assert excinfo.value.details["reason"] == "network_error"
    assert_no_credentials_in(excinfo.value)


@pytest.mark.parametrize(
    ("shop", "code", "reason"),
    [
        pytest.param("evil.com", CODE, "invalid_shop_domain", id="evil-shop"),
        pytest.param(f"{SHOP}.evil.com", CODE, "invalid_shop_domain", id="suffix-shop"),
        pytest.param(SHOP, "", "missing_code", id="no-code"),
    ],
)
def test_code_exchange_refuses_bad_arguments_without_a_request(
    shopify_api: respx.MockRouter, shop: str, code: str, reason: str
) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        exchange_code(CREDS, shop, code)
    assert excinfo.value.details["reason"] == reason
    assert not shopify_api.calls
