"""`CartwiseClient` shares the async client's core; these are the same behaviours through its
own transport loop (the hung-server case is in test_deadline.py)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import respx

from cartwise.sdk import (
    BreakerState,
    CartwiseClient,
    ClientError,
    InvalidResponse,
    RetryPolicy,
    TrackPolicy,
)

from .conftest import BASE, DEFAULTS, KEY, FakeClock, answer, error


def client(clock: FakeClock, **options: Any) -> CartwiseClient:
    settings: dict[str, Any] = {
        "defaults": DEFAULTS,
        "clock": clock,
        "sleep": clock.sleep,
        **options,
    }
    return CartwiseClient(BASE, KEY, **settings)


def test_two_transient_failures_then_success_with_one_key(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post("/v1/recommendations").mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json=answer())]
    )
    with client(clock) as sdk:
        got = sdk.recommend(["p1"], session_id="s", k=4)
    assert got.source == "model"
    assert route.call_count == 3
    assert len({c.request.headers["Idempotency-Key"] for c in route.calls}) == 1
    assert len(clock.slept) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_refusals_are_sent_once(router: respx.MockRouter, clock: FakeClock, status: int) -> None:
    route = router.post("/v1/recommendations").mock(
        return_value=httpx.Response(status, json=error("nope"))
    )
    with client(clock) as sdk:
        assert sdk.recommend(["p1"]).source == "fallback"
    assert route.call_count == 1


def test_retry_after_past_the_budget_is_not_slept(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post("/v1/recommendations").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "3600"})
    )
    with client(clock) as sdk:
        assert sdk.recommend(["p1"]).source == "fallback"
    assert clock.slept == []


def test_malformed_answers_fall_back_or_raise_when_strict(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post("/v1/recommendations").mock(return_value=httpx.Response(200, content=b"{"))
    with client(clock) as sdk:
        got = sdk.recommend(["d1"], k=1)
    assert got.source == "fallback"
    assert [item.product_id for item in got.items] == ["d2"]
    with client(clock, strict=True) as sdk, pytest.raises(InvalidResponse):
        sdk.recommend(["p1"])


def test_strict_client_error_carries_the_server_code(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post("/v1/recommendations").mock(
        return_value=httpx.Response(401, json=error("unauthorized"))
    )
    with client(clock, strict=True) as sdk, pytest.raises(ClientError) as caught:
        sdk.recommend(["p1"])
    assert caught.value.server_code == "unauthorized"


def test_the_breaker_opens_and_sends_nothing_until_its_probe(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post("/v1/recommendations").mock(return_value=httpx.Response(503))
    with client(clock, retry=RetryPolicy(attempts=1), cache=None) as sdk:
        for _ in range(5):
            sdk.recommend(["p1"])
        assert sdk.breaker_state is BreakerState.OPEN
        for _ in range(1_000):
            assert sdk.recommend(["p1"]).source == "fallback"
        assert route.call_count == 5
        clock.advance(30.0)
        route.return_value = httpx.Response(200, json=answer())
        assert sdk.recommend(["p1"]).source == "model"
        assert sdk.breaker_state is BreakerState.CLOSED
    assert route.call_count == 6


def test_cache_hit_then_miss_after_the_ttl(router: respx.MockRouter, clock: FakeClock) -> None:
    route = router.post("/v1/recommendations").mock(return_value=httpx.Response(200, json=answer()))
    with client(clock) as sdk:
        assert sdk.recommend(["p1"], session_id="s").source == "model"
        assert sdk.recommend(["p1"], session_id="s").source == "cache"
        assert sdk.recommend(["p1"], session_id="other").source == "model"
        clock.advance(61.0)
        assert sdk.recommend(["p1"], session_id="s").source == "model"
    assert route.call_count == 3


def test_bad_arguments_raise_value_error(clock: FakeClock) -> None:
    with client(clock) as sdk:
        with pytest.raises(ValueError):
            sdk.recommend(["p1"], k=0)
        with pytest.raises(ValueError):
            sdk.recommend(["p1"], placement="attic")
        with pytest.raises(ValueError):
            sdk.track("purchase", "p1", session_id="s")


def test_threads_share_one_client(router: respx.MockRouter, clock: FakeClock) -> None:
    route = router.post("/v1/recommendations").mock(return_value=httpx.Response(200, json=answer()))
    with client(clock, cache=None) as sdk, ThreadPoolExecutor(8) as pool:
        sources = list(
            pool.map(lambda n: sdk.recommend(["p1"], session_id=f"s{n}").source, range(64))
        )
    assert sources == ["model"] * 64
    assert route.call_count == 64


def test_track_batches_in_the_background_and_close_sends_the_rest(
    router: respx.MockRouter,
) -> None:
    route = router.post("/v1/events").mock(return_value=httpx.Response(202))
    sdk = CartwiseClient(BASE, KEY, tracking=TrackPolicy(batch_size=2, interval=60.0))
    sdk.track("impression", "p1", session_id="s", placement="cart")
    sdk.track("click", "p1", session_id="s", placement="cart")
    ends = time.monotonic() + 2.0
    while route.call_count == 0:
        assert time.monotonic() < ends
        time.sleep(0.01)
    sdk.track("add_to_cart", "p1", session_id="s")
    sdk.close()
    kinds = [e["kind"] for c in route.calls for e in json.loads(c.request.content)["events"]]
    assert kinds == ["impression", "click", "add_to_cart"]
    assert sdk.track_stats.sent == 3


def test_a_closed_client_answers_with_its_defaults(clock: FakeClock) -> None:
    sdk = client(clock)
    sdk.close()
    assert sdk.recommend(["p1"]).source == "fallback"
