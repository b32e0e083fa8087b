"""The SDK's sans-IO core: everything both clients do that is not waiting on the network.

It checks a call's arguments (with `_wire`), keys and reads the cache, asks the breaker,
builds the `httpx.Request` of each attempt, reads the answer against `cartwise.schemas`, and ends
every call the same way: cache the answer, or build the fallback (or raise, when strict), then
tell the hooks. It also says when the server's curated defaults are due for a refresh and keeps
what came back. The async and the sync client only move bytes and
sleep. Layer 0 only, plus httpx, cachetools and pydantic.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import get_args

import httpx
from pydantic import ValidationError

from cartwise import __version__
from cartwise.schemas import (
    CartItem,
    RecommendationRequest,
    RecommendationResponse,
    RequestContext,
)
from cartwise.sdk._breaker import CircuitBreaker, OnChange, Permit
from cartwise.sdk._cache import AnswerCache
from cartwise.sdk._config import (
    BreakerPolicy,
    CachePolicy,
    RetryPolicy,
    ServerDefaultsPolicy,
    TrackPolicy,
)
from cartwise.sdk._events import EventQueue
from cartwise.sdk._retry import Clock, Deadline
from cartwise.sdk._wire import (
    PLACEMENTS,
    Answer,
    Default,
    FrozenItem,
    as_sdk_error,
    cache_key,
    default_item,
    forget,
    http_error,
    precheck,
    recommendation_request,
)
from cartwise.sdk.errors import CircuitOpen, ClientError, InvalidResponse, SdkError
from cartwise.sdk.models import BreakerState, CallInfo, EventBatch, EventKind, TrackedEvent

__all__ = [
    "API_KEY_HEADER",
    "Call",
    "ClientCore",
    "OnCall",
    "Send",
]

API_KEY_HEADER = "X-Cartwise-Key"
CACHEABLE = frozenset({"model", "trending", "defaults"})
"""Answers worth keeping: the server's own fallbacks are not (the next call may do better)."""
EVENT_KINDS = frozenset(get_args(EventKind))
DEFAULTS_K = 20
"""How many server defaults to fetch: the most a call may ask for, so that a fallback still has
`k` left once the cart's products are taken out."""

OnCall = Callable[[CallInfo], None]

log = logging.getLogger("cartwise.sdk")


@dataclass(slots=True)
class Send:
    """What one logical send did on the wire: requests sent, last status seen, and the
    `Idempotency-Key` every one of its attempts carries."""

    deadline: Deadline
    started: float
    attempts: int = 0
    status: int | None = None
    _idempotency_key: str = ""

    @property
    def idempotency_key(self) -> str:
        if not self._idempotency_key:
            self._idempotency_key = uuid.uuid4().hex
        return self._idempotency_key


@dataclass(slots=True)
class Call:
    """One `recommend` call that needs the network: its request, body and cache key."""

    request: RecommendationRequest
    key: Hashable | None
    send: Send
    permit: Permit = Permit.CALL
    body: bytes = b""
    ok: bool = False
    """Set by `finish`: the server answered (a refresh of the server's defaults may follow)."""


class ClientCore:
    """The state one client owns (cache, breaker, event queue, hooks) and its IO-free steps."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        budget: float,
        defaults: Sequence[Default],
        strict: bool,
        retry: RetryPolicy,
        breaker: BreakerPolicy | None,
        cache: CachePolicy | None,
        tracking: TrackPolicy,
        server_defaults: ServerDefaultsPolicy | None,
        on_call: OnCall | None,
        on_breaker_change: OnChange | None,
        clock: Clock | None,
        rng: random.Random | None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if not 0 < budget <= 60:
            raise ValueError("budget must be within (0, 60] seconds")
        if isinstance(defaults, str):
            raise ValueError("defaults is a list of items or product ids, not one string")
        root = str(url).rstrip("/")
        self.budget = budget
        self.strict = strict
        self.retry = retry
        self.clock: Clock = clock or time.monotonic
        self.rng = rng or random.Random()  # seeded from the OS: clients never back off in step
        self.defaults = [default_item(d) for d in defaults]
        # The developer's own list always wins, and strict mode never falls back: neither needs
        # the server's defaults.
        self.server_defaults = None if self.defaults or strict else server_defaults
        self._fetched: tuple[FrozenItem, ...] = ()
        self._next_fetch: float | None = None  # None: never tried, due on first use
        self.breaker = (
            CircuitBreaker(breaker, self.clock, on_breaker_change) if breaker is not None else None
        )
        self.cache = AnswerCache(cache, self.clock) if cache is not None else None
        self.queue = EventQueue(tracking)
        self.tracking = tracking
        self._on_call = on_call
        self._refused_events = False
        self._recommend_url = httpx.URL(f"{root}/v1/recommendations")  # parsed once, not per call
        self._events_url = httpx.URL(f"{root}/v1/events")
        self._defaults_url = httpx.URL(f"{root}/v1/defaults", params={"k": DEFAULTS_K})
        self._shop = hashlib.sha256(f"{root}\n{api_key or ''}".encode()).hexdigest()[:16]
        self._headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"cartwise-sdk-python/{__version__}",
        }
        if api_key:
            self._headers[API_KEY_HEADER] = api_key

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state if self.breaker is not None else BreakerState.CLOSED

    def start(
        self,
        cart: Sequence[str | CartItem],
        *,
        session_id: str | None,
        customer_id: str | None,
        k: int,
        placement: str,
        context: RequestContext | None,
    ) -> Call | RecommendationResponse:
        """Check the arguments (`ValueError` for bad ones) and answer at once when no request
        is needed: from the cache, or with the fallback while the breaker is open (in strict
        mode `CircuitOpen` is raised). Otherwise the `Call` the client sends."""
        started = self.clock()
        precheck(cart, k, placement)
        key = None
        if self.cache is not None:
            # A key the cache holds was made from arguments that passed validation, so a hit
            # skips it: the hit path stays within tens of microseconds.
            key = cache_key(self._shop, cart, session_id, customer_id, k, placement, context)
            hit = self.cache.get(key) if key is not None else None
            if hit is not None:
                latency = self.clock() - started
                info = CallInfo("recommend", latency, "cache", 0, None, self.breaker_state)
                self._report(info)
                return hit
        request = recommendation_request(cart, session_id, customer_id, k, placement, context)
        send = Send(Deadline(self.clock, started + self.budget), started)
        call = Call(request, key, send)
        if self.breaker is not None:
            call.permit = self.breaker.allow()
            if call.permit is Permit.DENIED:
                error = CircuitOpen("the circuit breaker is open; no request was sent")
                return self.finish(call, error=error)
        call.body = request.model_dump_json().encode()
        return call

    def recommendation_request(self, call: Call, timeout: float) -> httpx.Request:
        return self._post(self._recommend_url, call.body, call.send.idempotency_key, timeout)

    def finish(
        self,
        call: Call,
        response: httpx.Response | None = None,
        error: BaseException | None = None,
    ) -> RecommendationResponse:
        """End a call: the answer (cached when worth it), else the fallback, or in strict mode
        the `SdkError`; the hooks hear about it either way."""
        answer: RecommendationResponse | None = None
        failure: SdkError | None = None
        if response is None:
            failure = as_sdk_error(error, call.send.attempts)
            forget(error)
        else:
            try:
                answer = self._read(response, call.send.attempts)
            except SdkError as exc:
                failure = exc
        self._settle(call.permit, failure)
        call.ok = failure is None
        if answer is None:
            answer = self.fallback(call.request)
        elif answer.source in CACHEABLE and self.cache is not None and call.key is not None:
            self.cache.put(call.key, answer)
        self._report(
            CallInfo(
                operation="recommend",
                latency=self.clock() - call.send.started,
                source=answer.source if failure is None or not self.strict else None,
                attempts=call.send.attempts,
                status=call.send.status,
                breaker=self.breaker_state,
                error=failure.code if failure else None,
            )
        )
        if failure is not None and self.strict:
            raise failure
        return answer

    def abandon(self, call: Call) -> None:
        """The call was cancelled from outside: no verdict on the server."""
        if self.breaker is not None:
            self.breaker.abandon(call.permit)

    def fallback(self, request: RecommendationRequest) -> RecommendationResponse:
        """The curated defaults (the constructor's, else the last fetched from the server),
        minus what is in the cart, `k` at most, with a request id of our own (`local-…`, never
        one the server issued)."""
        in_cart = {item.product_id for item in request.cart}
        curated = self.defaults or self._fetched
        items = [d for d in curated if d.product_id not in in_cart]
        return RecommendationResponse.model_construct(
            items=items[: request.k],
            source="fallback",
            model_version=None,
            request_id=f"local-{uuid.uuid4().hex}",
        )

    def defaults_due(self, ok: bool) -> bool:
        """Whether a call that just ended (`ok`: the server answered) should start a refresh
        of the server's defaults: on first use, then after a good call once `interval` has
        passed since the last try; never while the breaker is not closed. Cheap: every call
        asks. The client keeps at most one fetch in flight."""
        if self.server_defaults is None:
            return False
        due = self._next_fetch
        if due is not None and not (ok and self.clock() >= due):
            return False
        return self.breaker_state is BreakerState.CLOSED

    def defaults_request(self, ok: bool) -> httpx.Request | None:
        """The `GET /v1/defaults` of a refresh when one is due (see `defaults_due`), else None.
        The refresh counts as started: the next one is due an `interval` later whatever this
        one does, so a failure is retried then, not at once."""
        policy = self.server_defaults
        if policy is None or not self.defaults_due(ok):
            return None
        self._next_fetch = self.clock() + policy.interval
        headers = {k: v for k, v in self._headers.items() if k != "Content-Type"}
        return httpx.Request(
            "GET",
            self._defaults_url,
            headers=headers,
            extensions={"timeout": httpx.Timeout(policy.timeout).as_dict()},
        )

    def defaults_done(
        self, response: httpx.Response | None = None, error: BaseException | None = None
    ) -> None:
        """Keep the items of a good answer for the fallback; otherwise keep what we had. A
        refresh is housekeeping: it tells neither the breaker nor the hooks, and never raises."""
        failure: SdkError | None
        if response is None:
            failure = as_sdk_error(error, 1)
            forget(error)
        else:
            try:
                answer = self._read(response, 1)
            except SdkError as exc:
                failure = exc
            else:
                self._fetched = tuple(answer.items)  # one assignment: readers see old or new
                log.debug("fetched %d curated defaults from the server", len(answer.items))
                return
        log.debug("fetching the server's curated defaults failed, kept the last ones: %s", failure)

    def event(
        self,
        kind: str,
        product_id: str,
        session_id: str,
        request_id: str | None,
        placement: str | None,
    ) -> TrackedEvent:
        if kind not in EVENT_KINDS:
            raise ValueError(f"kind must be one of {sorted(EVENT_KINDS)}, not {kind!r}")
        if placement is not None and placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {sorted(PLACEMENTS)}, not {placement!r}")
        try:
            return TrackedEvent.model_validate(
                {
                    "kind": kind,
                    "product_id": product_id,
                    "session_id": session_id,
                    "request_id": request_id,
                    "placement": placement,
                }
            )
        except ValidationError as exc:
            raise ValueError(f"invalid track() arguments: {exc}") from None

    def round_deadline(self) -> Deadline:
        """The deadline of one round of event sends (a background round, `flush`, `close`)."""
        return Deadline.after(self.clock, self.budget)

    def events_send(self, deadline: Deadline) -> Send | None:
        """A new send of one batch, or None when the round is over: its deadline is too close,
        or the breaker is not closed (events never probe a failing server)."""
        if self.breaker_state is not BreakerState.CLOSED:
            return None
        if deadline.remaining() < self.retry.min_attempt:
            return None
        return Send(deadline, self.clock())

    def events_request(
        self, batch: list[TrackedEvent], send: Send, timeout: float
    ) -> httpx.Request:
        body = EventBatch(events=batch).model_dump_json().encode()
        return self._post(self._events_url, body, send.idempotency_key, timeout)

    def events_done(
        self,
        batch: list[TrackedEvent],
        send: Send,
        response: httpx.Response | None = None,
        error: BaseException | None = None,
    ) -> bool:
        """Account for a sent batch: True when it left the queue for good (accepted, or
        refused with a 4xx), False when it was put back for a later try."""
        failure: SdkError | None = None
        gone = True
        if response is not None and 200 <= response.status_code < 300:
            self.queue.sent(batch)
        else:
            if response is None:
                failure = as_sdk_error(error, send.attempts)
                forget(error)
            else:
                failure = http_error(response, send.attempts)
            if isinstance(failure, ClientError) and failure.http_status != 429:
                self.queue.rejected(batch)
                # Once at WARNING: a server without /v1/events refuses every batch.
                level = logging.DEBUG if self._refused_events else logging.WARNING
                self._refused_events = True
                log.log(level, "the server refused %d events: %s", len(batch), failure)
            else:
                self.queue.put_back(batch)
                gone = False
        self._report(
            CallInfo(
                operation="events",
                latency=self.clock() - send.started,
                source=None,
                attempts=send.attempts,
                status=send.status,
                breaker=self.breaker_state,
                error=failure.code if failure else None,
                events=len(batch),
            )
        )
        return gone

    def _post(
        self, url: httpx.URL, body: bytes, idempotency_key: str, timeout: float
    ) -> httpx.Request:
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        seconds = max(0.001, timeout)
        return httpx.Request(
            "POST",
            url,
            content=body,
            headers=headers,
            extensions={"timeout": httpx.Timeout(seconds).as_dict()},
        )

    def _read(self, response: httpx.Response, attempts: int) -> Answer:
        if 200 <= response.status_code < 300:
            try:
                answer = Answer.model_validate_json(response.content)
            except ValidationError as exc:
                raise InvalidResponse(
                    f"the answer does not follow the contract: {exc.error_count()} errors",
                    attempts=attempts,
                ) from None
            return answer
        raise http_error(response, attempts)

    def _settle(self, permit: Permit, failure: SdkError | None) -> None:
        """Tell the breaker: a refusal (4xx but 429) shows a live server; no request at all
        (breaker open) says nothing."""
        if self.breaker is None or isinstance(failure, CircuitOpen):
            return
        if failure is None or (isinstance(failure, ClientError) and failure.http_status != 429):
            self.breaker.success(permit)
        else:
            self.breaker.failure(permit)

    def _report(self, info: CallInfo) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(info)
        except Exception:
            log.exception("the on_call hook failed")
