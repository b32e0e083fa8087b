"""Who may ask for recommendations: checkout session tokens (the JWT matrix), app-proxy
signatures, API keys and demo mode, through `POST /v1/recommendations` and
`GET /proxy/recommendations` against two installed shops in a real SQLite file.

The two-shop world built here is shared by the isolation and admin tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cartwise import storage
from cartwise.api import create_app
from cartwise.api.auth import API_KEY_HEADER, KEY_MEMORY_SECONDS, reset_bad_key_counts
from cartwise.domain import Order, OrderLine, Product
from cartwise.installs import create_api_key
from cartwise.pseudonyms import customer_key
from cartwise.settings import Settings
from cartwise.storage import Store
from cartwise.training import train_shop

from .shopify import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_SECRET,
    SHOP_A,
    SHOP_B,
    checkout_token,
    install,
    proxy_query,
    shopify_settings,
)

SHOP_C = "shop-c.myshopify.com"
"""Known to cartwise (catalog, rules) but without orders or a model."""
NOT_INSTALLED = "shop-z.myshopify.com"

# --- the two-shop world ----------------------------------------------------------------------

CATALOG_A = (
    Product("7100001", "ALPINE CAKESTAND", category="kitchen", vendor="Acme", price=12.75),
    Product("7100002", "ALPINE TEACUP GREEN", category="kitchen", vendor="Acme", price=2.95),
    Product("7100003", "ALPINE TEACUP ROSE", category="kitchen", vendor="Birch", price=2.95),
    Product("7100004", "ALPINE CAKE TINS", category="kitchen", vendor="Birch", price=4.95),
    Product("7100005", "ALPINE CAKE CASES", category="kitchen", vendor="Cobalt", price=0.55),
    Product("7100006", "ALPINE HEART HOLDER", category="home", vendor="Acme", price=2.55),
    Product("7100007", "ALPINE BIRD ORNAMENT", category="home", vendor="Birch", price=1.69),
    Product("7100008", "ALPINE LUNCH BAG", category="bags", vendor="Cobalt", price=1.65),
    Product("7100009", "ALPINE JUMBO BAG", category="bags", vendor="Cobalt", price=1.95),
    Product("7100010", "ALPINE PARTY BUNTING", category="party", vendor="Acme", price=4.95),
    Product("7100011", "ALPINE LANTERN", category="home", vendor="Cobalt", price=24.0),
    Product("7100012", "ALPINE PICNIC SET", category="party", vendor="Birch", price=39.0),
)
CATALOG_B = (
    Product("8200001", "BOREAL SNOWSHOE", category="outdoor", vendor="Zephyr", price=89.0),
    Product("8200002", "BOREAL MITTENS", category="outdoor", vendor="Zephyr", price=19.0),
    Product("8200003", "BOREAL THERMOS", category="outdoor", vendor="Yarrow", price=25.0),
    Product("8200004", "BOREAL SLED", category="outdoor", vendor="Yarrow", price=120.0),
    Product("8200005", "BOREAL WAX KIT", category="care", vendor="Xylem", price=9.5),
    Product("8200006", "BOREAL GOGGLES", category="outdoor", vendor="Xylem", price=45.0),
    Product("8200007", "BOREAL BEANIE", category="apparel", vendor="Zephyr", price=15.0),
    Product("8200008", "BOREAL SCARF", category="apparel", vendor="Yarrow", price=22.0),
)
CATALOG_C = (
    Product("9300001", "CEDAR CANDLE", category="home", vendor="Quill", price=8.0),
    Product("9300002", "CEDAR SOAP", category="bath", vendor="Quill", price=4.0),
    Product("9300003", "CEDAR DIFFUSER", category="home", vendor="Rowan", price=18.0),
    Product("9300004", "CEDAR TOWEL", category="bath", vendor="Rowan", price=12.0),
)

# Platform customer ids: A's loyal customer buys bags; B's customers are B's alone.
CUSTOMER_A = "6100000000001"
CUSTOMERS_B = ("6200000000001", "6200000000002")

BASKETS_A: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, ("7100001", "7100002", "7100003")),
    (None, ("7100001", "7100002", "7100003")),
    (None, ("7100001", "7100002", "7100003")),
    (None, ("7100001", "7100004")),
    (None, ("7100001", "7100004")),
    (None, ("7100006", "7100007")),
    (None, ("7100006", "7100007")),
    (None, ("7100006", "7100007", "7100011")),
    (CUSTOMER_A, ("7100008", "7100009")),
    (CUSTOMER_A, ("7100008", "7100009", "7100012")),
    (None, ("7100010", "7100005", "7100001")),
    (None, ("7100005", "7100004")),
)
BASKETS_B: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (CUSTOMERS_B[0], ("8200001", "8200002", "8200003")),
    (CUSTOMERS_B[0], ("8200001", "8200002")),
    (CUSTOMERS_B[1], ("8200004", "8200005")),
    (CUSTOMERS_B[1], ("8200004", "8200005", "8200006")),
    (None, ("8200007", "8200008")),
    (None, ("8200007", "8200008", "8200002")),
    (None, ("8200003", "8200006")),
)


def seed_shop(
    store: Store,
    secret: bytes,
    shop: str,
    catalog: tuple[Product, ...],
    baskets: tuple[tuple[str | None, tuple[str, ...]], ...],
    *,
    order_prefix: str,
    train: bool = True,
) -> None:
    """Install `shop`, store its catalog and one order per basket (customer ids as keyed
    hashes, as ingestion stores them) and, with `train`, fit its model."""
    install(store, shop)
    store.products.upsert_many(shop, catalog)
    prices = {p.product_id: p.price for p in catalog}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    orders = [
        Order(
            order_id=f"{order_prefix}{n:04d}",
            created_at=start + timedelta(hours=n),
            lines=tuple(OrderLine(pid, 1, prices[pid]) for pid in products),
            customer_id=customer_key(secret, shop, customer) if customer else None,
        )
        for n, (customer, products) in enumerate(baskets)
    ]
    store.orders.upsert_many(shop, orders)
    if train and orders:
        train_shop(store, shop)


@dataclass
class World:
    """Shops A and B installed with catalogs, orders and models; C installed with a catalog
    only; an API key of each scope for A and B."""

    app: Flask
    client: FlaskClient
    store: Store
    settings: Settings
    db_path: Path
    key_a: str
    admin_key_a: str
    key_b: str
    admin_key_b: str
    admin_key_c: str

    def key_id(self, shop: str, key: str) -> int:
        return next(r.id for r in self.store.api_keys.list(shop) if key.startswith(r.prefix))


def build_world(db_path: Path, **overrides: Any) -> World:
    settings = shopify_settings(**overrides)
    store = storage.open(f"sqlite:///{db_path}")
    secret = settings.effective_secret_key()
    seed_shop(store, secret, SHOP_A, CATALOG_A, BASKETS_A, order_prefix="5100")
    seed_shop(store, secret, SHOP_B, CATALOG_B, BASKETS_B, order_prefix="5200")
    seed_shop(store, secret, SHOP_C, CATALOG_C, (), order_prefix="5300", train=False)
    keys = {
        (shop, scope): create_api_key(store, secret, shop, label=f"{scope} key", scope=scope)[1]
        for shop in (SHOP_A, SHOP_B, SHOP_C)
        for scope in ("storefront", "admin")
    }
    app = create_app(settings, store=store, start_worker=False)
    return World(
        app=app,
        client=app.test_client(),
        store=store,
        settings=settings,
        db_path=db_path,
        key_a=keys[SHOP_A, "storefront"],
        admin_key_a=keys[SHOP_A, "admin"],
        key_b=keys[SHOP_B, "storefront"],
        admin_key_b=keys[SHOP_B, "admin"],
        admin_key_c=keys[SHOP_C, "admin"],
    )


@pytest.fixture(autouse=True)
def _forget_bad_keys() -> Iterator[None]:
    reset_bad_key_counts()
    yield
    reset_bad_key_counts()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db")
    yield built
    built.store.close()


def cart(*product_ids: str) -> dict[str, Any]:
    return {"cart": [{"product_id": pid, "quantity": 1} for pid in product_ids], "k": 4}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ids(response: TestResponse) -> list[str]:
    body = response.get_json()
    return [item["product_id"] for item in body["items"]]


def assert_rejected(response: TestResponse, status: int = 401) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert error["message"]


# --- session tokens: the JWT matrix ------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_built(
    header: dict[str, Any],
    claims: dict[str, Any],
    secret: str | None,
    digest: str = "sha256",
) -> str:
    """A JWT assembled by hand: an HMAC over `header.payload` with `secret`, or no signature
    at all when `secret` is None (what `alg: none` tokens carry)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64(mac)}"


def good_claims(shop: str = SHOP_A) -> dict[str, Any]:
    now = int(time.time())
    return {
        "dest": shop,
        "aud": CLIENT_ID,
        "exp": now + 300,
        "nbf": now - 1,
        "iat": now - 1,
        "jti": str(uuid.uuid4()),
    }


def _bad_tokens() -> dict[str, str]:
    """Checkout session tokens that must all be refused."""
    now = int(time.time())
    claims = good_claims()
    wrong_secret = "shpss_an_entirely_wrong_secret_value_0123456789"
    return {
        "alg none": hand_built({"alg": "none", "typ": "JWT"}, claims, None),
        "alg None capitalised": hand_built({"alg": "None", "typ": "JWT"}, claims, None),
        "wrong secret": checkout_token(SHOP_A, secret=wrong_secret),
        "another app's secret": checkout_token(SHOP_A, secret=OTHER_SECRET, aud="other-app-id"),
        "another app's secret, our aud": checkout_token(SHOP_A, secret=OTHER_SECRET),
        "HS512": hand_built({"alg": "HS512", "typ": "JWT"}, claims, CLIENT_SECRET, "sha512"),
        "HS384": hand_built({"alg": "HS384", "typ": "JWT"}, claims, CLIENT_SECRET, "sha384"),
        "RS256 header (key confusion)": hand_built(
            {"alg": "RS256", "typ": "JWT"}, claims, CLIENT_SECRET
        ),
        "wrong aud": checkout_token(SHOP_A, aud="some-other-client-id"),
        "aud list without us": checkout_token(SHOP_A, aud=["some-other-client-id"]),
        "missing aud": checkout_token(SHOP_A, aud=None),
        "missing exp": checkout_token(SHOP_A, exp=None),
        "missing nbf": checkout_token(SHOP_A, nbf=None),
        "missing dest": checkout_token(SHOP_A, dest=None),
        "exp now-10min": checkout_token(SHOP_A, exp=now - 600, nbf=now - 900, iat=now - 900),
        "nbf now+10min": checkout_token(SHOP_A, nbf=now + 600, iat=now + 600, exp=now + 900),
        "dest not a myshopify domain": checkout_token("shop-a.example.com"),
        "dest a lookalike domain": checkout_token("shop-a.myshopify.com.evil.example"),
        "dest with a scheme and path": checkout_token("https://evil.example/shop-a.myshopify.com"),
        "dest not installed": checkout_token(NOT_INSTALLED),
        "kid present": jwt.encode(claims, CLIENT_SECRET, algorithm="HS256", headers={"kid": "k1"}),
        "jku present": jwt.encode(
            claims,
            CLIENT_SECRET,
            algorithm="HS256",
            headers={"jku": "https://attacker.example/jwks.json"},
        ),
        "jwk present": jwt.encode(
            claims,
            CLIENT_SECRET,
            algorithm="HS256",
            headers={"jwk": {"kty": "oct", "k": _b64(b"attacker")}},
        ),
        "truncated": checkout_token(SHOP_A)[:-6],
        "signature dropped": checkout_token(SHOP_A).rsplit(".", 1)[0] + ".",
        "two parts only": checkout_token(SHOP_A).rsplit(".", 1)[0],
        "payload swapped": _swap_payload(checkout_token(SHOP_A), {**claims, "dest": SHOP_B}),
        "garbage": "not-a-jwt",
    }


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


BAD_TOKEN_NAMES = sorted(_bad_tokens())


@pytest.mark.parametrize("name", BAD_TOKEN_NAMES)
def test_bad_session_tokens_are_refused(world: World, name: str) -> None:
    token = _bad_tokens()[name]
    response = world.client.post("/v1/recommendations", json=cart("7100001"), headers=bearer(token))
    assert_rejected(response)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("{token}", id="no Bearer prefix"),
        pytest.param("Token {token}", id="another scheme"),
        pytest.param("Basic {token}", id="basic scheme"),
        pytest.param("Bearer", id="Bearer without a token"),
        pytest.param("Bearer ", id="Bearer and a space"),
        pytest.param("", id="empty header"),
    ],
)
def test_malformed_authorization_headers_are_refused(world: World, authorization: str) -> None:
    header = authorization.format(token=checkout_token(SHOP_A))
    response = world.client.post(
        "/v1/recommendations", json=cart("7100001"), headers={"Authorization": header}
    )
    assert_rejected(response)


def test_a_valid_session_token_is_answered_from_its_shop(world: World) -> None:
    response = world.client.post(
        "/v1/recommendations", json=cart("7100001"), headers=bearer(checkout_token(SHOP_A))
    )
    assert response.status_code == 200, response.get_json()
    returned = ids(response)
    assert returned
    assert set(returned) <= {p.product_id for p in CATALOG_A}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_the_scheme_is_case_insensitive(world: World) -> None:
    response = world.client.post(
        "/v1/recommendations",
        json=cart("7100001"),
        headers={"Authorization": f"bearer {checkout_token(SHOP_A)}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("seconds_ago", "status"),
    [(-60, 200), (0, 200), (5, 200), (9, 200), (11, 401), (60, 401)],
)
def test_expiry_has_ten_seconds_of_leeway(world: World, seconds_ago: int, status: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    moment = int(now.timestamp())
    with time_machine.travel(now, tick=False):
        token = checkout_token(SHOP_A, exp=moment - seconds_ago, nbf=moment - 300, iat=moment - 300)
        response = world.client.post("/v1/recommendations", json=cart(), headers=bearer(token))
    assert response.status_code == status, response.get_json()


@pytest.mark.parametrize(("seconds_ahead", "status"), [(5, 200), (9, 200), (11, 401), (600, 401)])
def test_not_before_has_ten_seconds_of_leeway(
    world: World, seconds_ahead: int, status: int
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    moment = int(now.timestamp())
    with time_machine.travel(now, tick=False):
        token = checkout_token(
            SHOP_A, nbf=moment + seconds_ahead, iat=moment + seconds_ahead, exp=moment + 300
        )
        response = world.client.post("/v1/recommendations", json=cart(), headers=bearer(token))
    assert response.status_code == status, response.get_json()


def test_expiry_against_the_real_clock(world: World) -> None:
    """The same boundary without a frozen clock: 5 s late passes, 11 s late does not."""
    now = int(time.time())
    late = checkout_token(SHOP_A, exp=now - 5, nbf=now - 120, iat=now - 120)
    too_late = checkout_token(SHOP_A, exp=now - 11, nbf=now - 120, iat=now - 120)
    first = world.client.post("/v1/recommendations", json=cart(), headers=bearer(late))
    second = world.client.post("/v1/recommendations", json=cart(), headers=bearer(too_late))
    assert first.status_code == 200, first.get_json()
    assert_rejected(second)


def test_an_uninstalled_shop_is_refused(world: World) -> None:
    assert world.store.installs.deactivate(SHOP_A)
    response = world.client.post(
        "/v1/recommendations", json=cart("7100001"), headers=bearer(checkout_token(SHOP_A))
    )
    assert_rejected(response)


def test_the_token_subject_personalises_and_a_body_customer_id_does_not(world: World) -> None:
    """Only the token's `sub` names the buyer; a `customer_id` in the body is ignored."""
    anonymous = world.client.post(
        "/v1/recommendations", json=cart(), headers=bearer(checkout_token(SHOP_A))
    )
    claimed = world.client.post(
        "/v1/recommendations",
        json={**cart(), "customer_id": CUSTOMER_A},
        headers=bearer(checkout_token(SHOP_A)),
    )
    logged_in = world.client.post(
        "/v1/recommendations",
        json=cart(),
        headers=bearer(checkout_token(SHOP_A, sub=f"gid://shopify/Customer/{CUSTOMER_A}")),
    )
    assert anonymous.get_json()["source"] == "trending"
    assert claimed.get_json()["source"] == "trending"
    assert ids(claimed) == ids(anonymous)
    assert logged_in.get_json()["source"] == "model"


# --- CORS -------------------------------------------------------------------------------------


def test_preflight_allows_any_origin_without_credentials(world: World) -> None:
    response = world.client.options(
        "/v1/recommendations",
        headers={
            "Origin": "https://extensions.shopifycdn.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Location" not in response.headers


def test_an_answer_to_an_api_key_carries_cors_headers(world: World) -> None:
    response = world.client.post(
        "/v1/recommendations", json=cart("7100001"), headers={"X-Cartwise-Key": world.key_a}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


# --- app proxy ----------------------------------------------------------------------------------


def proxy_params(shop: str = SHOP_A, **extra: str | list[str]) -> dict[str, str | list[str]]:
    params: dict[str, str | list[str]] = {
        "shop": shop,
        "logged_in_customer_id": "",
        "path_prefix": "/apps/cartwise",
        "timestamp": str(int(time.time())),
        "cart": "7100001",
    }
    params.update(extra)
    return params


def proxy_get(world: World, query: str) -> TestResponse:
    return world.client.get(f"/proxy/recommendations?{query}")


def test_a_signed_proxy_request_is_answered(world: World) -> None:
    response = proxy_get(world, proxy_query(proxy_params()))
    assert response.status_code == 200, response.get_json()
    assert set(ids(response)) <= {p.product_id for p in CATALOG_A}
    assert ids(response)


def test_reordered_proxy_parameters_are_accepted(world: World) -> None:
    pairs = parse_qsl(proxy_query(proxy_params()), keep_blank_values=True)
    for reordered in (list(reversed(pairs)), sorted(pairs), pairs[2:] + pairs[:2]):
        response = proxy_get(world, urlencode(reordered))
        assert response.status_code == 200, response.get_json()


def test_repeated_proxy_parameters_are_signed_joined_with_commas(world: World) -> None:
    query = proxy_query(proxy_params(extra=["1", "2"], cart=["7100001", "7100004"]))
    assert query.count("extra=") == 2
    response = proxy_get(world, query)
    assert response.status_code == 200, response.get_json()
    # The app reads the first value of a repeated `cart`; either way only A's products come back.
    assert set(ids(response)) <= {p.product_id for p in CATALOG_A}


def test_an_anonymous_proxy_visitor_gets_unpersonalised_results(world: World) -> None:
    anonymous = proxy_get(world, proxy_query(proxy_params(cart="")))
    logged_in = proxy_get(
        world, proxy_query(proxy_params(cart="", logged_in_customer_id=CUSTOMER_A))
    )
    nobody = world.client.post(
        "/v1/recommendations", json={"cart": [], "k": 8}, headers={"X-Cartwise-Key": world.key_a}
    )
    assert anonymous.status_code == 200, anonymous.get_json()
    assert anonymous.get_json()["source"] == "trending"
    assert ids(anonymous) == ids(nobody)
    # The same request naming a customer the model knows is personalised, so the check bites.
    assert logged_in.status_code == 200, logged_in.get_json()
    assert logged_in.get_json()["source"] == "model"
    assert ids(logged_in) != ids(anonymous)


def _drop(query: str, name: str) -> str:
    return urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != name])


def _replace(query: str, name: str, value: str) -> str:
    return urlencode(
        [(k, value if k == name else v) for k, v in parse_qsl(query, keep_blank_values=True)]
    )


def _bad_proxy_queries() -> dict[str, str]:
    now = int(time.time())
    signed = proxy_query(proxy_params())
    return {
        "missing signature": _drop(signed, "signature"),
        "empty signature": _replace(signed, "signature", ""),
        "wrong secret": proxy_query(proxy_params(), secret=OTHER_SECRET),
        "parameter added after signing": signed + "&k=20",
        "cart changed after signing": _replace(signed, "cart", "7100002"),
        "shop swapped": _replace(signed, "shop", SHOP_B),
        "logged_in_customer_id changed": _replace(signed, "logged_in_customer_id", CUSTOMER_A),
        "logged_in_customer_id added": signed.replace(
            "logged_in_customer_id=&", f"logged_in_customer_id={CUSTOMER_A}&"
        ),
        "duplicate shop": signed + f"&shop={SHOP_A}",
        "duplicate shop of another shop": f"shop={SHOP_B}&" + signed,
        "duplicate signature": signed + "&signature=" + dict(parse_qsl(signed))["signature"],
        "duplicate timestamp": signed + f"&timestamp={now}",
        "timestamp 120 s old": proxy_query(proxy_params(timestamp=str(now - 120))),
        "timestamp a day old": proxy_query(proxy_params(timestamp=str(now - 86_400))),
        "timestamp far ahead": proxy_query(proxy_params(timestamp=str(now + 3_600))),
        "timestamp missing": proxy_query(
            {k: v for k, v in proxy_params().items() if k != "timestamp"}
        ),
        "shop not a myshopify domain": proxy_query(proxy_params(shop="shop-a.example.com")),
        "shop not installed": proxy_query(proxy_params(shop=NOT_INSTALLED)),
        "signature in upper case": _replace(
            signed, "signature", dict(parse_qsl(signed))["signature"].upper() + "0"
        ),
        "signed with OAuth separators": _oauth_style(proxy_params()),
    }


def _oauth_style(params: dict[str, str | list[str]]) -> str:
    """Signed the way OAuth callbacks are (pairs joined with `&`), which the proxy is not."""
    flat = {k: ",".join(v) if isinstance(v, list) else v for k, v in params.items()}
    message = "&".join(f"{k}={v}" for k, v in sorted(flat.items()))
    signature = hmac.new(CLIENT_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**flat, "signature": signature})


BAD_PROXY_NAMES = sorted(_bad_proxy_queries())


@pytest.mark.parametrize("name", BAD_PROXY_NAMES)
def test_bad_proxy_requests_are_refused(world: World, name: str) -> None:
    response = proxy_get(world, _bad_proxy_queries()[name])
    assert_rejected(response)


def test_a_recent_proxy_timestamp_is_accepted(world: World) -> None:
    now = int(time.time())
    response = proxy_get(world, proxy_query(proxy_params(timestamp=str(now - 60))))
    assert response.status_code == 200, response.get_json()


def test_the_proxy_ignores_session_tokens_and_keys(world: World) -> None:
    """The proxy route trusts only its own signature."""
    response = world.client.get(
        "/proxy/recommendations?shop=shop-a.myshopify.com&cart=7100001",
        headers={**bearer(checkout_token(SHOP_A)), "X-Cartwise-Key": world.key_a},
    )
    assert_rejected(response)


# --- API keys and the missing credential ---------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "cw_", "cw_unknown-key-0123456789", "not-even-prefixed", "cw_" + "x" * 400],
)
def test_unknown_api_keys_are_refused(world: World, key: str) -> None:
    response = world.client.post(
        "/v1/recommendations", json=cart("7100001"), headers={"X-Cartwise-Key": key}
    )
    assert_rejected(response)


def test_a_bad_key_is_not_rescued_by_a_good_token(world: World) -> None:
    response = world.client.post(
        "/v1/recommendations",
        json=cart("7100001"),
        headers={"X-Cartwise-Key": "cw_forged", **bearer(checkout_token(SHOP_A))},
    )
    assert_rejected(response)


def test_no_credential_outside_demo_mode_is_refused(world: World) -> None:
    response = world.client.post("/v1/recommendations", json=cart("7100001"))
    assert_rejected(response)
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_no_credential_on_the_proxy_is_refused(world: World) -> None:
    response = world.client.get("/proxy/recommendations?cart=7100001")
    assert_rejected(response)


def test_a_demo_mode_app_answers_without_a_credential(client: FlaskClient) -> None:
    """`client` is the demo-mode app of conftest.py, over its demo catalog."""
    response = client.post("/v1/recommendations", json={"cart": [], "k": 3})
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["items"]) == 3
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_an_error_from_the_checkout_endpoint_is_readable_cross_origin(client: FlaskClient) -> None:
    response = client.post(
        "/v1/recommendations",
        json={"cart": []},
        headers={
            "Authorization": "Bearer not-a-token",
            "Origin": "https://extensions.shopifycdn.com",
        },
    )
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_storefront_keeps_being_answered_for_known_credentials_while_storage_is_away(
    tmp_path: Path,
) -> None:
    (tmp_path / "db").mkdir()
    world = build_world(tmp_path / "db" / "cartwise.db")
    by_key = {API_KEY_HEADER: world.key_a}
    by_token = bearer(checkout_token(SHOP_A))
    for headers in (by_key, by_token):
        assert (
            world.client.post("/v1/recommendations", json=cart(), headers=headers).status_code
            == 200
        )
    time.sleep(KEY_MEMORY_SECONDS + 0.1)  # past the short memory: storage would be asked again
    world.store.close()
    shutil.rmtree(tmp_path / "db")  # SQLite can't even create the file again

    for headers in (by_key, by_token):
        answer = world.client.post("/v1/recommendations", json=cart(), headers=headers)
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["items"]
    # a key never seen before is still refused (503: it can't be checked), and admin calls too
    stranger = world.client.post(
        "/v1/recommendations", json=cart(), headers={API_KEY_HEADER: world.key_b}
    )
    assert stranger.status_code == 503
    assert stranger.get_json()["error"]["code"] == "storage_unavailable"
    admin = world.client.get("/v1/admin/rules", headers={API_KEY_HEADER: world.admin_key_a})
    assert admin.status_code == 503
