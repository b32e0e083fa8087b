"""Storefront events are limited per shop, counted in events: past the limit a batch gets 429
with Retry-After and nothing of it is stored; other shops are not affected; with Redis the
count is shared by every worker, and Redis failing never refuses a storefront."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cartwise.api.ratelimits import EventLimiter
from cartwise.errors import RateLimited

from .shopify import SHOP_A, SHOP_B
from .test_admin import key_header
from .test_auth import World, build_world

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db", events_per_minute=10)
    yield built
    built.store.close()


def batch(n: int) -> dict[str, Any]:
    return {
        "events": [
            {"kind": "impression", "product_id": "7100001", "session_id": "s1"} for _ in range(n)
        ]
    }


def test_a_shop_past_its_events_per_minute_gets_429_and_nothing_is_stored(world: World) -> None:
    ok = world.client.post("/v1/events", json=batch(6), headers=key_header(world.key_a))
    assert ok.status_code == 202
    refused = world.client.post("/v1/events", json=batch(5), headers=key_header(world.key_a))
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert world.store.tracking.counts(SHOP_A) == {"impression": 6}
    # what is left of the minute can still be used, and another shop has its own count
    assert (
        world.client.post("/v1/events", json=batch(4), headers=key_header(world.key_a)).status_code
        == 202
    )
    assert (
        world.client.post("/v1/events", json=batch(10), headers=key_header(world.key_b)).status_code
        == 202
    )
    assert world.store.tracking.counts(SHOP_B) == {"impression": 10}


def test_the_count_is_shared_through_redis() -> None:
    shop = f"shop-{uuid.uuid4().hex}.myshopify.com"
    one, two = EventLimiter(10, REDIS_URL), EventLimiter(10, REDIS_URL)
    try:
        one.check(shop, 6)
        with pytest.raises(RateLimited):
            two.check(shop, 5)
        two.check(shop, 4)
    finally:
        redis.Redis.from_url(REDIS_URL).close()


def test_redis_down_falls_back_to_a_count_per_worker() -> None:
    limiter = EventLimiter(10, "redis://127.0.0.1:1/0")  # nothing listens there
    limiter.check("a.myshopify.com", 10)  # not refused for Redis being down
    with pytest.raises(RateLimited):
        limiter.check("a.myshopify.com", 1)  # the local count still holds the line
