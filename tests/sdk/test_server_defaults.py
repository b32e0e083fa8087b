"""The fallback's other source: without a `defaults` list, the shop's curated defaults are
fetched from `GET /v1/defaults` in the background (first use, then after a good call once the
interval has passed), kept, and shown when a call fails. A fetch never delays a call, never
spends its budget, never moves the breaker or reaches `on_call`, and `close()` ends it cleanly.

Most cases run through both clients over one fake server (`httpx.MockTransport`), with the fake
clock of conftest.py; the cases about time and threads are written for each client."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from cartwise.sdk import (
    AsyncCartwiseClient,
    BreakerPolicy,
    BreakerState,
    CachePolicy,
    CallInfo,
    CartwiseClient,
    RecommendationResponse,
    RetryPolicy,
    ServerDefaultsPolicy,
)

from .conftest import BASE, DEFAULTS, KEY, FakeClock, SilentServer, answer, error

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
Reply = Callable[[], httpx.Response]


def raises(exc: Exception) -> Reply:
    def reply() -> httpx.Response:
        raise exc

    return reply


class FakeCartwise:
    """The server: recommendations answer `up` or fail with `status`; defaults answer
    `defaults_ids`, or what `defaults_reply` makes when set. Every request is kept."""

    def __init__(self) -> None:
        self.up = True
        self.status = 503
        self.defaults_ids: tuple[str, ...] = ("s1", "s2", "s3", "s4", "s5")
        self.defaults_reply: Reply | None = None
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/v1/defaults":
            if self.defaults_reply is not None:
                return self.defaults_reply()
            return httpx.Response(200, json=answer("defaults", *self.defaults_ids))
        if not self.up:
            return httpx.Response(self.status)
        return httpx.Response(200, json=answer("model", "p2", "p3"))

    @property
    def fetches(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/v1/defaults"]


class Driver:
    """One client, either kind, behind the same awaitable calls."""

    sdk: AsyncCartwiseClient | CartwiseClient

    async def recommend(
        self, cart: Sequence[str] = ("p1",), **options: Any
    ) -> RecommendationResponse:
        raise NotImplementedError

    async def settle(self) -> None:
        """Wait for the refresh in flight, if any (tests only: callers never need to)."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    @property
    def breaker_state(self) -> BreakerState:
        return self.sdk.breaker_state


class AsyncDriver(Driver):
    def __init__(self, sdk: AsyncCartwiseClient) -> None:
        self.client = self.sdk = sdk

    async def recommend(
        self, cart: Sequence[str] = ("p1",), **options: Any
    ) -> RecommendationResponse:
        return await self.client.recommend(cart, **options)

    async def settle(self) -> None:
        task = self.client._fetcher
        if task is not None:
            await asyncio.wait_for(task, timeout=5)

    async def close(self) -> None:
        await self.client.close()


class SyncDriver(Driver):
    def __init__(self, sdk: CartwiseClient) -> None:
        self.client = self.sdk = sdk

    async def recommend(
        self, cart: Sequence[str] = ("p1",), **options: Any
    ) -> RecommendationResponse:
        return self.client.recommend(cart, **options)

    async def settle(self) -> None:
        fetch = self.client._fetch
        if fetch is not None:
            fetch.result(timeout=5)

    async def close(self) -> None:
        self.client.close()


def options(clock: FakeClock, transport: Handler, **overrides: Any) -> dict[str, Any]:
    return {
        "clock": clock,
        "cache": None,
        "retry": RetryPolicy(attempts=1),
        "transport": httpx.MockTransport(transport),
        **overrides,
    }


@pytest.fixture(params=["async", "sync"])
def make(request: pytest.FixtureRequest, clock: FakeClock) -> Callable[..., Driver]:
    """Build a client of the parametrised kind; the test closes it."""

    def build(transport: Handler, **overrides: Any) -> Driver:
        settings = options(clock, transport, **overrides)
        if request.param == "async":
            return AsyncDriver(AsyncCartwiseClient(BASE, KEY, sleep=clock.async_sleep, **settings))
        return SyncDriver(CartwiseClient(BASE, KEY, sleep=clock.sleep, **settings))

    return build


@pytest.fixture
def server() -> FakeCartwise:
    return FakeCartwise()


async def eventually(check: Callable[[], bool], seconds: float = 2.0) -> None:
    ends = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < ends, "it did not happen in time"
        await asyncio.sleep(0.01)


def ids(got: RecommendationResponse) -> list[str]:
    return [item.product_id for item in got.items]


async def test_fetched_after_the_first_good_call_then_shown_by_the_fallback(
    make: Callable[..., Driver], server: FakeCartwise, clock: FakeClock
) -> None:
    calls: list[CallInfo] = []
    sdk = make(server, on_call=calls.append)
    try:
        first = await sdk.recommend(["p1"])
        await sdk.settle()
        assert first.source == "model"
        assert len(server.fetches) == 1
        fetch = server.fetches[0]
        assert fetch.method == "GET"
        assert fetch.url.params["k"] == "20"
        assert fetch.headers["X-Cartwise-Key"] == KEY
        assert fetch.content == b""

        server.up = False
        clock.advance(301.0)  # due again, but failed calls do not refresh
        got = await sdk.recommend(["s2", "s4"], k=2)
        await sdk.settle()
        assert got.source == "fallback"
        assert ids(got) == ["s1", "s3"]
        assert got.model_version is None
        assert got.request_id.startswith("local-")
        with pytest.raises(ValidationError):
            got.items[0].title = "changed"  # the same immutable items as any answer
        assert ids(await sdk.recommend([], k=20)) == ["s1", "s2", "s3", "s4", "s5"]
        await sdk.settle()
    finally:
        await sdk.close()
    assert [(c.operation, c.source) for c in calls] == [
        ("recommend", "model"),
        ("recommend", "fallback"),
        ("recommend", "fallback"),
    ]
    assert len(server.fetches) == 1


async def test_first_use_fetches_even_when_the_call_failed(
    make: Callable[..., Driver], server: FakeCartwise
) -> None:
    server.up = False
    sdk = make(server)
    try:
        before = await sdk.recommend(["p1"])
        await sdk.settle()
        after = await sdk.recommend(["s1"], k=3)
    finally:
        await sdk.close()
    assert (before.source, before.items) == ("fallback", [])  # nothing fetched yet
    assert (after.source, ids(after)) == ("fallback", ["s2", "s3", "s4"])
    assert len(server.fetches) == 1


async def test_the_constructors_list_wins_and_nothing_is_fetched(
    make: Callable[..., Driver], server: FakeCartwise
) -> None:
    sdk = make(server, defaults=DEFAULTS)
    try:
        await sdk.recommend(["p1"])
        await sdk.settle()
        server.up = False
        got = await sdk.recommend(["d1"])
    finally:
        await sdk.close()
    assert (got.source, ids(got)) == ("fallback", ["d2", "d3"])
    assert server.fetches == []


@pytest.mark.parametrize("off", ["server_defaults", "strict"])
async def test_turned_off_or_strict_never_fetches(
    make: Callable[..., Driver], server: FakeCartwise, clock: FakeClock, off: str
) -> None:
    overrides: dict[str, Any] = {"server_defaults": None} if off == "server_defaults" else {}
    if off == "strict":
        overrides["strict"] = True  # strict calls raise instead of falling back
    sdk = make(server, **overrides)
    try:
        for _ in range(3):
            await sdk.recommend(["p1"])
            await sdk.settle()
            clock.advance(301.0)
        if off == "server_defaults":
            server.up = False
            assert (await sdk.recommend(["p1"])).items == []
    finally:
        await sdk.close()
    assert server.fetches == []


@pytest.mark.parametrize(
    ("reply", "logged"),
    [
        pytest.param(lambda: httpx.Response(503), "HTTP 503", id="503"),
        pytest.param(lambda: httpx.Response(401, json=error("unauthorized")), "HTTP 401", id="401"),
        pytest.param(
            lambda: httpx.Response(200, json={"items": "no"}), "contract", id="not-the-contract"
        ),
        pytest.param(lambda: httpx.Response(200, content=b"{"), "contract", id="not-json"),
        pytest.param(raises(httpx.ConnectError("refused")), "not be reached", id="unreachable"),
        pytest.param(raises(httpx.ReadTimeout("slow")), "no answer within", id="timeout"),
    ],
)
async def test_a_failed_fetch_keeps_the_last_defaults_and_spares_the_breaker(
    make: Callable[..., Driver],
    server: FakeCartwise,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    logged: str,
) -> None:
    changes: list[tuple[BreakerState, BreakerState]] = []
    calls: list[CallInfo] = []
    sdk = make(
        server,
        breaker=BreakerPolicy(threshold=1),  # one failure counted would open it
        on_breaker_change=lambda old, new: changes.append((old, new)),
        on_call=calls.append,
    )
    try:
        await sdk.recommend(["p1"])
        await sdk.settle()
        server.defaults_reply = reply
        server.defaults_ids = ("x1", "x2")
        clock.advance(300.0)
        with caplog.at_level(logging.DEBUG, logger="cartwise.sdk"):
            await sdk.recommend(["p1"])  # due: refreshes, and the refresh fails
            await sdk.settle()
        assert len(server.fetches) == 2
        assert sdk.breaker_state is BreakerState.CLOSED
        assert "curated defaults failed" in caplog.text
        assert logged in caplog.text

        await sdk.recommend(["p1"])  # a failure is retried at the next interval, not at once
        await sdk.settle()
        assert len(server.fetches) == 2

        server.up = False
        server.status = 404  # a refusal: the fallback, without opening the breaker
        got = await sdk.recommend(["s1"], k=2)
        assert ids(got) == ["s2", "s3"]
    finally:
        await sdk.close()
    assert changes == []
    assert [c.operation for c in calls] == ["recommend"] * 4


async def test_no_fetch_while_the_breaker_is_open(
    make: Callable[..., Driver], server: FakeCartwise, clock: FakeClock
) -> None:
    server.up = False
    sdk = make(server, breaker=BreakerPolicy(threshold=1, reset_timeout=30.0))
    try:
        await sdk.recommend(["p1"])  # first use, but this failure opened the breaker
        await sdk.settle()
        assert sdk.breaker_state is BreakerState.OPEN
        for _ in range(5):
            clock.advance(5.0)
            await sdk.recommend(["p1"])
            await sdk.settle()
        assert server.fetches == []

        clock.advance(5.1)
        server.up = True
        probe = await sdk.recommend(["p1"])  # the half-open probe succeeds and closes it
        await sdk.settle()
        assert (probe.source, sdk.breaker_state) == ("model", BreakerState.CLOSED)
        assert len(server.fetches) == 1
    finally:
        await sdk.close()


async def test_refreshed_after_the_interval(
    make: Callable[..., Driver], server: FakeCartwise, clock: FakeClock
) -> None:
    sdk = make(server, server_defaults=ServerDefaultsPolicy(interval=60.0))
    try:
        await sdk.recommend(["p1"])
        await sdk.settle()
        server.defaults_ids = ("n1", "n2")
        clock.advance(59.0)
        await sdk.recommend(["p1"])
        await sdk.settle()
        assert len(server.fetches) == 1

        clock.advance(1.0)
        await sdk.recommend(["p1"])
        await sdk.settle()
        assert len(server.fetches) == 2
        server.up = False
        assert ids(await sdk.recommend(["p1"])) == ["n1", "n2"]
    finally:
        await sdk.close()


async def test_a_cache_hit_counts_as_a_good_call(
    make: Callable[..., Driver], server: FakeCartwise, clock: FakeClock
) -> None:
    sdk = make(server, cache=CachePolicy(ttl=1_000.0))
    try:
        await sdk.recommend(["p1"])
        await sdk.settle()
        clock.advance(300.0)
        hit = await sdk.recommend(["p1"])
        await sdk.settle()
    finally:
        await sdk.close()
    assert hit.source == "cache"
    assert len(server.fetches) == 2


# What only one client can show: a slow fetch against the caller's clock, and close().


async def test_async_a_slow_fetch_delays_no_call_runs_once_and_is_cancelled_on_close(
    clock: FakeClock, server: FakeCartwise
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        reply = server(request)
        if request.url.path == "/v1/defaults":
            started.set()
            await release.wait()  # never set: close() must cancel this
        return reply

    sdk = AsyncCartwiseClient(BASE, KEY, sleep=clock.async_sleep, **options(clock, slow))
    try:
        first = await sdk.recommend(["p1"])
        await asyncio.wait_for(started.wait(), timeout=5)
        for _ in range(5):
            clock.advance(301.0)
            assert (await sdk.recommend(["p1"])).source == "model"
            await asyncio.sleep(0.01)  # a second fetch, if one were started, would reach it
        assert len(server.fetches) == 1  # one in flight at most
        fetcher = sdk._fetcher
        assert fetcher is not None and not fetcher.done()
    finally:
        await asyncio.wait_for(sdk.close(), timeout=2)
    assert first.source == "model"
    assert fetcher.cancelled()


def test_sync_a_slow_fetch_delays_no_call_runs_once_and_is_joined_on_close(
    clock: FakeClock, server: FakeCartwise
) -> None:
    release = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        reply = server(request)
        if request.url.path == "/v1/defaults":
            release.wait(timeout=5)
        return reply

    sdk = CartwiseClient(BASE, KEY, sleep=clock.sleep, **options(clock, slow))
    try:
        started = time.monotonic()
        assert sdk.recommend(["p1"]).source == "model"
        for _ in range(5):
            clock.advance(301.0)
            assert sdk.recommend(["p1"]).source == "model"
        assert time.monotonic() - started < 1.0  # no call waited on the fetch
        assert len(server.fetches) == 1
        fetch = sdk._fetch
        assert fetch is not None and not fetch.done()
        threading.Timer(0.2, release.set).start()
    finally:
        sdk.close()
    assert fetch.done() and fetch.exception() is None
    server.up = False
    assert ids(sdk.recommend(["s1"], k=1)) == ["s2"]  # kept; a closed client still falls back


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_closing_while_a_fetch_waits_on_a_hung_server_is_clean(kind: str) -> None:
    hung = SilentServer(trickle=False)
    policy = ServerDefaultsPolicy(timeout=0.3)
    try:
        started = time.monotonic()
        if kind == "async":
            async with AsyncCartwiseClient(hung.url, KEY, budget=0.1, server_defaults=policy) as a:
                assert (await a.recommend(["p1"])).source == "fallback"  # first use: a fetch
                await eventually(lambda: hung.connections >= 2)  # the fetch hangs too
        else:
            with CartwiseClient(hung.url, KEY, budget=0.1, server_defaults=policy) as s:
                assert s.recommend(["p1"]).source == "fallback"
                ends = time.monotonic() + 2
                while hung.connections < 2 and time.monotonic() < ends:
                    time.sleep(0.01)
                assert hung.connections >= 2
        assert time.monotonic() - started < 0.1 + 0.3 + 1.5
    finally:
        hung.close()


def test_the_defaults_endpoint_is_what_respx_sees(clock: FakeClock) -> None:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.post("/v1/recommendations").mock(
            side_effect=[httpx.Response(200, json=answer()), httpx.Response(503)]
        )
        route = router.get("/v1/defaults", params={"k": "20"}).mock(
            return_value=httpx.Response(
                200,
                json=answer("defaults", "s1", "s2"),
                headers={"Cache-Control": "private, max-age=300"},
            )
        )
        with CartwiseClient(BASE, KEY, clock=clock, sleep=clock.sleep, cache=None) as sdk:
            sdk.recommend(["p1"])
            fetch = sdk._fetch
            assert fetch is not None
            fetch.result(timeout=5)
            got = sdk.recommend(["s2"], k=4)
    assert route.call_count == 1
    assert json.loads(route.calls.last.response.content)["source"] == "defaults"
    assert (got.source, ids(got)) == ("fallback", ["s1"])
