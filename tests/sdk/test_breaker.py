"""RELIABILITY.md row 22: the breaker opens after 5 consecutive failures within its window,
sends nothing while open, and lets exactly one probe through after its reset timeout."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from cartwise.sdk import (
    AsyncCartwiseClient,
    BreakerPolicy,
    BreakerState,
    CallInfo,
    CircuitOpen,
    RetryPolicy,
)
from cartwise.sdk._breaker import CircuitBreaker, Permit

from .conftest import BASE, DEFAULTS, KEY, FakeClock, answer, error

pytestmark = pytest.mark.anyio

Change = tuple[BreakerState, BreakerState]


def client(clock: FakeClock, changes: list[Change], **options: object) -> AsyncCartwiseClient:
    settings: dict[str, object] = {
        "defaults": DEFAULTS,
        "clock": clock,
        "sleep": clock.async_sleep,
        "cache": None,
        "retry": RetryPolicy(attempts=1),
        "on_breaker_change": lambda old, new: changes.append((old, new)),
        **options,
    }
    return AsyncCartwiseClient(BASE, KEY, **settings)  # type: ignore[arg-type]


async def test_open_breaker_sends_nothing_then_probes_once(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post("/v1/recommendations").mock(return_value=httpx.Response(503))
    changes: list[Change] = []
    calls: list[CallInfo] = []
    async with client(clock, changes, on_call=calls.append) as sdk:
        for _ in range(4):
            await sdk.recommend(["p1"])
            clock.advance(1.0)
        assert sdk.breaker_state is BreakerState.CLOSED
        await sdk.recommend(["p1"])
        assert sdk.breaker_state is BreakerState.OPEN
        assert route.call_count == 5

        for _ in range(1_000):
            got = await sdk.recommend(["d1"], k=4)
            assert got.source == "fallback"
            assert [item.product_id for item in got.items] == ["d2", "d3"]
        assert route.call_count == 5
        assert calls[-1].attempts == 0
        assert calls[-1].error == "circuit_open"
        assert calls[-1].breaker is BreakerState.OPEN

        clock.advance(29.9)
        await sdk.recommend(["p1"])
        assert route.call_count == 5

        clock.advance(0.2)
        route.return_value = httpx.Response(200, json=answer())
        got = await sdk.recommend(["p1"])
        assert got.source == "model"
        assert route.call_count == 6
        assert sdk.breaker_state is BreakerState.CLOSED

    assert changes == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


async def test_a_failed_probe_opens_it_again(router: respx.MockRouter, clock: FakeClock) -> None:
    route = router.post("/v1/recommendations").mock(return_value=httpx.Response(503))
    changes: list[Change] = []
    async with client(clock, changes) as sdk:
        for _ in range(5):
            await sdk.recommend(["p1"])
        clock.advance(30.0)
        await sdk.recommend(["p1"])
        assert route.call_count == 6
        assert sdk.breaker_state is BreakerState.OPEN
        for _ in range(10):
            await sdk.recommend(["p1"])
        assert route.call_count == 6
        clock.advance(30.0)
        await sdk.recommend(["p1"])
        assert route.call_count == 7

    assert changes == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
    ]


async def test_exactly_one_probe_while_many_calls_wait(clock: FakeClock) -> None:
    """Twenty calls arrive together once the reset timeout has passed: one reaches the server,
    which answers slowly; the other nineteen answer with the defaults meanwhile."""
    release = asyncio.Event()
    requests: list[httpx.Request] = []

    class Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request)
            if len(requests) <= 5:
                return httpx.Response(503)
            await release.wait()
            return httpx.Response(200, json=answer())

    changes: list[Change] = []
    async with client(clock, changes, transport=Transport(), budget=5.0) as sdk:
        for _ in range(5):
            await sdk.recommend(["p1"])
        clock.advance(31.0)
        probe = asyncio.create_task(sdk.recommend(["p1"]))
        await asyncio.sleep(0)
        others = await asyncio.gather(*(sdk.recommend(["p1"]) for _ in range(19)))
        assert {got.source for got in others} == {"fallback"}
        assert sdk.breaker_state is BreakerState.HALF_OPEN
        release.set()
        assert (await probe).source == "model"

    assert len(requests) == 6
    assert changes[-1] == (BreakerState.HALF_OPEN, BreakerState.CLOSED)


async def test_failures_spread_wider_than_the_window_do_not_open_it(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post("/v1/recommendations").mock(return_value=httpx.Response(503))
    async with client(clock, []) as sdk:
        for _ in range(20):
            await sdk.recommend(["p1"])
            clock.advance(2.6)
        assert sdk.breaker_state is BreakerState.CLOSED


async def test_a_success_or_a_refusal_resets_the_count(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    """A 4xx shows a live server: it is not a failure of the server."""
    fail = httpx.Response(503)
    route = router.post("/v1/recommendations").mock(
        side_effect=[fail] * 4 + [httpx.Response(404, json=error("unknown_shop"))] + [fail] * 4
    )
    async with client(clock, []) as sdk:
        for _ in range(9):
            await sdk.recommend(["p1"])
        assert sdk.breaker_state is BreakerState.CLOSED
    assert route.call_count == 9


async def test_strict_mode_raises_circuit_open(router: respx.MockRouter, clock: FakeClock) -> None:
    router.post("/v1/recommendations").mock(return_value=httpx.Response(503))
    async with client(clock, [], strict=True, breaker=BreakerPolicy(threshold=2)) as sdk:
        for _ in range(2):
            with pytest.raises(Exception, match="503"):
                await sdk.recommend(["p1"])
        with pytest.raises(CircuitOpen) as caught:
            await sdk.recommend(["p1"])
    assert caught.value.attempts == 0


async def test_a_cancelled_probe_gives_its_turn_back(clock: FakeClock) -> None:
    hang = asyncio.Event()

    class Transport(httpx.AsyncBaseTransport):
        calls = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            Transport.calls += 1
            if Transport.calls > 5:
                await hang.wait()
            return httpx.Response(503)

    async with client(clock, [], transport=Transport(), budget=5.0) as sdk:
        for _ in range(5):
            await sdk.recommend(["p1"])
        clock.advance(30.0)
        probe = asyncio.create_task(sdk.recommend(["p1"]))
        await asyncio.sleep(0.01)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert sdk.breaker_state is BreakerState.OPEN
        clock.advance(30.0)
        hang.set()
        await sdk.recommend(["p1"])
    assert Transport.calls == 7


def test_the_breaker_reports_each_change_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    changes: list[Change] = []
    breaker = CircuitBreaker(
        BreakerPolicy(threshold=2, reset_timeout=5.0), clock, lambda o, n: changes.append((o, n))
    )
    with caplog.at_level("INFO", logger="cartwise.sdk"):
        for _ in range(6):
            breaker.failure(breaker.allow())
        clock.advance(5.0)
        assert breaker.allow() is Permit.PROBE
        assert breaker.allow() is Permit.DENIED
        breaker.success(Permit.PROBE)
        assert breaker.allow() is Permit.CALL
    assert changes == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "cartwise circuit breaker closed -> open",
        "cartwise circuit breaker open -> half_open",
        "cartwise circuit breaker half_open -> closed",
    ]


def test_a_failing_hook_does_not_break_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    def explode(old: BreakerState, new: BreakerState) -> None:
        raise RuntimeError("metrics are down")

    breaker = CircuitBreaker(BreakerPolicy(threshold=1), FakeClock(), explode)
    breaker.failure(breaker.allow())
    assert breaker.state is BreakerState.OPEN
    assert "on_breaker_change hook failed" in caplog.text
