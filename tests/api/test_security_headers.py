"""Security headers on every route family of the two-shop world: each header once, framing
refused except where the embedded dashboard's policy lets the shop's admin frame it, the
checkout extension's cross-origin reads still allowed (CORS and Cross-Origin-Resource-Policy),
and HSTS from the public URL or an https request, never from a forwarded header."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cartwise.api import create_app
from cartwise.api.headers import API_CSP, HSTS, PAGE_CSP
from cartwise.settings import RateLimitSettings, Settings
from cartwise.storage import Store

from .conftest import SHOP
from .shopify import SHOP_A, admin_token, delivery, proxy_query
from .test_auth import World, bearer, build_world, cart, proxy_params

ONCE = (
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
    "Cross-Origin-Resource-Policy",
    "Content-Security-Policy",
    "Strict-Transport-Security",
)
EXTENSION_ORIGIN = "https://extensions.shopifycdn.com"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db", rate_limits=RateLimitSettings(admin_per_minute=2))
    yield built
    built.store.close()


def key(value: str) -> dict[str, str]:
    return {"X-Cartwise-Key": value}


Call = Callable[[World], TestResponse]


def closed(response: TestResponse) -> TestResponse:
    """A streamed file's answer, its file closed (its headers stay readable)."""
    response.close()
    return response


SAME_ORIGIN: list[tuple[str, Call, str]] = [
    ("liveness", lambda w: w.client.get("/healthz"), "json"),
    ("readiness", lambda w: w.client.get("/readyz"), "json"),
    ("metrics", lambda w: w.client.get("/metrics"), "text"),
    ("openapi", lambda w: w.client.get("/openapi.json"), "json"),
    ("static file", lambda w: closed(w.client.get("/static/dashboard.js")), "text"),
    ("not found", lambda w: w.client.get("/v2/nothing"), "json"),
    (
        "app proxy",
        lambda w: w.client.get(f"/proxy/recommendations?{proxy_query(proxy_params())}"),
        "json",
    ),
    ("webhook refused", lambda w: w.client.post("/webhooks/shopify", data=b"{}"), "json"),
    ("install redirect", lambda w: w.client.get(f"/auth/install?shop={SHOP_A}"), "html"),
    ("admin", lambda w: w.client.get("/v1/admin/rules", headers=key(w.admin_key_a)), "json"),
    (
        "admin refused",
        lambda w: w.client.get("/v1/admin/rules", headers=bearer("not.a.jwt")),
        "json",
    ),
    (
        "dashboard json",
        lambda w: w.client.post("/app/preview", json={"cart": []}, headers=key(w.admin_key_a)),
        "json",
    ),
]
CROSS_ORIGIN: list[tuple[str, Call]] = [
    (
        "recommendations",
        lambda w: w.client.post(
            "/v1/recommendations",
            json=cart("7100001"),
            headers={"Origin": EXTENSION_ORIGIN, **key(w.key_a)},
        ),
    ),
    (
        "preflight",
        lambda w: w.client.options(
            "/v1/recommendations",
            headers={
                "Origin": EXTENSION_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        ),
    ),
    (
        "recommendations refused",
        lambda w: w.client.post(
            "/v1/recommendations", json=cart(), headers={"Origin": EXTENSION_ORIGIN}
        ),
    ),
    (
        "defaults",
        lambda w: w.client.get(
            "/v1/defaults", headers={"Origin": EXTENSION_ORIGIN, **key(w.key_a)}
        ),
    ),
    (
        "events",
        lambda w: w.client.post(
            "/v1/events",
            json={"events": [{"kind": "click", "product_id": "7100001", "session_id": "s1"}]},
            headers={"Origin": EXTENSION_ORIGIN, **key(w.key_a)},
        ),
    ),
    ("events preflight", lambda w: w.client.options("/v1/events")),
]


def assert_common(response: TestResponse) -> None:
    headers = response.headers
    for name in ONCE:
        assert len(headers.getlist(name)) == 1, (name, headers.getlist(name))
    assert len(headers.getlist("X-Frame-Options")) <= 1
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    denied = dict(p.strip().split("=", 1) for p in headers["Permissions-Policy"].split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert denied[feature] == "()"
    # the world's public URL is https
    assert headers["Strict-Transport-Security"] == HSTS


@pytest.mark.parametrize(
    ("call", "kind"), [pytest.param(c, k, id=name) for name, c, k in SAME_ORIGIN]
)
def test_same_origin_routes_refuse_framing_and_cross_origin_embedding(
    world: World, call: Call, kind: str
) -> None:
    response = call(world)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert_common(response)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Access-Control-Allow-Origin" not in response.headers
    policy = response.headers["Content-Security-Policy"]
    assert policy == (PAGE_CSP if response.mimetype == "text/html" else API_CSP)
    assert kind in response.mimetype


@pytest.mark.parametrize("call", [pytest.param(c, id=name) for name, c in CROSS_ORIGIN])
def test_the_checkout_extensions_routes_stay_readable_from_any_origin(
    world: World, call: Call
) -> None:
    response = call(world)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert_common(response)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"] == API_CSP


def test_a_rate_limited_storefront_answer_is_readable_cross_origin(tmp_path: Path) -> None:
    world = build_world(
        tmp_path / "cartwise.db", rate_limits=RateLimitSettings(storefront_per_second=1)
    )
    try:
        answers = [
            world.client.post(
                "/v1/recommendations",
                json=cart(),
                headers={"Origin": EXTENSION_ORIGIN, **key(world.key_a)},
            )
            for _ in range(3)
        ]
        refused = answers[-1]
        assert refused.status_code == 429
        assert refused.headers["Access-Control-Allow-Origin"] == "*"
        assert refused.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert refused.headers["Retry-After"]
    finally:
        world.store.close()


# --- the embedded dashboard: framed by the shop's admin only -------------------------------------


def framing(response: TestResponse) -> str:
    policy = response.headers["Content-Security-Policy"]
    return next(d for d in policy.split(";") if d.strip().startswith("frame-ancestors")).strip()


@pytest.mark.parametrize(
    ("call", "ancestors"),
    [
        pytest.param(
            lambda w: w.client.get("/app", query_string={"id_token": admin_token(SHOP_A)}),
            f"https://{SHOP_A} https://admin.shopify.com",
            id="home",
        ),
        pytest.param(
            lambda w: w.client.get("/app", query_string={"shop": SHOP_A}),
            f"https://{SHOP_A} https://admin.shopify.com",
            id="home-refused",
        ),
        pytest.param(
            lambda w: w.client.get("/app/fragments/overview", headers=bearer(admin_token(SHOP_A))),
            f"https://{SHOP_A} https://admin.shopify.com",
            id="section",
        ),
        pytest.param(
            lambda w: w.client.get("/app/fragments/overview", headers=bearer("not.a.jwt")),
            "https://admin.shopify.com",
            id="section-refused",
        ),
    ],
)
def test_dashboard_pages_carry_no_frame_denial_their_policy_contradicts(
    world: World, call: Call, ancestors: str
) -> None:
    response = call(world)
    assert response.mimetype == "text/html"
    assert_common(response)
    assert framing(response) == f"frame-ancestors {ancestors}"
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_a_dashboard_section_refused_for_the_rate_is_framable_too(world: World) -> None:
    headers = bearer(admin_token(SHOP_A))
    answers = [world.client.get("/app/fragments/kpis", headers=headers) for _ in range(3)]
    refused = answers[-1]
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert "X-Frame-Options" not in refused.headers
    # refused before the shop was verified: only the admin itself may frame the notice
    assert framing(refused) == "frame-ancestors https://admin.shopify.com"


# --- HSTS: the public URL, or the request's own scheme ------------------------------------------


@pytest.mark.parametrize(
    ("app_url", "base_url", "headers", "expected"),
    [
        pytest.param("https://cartwise.example", "http://localhost", {}, True, id="public-https"),
        pytest.param(None, "https://localhost", {}, True, id="request-over-https"),
        pytest.param(None, "http://localhost", {}, False, id="plain-http"),
        pytest.param("http://localhost:8000", "http://localhost", {}, False, id="public-http"),
        pytest.param(
            None,
            "http://localhost",
            {"X-Forwarded-Proto": "https"},
            False,
            id="forwarded-header-not-trusted",
        ),
    ],
)
def test_hsts_follows_the_public_url_or_the_requests_own_scheme(
    store: Store,
    app_url: str | None,
    base_url: str,
    headers: dict[str, str],
    expected: bool,
) -> None:
    settings = Settings(demo_mode=True, demo_shop=SHOP, app_url=app_url)
    client: FlaskClient = create_app(settings, store=store, start_worker=False).test_client()
    for path in ("/", "/healthz", "/v1/nothing"):
        response = client.get(path, base_url=base_url, headers=headers)
        assert ("Strict-Transport-Security" in response.headers) is expected, path
        if expected:
            assert response.headers["Strict-Transport-Security"] == HSTS


def test_the_demo_page_is_never_framed(store: Store) -> None:
    client = create_app(Settings(demo_mode=True, demo_shop=SHOP), store=store).test_client()
    response = client.get("/")
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_signed_webhook_answer_carries_the_headers(world: World) -> None:
    headers, body = delivery("products/update", {"id": 7100001, "title": "ALPINE"})
    response = world.client.post("/webhooks/shopify", data=body, headers=headers)
    assert response.status_code == 200
    assert_common(response)
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
