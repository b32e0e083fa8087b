"""`CartwiseClient`: the same SDK for synchronous web apps (Flask, Django), over one pooled
`httpx.Client`.

Blocking sockets only time out one read at a time, so a server that trickles bytes could hold
a read past the budget; each attempt therefore runs on a small worker pool and the caller waits
for it no longer than the deadline (an abandoned attempt ends on its own socket timeouts, which
are the budget too). A refresh of the server's defaults runs on one of the same workers, with no
caller waiting on it. Workers, pool and sender thread are made again after a fork.
Layer 0 only, plus httpx and tenacity.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from types import TracebackType

import httpx
from tenacity import Retrying, retry_if_exception

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
from cartwise.sdk._wire import DeadlinePassed, Default
from cartwise.sdk.models import BreakerState, TrackStats

__all__ = ["CartwiseClient"]

Sleep = Callable[[float], None]

log = logging.getLogger("cartwise.sdk")

WORKERS = 32
"""Attempts in flight at once per client; more wait for a worker within their own deadline."""

DEFAULT_RETRY = RetryPolicy()
DEFAULT_BREAKER = BreakerPolicy()
DEFAULT_CACHE = CachePolicy()
DEFAULT_TRACKING = TrackPolicy()
DEFAULT_SERVER_DEFAULTS = ServerDefaultsPolicy()


class CartwiseClient:
    """The synchronous twin of `AsyncCartwiseClient`: same arguments, same answers, same
    guarantees (`recommend` answers within `budget`, falls back to `defaults` or the server's
    own, raises only `ValueError` unless `strict=True`). Safe to share between threads."""

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
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
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
        self._sleep: Sleep = sleep or time.sleep
        self._transport = transport
        self._lock = threading.Lock()
        self._pid = -1
        self._http: httpx.Client | None = None
        self._workers: ThreadPoolExecutor | None = None
        self._sender: threading.Thread | None = None
        self._fetch_lock = threading.Lock()
        self._fetch: Future[None] | None = None
        self._fetch_pid = -1
        self._wake = threading.Event()
        self._closed = False
        self._released = False

    def __enter__(self) -> CartwiseClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def breaker_state(self) -> BreakerState:
        return self._core.breaker_state

    @property
    def track_stats(self) -> TrackStats:
        return self._core.queue.stats()

    def recommend(
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
            response = self._exchange(
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

    def track(
        self,
        kind: str,
        product_id: str,
        *,
        session_id: str,
        request_id: str | None = None,
        placement: str | None = None,
    ) -> None:
        """Queue an `impression`, `click` or `add_to_cart`; a background thread sends them in
        batches. Never waits on the network and never raises for it; `ValueError` for bad
        arguments only."""
        event = self._core.event(kind, product_id, session_id, request_id, placement)
        if self._closed:
            return
        if self._core.queue.append(event):
            self._wake.set()
        sender = self._sender
        if sender is None or not sender.is_alive():
            self._start_sender()

    def flush(self) -> None:
        """Send the queued events now, within one budget; what fails stays queued."""
        self._send_round()

    def close(self) -> None:
        """Stop the background sender (letting its round end, within one budget) and let a
        refresh of the defaults end (within its timeout), send what is left within one more
        budget, release the pool and the workers."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        sender = self._sender
        if sender is not None and sender is not threading.current_thread():
            sender.join(timeout=self._core.budget + 1.0)  # its round ends within one budget
        self._join_fetch()
        try:
            self._send_round()
        finally:
            with self._lock:
                http, workers = self._http, self._workers
                self._http = self._workers = None
                self._released = True
            if workers is not None:
                workers.shutdown(wait=False, cancel_futures=True)
            if http is not None:
                http.close()

    def _exchange(self, make: Callable[[float], httpx.Request], send: Send) -> httpx.Response:
        """One logical POST: retried as `_retry` allows, all of it before the deadline."""
        policy = self._core.retry
        retrying = Retrying(
            stop=Stop(policy, send.deadline),
            wait=Wait(policy, self._core.rng),
            retry=retry_if_exception(is_retryable),
            sleep=self._sleep,
            reraise=True,
        )
        response: httpx.Response | None = None
        for attempt in retrying:
            with attempt:
                send.attempts += 1
                response = self._send_before(make(send.deadline.remaining()), send)
                send.status = response.status_code
                check_status(response)
        if response is None:  # pragma: no cover - tenacity either made an attempt or raised
            raise RuntimeError("no attempt was made")
        return response

    def _send_before(self, request: httpx.Request, send: Send) -> httpx.Response:
        http, workers = self._resources()
        future: Future[httpx.Response] = workers.submit(http.send, request)
        try:
            return future.result(timeout=max(0.0, send.deadline.remaining()))
        except TimeoutError:
            future.cancel()
            raise DeadlinePassed("no answer before the deadline") from None

    def _resources(self) -> tuple[httpx.Client, ThreadPoolExecutor]:
        """The pool and the workers of this process (a forked child makes its own)."""
        with self._lock:
            if self._released:
                raise DeadlinePassed("the client is closed")
            if self._pid != os.getpid() or self._http is None or self._workers is None:
                self._pid = os.getpid()
                self._http = httpx.Client(transport=self._transport, follow_redirects=False)
                self._workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="cartwise-sdk")
            return self._http, self._workers

    def _refresh_defaults(self, ok: bool) -> None:
        """Start a refresh of the server's defaults on a worker when one is due, so that it
        neither delays this call nor spends its budget; one at a time."""
        core = self._core
        if self._closed or not core.defaults_due(ok):
            return
        with self._fetch_lock:  # `close` takes it too: no refresh starts once it has joined
            fetch = self._fetch
            if self._closed or (
                fetch is not None and not fetch.done() and self._fetch_pid == os.getpid()
            ):
                return
            request = core.defaults_request(ok)
            if request is None:
                return
            try:
                http, workers = self._resources()
                self._fetch = workers.submit(self._fetch_defaults, http, request)
            except (DeadlinePassed, RuntimeError):  # closed meanwhile
                self._fetch = None
                return
            self._fetch_pid = os.getpid()

    def _fetch_defaults(self, http: httpx.Client, request: httpx.Request) -> None:
        try:
            response = http.send(request)
        except Exception as exc:
            self._core.defaults_done(error=exc)
        else:
            self._core.defaults_done(response=response)

    def _join_fetch(self) -> None:
        """Let a refresh in flight end before the pool closes under it: it ends on its own
        socket timeouts; one not started yet is dropped."""
        with self._fetch_lock:
            fetch, self._fetch = self._fetch, None
        policy = self._core.server_defaults
        if fetch is None or policy is None or self._fetch_pid != os.getpid() or fetch.cancel():
            return
        with contextlib.suppress(Exception):
            fetch.result(timeout=policy.timeout + 1.0)

    def _start_sender(self) -> None:
        with self._lock:
            if self._closed or (self._sender is not None and self._sender.is_alive()):
                return
            self._sender = threading.Thread(
                target=self._send_forever, name="cartwise-sdk-events", daemon=True
            )
            self._sender.start()

    def _send_forever(self) -> None:
        interval = self._core.tracking.interval
        while not self._closed:
            self._wake.wait(timeout=interval)
            self._wake.clear()
            if self._closed:
                return
            try:
                self._send_round()
            except Exception:
                log.exception("sending tracked events failed")

    def _send_round(self) -> None:
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
                response = self._exchange(partial(core.events_request, batch, send), send)
            except Exception as exc:
                core.events_done(batch, send, error=exc)
                return
            if not core.events_done(batch, send, response=response):
                return
