"""RELIABILITY.md row 21: what is retried, how long it waits, and that nothing waits or starts
past the budget; respx plays the server (strict), a fake clock the time."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from cartwise.sdk import AsyncCartwiseClient, ClientError, RetryPolicy, ServerError
from cartwise.sdk._retry import backoff, retry_after_seconds

from .conftest import BASE, DEFAULTS, KEY, FakeClock, answer, error

pytestmark = pytest.mark.anyio


def client(clock: FakeClock, **options: object) -> AsyncCartwiseClient:
    settings: dict[str, object] = {
        "defaults": DEFAULTS,
        "clock": clock,
        "sleep": clock.async_sleep,
        "cache": None,
        **options,
    }
    return AsyncCartwiseClient(BASE, KEY, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_two_transient_failures_then_success(
    router: respx.MockRouter, clock: FakeClock, status: int
) -> None:
    route = router.post("/v1/recommendations").mock(
        side_effect=[
            httpx.Response(status),
            httpx.Response(status),
            httpx.Response(200, json=answer()),
        ]
    )
    async with client(clock) as sdk:
        got = await sdk.recommend(["p1"], session_id="s")

    assert route.call_count == 3
    assert got.source == "model"
    assert len(clock.slept) == 2
    assert 0 <= clock.slept[0] <= 0.05
    assert 0 <= clock.slept[1] <= 0.1


async def test_every_attempt_carries_the_same_idempotency_key(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post("/v1/recommendations").mock(
        side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(200, json=answer())]
    )
    async with client(clock) as sdk:
        await sdk.recommend(["p1"], session_id="s")
        route.side_effect = None
        route.return_value = httpx.Response(200, json=answer())
        await sdk.recommend(["p1"], session_id="s2")

    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert len(keys) == 4
    assert keys[0] == keys[1] == keys[2]
    assert len(keys[0]) == 32
    assert keys[3] != keys[0]
    assert {call.request.headers["X-Cartwise-Key"] for call in route.calls} == {KEY}


async def test_connect_errors_and_timeouts_are_retried(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post("/v1/recommendations").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json=answer()),
        ]
    )
    async with client(clock) as sdk:
        got = await sdk.recommend(["p1"])
    assert route.call_count == 3
    assert got.source == "model"


async def test_429_waits_as_long_as_retry_after_says_in_real_time(
    router: respx.MockRouter,
) -> None:
    """Real clock and sleep: the second request starts at least a second after the first."""
    seen: list[float] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        if len(seen) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"}, json=error("rate_limited"))
        return httpx.Response(200, json=answer())

    router.post("/v1/recommendations").mock(side_effect=reply)
    async with AsyncCartwiseClient(BASE, KEY, budget=2.0, defaults=DEFAULTS) as sdk:
        got = await sdk.recommend(["p1"])

    assert got.source == "model"
    assert len(seen) == 2
    assert seen[1] - seen[0] >= 1.0


async def test_retry_after_as_an_http_date_is_honoured(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    route = router.post("/v1/recommendations").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": when}),
            httpx.Response(200, json=answer()),
        ]
    )
    async with client(clock, budget=5.0) as sdk:
        got = await sdk.recommend(["p1"])
    assert route.call_count == 2
    assert got.source == "model"
    assert len(clock.slept) == 1
    assert 1.5 <= clock.slept[0] <= 3.0


@pytest.mark.parametrize(
    "retry_after",
    [
        pytest.param("3600", id="seconds"),
        pytest.param("Fri, 31 Dec 2999 23:59:59 GMT", id="http-date"),
    ],
)
async def test_a_wait_past_the_budget_is_never_slept(
    router: respx.MockRouter, clock: FakeClock, retry_after: str
) -> None:
    route = router.post("/v1/recommendations").mock(
        return_value=httpx.Response(
            429, headers={"Retry-After": retry_after}, json=error("rate_limited")
        )
    )
    calls = []
    async with client(clock, on_call=calls.append) as sdk:
        got = await sdk.recommend(["d1"], k=4)

    assert route.call_count == 1
    assert clock.slept == []
    assert got.source == "fallback"
    assert [item.product_id for item in got.items] == ["d2", "d3"]
    assert calls[0].error == "client_error"
    assert calls[0].status == 429


async def test_429_in_strict_mode_is_a_client_error_with_the_server_code(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post("/v1/recommendations").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "60"}, json=error("rate_limited"))
    )
    async with client(clock, strict=True) as sdk:
        with pytest.raises(ClientError) as caught:
            await sdk.recommend(["p1"])
    assert caught.value.http_status == 429
    assert caught.value.server_code == "rate_limited"


async def test_no_retry_starts_when_the_budget_cannot_hold_it(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    """A 503 after 290 ms of a 300 ms budget: 10 ms left is less than a minimal attempt."""

    def slow_503(request: httpx.Request) -> httpx.Response:
        clock.advance(0.29)
        return httpx.Response(503)

    route = router.post("/v1/recommendations").mock(side_effect=slow_503)
    async with client(clock, strict=True) as sdk:
        with pytest.raises(ServerError) as caught:
            await sdk.recommend(["p1"])
    assert route.call_count == 1
    assert clock.slept == []
    assert caught.value.attempts == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_refusals_are_never_retried(
    router: respx.MockRouter, clock: FakeClock, status: int
) -> None:
    route = router.post("/v1/recommendations").mock(
        return_value=httpx.Response(status, json=error("nope"))
    )
    async with client(clock) as sdk:
        got = await sdk.recommend(["p1"])
    assert route.call_count == 1
    assert clock.slept == []
    assert got.source == "fallback"


async def test_a_500_is_not_retried(router: respx.MockRouter, clock: FakeClock) -> None:
    route = router.post("/v1/recommendations").mock(return_value=httpx.Response(500))
    async with client(clock) as sdk:
        got = await sdk.recommend(["p1"])
    assert route.call_count == 1
    assert got.source == "fallback"


async def test_attempts_are_capped(router: respx.MockRouter, clock: FakeClock) -> None:
    route = router.post("/v1/recommendations").mock(return_value=httpx.Response(503))
    async with client(clock, retry=RetryPolicy(attempts=4), budget=10.0) as sdk:
        got = await sdk.recommend(["p1"])
    assert route.call_count == 4
    assert got.source == "fallback"


async def test_a_thousand_clients_failing_together_spread_their_retries() -> None:
    """Full jitter: the n-th retry waits within [0, min(cap, base·2^n)], and over 1,000
    clients (each with its own OS-seeded randomness) no 10 ms bucket holds over 5 %."""
    policy = RetryPolicy(attempts=4, base=0.5, cap=1.5)
    clocks = [FakeClock() for _ in range(1_000)]
    clients = [client_for_jitter(clock, policy) for clock in clocks]
    answers = await asyncio.gather(*(sdk.recommend(["p1"]) for sdk in clients))
    for sdk in clients:
        await sdk.close()

    assert {got.source for got in answers} == {"fallback"}
    assert all(len(clock.slept) == 3 for clock in clocks)
    delays = [(n, delay) for clock in clocks for n, delay in enumerate(clock.slept)]
    for n, delay in delays:
        assert 0 <= delay <= min(policy.cap, policy.base * 2**n)
    buckets = Counter(int(delay / 0.01) for _, delay in delays)
    assert max(buckets.values()) <= 0.05 * len(delays)


def client_for_jitter(clock: FakeClock, policy: RetryPolicy) -> AsyncCartwiseClient:
    always_503 = httpx.MockTransport(lambda request: httpx.Response(503))
    return AsyncCartwiseClient(
        BASE,
        KEY,
        budget=30.0,
        retry=policy,
        breaker=None,
        cache=None,
        transport=always_503,
        clock=clock,
        sleep=clock.async_sleep,
    )


def test_backoff_bounds_hold_for_every_retry_number() -> None:
    policy = RetryPolicy(base=0.05, cap=1.0)
    rng = random.Random(7)
    for n in range(12):
        bound = min(policy.cap, policy.base * 2**n)
        waits = [backoff(policy, n, rng) for _ in range(500)]
        assert all(0 <= w <= bound for w in waits)
        assert max(waits) > 0.9 * bound


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("1", 1.0, id="seconds"),
        pytest.param(" 2.5 ", 2.5, id="fraction"),
        pytest.param("-3", 0.0, id="negative"),
        pytest.param("Wed, 21 Oct 2015 07:28:10 GMT", 10.0, id="http-date"),
        pytest.param("Wed, 21 Oct 2015 07:27:00 GMT", 0.0, id="date-past"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("nan", None, id="nan"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date(
    header: str | None, expected: float | None
) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert retry_after_seconds(header, now) == expected
