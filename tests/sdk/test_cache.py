"""The session-level cache: a hit within its TTL, a miss after it, never one shopper's answer
for another, and never a failure or a fallback kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from cartwise.sdk import AsyncCartwiseClient, CachePolicy, CartItem, RequestContext

from .conftest import BASE, DEFAULTS, KEY, FakeClock, answer

pytestmark = pytest.mark.anyio


def client(clock: FakeClock, **options: Any) -> AsyncCartwiseClient:
    return AsyncCartwiseClient(
        BASE,
        KEY,
        defaults=DEFAULTS,
        clock=clock,
        sleep=clock.async_sleep,
        cache=CachePolicy(ttl=60.0),
        **options,
    )


@pytest.fixture
def route(router: respx.MockRouter) -> respx.Route:
    return router.post("/v1/recommendations").mock(return_value=httpx.Response(200, json=answer()))


async def test_a_hit_within_the_ttl_and_a_miss_after(route: respx.Route, clock: FakeClock) -> None:
    calls = []
    async with client(clock, on_call=calls.append) as sdk:
        first = await sdk.recommend(["p1"], session_id="s", k=4)
        clock.advance(59.0)
        second = await sdk.recommend(["p1"], session_id="s", k=4)
        clock.advance(2.0)
        third = await sdk.recommend(["p1"], session_id="s", k=4)

    assert route.call_count == 2
    assert (first.source, second.source, third.source) == ("model", "cache", "model")
    assert second.items == first.items
    assert second.request_id == first.request_id
    assert second.model_version == first.model_version
    assert calls[1].source == "cache"
    assert calls[1].attempts == 0


async def test_the_cart_is_a_multiset(route: respx.Route, clock: FakeClock) -> None:
    async with client(clock) as sdk:
        await sdk.recommend(["p1", "p2"], session_id="s")
        shuffled = await sdk.recommend(["p2", "p1"], session_id="s")
        more = await sdk.recommend([CartItem(product_id="p1", quantity=2), "p2"], session_id="s")
    assert shuffled.source == "cache"
    assert more.source == "model"
    assert route.call_count == 2


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"session_id": "s2"}, id="session"),
        pytest.param({"customer_id": "c2"}, id="customer"),
        pytest.param({"placement": "checkout"}, id="placement"),
        pytest.param({"k": 5}, id="k"),
        pytest.param({"context": RequestContext(country="FR")}, id="context"),
    ],
)
async def test_no_answer_crosses_to_another_shopper_or_slot(
    route: respx.Route, clock: FakeClock, other: dict[str, Any]
) -> None:
    base: dict[str, Any] = {"session_id": "s1", "customer_id": "c1", "k": 4}
    async with client(clock) as sdk:
        await sdk.recommend(["p1"], **base)
        got = await sdk.recommend(["p1"], **{**base, **other})
    assert got.source == "model"
    assert route.call_count == 2


async def test_another_shop_never_shares_an_answer(route: respx.Route, clock: FakeClock) -> None:
    """Two clients share nothing; the key also names the shop (its API key and base URL)."""
    async with client(clock) as one, AsyncCartwiseClient(BASE, "ck_other", clock=clock) as two:
        await one.recommend(["p1"], session_id="s")
        assert (await two.recommend(["p1"], session_id="s")).source == "model"
    assert route.call_count == 2


async def test_failures_and_fallbacks_are_not_cached(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post("/v1/recommendations").mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(200, json=answer("fallback", "d9")),
            httpx.Response(200, json=answer()),
            httpx.Response(200, json=answer()),
        ]
    )
    async with client(clock) as sdk:
        sources = [(await sdk.recommend(["p1"], session_id="s")).source for _ in range(4)]
    assert sources == ["fallback", "fallback", "model", "cache"]
    assert route.call_count == 3


async def test_editing_an_answer_does_not_change_the_next(
    route: respx.Route, clock: FakeClock
) -> None:
    """Answers are new objects; their items are immutable and shared with the cache."""
    async with client(clock) as sdk:
        first = await sdk.recommend(["p1"], session_id="s")
        with pytest.raises(ValidationError, match="frozen"):
            first.items[0].title = "edited"
        first.items[0] = first.items[0].model_copy(update={"title": "edited"})
        first.items.pop()
        second = await sdk.recommend(["p1"], session_id="s")
        second.items.clear()
        third = await sdk.recommend(["p1"], session_id="s")
    assert [item.title for item in third.items] == ["Product p2", "Product p3"]


async def test_without_a_cache_every_call_asks(route: respx.Route, clock: FakeClock) -> None:
    async with AsyncCartwiseClient(BASE, KEY, cache=None, clock=clock) as sdk:
        for _ in range(3):
            assert (await sdk.recommend(["p1"], session_id="s")).source == "model"
    assert route.call_count == 3
