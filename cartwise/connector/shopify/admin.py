"""`ShopifyAdmin`: an async Admin GraphQL client for one shop that respects Shopify's limits.

Shopify limits GraphQL by query cost with a leaky bucket per app and shop, and a throttled call
comes back as HTTP 200 with a `THROTTLED` error, so status-based retrying never sees it. This
client keeps its own picture of the bucket from every answer's `extensions.cost.throttleStatus`
and waits, before sending, exactly as long as the bucket needs to hold the query's cost: after a
first throttle (or none) it is not throttled again, and it sends as soon as the points are there.
429s honour `Retry-After`; 5xx and connection errors back off with jitter; everything inside one
deadline per call (`cartwise.connector.retrying`). Other 4xx and GraphQL errors fail at once as
`UpstreamRejected`.

`shopify_app.admin_graphql_request_async` was not used: it sleeps with a hard-wired
`asyncio.sleep`, reads `Retry-After` only as whole seconds, knows nothing of THROTTLED and has
no overall deadline. Layer 2: imports `cartwise.errors`, `cartwise.connector.retrying`, httpx.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from cartwise.connector.retrying import (
    RETRY_STATUSES,
    Clock,
    RetryableAnswer,
    RetryPolicy,
    Sleep,
    async_retrying,
    retry_after_seconds,
)
from cartwise.errors import UpstreamError, UpstreamRejected, UpstreamTimeout

__all__ = ["BulkOperation", "CostBucket", "ShopifyAdmin", "ThrottleStatus"]

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2026-10"
MAX_PAGE_SIZE = 250
"""Shopify caps `first`/`last` of a connection at 250."""


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """The shop's cost bucket as Shopify last reported it."""

    maximum: float
    available: float
    restore_rate: float

    @classmethod
    def from_extensions(cls, extensions: Any) -> ThrottleStatus | None:
        try:
            status = extensions["cost"]["throttleStatus"]
            return cls(
                maximum=float(status["maximumAvailable"]),
                available=float(status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class CostBucket:
    """Our estimate of the shop's leaky bucket: the last reported level, refilled at the
    restore rate since, minus what we have sent since. `reserve` answers how long to wait
    before a query of a given cost may go; waiting that long means it will not be throttled."""

    def __init__(self, clock: Clock, *, margin: float = 0.02) -> None:
        self._clock = clock
        self._margin = margin
        self._status: ThrottleStatus | None = None
        self._level = 0.0
        self._at = 0.0

    @property
    def status(self) -> ThrottleStatus | None:
        return self._status

    def observe(self, status: ThrottleStatus) -> None:
        """Take Shopify's word for the level (it includes refunds of unused cost)."""
        self._status = status
        self._level = status.available
        self._at = self._clock()

    def level(self) -> float:
        status = self._status
        if status is None:
            return float("inf")
        refilled = self._level + (self._clock() - self._at) * status.restore_rate
        return min(status.maximum, refilled)

    def reserve(self, cost: float) -> float:
        """0 and the cost taken from the bucket when it holds `cost` now; else the seconds to
        wait before asking again (never 0)."""
        status = self._status
        if status is None:
            return 0.0
        cost = min(cost, status.maximum)
        level = self.level()
        if level >= cost:
            self._level = level - cost
            self._at = self._clock()
            return 0.0
        rate = status.restore_rate or 1.0
        return (cost - level) / rate * (1 + self._margin) + 0.001


@dataclass(frozen=True, slots=True)
class BulkOperation:
    """A bulk query's state: `url` (JSONL, valid 7 days) once COMPLETED."""

    id: str
    status: str
    url: str | None = None
    partial_data_url: str | None = None
    object_count: int = 0
    error_code: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in {"COMPLETED", "FAILED", "CANCELED", "EXPIRED"}


_BULK_RUN = """
mutation cartwiseBulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""

_BULK_NODE = """
query cartwiseBulkStatus($id: ID!) {
  node(id: $id) {
    ... on BulkOperation {
      id status errorCode objectCount url partialDataUrl
    }
  }
}
"""


class ShopifyAdmin:
    """The Admin GraphQL API of one shop (`x.myshopify.com`) with its offline token.

    Use as ``async with ShopifyAdmin(shop, token) as admin:``; it owns an `httpx.AsyncClient`
    bound to the running event loop and closes it on exit (a client passed as `http` is the
    caller's to close). `sleep` and `clock` are injectable for tests.
    """

    def __init__(
        self,
        shop: str,
        token: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.shop = shop
        self.endpoint = f"https://{shop}/admin/api/{api_version}/graphql.json"
        self._token = token
        self._http = http
        self._owns_http = http is None
        self._transport = transport
        self._policy = policy or RetryPolicy()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._clock: Clock = clock or time.monotonic
        self.bucket = CostBucket(self._clock)
        self._costs: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.throttled = 0
        """How many THROTTLED answers this client has received (should stay at most 1)."""

    async def __aenter__(self) -> ShopifyAdmin:
        self._client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None
            self._loop = None

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None:
            self._http = httpx.AsyncClient(transport=self._transport, timeout=30.0)
            self._loop = loop
        elif self._owns_http and self._loop is not loop:
            raise RuntimeError("a ShopifyAdmin client is bound to the event loop it was opened in")
        return self._http

    # -- one query ------------------------------------------------------------------------

    async def query(self, document: str, variables: Mapping[str, Any] | None = None) -> Any:
        """The `data` of one GraphQL call, retried and paced as the module says.

        Raises UpstreamRejected (a 4xx, GraphQL errors), UpstreamTimeout (the deadline passed)
        or UpstreamError (retries used up on 5xx, connection errors or unreadable answers).
        """
        client = self._client()
        body: dict[str, Any] = {"query": document}
        if variables:
            body["variables"] = dict(variables)
        headers = {"X-Shopify-Access-Token": self._token, "Content-Type": "application/json"}
        retrying, budget = async_retrying(self._policy, sleep=self._sleep, clock=self._clock)
        try:
            async for attempt in retrying:
                with attempt:
                    await self._pace(document, budget.remaining())
                    response = await client.post(
                        self.endpoint, json=body, headers=headers, timeout=budget.timeout()
                    )
                    return self._read(document, response)
        except RetryableAnswer as exc:
            if exc.status == 429 or exc.reason == "THROTTLED":
                raise UpstreamTimeout(
                    f"Shopify kept throttling {self.shop} past the deadline.",
                    shop=self.shop,
                    reason="throttled",
                ) from None
            raise UpstreamError(
                f"Shopify's Admin API failed for {self.shop} ({exc.reason}).",
                shop=self.shop,
                reason=exc.reason,
                status=exc.status,
            ) from None
        except httpx.TimeoutException:
            raise UpstreamTimeout(
                f"Shopify's Admin API did not answer for {self.shop} in time.",
                shop=self.shop,
                reason="timeout",
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamError(
                f"Shopify's Admin API could not be reached for {self.shop}: {type(exc).__name__}.",
                shop=self.shop,
                reason="unreachable",
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pace(self, document: str, remaining: float) -> None:
        """Wait until the bucket holds this query's last known cost."""
        cost = self._costs.get(document)
        if cost is None:
            return
        while (wait := self.bucket.reserve(cost)) > 0:
            if wait >= remaining:
                raise UpstreamTimeout(
                    f"Shopify's cost budget for {self.shop} refills too slowly for the deadline.",
                    shop=self.shop,
                    reason="throttled",
                )
            await self._sleep(wait)
            remaining -= wait

    def _read(self, document: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status in RETRY_STATUSES:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise RetryableAnswer(f"HTTP {status}", status=status, wait=wait)
        if status >= 400:
            raise UpstreamRejected(
                f"Shopify refused the Admin API call for {self.shop} (HTTP {status}).",
                shop=self.shop,
                status=status,
                reason=_rejection(status),
            )
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RetryableAnswer("unreadable answer", status=status) from None
        if not isinstance(payload, dict):
            raise RetryableAnswer("unreadable answer", status=status)
        extensions = payload.get("extensions")
        throttle = ThrottleStatus.from_extensions(extensions)
        if throttle is not None:
            self.bucket.observe(throttle)
        requested = _requested_cost(extensions)
        if requested is not None:
            self._costs[document] = requested
        errors = payload.get("errors")
        if errors:
            if _throttled(errors):
                self.throttled += 1
                cost = requested or self._costs.get(document) or 0.0
                wait = None
                if throttle is not None and throttle.restore_rate > 0:
                    wait = max(0.0, cost - throttle.available) / throttle.restore_rate + 0.001
                raise RetryableAnswer("THROTTLED", status=status, wait=wait)
            raise UpstreamRejected(
                f"Shopify's Admin API answered {self.shop} with errors: {_messages(errors)}",
                shop=self.shop,
                reason="graphql_errors",
            )
        if "data" not in payload:
            raise RetryableAnswer("answer without data", status=status)
        return payload["data"]

    # -- connections ----------------------------------------------------------------------

    async def paginate(
        self,
        document: str,
        path: Sequence[str],
        variables: Mapping[str, Any] | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
    ) -> AsyncIterator[Any]:
        """Every node of the connection at `path` in `data`, page after page. The document
        takes `$first: Int!` and `$after: String` and selects `nodes` and
        `pageInfo { hasNextPage endCursor }` on that connection."""
        after: str | None = None
        while True:
            page_vars = {**(variables or {}), "first": min(page_size, MAX_PAGE_SIZE)}
            if after is not None:
                page_vars["after"] = after
            data = await self.query(document, page_vars)
            connection = _dig(data, path)
            try:
                nodes = connection["nodes"]
                info = connection["pageInfo"]
                has_next = bool(info["hasNextPage"])
                cursor = info.get("endCursor")
            except (KeyError, TypeError):
                raise UpstreamError(
                    f"Shopify answered {self.shop} with a page of an unexpected shape.",
                    shop=self.shop,
                    reason="malformed_page",
                ) from None
            for node in nodes:
                yield node
            if not has_next or not cursor or cursor == after:
                return
            after = cursor

    # -- bulk operations ------------------------------------------------------------------

    async def start_bulk_query(self, document: str) -> BulkOperation:
        """Start a bulk query; UpstreamRejected with Shopify's user errors when refused
        (another bulk query still running, a bad query)."""
        data = await self.query(_BULK_RUN, {"query": document})
        result = _dig(data, ["bulkOperationRunQuery"])
        errors = (result or {}).get("userErrors") or []
        operation = (result or {}).get("bulkOperation")
        if errors or not operation:
            codes = [e.get("code") for e in errors if isinstance(e, dict)]
            raise UpstreamRejected(
                f"Shopify refused the bulk query for {self.shop}: {_messages(errors)}",
                shop=self.shop,
                reason="bulk_query_refused",
                codes=codes,
            )
        return BulkOperation(id=operation["id"], status=operation.get("status") or "CREATED")

    async def bulk_operation(self, operation_id: str) -> BulkOperation:
        data = await self.query(_BULK_NODE, {"id": operation_id})
        node = (data or {}).get("node")
        if not node:
            raise UpstreamRejected(
                f"Shopify knows no bulk operation {operation_id} for {self.shop}.",
                shop=self.shop,
                reason="bulk_operation_unknown",
            )
        return BulkOperation(
            id=node["id"],
            status=node.get("status") or "",
            url=node.get("url"),
            partial_data_url=node.get("partialDataUrl"),
            object_count=int(node.get("objectCount") or 0),
            error_code=node.get("errorCode"),
        )

    async def wait_for_bulk(
        self, operation_id: str, *, poll: float = 2.0, timeout: float = 3600.0
    ) -> BulkOperation:
        """Poll until the operation finishes (polls back off up to 30 s); UpstreamTimeout when
        it has not after `timeout` seconds."""
        started = self._clock()
        interval = poll
        while True:
            operation = await self.bulk_operation(operation_id)
            if operation.finished:
                return operation
            if self._clock() - started + interval > timeout:
                raise UpstreamTimeout(
                    f"The bulk query {operation_id} of {self.shop} did not finish in time.",
                    shop=self.shop,
                    reason="bulk_timeout",
                )
            await self._sleep(interval)
            interval = min(interval * 1.5, 30.0)

    async def stream_lines(
        self, url: str, *, skip: int = 0, attempts: int = 5
    ) -> AsyncIterator[bytes]:
        """The non-empty lines of a bulk result file as they arrive (memory stays flat whatever
        its size), the first `skip` left out: a download that breaks is started again and
        fast-forwarded past the lines already given, up to `attempts` times."""
        client = self._client()
        given = skip
        for attempt in range(1, attempts + 1):
            seen = 0
            try:
                async with client.stream("GET", url) as response:
                    status = response.status_code
                    if status >= 400 and status not in RETRY_STATUSES:
                        raise UpstreamRejected(
                            f"The bulk result of {self.shop} could not be downloaded "
                            f"(HTTP {status}); it may have expired.",
                            shop=self.shop,
                            status=status,
                            reason="bulk_result_unavailable",
                        )
                    if status < 400:
                        async for line in response.aiter_lines():
                            if not line:
                                continue
                            seen += 1
                            if seen <= given:
                                continue
                            given = seen
                            yield line.encode()
                        return
                    failure = f"HTTP {status}"
            except httpx.TransportError as exc:
                failure = type(exc).__name__
            log.warning(
                "bulk result download of %s broke after %d lines (%s), try %d of %d",
                self.shop,
                given,
                failure,
                attempt,
                attempts,
            )
            if attempt < attempts:
                await self._sleep(min(2.0**attempt, 30.0))
        raise UpstreamError(
            f"The bulk result of {self.shop} could not be downloaded ({failure}).",
            shop=self.shop,
            reason="bulk_download_failed",
        )


def _rejection(status: int) -> str:
    return {
        401: "unauthorized",
        402: "shop_frozen",
        403: "forbidden",
        404: "not_found",
        423: "shop_locked",
    }.get(status, "rejected")


def _throttled(errors: Any) -> bool:
    if not isinstance(errors, list):
        return False
    for error in errors:
        if isinstance(error, dict):
            code = (error.get("extensions") or {}).get("code")
            if code == "THROTTLED" or error.get("message") == "Throttled":
                return True
    return False


def _requested_cost(extensions: Any) -> float | None:
    try:
        return float(extensions["cost"]["requestedQueryCost"])
    except (KeyError, TypeError, ValueError):
        return None


def _messages(errors: Any) -> str:
    if not isinstance(errors, list):
        return str(errors)[:300]
    texts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
    return "; ".join(texts)[:300]


def _dig(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
