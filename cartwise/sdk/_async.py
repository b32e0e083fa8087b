"""`AsyncCartwiseClient`: the SDK on asyncio, over one pooled `httpx.AsyncClient`.

Every call is bounded twice: each attempt's httpx timeouts are what is left of the budget, and
the whole call (retries and waits included) runs under `asyncio.timeout`, so a server that
trickles bytes cannot hold it past the budget either. Layer 0 only, plus httpx and tenacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from types import TracebackType

import httpx
from tenacity import AsyncRetrying, retry_if_exception

from cartwise.schemas import CartItem, RecommendationResponse, RequestContext
from cartwise.sdk._breaker import OnChange
from cartwise.sdk._config import (
    BreakerPolicy,
    CachePolicy,
    RetryPolicy,
    ServerDefaultsPolicy,
    TrackPolicy,
)
from cartwise.sdk._core import Call, ClientCore, OnCall, Send
from cartwise.sdk._retry import Clock, Stop, Wait, check_status, is_retryable
from cartwise.sdk._wire import Default
from cartwise.sdk.models import BreakerState, TrackStats

__all__ = ["AsyncCartwiseClient"]

AsyncSleep = Callable[[float], Awaitable[None]]

log = logging.getLogger("cartwise.sdk")

DEFAULT_RETRY = RetryPolicy()
DEFAULT_BREAKER = BreakerPolicy()
DEFAULT_CACHE = CachePolicy()
DEFAULT_TRACKING = TrackPolicy()
DEFAULT_SERVER_DEFAULTS = ServerDefaultsPolicy()


class AsyncCartwiseClient:
    """Recommendations and event tracking for a custom storefront, on time whatever the
    network or the server do.

    `recommend` answers within `budget` seconds: the server's answer, a cached one
    (`source="cache"`), or the curated defaults (`source="fallback"`): `defaults` when given,
    else the shop's own, fetched from the server in the background (`server_defaults`). It
    raises only `ValueError` for bad arguments, unless `strict=True`, where failures raise
    `cartwise.sdk.errors.SdkError`. `breaker=None`, `cache=None` or `server_defaults=None` turn
    those off. `transport`, `clock`, `sleep` and `rng` are seams for tests.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        budget: float = 0.3,
        defaults: Sequence[Default] = (),
        strict: bool = False,
        retry: RetryPolicy = DEFAULT_RETRY,
        breaker: BreakerPolicy | None = DEFAULT_BREAKER,
        cache: CachePolicy | None = DEFAULT_CACHE,
        tracking: TrackPolicy = DEFAULT_TRACKING,
        server_defaults: ServerDefaultsPolicy | None = DEFAULT_SERVER_DEFAULTS,
        on_call: OnCall | None = None,
        on_breaker_change: OnChange | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        sleep: AsyncSleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._core = ClientCore(
            base_url,
            api_key,
            budget=budget,
            defaults=defaults,
            strict=strict,
            retry=retry,
            breaker=breaker,
            cache=cache,
            tracking=tracking,
            server_defaults=server_defaults,
            on_call=on_call,
            on_breaker_change=on_breaker_change,
            clock=clock,
            rng=rng,
        )
        self._sleep: AsyncSleep = sleep or asyncio.sleep
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False)
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._fetcher: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> AsyncCartwiseClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def breaker_state(self) -> BreakerState:
        return self._core.breaker_state

    @property
    def track_stats(self) -> TrackStats:
        return self._core.queue.stats()

    async def recommend(
        self,
        cart: Sequence[str | CartItem] = (),
        *,
        session_id: str | None = None,
        customer_id: str | None = None,
        k: int = 8,
        placement: str = "cart",
        context: RequestContext | None = None,
    ) -> RecommendationResponse:
        """Up to `k` products for this cart (product ids or `CartItem`s), within the budget."""
        core = self._core
        call = core.start(
            cart,
            session_id=session_id,
            customer_id=customer_id,
            k=k,
            placement=placement,
            context=context,
        )
        if not isinstance(call, Call):
            self._refresh_defaults(call.source == "cache")
            return call
        try:
            response = await self._exchange(
                lambda timeout: core.recommendation_request(call, timeout), call.send
            )
        except Exception as exc:
            answer = core.finish(call, error=exc)
        except BaseException:
            core.abandon(call)
            raise
        else:
            answer = core.finish(call, response=response)
        self._refresh_defaults(call.ok)
        return answer

    async def track(
        self,
        kind: str,
        product_id: str,
        *,
        session_id: str,
        request_id: str | None = None,
        placement: str | None = None,
    ) -> None:
        """Queue an `impression`, `click` or `add_to_cart`; sent in the background in batches.

        Never waits on the network and never raises for it (a full queue drops its oldest
        event, see `track_stats`); `ValueError` for bad arguments only."""
        event = self._core.event(kind, product_id, session_id, request_id, placement)
        if self._closed:
            return
        if self._core.queue.append(event):
            self._wake.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def flush(self) -> None:
        """Send the queued events now, within one budget; what fails stays queued."""
        await self._send_round()

    async def close(self) -> None:
        """Stop the background sender and any refresh of the defaults, send what is left within
        one budget, close the pool."""
        if self._closed:
            return
        self._closed = True
        for task in (self._flusher, self._fetcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._flusher = self._fetcher = None
        try:
            await self._send_round()
        finally:
            await self._http.aclose()

    async def _exchange(self, make: Callable[[float], httpx.Request], send: Send) -> httpx.Response:
        """One logical POST: retried as `_retry` allows, all of it before the deadline."""
        policy = self._core.retry
        retrying = AsyncRetrying(
            stop=Stop(policy, send.deadline),
            wait=Wait(policy, self._core.rng),
            retry=retry_if_exception(is_retryable),
            sleep=self._sleep,
            reraise=True,
        )
        response: httpx.Response | None = None
        async with asyncio.timeout(max(0.0, send.deadline.remaining())):
            async for attempt in retrying:
                with attempt:
                    send.attempts += 1
                    response = await self._http.send(make(send.deadline.remaining()))
                    send.status = response.status_code
                    check_status(response)
        if response is None:  # pragma: no cover - tenacity either made an attempt or raised
            raise RuntimeError("no attempt was made")
        return response

    def _refresh_defaults(self, ok: bool) -> None:
        """Start a refresh of the server's defaults in a task of its own when one is due, so
        that it neither delays this call nor spends its budget; one at a time."""
        if self._closed or (self._fetcher is not None and not self._fetcher.done()):
            return
        policy = self._core.server_defaults
        request = self._core.defaults_request(ok)
        if policy is not None and request is not None:
            fetch = self._fetch_defaults(request, policy.timeout)
            self._fetcher = asyncio.get_running_loop().create_task(fetch)

    async def _fetch_defaults(self, request: httpx.Request, timeout: float) -> None:
        core = self._core
        try:
            async with asyncio.timeout(timeout):  # a trickling server cannot hold it either
                response = await self._http.send(request)
        except Exception as exc:
            core.defaults_done(error=exc)
        else:
            core.defaults_done(response=response)

    async def _flush_forever(self) -> None:
        interval = self._core.tracking.interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            try:
                await self._send_round()
            except Exception:
                log.exception("sending tracked events failed")

    async def _send_round(self) -> None:
        """Send queued batches until the queue is empty, a batch fails or the round's budget
        is spent."""
        core = self._core
        deadline = core.round_deadline()
        while len(core.queue):
            send = core.events_send(deadline)
            if send is None:
                return
            batch = core.queue.take()
            if not batch:
                return
            try:
                response = await self._exchange(partial(core.events_request, batch, send), send)
            except Exception as exc:
                core.events_done(batch, send, error=exc)
                return
            except BaseException:
                core.queue.put_back(batch)
                raise
            if not core.events_done(batch, send, response=response):
                return
