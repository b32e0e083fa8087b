"""Server-side attribution: which orders, and which of their lines, followed a recommendation.

A line is attributed when the same visitor clicked or carted its product shortly before the order;
the storefront's own claims are never trusted. Pure (layer 2): imports only layer 0 and stdlib.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from cartwise.errors import InvalidRequest

InteractionKind = Literal["impression", "click", "add_to_cart"]
INTERACTION_KINDS: Final = frozenset({"impression", "click", "add_to_cart"})
# Seeing a recommendation is not acting on it: an impression alone never attributes an order.
ATTRIBUTING_KINDS: Final = frozenset({"click", "add_to_cart"})
DEFAULT_WINDOW: Final = timedelta(hours=24)


def _require_aware(moment: datetime, what: str) -> None:
    # Naive times from different sources (UTC webhooks, local browser clocks) cannot be ordered.
    if moment.utcoffset() is None:
        raise InvalidRequest(
            f"{what} must be a timezone-aware datetime, got the naive {moment.isoformat()}"
        )


def _check_window(window: timedelta) -> None:
    if window <= timedelta(0):
        raise InvalidRequest(f"the attribution window must be positive, got {window}")


@dataclass(frozen=True, slots=True)
class Interaction:
    """A storefront event on a recommended product; `at` must be timezone-aware."""

    kind: InteractionKind
    session_id: str
    product_id: str
    at: datetime
    placement: str | None = None
    request_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in INTERACTION_KINDS:
            raise InvalidRequest(f"unknown interaction kind {self.kind!r}")
        _require_aware(self.at, "an interaction's time")


@dataclass(frozen=True, slots=True)
class Exposure:
    """A visitor answered under an arm; logged for control arms too, so their population is known.

    `customer` links the session to a logged-in customer, so an order placed under another token
    can still be matched to it.
    """

    session_id: str
    experiment: str
    arm: str
    holdout: bool
    at: datetime
    customer: str | None = None
    placement: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.at, "an exposure's time")


@dataclass(frozen=True, slots=True)
class OrderLineFact:
    """One order line; `revenue` is what the line earned, in the shop's currency."""

    product_id: str
    quantity: int
    revenue: float


@dataclass(frozen=True, slots=True)
class OrderFact:
    """An order as attribution sees it.

    `session_ids` holds every token the platform gives the order (checkout token, cart token…);
    any of them may equal a storefront session id.
    """

    order_id: str
    created_at: datetime
    total: float
    lines: tuple[OrderLineFact, ...]
    session_ids: tuple[str, ...]
    customer: str | None = None
    cancelled: bool = False

    def __post_init__(self) -> None:
        _require_aware(self.created_at, f"order {self.order_id!r}'s created_at")


@dataclass(frozen=True, slots=True)
class AttributedOrder:
    """An order credited to recommendations.

    `revenue` sums only the attributed lines; `lines` are their distinct product ids in line
    order. `placement`, `request_id` and `session_id` come from the latest qualifying interaction.
    """

    order_id: str
    revenue: float
    lines: tuple[str, ...]
    placement: str | None
    request_id: str | None
    session_id: str


# (time, position in the input, event): the position breaks ties between equal times.
_Touch = tuple[datetime, int, Interaction]


def _check_unique(orders: Sequence[OrderFact]) -> None:
    seen: set[str] = set()
    for order in orders:
        if order.order_id in seen:
            raise InvalidRequest(f"order {order.order_id!r} is given more than once")
        seen.add(order.order_id)


def _sessions_by_customer(exposures: Iterable[Exposure]) -> dict[str, set[str]]:
    linked: dict[str, set[str]] = defaultdict(set)
    for exposure in exposures:
        if exposure.customer is not None:
            linked[exposure.customer].add(exposure.session_id)
    return linked


def _visitor_sessions(order: OrderFact, linked: Mapping[str, set[str]]) -> list[str]:
    sessions = set(order.session_ids)
    if order.customer is not None:
        sessions |= linked.get(order.customer, set())
    return sorted(sessions)


def _index(
    interactions: Iterable[Interaction], wanted: set[str]
) -> dict[str, tuple[list[datetime], list[_Touch]]]:
    """Clicks and carts of the wanted sessions, each session's sorted once for bisection."""
    touches: dict[str, list[_Touch]] = defaultdict(list)
    for position, event in enumerate(interactions):
        if event.kind in ATTRIBUTING_KINDS and event.session_id in wanted:
            touches[event.session_id].append((event.at, position, event))
    index: dict[str, tuple[list[datetime], list[_Touch]]] = {}
    for session, found in touches.items():
        found.sort(key=lambda touch: (touch[0], touch[1]))
        index[session] = ([touch[0] for touch in found], found)
    return index


def attribute(
    orders: Sequence[OrderFact],
    interactions: Iterable[Interaction],
    exposures: Iterable[Exposure] = (),
    window: timedelta = DEFAULT_WINDOW,
) -> list[AttributedOrder]:
    """The orders that followed a recommendation, in input order, each at most once.

    A line is attributed when, at a time in [created_at - window, created_at] (both ends
    included), the same visitor clicked or added its product to the cart. The same visitor is an
    order session id, or a session whose exposure carries the order's customer. Cancelled orders
    attribute nothing. Among qualifying interactions the latest wins, then the later in input
    order. Raises `InvalidRequest` for a non-positive window or a repeated order id.
    """
    _check_window(window)
    _check_unique(orders)
    linked = _sessions_by_customer(exposures)
    live = [(order, _visitor_sessions(order, linked)) for order in orders if not order.cancelled]
    wanted = {session for _, sessions in live for session in sessions}
    index = _index(interactions, wanted)
    attributed: list[AttributedOrder] = []
    for order, sessions in live:
        products = {line.product_id for line in order.lines}
        start = order.created_at - window
        matched: set[str] = set()
        latest: _Touch | None = None
        for session in sessions:
            if session not in index:
                continue
            times, touches = index[session]
            for k in range(bisect_left(times, start), bisect_right(times, order.created_at)):
                touch = touches[k]
                if touch[2].product_id not in products:
                    continue
                matched.add(touch[2].product_id)
                if latest is None or (touch[0], touch[1]) > (latest[0], latest[1]):
                    latest = touch
        if latest is None:
            continue
        lines = [line for line in order.lines if line.product_id in matched]
        event = latest[2]
        attributed.append(
            AttributedOrder(
                order_id=order.order_id,
                revenue=math.fsum(line.revenue for line in lines),
                lines=tuple(dict.fromkeys(line.product_id for line in lines)),
                placement=event.placement,
                request_id=event.request_id,
                session_id=event.session_id,
            )
        )
    return attributed
