"""The SDK's side of the `/v1` wire format, with no IO: a call's arguments checked into a
`RecommendationRequest`, curated defaults read into items, and whatever ended a send (an error
status, an httpx error, the deadline) translated into the `SdkError` tree.
Layer 0 only, plus httpx and pydantic.
"""

from __future__ import annotations

import traceback
from collections.abc import Hashable, Sequence
from typing import get_args

import httpx
from pydantic import ConfigDict, ValidationError

from cartwise.schemas import (
    CartItem,
    ErrorResponse,
    Placement,
    RecommendationItem,
    RecommendationRequest,
    RecommendationResponse,
    RequestContext,
)
from cartwise.sdk._retry import Retryable
from cartwise.sdk.errors import (
    BudgetExceeded,
    ClientError,
    ConnectionFailed,
    InvalidResponse,
    SdkError,
    ServerError,
)

__all__ = [
    "PLACEMENTS",
    "Answer",
    "DeadlinePassed",
    "Default",
    "FrozenItem",
    "as_sdk_error",
    "cache_key",
    "default_item",
    "forget",
    "http_error",
    "precheck",
    "recommendation_request",
]

PLACEMENTS = frozenset(get_args(Placement))

Default = RecommendationItem | str
"""A curated default: a full item, or a bare product id (shown with an empty title)."""


class FrozenItem(RecommendationItem):
    """A recommended product as the SDK hands it out: immutable, so that cache hits and
    fallbacks can share one item without copying it (edit with `item.model_copy(update=...)`)."""

    model_config = ConfigDict(frozen=True)


class Answer(RecommendationResponse):
    """`RecommendationResponse` read with immutable items."""

    items: list[FrozenItem]  # type: ignore[assignment]


class DeadlinePassed(Exception):
    """The call's deadline came before the transport gave up on its own."""


def precheck(cart: Sequence[str | CartItem], k: int, placement: str) -> None:
    """The checks that must pass before the cache is asked (a bool is an int, and `True == 1`
    would find the answer for `k=1`); `recommendation_request` does the rest."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 20:
        raise ValueError(f"k must be a whole number within 1..20, not {k!r}")
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {sorted(PLACEMENTS)}, not {placement!r}")
    if isinstance(cart, str | bytes):
        raise ValueError("cart is a list of product ids or CartItems, not one string")


def cache_key(
    shop: str,
    cart: Sequence[str | CartItem],
    session_id: str | None,
    customer_id: str | None,
    k: int,
    placement: str,
    context: RequestContext | None,
) -> Hashable | None:
    """Whose answer this is and to what: shop, session, customer, the cart as a multiset (order
    does not matter, quantities do), placement, k and context. None for a cart of other types,
    which validation will refuse."""
    lines = []
    for line in cart:
        if isinstance(line, str):
            lines.append((line, "", 1))
        elif isinstance(line, CartItem):
            variant = "" if line.variant_id is None else f"={line.variant_id}"
            lines.append((line.product_id, variant, line.quantity))
        else:
            return None
    lines.sort()
    shown = (context.device, context.country, context.referrer) if context else None
    return (shop, session_id, customer_id, tuple(lines), placement, k, shown)


def recommendation_request(
    cart: Sequence[str | CartItem],
    session_id: str | None,
    customer_id: str | None,
    k: int,
    placement: str,
    context: RequestContext | None,
) -> RecommendationRequest:
    """The body of a `recommend` call; `ValueError` (the caller's bug, never the network's)
    for arguments the server would refuse with a 422."""
    precheck(cart, k, placement)
    try:
        items = [CartItem(product_id=c) if isinstance(c, str) else c for c in cart]
        return RecommendationRequest(
            cart=items,
            session_id=session_id,
            customer_id=customer_id,
            placement=placement,  # type: ignore[arg-type]
            k=k,
            context=context,
        )
    except ValidationError as exc:
        raise ValueError(f"invalid recommend() arguments: {exc}") from None


def default_item(default: Default) -> FrozenItem:
    if isinstance(default, RecommendationItem):
        return FrozenItem.model_validate(default.model_dump())
    if isinstance(default, str) and default:
        return FrozenItem(product_id=default, title="", reason="", score=0.0)
    raise ValueError(f"a default is a RecommendationItem or a product id, not {default!r}")


def http_error(response: httpx.Response, attempts: int) -> SdkError:
    """The error an answer with a non-2xx status stands for, with the server's own code."""
    status = response.status_code
    try:
        body = ErrorResponse.model_validate_json(response.content).error
    except ValidationError:
        body = None
    fields = {
        "http_status": status,
        "server_code": body.code if body else None,
        "server_message": body.message if body else None,
        "server_details": body.details if body else None,
        "attempts": attempts,
    }
    what = f"HTTP {status}" + (f" {body.code}: {body.message}" if body else "")
    if 400 <= status < 500:
        return ClientError(f"the server refused the call ({what})", **fields)  # type: ignore[arg-type]
    if status >= 500:
        return ServerError(f"the server failed ({what})", **fields)  # type: ignore[arg-type]
    return InvalidResponse(f"unexpected answer ({what})", attempts=attempts)


def as_sdk_error(error: BaseException | None, attempts: int) -> SdkError:
    """Translate what ended a send (the last try's exception) into the SDK's tree."""
    if isinstance(error, SdkError):
        return error
    if isinstance(error, Retryable):
        return http_error(error.response, attempts)
    if isinstance(error, httpx.TimeoutException | TimeoutError | DeadlinePassed):
        return BudgetExceeded("no answer within the time budget", attempts=attempts)
    if isinstance(error, httpx.TransportError):
        return ConnectionFailed(f"the server could not be reached: {error!r}", attempts=attempts)
    if isinstance(error, httpx.HTTPError):
        return InvalidResponse(f"the answer could not be read: {error!r}", attempts=attempts)
    return SdkError(f"the call failed: {error!r}", attempts=attempts)


def forget(error: BaseException | None) -> None:
    """Free a handled exception's frames now: a traceback kept in a reference cycle (tenacity
    holds the last outcome) is otherwise left to a garbage collection, whose pause lands on
    whichever call comes next, during an outage when calls fail by the hundred."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if error.__traceback__ is not None:
            traceback.clear_frames(error.__traceback__)
            error.__traceback__ = None
        error = error.__cause__ or error.__context__
