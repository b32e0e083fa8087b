"""What a call gives back: the server's answer read against the contract, the curated
defaults when anything is wrong (or a typed error when strict), and `ValueError` for bad
arguments in both modes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from cartwise.sdk import (
    AsyncCartwiseClient,
    BudgetExceeded,
    CallInfo,
    ClientError,
    ConnectionFailed,
    InvalidResponse,
    RecommendationItem,
    RetryPolicy,
    SdkError,
    ServerError,
)

from .conftest import BASE, DEFAULTS, KEY, FakeClock, answer, error

pytestmark = pytest.mark.anyio

BROKEN = [
    pytest.param(httpx.Response(200, content=b'{"items": ['), InvalidResponse, id="malformed-json"),
    pytest.param(httpx.Response(200, text="<html>oops</html>"), InvalidResponse, id="html"),
    pytest.param(httpx.Response(200, json={"items": "none"}), InvalidResponse, id="wrong-schema"),
    pytest.param(httpx.Response(200, json=[answer()]), InvalidResponse, id="a-list"),
    pytest.param(
        httpx.Response(200, json={**answer(), "source": "magic"}), InvalidResponse, id="bad-source"
    ),
    pytest.param(httpx.Response(302, headers={"Location": "/x"}), InvalidResponse, id="redirect"),
    pytest.param(httpx.Response(500, json=error("internal_error")), ServerError, id="500"),
    pytest.param(httpx.Response(503), ServerError, id="503-no-body"),
    pytest.param(httpx.Response(401, json=error("unauthorized")), ClientError, id="401"),
    pytest.param(httpx.ConnectError("refused"), ConnectionFailed, id="refused"),
    pytest.param(httpx.ReadTimeout("slow"), BudgetExceeded, id="timeout"),
    pytest.param(httpx.RemoteProtocolError("bad"), ConnectionFailed, id="protocol"),
]


def client(clock: FakeClock, **options: Any) -> AsyncCartwiseClient:
    settings: dict[str, Any] = {
        "defaults": DEFAULTS,
        "clock": clock,
        "sleep": clock.async_sleep,
        "retry": RetryPolicy(attempts=1),
        **options,
    }
    return AsyncCartwiseClient(BASE, KEY, **settings)


async def test_the_request_follows_the_contract(router: respx.MockRouter, clock: FakeClock) -> None:
    route = router.post("/v1/recommendations").mock(return_value=httpx.Response(200, json=answer()))
    async with client(clock) as sdk:
        got = await sdk.recommend(
            ["p1", "p9"], session_id="s", customer_id="c", k=4, placement="checkout"
        )
    request = route.calls.last.request
    assert request.headers["X-Cartwise-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("cartwise-sdk-python/")
    assert request.read() == (
        b'{"cart":[{"product_id":"p1","variant_id":null,"quantity":1},'
        b'{"product_id":"p9","variant_id":null,"quantity":1}],"customer_id":"c",'
        b'"session_id":"s","placement":"checkout","k":4,"context":null}'
    )
    assert got.source == "model"
    assert [item.product_id for item in got.items] == ["p2", "p3"]


@pytest.mark.parametrize(("reply", "expected"), BROKEN)
async def test_anything_wrong_gives_the_defaults(
    router: respx.MockRouter,
    clock: FakeClock,
    reply: httpx.Response | Exception,
    expected: type[SdkError],
) -> None:
    router.post("/v1/recommendations").mock(side_effect=[reply])
    calls: list[CallInfo] = []
    async with client(clock, on_call=calls.append) as sdk:
        got = await sdk.recommend(["d2", "p1"], k=4)
    assert got.source == "fallback"
    assert [item.product_id for item in got.items] == ["d1", "d3"]
    assert got.model_version is None
    assert got.request_id.startswith("local-")
    assert calls[0].error == expected.code


@pytest.mark.parametrize(("reply", "expected"), BROKEN)
async def test_strict_mode_raises_the_typed_error(
    router: respx.MockRouter,
    clock: FakeClock,
    reply: httpx.Response | Exception,
    expected: type[SdkError],
) -> None:
    router.post("/v1/recommendations").mock(side_effect=[reply])
    async with client(clock, strict=True) as sdk:
        with pytest.raises(expected) as caught:
            await sdk.recommend(["p1"])
    assert type(caught.value) is expected
    assert caught.value.attempts == 1


async def test_a_client_error_carries_the_server_code(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    body = {"error": {"code": "invalid_request", "message": "k", "details": {"field": "k"}}}
    router.post("/v1/recommendations").mock(return_value=httpx.Response(422, json=body))
    async with client(clock, strict=True) as sdk:
        with pytest.raises(ClientError) as caught:
            await sdk.recommend(["p1"])
    assert caught.value.http_status == 422
    assert caught.value.server_code == "invalid_request"
    assert caught.value.server_message == "k"
    assert caught.value.server_details == {"field": "k"}


async def test_fallback_keeps_k_and_accepts_bare_ids(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post("/v1/recommendations").mock(return_value=httpx.Response(503))
    async with client(clock, defaults=["a", "b", "c", "d"]) as sdk:
        got = await sdk.recommend(["b"], k=2)
    assert [item.product_id for item in got.items] == ["a", "c"]


async def test_without_defaults_the_fallback_is_empty(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post("/v1/recommendations").mock(return_value=httpx.Response(503))
    async with client(clock, defaults=()) as sdk:
        got = await sdk.recommend(["p1"])
    assert got.items == []
    assert got.source == "fallback"


async def test_the_fallback_has_the_answer_shape(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    router.post("/v1/recommendations").mock(return_value=httpx.Response(503))
    async with client(clock) as sdk:
        got = await sdk.recommend()
    assert set(got.model_dump()) == {"items", "source", "model_version", "request_id", "experiment"}
    assert got.experiment is None
    assert got.items[0].model_dump() == DEFAULTS[0].model_dump()
    assert isinstance(got.items[0], RecommendationItem)


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({"k": 0}, id="k-zero"),
        pytest.param({"k": 21}, id="k-too-big"),
        pytest.param({"k": True}, id="k-bool"),
        pytest.param({"k": 2.0}, id="k-float"),
        pytest.param({"placement": "attic"}, id="placement"),
        pytest.param({"cart": "p1"}, id="cart-string"),
        pytest.param({"cart": [""]}, id="empty-id"),
        pytest.param({"cart": ["p"] * 251}, id="cart-too-long"),
        pytest.param({"session_id": "s" * 129}, id="long-session"),
    ],
)
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
async def test_bad_arguments_raise_value_error(
    clock: FakeClock, arguments: dict[str, Any], strict: bool
) -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500))
    options = dict(arguments)
    cart = options.pop("cart", ["p1"])
    async with client(clock, strict=strict, transport=transport) as sdk:
        with pytest.raises(ValueError):
            await sdk.recommend(cart, **options)
    assert sent == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"base_url": "ftp://x"}, "base_url", id="scheme"),
        pytest.param({"budget": 0}, "budget", id="budget"),
        pytest.param({"defaults": "d1"}, "defaults", id="defaults-string"),
        pytest.param({"defaults": [""]}, "default", id="empty-default"),
    ],
)
def test_bad_settings_raise_value_error(arguments: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"base_url": BASE, "api_key": KEY, **arguments}
    with pytest.raises(ValueError, match=message):
        AsyncCartwiseClient(**settings)


async def test_a_failing_hook_never_reaches_the_caller(
    router: respx.MockRouter, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(info: CallInfo) -> None:
        raise RuntimeError("statsd is down")

    router.post("/v1/recommendations").mock(return_value=httpx.Response(200, json=answer()))
    async with client(clock, on_call=explode) as sdk:
        assert (await sdk.recommend(["p1"])).source == "model"
    assert "on_call hook failed" in caplog.text


def test_the_defaults_are_items() -> None:
    assert all(isinstance(item, RecommendationItem) for item in DEFAULTS)
