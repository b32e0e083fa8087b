"""Rate limits per shop and per API key, and the request body limit, through the HTTP API of
the two-shop world: past a limit 429 `rate_limited` with Retry-After, another shop or key
untouched; counted in memory, in the real Redis (a fresh key prefix per test) and with Redis
unreachable (a port nobody listens on): storefront reads go on, counted per worker; admin
calls are refused with 503 `rate_limit_unavailable`.

Windows are sliding: in memory the clock is frozen, so no window moves during a test; through
Redis (whose clock is its own) the calls of one window take milliseconds and the admin limit
counts per minute."""

from __future__ import annotations

import io
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import time_machine
from werkzeug.test import EnvironBuilder, TestResponse, run_wsgi_app

from cartwise.api import create_app
from cartwise.api.app import MAX_BODY_BYTES
from cartwise.api.openapi import build_spec
from cartwise.api.ratelimits import BATCH_SECONDS
from cartwise.installs import create_api_key
from cartwise.settings import RateLimitSettings

from .shopify import SHOP_A, admin_token, checkout_token, delivery, proxy_query
from .test_auth import World, bearer, build_world, cart, proxy_params


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    """Two-shop worlds (see `test_auth.build_world`) with the given rate limit settings."""
    built: list[World] = []

    def make(redis_url: str | None = None, **limits: Any) -> World:
        world = build_world(
            tmp_path / f"world{len(built)}.db",
            redis_url=redis_url,
            rate_limits=RateLimitSettings(**limits),
        )
        built.append(world)
        return world

    yield make
    for world in built:
        world.store.close()


@pytest.fixture
def frozen() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(time.time(), tick=False) as clock:
        yield clock


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A prefix no other run uses; its keys are deleted afterwards."""
    prefix = f"cartwise-test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL on a local port that was free a moment ago: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def key(value: str) -> dict[str, str]:
    return {"X-Cartwise-Key": value}


def read(world: World, headers: dict[str, str]) -> TestResponse:
    return world.client.post("/v1/recommendations", json=cart("7100001"), headers=headers)


def admin_read(world: World, headers: dict[str, str]) -> TestResponse:
    return world.client.get("/v1/admin/rules", headers=headers)


def assert_refused(
    response: TestResponse, status: int, code: str, *, window: int, mimetype: str = "json"
) -> int:
    """The refusal's Retry-After: whole seconds, at most two windows (a sliding window forgets
    its previous one gradually); the JSON body names `code`."""
    assert response.status_code == status, response.get_data(as_text=True)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 2 * window
    if mimetype == "json":
        error = response.get_json()["error"]
        assert error["code"] == code
        assert error["message"]
        assert error["details"] == {"retry_after": retry_after}
    else:
        assert response.mimetype == "text/html"
        assert f'data-status="{status}"' in response.get_data(as_text=True)
    return retry_after


# --- storefront reads, per shop and per API key --------------------------------------------------


def test_a_shop_past_its_storefront_limit_gets_429_and_another_shop_does_not(
    make_world: Callable[..., World], frozen: time_machine.Coordinates
) -> None:
    world = make_world(storefront_per_second=3)
    # every storefront read of the shop counts, whichever route and credential
    assert read(world, key(world.key_a)).status_code == 200
    assert world.client.get("/v1/defaults", headers=key(world.key_a)).status_code == 200
    proxied = world.client.get(f"/proxy/recommendations?{proxy_query(proxy_params())}")
    assert proxied.status_code == 200
    refused = read(world, bearer(checkout_token(SHOP_A)))
    assert assert_refused(refused, 429, "rate_limited", window=1) == 1
    assert "storefront requests in a second" in refused.get_json()["error"]["message"]
    # refused answers stay readable cross-origin, as every answer of the route
    assert refused.headers["Access-Control-Allow-Origin"] == "*"

    assert read(world, key(world.key_b)).status_code == 200
    frozen.shift(2)  # the sliding window has moved past those calls
    assert read(world, key(world.key_a)).status_code == 200


def test_an_api_key_past_its_own_limit_leaves_the_rest_of_its_shops(
    make_world: Callable[..., World], frozen: time_machine.Coordinates
) -> None:
    world = make_world(storefront_per_second=4, api_key_per_second=2)
    other_key = create_api_key(
        world.store, world.settings.effective_secret_key(), SHOP_A, label="second storefront"
    )[1]
    assert [read(world, key(world.key_a)).status_code for _ in range(2)] == [200, 200]
    refused = read(world, key(world.key_a))
    assert_refused(refused, 429, "rate_limited", window=1)
    assert "API key" in refused.get_json()["error"]["message"]
    # the refused call did not count for the shop: a second key gets the shop's other two
    assert [read(world, key(other_key)).status_code for _ in range(2)] == [200, 200]
    shop_refused = read(world, bearer(checkout_token(SHOP_A)))
    assert_refused(shop_refused, 429, "rate_limited", window=1)
    assert "shop" in shop_refused.get_json()["error"]["message"]
    assert read(world, key(world.key_b)).status_code == 200


def test_limits_can_be_left_to_a_proxy_in_front(make_world: Callable[..., World]) -> None:
    world = make_world(enabled=False, storefront_per_second=1, admin_per_minute=1)
    assert {read(world, key(world.key_a)).status_code for _ in range(3)} == {200}
    assert {admin_read(world, key(world.admin_key_a)).status_code for _ in range(3)} == {200}


# --- admin calls, per shop --------------------------------------------------------------------


def test_admin_calls_past_the_shops_limit_get_429_on_every_admin_route(
    make_world: Callable[..., World], frozen: time_machine.Coordinates
) -> None:
    world = make_world(admin_per_minute=3)
    a_token = bearer(admin_token(SHOP_A))
    assert admin_read(world, key(world.admin_key_a)).status_code == 200
    assert world.client.get("/v1/admin/experiments", headers=a_token).status_code == 200
    assert world.client.get("/app/fragments/overview", headers=a_token).status_code == 200

    preview = world.client.post("/app/preview", json={"cart": []}, headers=a_token)
    retry_after = assert_refused(preview, 429, "rate_limited", window=60)
    assert "admin requests in a minute" in preview.get_json()["error"]["message"]
    section = world.client.get("/app/fragments/rules", headers=key(world.admin_key_a))
    assert_refused(section, 429, "rate_limited", window=60, mimetype="html")

    assert admin_read(world, key(world.admin_key_b)).status_code == 200
    assert read(world, key(world.key_a)).status_code == 200  # storefront reads count apart
    # Retry-After is the wait that lets the next call through, not a second less
    frozen.shift(retry_after - 1)
    assert admin_read(world, key(world.admin_key_a)).status_code == 429
    frozen.shift(1)
    assert admin_read(world, key(world.admin_key_a)).status_code == 200


def test_only_the_verified_credentials_shop_is_counted(
    make_world: Callable[..., World], frozen: time_machine.Coordinates
) -> None:
    world = make_world(admin_per_minute=2)
    naming_a = {"X-Shopify-Shop-Domain": SHOP_A}
    for _ in range(3):  # refused credentials count for nobody
        response = world.client.get(
            f"/v1/admin/rules?shop={SHOP_A}", headers={**naming_a, **bearer("not.a.jwt")}
        )
        assert response.status_code == 401
    for _ in range(2):  # B's key naming A in the query and headers spends B's calls
        response = world.client.get(
            f"/v1/admin/rules?shop={SHOP_A}", headers={**naming_a, **key(world.admin_key_b)}
        )
        assert response.status_code == 200
    assert_refused(admin_read(world, key(world.admin_key_b)), 429, "rate_limited", window=60)
    assert [admin_read(world, key(world.admin_key_a)).status_code for _ in range(2)] == [200, 200]


def test_the_webhook_intake_is_never_refused_for_its_rate(
    make_world: Callable[..., World], frozen: time_machine.Coordinates
) -> None:
    world = make_world(storefront_per_second=1, admin_per_minute=1)
    for n in range(5):
        headers, body = delivery("products/update", {"id": 7100001 + n, "title": "ALPINE"})
        response = world.client.post("/webhooks/shopify", data=body, headers=headers)
        assert response.status_code == 200, response.get_json()


# --- shared through Redis -------------------------------------------------------------------------


def at_the_start_of_a_second() -> None:
    """Wait for a fresh one-second window, so what follows falls inside it."""
    while time.time() % 1 > 0.05:
        time.sleep(0.01)


def test_workers_share_the_counts_through_redis(
    make_world: Callable[..., World], redis_url: str, key_prefix: str
) -> None:
    world = make_world(
        redis_url, storefront_per_second=3, admin_per_minute=3, key_prefix=key_prefix
    )
    other = create_app(world.settings, store=world.store, start_worker=False).test_client()

    def defaults(client: Any, credential: str) -> int:
        return int(client.get("/v1/defaults", headers=key(credential)).status_code)

    # storefront reads, each past the batch interval: every one is told to Redis at once
    at_the_start_of_a_second()
    for client in (world.client, other, world.client):
        assert defaults(client, world.key_a) == 200
        time.sleep(BATCH_SECONDS + 0.01)
    assert_refused(
        other.get("/v1/defaults", headers=key(world.key_a)), 429, "rate_limited", window=1
    )
    assert defaults(other, world.key_b) == 200

    assert admin_read(world, key(world.admin_key_a)).status_code == 200
    assert other.get("/v1/admin/rules", headers=key(world.admin_key_a)).status_code == 200
    assert admin_read(world, key(world.admin_key_a)).status_code == 200
    refused = other.get("/v1/admin/rules", headers=key(world.admin_key_a))
    assert_refused(refused, 429, "rate_limited", window=60)
    assert admin_read(world, key(world.admin_key_b)).status_code == 200
    counters = redis.Redis.from_url(redis_url).keys(f"{key_prefix}:*")
    assert any(SHOP_A.encode() in name for name in counters)


def test_storefront_reads_reach_redis_in_batches(
    make_world: Callable[..., World], redis_url: str, key_prefix: str
) -> None:
    """Between two exchanges a worker decides alone (exactly, for what it let through itself);
    what it let through reaches the other workers at its next exchange."""
    world = make_world(redis_url, storefront_per_second=3, key_prefix=key_prefix)
    other = create_app(world.settings, store=world.store, start_worker=False).test_client()

    def defaults(client: Any) -> int:
        return int(client.get("/v1/defaults", headers=key(world.key_a)).status_code)

    at_the_start_of_a_second()
    # one exchange, then two decided here: the worker's own count stops it at the limit
    assert [defaults(world.client) for _ in range(4)] == [200, 200, 200, 429]
    time.sleep(BATCH_SECONDS + 0.01)
    # Redis has heard of one of the three so far: the other worker may let one more through
    assert defaults(other) == 200
    time.sleep(BATCH_SECONDS + 0.01)
    # the next exchange tells Redis of the two held back (as much as still fits): this
    # worker refuses, and so does the other from its own next exchange
    assert defaults(world.client) == 429
    time.sleep(BATCH_SECONDS + 0.01)
    assert defaults(other) == 429


# --- Redis unreachable ------------------------------------------------------------------------


def test_storefront_reads_fail_open_counted_per_worker_and_logged_once(
    make_world: Callable[..., World],
    dead_redis_url: str,
    frozen: time_machine.Coordinates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = make_world(dead_redis_url, storefront_per_second=3)
    caplog.set_level(logging.WARNING, logger="cartwise.api.ratelimits")
    assert [read(world, key(world.key_a)).status_code for _ in range(3)] == [200, 200, 200]
    # the worker's own count holds the shop to the same limit
    assert_refused(read(world, key(world.key_a)), 429, "rate_limited", window=1)
    assert read(world, key(world.key_b)).status_code == 200
    # another worker counts on its own: the price of failing open, bounded by the worker count
    second = create_app(world.settings, store=world.store, start_worker=False).test_client()
    statuses = [
        second.post("/v1/recommendations", json=cart(), headers=key(world.key_a)).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    outages = [r for r in caplog.records if r.name == "cartwise.api.ratelimits"]
    assert len(outages) == 2  # once per worker, not once per request


def test_admin_calls_fail_closed_with_503(
    make_world: Callable[..., World], dead_redis_url: str
) -> None:
    world = make_world(dead_redis_url)
    assert_refused(
        admin_read(world, key(world.admin_key_a)), 503, "rate_limit_unavailable", window=5
    )
    preview = world.client.post("/app/preview", json={"cart": []}, headers=key(world.admin_key_a))
    assert_refused(preview, 503, "rate_limit_unavailable", window=5)
    section = world.client.get("/app/fragments/kpis", headers=bearer(admin_token(SHOP_A)))
    assert_refused(section, 503, "rate_limit_unavailable", window=5, mimetype="html")
    before = world.store.rules.get(SHOP_A)
    put = world.client.put(
        "/v1/admin/rules", json={"pinned": ["7100002"]}, headers=key(world.admin_key_a)
    )
    assert put.status_code == 503
    assert world.store.rules.get(SHOP_A) == before  # refused before anything was changed
    # bad credentials are still told so first, and the storefront is answered
    assert admin_read(world, bearer("not.a.jwt")).status_code == 401
    assert read(world, key(world.key_a)).status_code == 200


# --- the document -----------------------------------------------------------------------------


def test_the_document_names_the_limit_answers_of_every_counted_operation() -> None:
    paths = build_spec(demo=False)["paths"]
    counted = {
        (path, method): op
        for path, item in paths.items()
        for method, op in item.items()
        if path.startswith(("/v1/admin/", "/app/"))
        or path in ("/v1/recommendations", "/v1/defaults", "/proxy/recommendations")
    }
    storefront = {k for k in counted if not k[0].startswith(("/v1/admin/", "/app/"))}
    assert storefront == {
        ("/v1/recommendations", "post"),
        ("/v1/recommendations", "options"),
        ("/v1/defaults", "get"),
        ("/proxy/recommendations", "get"),
    }
    for (path, method), op in counted.items():
        if method == "options":
            continue
        statuses = ["429"] if (path, method) in storefront else ["429", "503"]
        for status in statuses:
            answer = op["responses"][status]
            assert answer["headers"]["Retry-After"]["required"] is True, (path, method, status)
            expected = "rate_limited" if status == "429" else "rate_limit_unavailable"
            assert expected in answer["description"], (path, method, status)


# --- request bodies ---------------------------------------------------------------------------


def _with_body() -> list[tuple[str, str]]:
    """Every operation of the document that takes a request body."""
    return sorted(
        (path, method.upper())
        for path, item in build_spec(demo=False)["paths"].items()
        for method, op in item.items()
        if "requestBody" in op
    )


def _credential(world: World, path: str) -> tuple[str, dict[str, str]]:
    """The query and headers that get the call of `path` past authentication."""
    if path.startswith(("/v1/admin/", "/app/")):
        return "", key(world.admin_key_a)
    if path.startswith("/v1/"):
        return "", key(world.key_a)
    if path.startswith("/proxy/"):
        return "?" + proxy_query(proxy_params()), {}
    return "", {}  # webhooks read the body to check its signature


@pytest.mark.parametrize(("path", "method"), _with_body())
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_the_limit_is_refused_with_413_on_every_route(
    make_world: Callable[..., World], path: str, method: str, framing: str
) -> None:
    world = make_world()
    query, headers = _credential(world, path)
    body = b'{"events": [' + b" " * MAX_BODY_BYTES + b"]}"
    response = send(world, method, path + query, body, headers, chunked=framing == "chunked")
    assert response[0] == 413, response
    assert b'"payload_too_large"' in response[1]


def test_a_chunked_body_within_the_limit_is_read_whole(make_world: Callable[..., World]) -> None:
    world = make_world()
    padding = b" " * (MAX_BODY_BYTES - 200)
    body = b'{"cart": [{"product_id": "7100001"}],' + padding + b'"k": 3}'
    status, answer = send(
        world, "POST", "/v1/recommendations", body, key(world.key_a), chunked=True
    )
    assert status == 200, answer
    headers, signed = delivery("products/update", {"id": 7100001, "title": "ALPINE"})
    status, answer = send(world, "POST", "/webhooks/shopify", signed, headers, chunked=True)
    assert status == 200, answer  # the signature covered every byte


def send(
    world: World, method: str, path: str, body: bytes, headers: dict[str, str], *, chunked: bool
) -> tuple[int, bytes]:
    """One request through the app's WSGI callable. Chunked: without Content-Length, and with
    `wsgi.input_terminated` set, as gunicorn passes a chunked body on."""
    base, _, query = path.partition("?")
    builder = EnvironBuilder(
        path=base,
        query_string=query,
        method=method,
        input_stream=io.BytesIO(body),
        content_length=len(body),
        headers={"Content-Type": "application/json", **headers},
    )
    environ = builder.get_environ()
    if chunked:
        del environ["CONTENT_LENGTH"]
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    chunks, status, _ = run_wsgi_app(world.app, environ, buffered=True)
    return int(status.split()[0]), b"".join(chunks)
