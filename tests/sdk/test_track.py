"""Event tracking: queued in memory (bounded, oldest dropped and counted), sent in batches in
the background by `POST /v1/events`, never raising and never waiting on the network.

respx plays the server here, to make it fail in every way; test_end_to_end.py sends events to
the real endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import respx

from cartwise.sdk import AsyncCartwiseClient, BreakerPolicy, RetryPolicy, TrackPolicy

from .conftest import BASE, KEY

pytestmark = pytest.mark.anyio

QUIET = TrackPolicy(interval=60.0)


def client(tracking: TrackPolicy = QUIET, **options: Any) -> AsyncCartwiseClient:
    return AsyncCartwiseClient(BASE, KEY, tracking=tracking, **options)


def sent_events(route: respx.Route) -> list[dict[str, Any]]:
    return [e for call in route.calls for e in json.loads(call.request.content)["events"]]


async def eventually(check: Any, seconds: float = 2.0) -> None:
    ends = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < ends, "it did not happen in time"
        await asyncio.sleep(0.01)


async def test_flush_sends_one_batch_in_the_contract(router: respx.MockRouter) -> None:
    route = router.post("/v1/events").mock(return_value=httpx.Response(202))
    async with client() as sdk:
        await sdk.track("impression", "p2", session_id="s", request_id="r1", placement="cart")
        await sdk.track("click", "p2", session_id="s", request_id="r1", placement="cart")
        await sdk.track("add_to_cart", "p2", session_id="s")
        await sdk.flush()
        assert sdk.track_stats.sent == 3

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["X-Cartwise-Key"] == KEY
    assert len(request.headers["Idempotency-Key"]) == 32
    events = sent_events(route)
    assert [e["kind"] for e in events] == ["impression", "click", "add_to_cart"]
    assert events[0]["product_id"] == "p2"
    assert events[0]["session_id"] == "s"
    assert events[0]["request_id"] == "r1"
    assert events[0]["placement"] == "cart"
    assert events[2]["request_id"] is None
    assert len({e["event_id"] for e in events}) == 3
    assert all(e["occurred_at"].endswith("Z") or "+00:00" in e["occurred_at"] for e in events)


async def test_a_full_batch_goes_out_in_the_background(router: respx.MockRouter) -> None:
    route = router.post("/v1/events").mock(return_value=httpx.Response(202))
    async with client(TrackPolicy(batch_size=2, interval=60.0)) as sdk:
        await sdk.track("impression", "p1", session_id="s")
        await asyncio.sleep(0.05)
        assert route.call_count == 0
        await sdk.track("impression", "p2", session_id="s")
        await eventually(lambda: route.call_count == 1)
    assert [e["product_id"] for e in sent_events(route)] == ["p1", "p2"]


async def test_a_partial_batch_goes_out_after_the_interval(router: respx.MockRouter) -> None:
    route = router.post("/v1/events").mock(return_value=httpx.Response(202))
    async with client(TrackPolicy(batch_size=50, interval=0.05)) as sdk:
        await sdk.track("click", "p1", session_id="s")
        await eventually(lambda: route.call_count == 1)


async def test_a_full_queue_drops_the_oldest_and_counts(router: respx.MockRouter) -> None:
    route = router.post("/v1/events").mock(return_value=httpx.Response(202))
    async with client(TrackPolicy(queue_size=3, batch_size=10, interval=60.0)) as sdk:
        for n in range(5):
            await sdk.track("impression", f"p{n}", session_id="s")
        stats = sdk.track_stats
        assert (stats.pending, stats.dropped) == (3, 2)
        await sdk.flush()
    assert [e["product_id"] for e in sent_events(route)] == ["p2", "p3", "p4"]


async def test_the_missing_endpoint_rejects_without_raising(router: respx.MockRouter) -> None:
    """An older server answers 404 at /v1/events: the events are dropped, counted, not resent."""
    route = router.post("/v1/events").mock(
        return_value=httpx.Response(404, json={"error": {"code": "not_found", "message": "?"}})
    )
    async with client() as sdk:
        await sdk.track("click", "p1", session_id="s")
        await sdk.flush()
        await sdk.flush()
        assert sdk.track_stats.rejected == 1
        assert sdk.track_stats.pending == 0
    assert route.call_count == 1


async def test_a_failed_send_keeps_the_events_for_later(router: respx.MockRouter) -> None:
    route = router.post("/v1/events").mock(
        side_effect=[httpx.ConnectError("down"), httpx.Response(202)]
    )
    async with client(retry=RetryPolicy(attempts=1)) as sdk:
        await sdk.track("click", "p1", session_id="s")
        await sdk.track("click", "p2", session_id="s")
        await sdk.flush()
        assert sdk.track_stats.pending == 2
        await sdk.flush()
        assert sdk.track_stats.sent == 2
    first, second = (json.loads(c.request.content)["events"] for c in route.calls)
    assert first == second


async def test_close_sends_what_is_left(router: respx.MockRouter) -> None:
    route = router.post("/v1/events").mock(return_value=httpx.Response(202))
    sdk = client(TrackPolicy(batch_size=2, interval=60.0))
    for n in range(5):
        await sdk.track("impression", f"p{n}", session_id="s")
    await sdk.close()
    assert len(sent_events(route)) == 5
    assert sdk.track_stats.sent == 5
    await sdk.track("impression", "late", session_id="s")
    assert sdk.track_stats.pending == 0


async def test_tracking_never_waits_on_a_hung_server() -> None:
    class Hung(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    sdk = client(TrackPolicy(batch_size=1, interval=60.0), transport=Hung(), budget=0.1)
    started = time.perf_counter()
    for n in range(100):
        await sdk.track("impression", f"p{n}", session_id="s")
    assert time.perf_counter() - started < 0.5
    await sdk.close()
    assert sdk.track_stats.sent == 0


async def test_events_wait_while_the_breaker_is_open() -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as mocked:
        mocked.post("/v1/recommendations").mock(return_value=httpx.Response(503))
        events = mocked.post("/v1/events").mock(return_value=httpx.Response(202))
        options: dict[str, Any] = {"retry": RetryPolicy(attempts=1)}
        async with client(breaker=BreakerPolicy(threshold=1), **options) as sdk:
            await sdk.recommend(["p1"])
            await sdk.track("click", "p1", session_id="s")
            await sdk.flush()
            assert sdk.track_stats.pending == 1
        assert events.call_count == 0


@pytest.mark.parametrize(
    ("kind", "product", "extra"),
    [
        pytest.param("purchase", "p1", {}, id="kind"),
        pytest.param("click", "", {}, id="empty-product"),
        pytest.param("click", "p1", {"placement": "attic"}, id="placement"),
        pytest.param("click", "p1", {"session_id": ""}, id="empty-session"),
    ],
)
async def test_bad_arguments_raise_value_error(kind: str, product: str, extra: Any) -> None:
    async with client() as sdk:
        with pytest.raises(ValueError):
            await sdk.track(kind, product, **{"session_id": "s", **extra})
        assert sdk.track_stats.pending == 0
