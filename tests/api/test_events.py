"""`POST /v1/events` and `POST /proxy/events`: storefront events stored once per event id,
for the caller's shop only, validated as a whole, readable cross-origin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cartwise.storage import Store

from .conftest import SHOP
from .shopify import SHOP_A, SHOP_B, proxy_query
from .test_auth import World, build_world, proxy_params


def event(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "click",
        "product_id": "22423",
        "session_id": "s1",
        "request_id": "r1",
        "placement": "cart",
        "event_id": f"e{n}",
        **fields,
    }


def test_a_batch_is_stored_once(app: Flask, store: Store) -> None:
    client = app.test_client()
    batch = {"events": [event(1), event(2, kind="impression"), event(3, kind="add_to_cart")]}
    first = client.post("/v1/events", json=batch)
    assert first.status_code == 202
    assert first.get_json() == {"accepted": 3, "duplicates": 0}
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    again = client.post("/v1/events", json={"events": [*batch["events"], event(4)]})
    assert again.get_json() == {"accepted": 1, "duplicates": 3}
    assert store.tracking.counts(SHOP) == {"click": 2, "impression": 1, "add_to_cart": 1}


@pytest.mark.parametrize(
    "body",
    [
        {"events": []},
        {"events": [event(1, kind="purchase")]},
        {"events": [event(1), event(2, product_id="")]},
        {"events": [event(1, surprise=True)]},
        {"events": [event(n) for n in range(501)]},
        {"events": [event(1, placement="footer")]},
        {"events": [event(1, occurred_at=0)]},
        # was a 500: its instant in UTC falls in year 0, which a datetime cannot hold
        {"events": [event(1, occurred_at="0001-01-01T14:34:49+16:26")]},
        {"events": [event(1, occurred_at="1969-12-31T23:59:59Z")]},
        [event(1)],
    ],
    ids=[
        "empty",
        "kind",
        "one-bad",
        "extra",
        "too-many",
        "placement",
        "time-as-number",
        "time-before-utc-year-one",
        "time-before-1970",
        "not-an-object",
    ],
)
def test_a_bad_batch_is_refused_whole(app: Flask, store: Store, body: Any) -> None:
    response = app.test_client().post("/v1/events", json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert store.tracking.counts(SHOP) == {}


def test_the_preflight_is_answered(app: Flask) -> None:
    response = app.test_client().options("/v1/events")
    assert response.status_code == 204
    assert "X-Cartwise-Key" in response.headers["Access-Control-Allow-Headers"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db")
    yield built
    built.store.close()


def test_events_belong_to_the_shop_of_the_credential(world: World) -> None:
    body = {"events": [event(1)]}
    assert world.client.post("/v1/events", json=body).status_code == 401
    stored = world.client.post("/v1/events", json=body, headers={"X-Cartwise-Key": world.key_a})
    assert stored.status_code == 202
    other = world.client.post("/v1/events", json=body, headers={"X-Cartwise-Key": world.key_b})
    assert other.get_json() == {"accepted": 1, "duplicates": 0}  # event ids are per shop
    assert world.store.tracking.counts(SHOP_A) == {"click": 1}
    assert world.store.tracking.counts(SHOP_B) == {"click": 1}


def test_the_theme_block_posts_through_the_app_proxy(world: World) -> None:
    query = proxy_query(proxy_params())
    response = world.client.post(f"/proxy/events?{query}", json={"events": [event(7)]})
    assert response.status_code == 202
    assert world.store.tracking.counts(SHOP_A) == {"click": 1}
    forged = world.client.post(
        f"/proxy/events?{proxy_query(proxy_params(), secret='wrong')}", json={"events": [event(8)]}
    )
    assert forged.status_code == 401
    assert world.store.tracking.counts(SHOP_A) == {"click": 1}
