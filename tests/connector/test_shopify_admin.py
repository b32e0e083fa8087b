"""ShopifyAdmin against respx at the transport: pacing by the cost bucket, THROTTLED bodies,
429 with Retry-After, 5xx storms, deadlines, rejections, pagination and bulk operations.
Every wait goes through an injected sleep on a fake clock: no test takes wall time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from cartwise.connector.retrying import RetryPolicy, retry_after_seconds
from cartwise.connector.shopify.admin import ShopifyAdmin
from cartwise.errors import UpstreamError, UpstreamRejected, UpstreamTimeout

from .shopify_fakes import ENDPOINT, SHOP, TOKEN, BucketServer, FakeTime, cost, throttled_body

QUERY = "query { shop { name } }"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def admin(time: FakeTime, **kw: Any) -> ShopifyAdmin:
    return ShopifyAdmin(SHOP, TOKEN, sleep=time.sleep, clock=time.clock, **kw)


def ok(data: Any, available: float = 1990.0) -> httpx.Response:
    return httpx.Response(200, json={"data": data, "extensions": cost(10, 10, available)})


async def one_query(client: ShopifyAdmin, variables: dict[str, Any] | None = None) -> Any:
    async with client:
        return await client.query(QUERY, variables)


# -- one call -------------------------------------------------------------------------------


@respx.mock
def test_a_query_returns_its_data_and_sends_the_token_to_the_versioned_endpoint() -> None:
    route = respx.post(ENDPOINT).mock(return_value=ok({"shop": {"name": "Fake"}}))
    data = run(one_query(admin(FakeTime()), {"a": 1}))
    assert data == {"shop": {"name": "Fake"}}
    sent = route.calls.last.request
    assert sent.headers["X-Shopify-Access-Token"] == TOKEN
    assert json.loads(sent.content) == {"query": QUERY, "variables": {"a": 1}}


@respx.mock
def test_a_throttled_answer_waits_exactly_for_the_missing_points_then_succeeds() -> None:
    time = FakeTime()
    route = respx.post(ENDPOINT).mock(
        side_effect=[
            httpx.Response(200, json=throttled_body(requested=502, available=102, rate=100)),
            ok({"shop": {"name": "Fake"}}),
        ]
    )
    client = admin(time)
    assert run(one_query(client)) == {"shop": {"name": "Fake"}}
    assert route.call_count == 2
    assert time.sleeps == [pytest.approx(4.0, abs=0.01)]  # (502 - 102) / 100 points per second
    assert client.throttled == 1


@respx.mock
def test_after_one_throttle_the_client_paces_itself_and_keeps_the_bucket_busy() -> None:
    time = FakeTime()
    server = BucketServer(time, requested=400, actual=300, maximum=2000, rate=100, level=2000)
    respx.post(ENDPOINT).mock(side_effect=server)
    client = admin(time)

    async def many() -> None:
        async with client:
            for n in range(200):
                await client.query(QUERY, {"n": n})

    started = time.now
    run(many())
    assert server.served == 200
    assert server.throttled == 0  # it knew the cost after the first answer
    assert client.throttled == 0
    refill = (time.now - started) * server.rate
    utilisation = (server.spent - 2000) / refill
    assert utilisation >= 0.9


@respx.mock
def test_a_client_that_starts_throttled_is_throttled_once_at_most() -> None:
    time = FakeTime()
    server = BucketServer(time, requested=400, actual=390, maximum=1000, rate=50, level=100)
    respx.post(ENDPOINT).mock(side_effect=server)
    client = admin(time)

    async def many() -> None:
        async with client:
            for n in range(60):
                await client.query(QUERY, {"n": n})

    run(many())
    assert server.served == 60
    assert server.throttled == 1
    assert client.throttled == 1


@respx.mock
def test_429_honours_retry_after_in_seconds() -> None:
    time = FakeTime()
    respx.post(ENDPOINT).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), ok({"x": 1})]
    )
    assert run(one_query(admin(time))) == {"x": 1}
    assert time.sleeps == [7.0]


@respx.mock
def test_429_honours_retry_after_as_an_http_date() -> None:
    time = FakeTime()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    respx.post(ENDPOINT).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": when}), ok({"x": 1})]
    )
    assert run(one_query(admin(time))) == {"x": 1}
    assert len(time.sleeps) == 1 and 27 <= time.sleeps[0] <= 30


def test_retry_after_reads_seconds_dates_and_nonsense() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("2.5", now=now) == 2.5
    assert retry_after_seconds("Thu, 26 Nov 2026 12:00:10 GMT", now=now) == 10.0
    assert retry_after_seconds("Thu, 26 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None) is None


@respx.mock
def test_a_502_storm_is_retried_with_growing_jittered_waits_until_it_passes() -> None:
    time = FakeTime()
    route = respx.post(ENDPOINT).mock(side_effect=[httpx.Response(502)] * 5 + [ok({"x": 1})])
    assert run(one_query(admin(time))) == {"x": 1}
    assert route.call_count == 6
    assert len(time.sleeps) == 5
    assert all(0 <= s <= 20 for s in time.sleeps)


@respx.mock
def test_a_502_storm_that_does_not_pass_ends_as_an_upstream_error_within_the_attempts() -> None:
    time = FakeTime()
    route = respx.post(ENDPOINT).mock(return_value=httpx.Response(502))
    with pytest.raises(UpstreamError) as caught:
        run(one_query(admin(time, policy=RetryPolicy(attempts=4, deadline=600))))
    assert route.call_count == 4
    assert caught.value.details["status"] == 502


@respx.mock
def test_retries_stop_at_the_deadline_instead_of_sleeping_past_it() -> None:
    time = FakeTime()
    route = respx.post(ENDPOINT).mock(
        return_value=httpx.Response(503, headers={"Retry-After": "30"})
    )
    started = time.now
    with pytest.raises(UpstreamError):
        run(one_query(admin(time, policy=RetryPolicy(deadline=100, attempts=50))))
    assert route.call_count == 4  # tries at 0, 30, 60, 90 s; a fifth would start after 100 s
    assert time.now - started < 100


@respx.mock
def test_a_long_throttle_past_the_deadline_is_an_upstream_timeout() -> None:
    time = FakeTime()
    respx.post(ENDPOINT).mock(return_value=httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(UpstreamTimeout) as caught:
        run(one_query(admin(time, policy=RetryPolicy(deadline=60))))
    assert caught.value.code == "upstream_timeout"
    assert time.sleeps == []


@respx.mock
def test_connection_errors_are_retried() -> None:
    time = FakeTime()
    route = respx.post(ENDPOINT).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok({"x": 1})]
    )
    assert run(one_query(admin(time))) == {"x": 1}
    assert route.call_count == 3


@respx.mock
def test_a_connection_that_never_comes_back_is_an_upstream_error_not_a_traceback() -> None:
    time = FakeTime()
    respx.post(ENDPOINT).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(UpstreamError) as caught:
        run(one_query(admin(time, policy=RetryPolicy(attempts=3))))
    assert caught.value.details["reason"] == "unreachable"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "rejected"),
        (401, "unauthorized"),
        (402, "shop_frozen"),
        (403, "forbidden"),
        (404, "not_found"),
        (423, "shop_locked"),
    ],
)
@respx.mock
def test_other_4xx_fail_at_once_as_rejected(status: int, reason: str) -> None:
    time = FakeTime()
    route = respx.post(ENDPOINT).mock(return_value=httpx.Response(status, text="no"))
    with pytest.raises(UpstreamRejected) as caught:
        run(one_query(admin(time)))
    assert route.call_count == 1
    assert caught.value.details["reason"] == reason
    assert time.sleeps == []
    assert TOKEN not in str(caught.value.to_dict())


@respx.mock
def test_graphql_errors_other_than_throttling_are_rejected_without_retry() -> None:
    route = respx.post(ENDPOINT).mock(
        return_value=httpx.Response(
            200, json={"errors": [{"message": "Field 'nope' doesn't exist on type 'Shop'"}]}
        )
    )
    with pytest.raises(UpstreamRejected, match="doesn't exist"):
        run(one_query(admin(FakeTime())))
    assert route.call_count == 1


@respx.mock
def test_an_unreadable_answer_is_retried_then_reported() -> None:
    time = FakeTime()
    route = respx.post(ENDPOINT).mock(
        side_effect=[httpx.Response(200, text="<html>bad gateway</html>"), ok({"x": 1})]
    )
    assert run(one_query(admin(time))) == {"x": 1}
    assert route.call_count == 2
    respx.post(ENDPOINT).mock(return_value=httpx.Response(200, text="{not json"))
    with pytest.raises(UpstreamError, match="unreadable"):
        run(one_query(admin(time, policy=RetryPolicy(attempts=2))))


def test_a_client_belongs_to_the_event_loop_it_was_opened_in() -> None:
    client = admin(FakeTime(), transport=httpx.MockTransport(lambda r: ok({})))

    async def open_it() -> None:
        await client.__aenter__()

    run(open_it())
    with pytest.raises(RuntimeError, match="event loop"):
        run(client.query(QUERY))


# -- pagination ------------------------------------------------------------------------------

PAGED = """query ($first: Int!, $after: String) {
  products(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } }
}"""


def page(ids: list[int], cursor: str | None) -> httpx.Response:
    return ok(
        {
            "products": {
                "nodes": [{"id": f"gid://shopify/Product/{i}"} for i in ids],
                "pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor},
            }
        }
    )


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


@respx.mock
def test_paginate_follows_cursors_across_pages() -> None:
    route = respx.post(ENDPOINT).mock(
        side_effect=[page([1, 2], "c1"), page([3, 4], "c2"), page([5], None)]
    )

    async def go() -> list[Any]:
        async with admin(FakeTime()) as client:
            return await collect(client.paginate(PAGED, ["products"], page_size=2))

    nodes = run(go())
    assert [n["id"].rsplit("/", 1)[1] for n in nodes] == ["1", "2", "3", "4", "5"]
    afters = [json.loads(c.request.content)["variables"].get("after") for c in route.calls]
    assert afters == [None, "c1", "c2"]


@respx.mock
def test_a_malformed_page_is_a_clear_upstream_error() -> None:
    respx.post(ENDPOINT).mock(side_effect=[page([1], "c1"), ok({"products": {"edges": []}})])

    async def go() -> list[Any]:
        async with admin(FakeTime()) as client:
            return await collect(client.paginate(PAGED, ["products"]))

    with pytest.raises(UpstreamError) as caught:
        run(go())
    assert caught.value.details["reason"] == "malformed_page"


# -- bulk operations -------------------------------------------------------------------------

BULK_ID = "gid://shopify/BulkOperation/720918"
RESULT_URL = "https://storage.googleapis.com/shopify-bulk/result.jsonl"


def bulk_state(status: str, **fields: Any) -> httpx.Response:
    node = {
        "id": BULK_ID,
        "status": status,
        "errorCode": None,
        "objectCount": "0",
        "url": None,
        "partialDataUrl": None,
        **fields,
    }
    return ok({"node": node})


def graphql_router(
    handlers: dict[str, list[httpx.Response]],
) -> Callable[[httpx.Request], httpx.Response]:
    def route(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        for marker, answers in handlers.items():
            if marker in body["query"]:
                return answers.pop(0)
        raise AssertionError(body["query"])

    return route


@respx.mock
def test_a_bulk_query_goes_created_running_completed_and_its_jsonl_streams() -> None:
    time = FakeTime()
    lines = [{"id": f"gid://shopify/Product/{i}"} for i in range(5)]
    respx.post(ENDPOINT).mock(
        side_effect=graphql_router(
            {
                "bulkOperationRunQuery": [
                    ok(
                        {
                            "bulkOperationRunQuery": {
                                "bulkOperation": {"id": BULK_ID, "status": "CREATED"},
                                "userErrors": [],
                            }
                        }
                    )
                ],
                "BulkOperation": [
                    bulk_state("CREATED"),
                    bulk_state("RUNNING", objectCount="3"),
                    bulk_state("COMPLETED", objectCount="5", url=RESULT_URL),
                ],
            }
        )
    )
    respx.get(RESULT_URL).mock(
        return_value=httpx.Response(200, text="\n".join(json.dumps(x) for x in lines) + "\n")
    )

    async def go() -> tuple[Any, list[bytes]]:
        async with admin(time) as client:
            started = await client.start_bulk_query("{ products { edges { node { id } } } }")
            done = await client.wait_for_bulk(started.id, poll=1.0)
            assert done.url is not None
            return done, await collect(client.stream_lines(done.url))

    done, got = run(go())
    assert done.status == "COMPLETED" and done.object_count == 5
    assert [json.loads(x) for x in got] == lines
    assert time.sleeps == [1.0, 1.5]


@respx.mock
def test_a_refused_bulk_query_names_shopifys_reason() -> None:
    respx.post(ENDPOINT).mock(
        return_value=ok(
            {
                "bulkOperationRunQuery": {
                    "bulkOperation": None,
                    "userErrors": [
                        {
                            "field": None,
                            "message": "A bulk query operation for this app and shop is "
                            "already in progress",
                            "code": "OPERATION_IN_PROGRESS",
                        }
                    ],
                }
            }
        )
    )

    async def go() -> Any:
        async with admin(FakeTime()) as client:
            return await client.start_bulk_query("{ products { edges { node { id } } } }")

    with pytest.raises(UpstreamRejected, match="already in progress") as caught:
        run(go())
    assert caught.value.details["codes"] == ["OPERATION_IN_PROGRESS"]


class _BreakingStream(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        raise httpx.ReadError("connection reset")


@respx.mock
def test_a_broken_download_restarts_and_gives_every_line_once() -> None:
    time = FakeTime()
    body = b"".join(b'{"n": %d}\n' % i for i in range(10))
    respx.get(RESULT_URL).mock(
        side_effect=[
            httpx.Response(200, stream=_BreakingStream([body[:40]])),
            httpx.Response(503),
            httpx.Response(200, content=body),
        ]
    )

    async def go() -> list[bytes]:
        async with admin(time) as client:
            return await collect(client.stream_lines(RESULT_URL))

    got = [json.loads(x)["n"] for x in run(go())]
    assert got == list(range(10))
    assert len(time.sleeps) == 2


@respx.mock
def test_stream_lines_skips_the_lines_given_before_a_crash() -> None:
    body = b"".join(b'{"n": %d}\n' % i for i in range(6))
    respx.get(RESULT_URL).mock(return_value=httpx.Response(200, content=body))

    async def go() -> list[bytes]:
        async with admin(FakeTime()) as client:
            return await collect(client.stream_lines(RESULT_URL, skip=4))

    assert [json.loads(x)["n"] for x in run(go())] == [4, 5]


@respx.mock
def test_an_expired_result_file_is_rejected_not_retried() -> None:
    route = respx.get(RESULT_URL).mock(return_value=httpx.Response(403, text="expired"))

    async def go() -> list[bytes]:
        async with admin(FakeTime()) as client:
            return await collect(client.stream_lines(RESULT_URL))

    with pytest.raises(UpstreamRejected) as caught:
        run(go())
    assert route.call_count == 1
    assert caught.value.details["reason"] == "bulk_result_unavailable"
