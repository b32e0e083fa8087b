"""Attribution: which lines of which orders followed a click or add-to-cart, with exact revenue."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cartwise.errors import InvalidRequest
from cartwise.experiments import (
    AttributedOrder,
    Exposure,
    Interaction,
    OrderFact,
    OrderLineFact,
    attribute,
)
from cartwise.experiments.attribution import InteractionKind

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _order(
    order_id: str,
    at: datetime,
    lines: dict[str, float],
    sessions: tuple[str, ...] = ("s1",),
    customer: str | None = None,
    cancelled: bool = False,
) -> OrderFact:
    facts = tuple(OrderLineFact(product, 1, revenue) for product, revenue in lines.items())
    total = sum(lines.values())
    return OrderFact(order_id, at, total, facts, sessions, customer, cancelled)


def _click(
    product: str,
    at: datetime,
    session: str = "s1",
    kind: InteractionKind = "click",
    placement: str | None = "cart",
    request_id: str | None = "r1",
) -> Interaction:
    return Interaction(kind, session, product, at, placement, request_id)


ORDER = _order("o1", _at(60), {"mug": 20.0, "tea": 15.0, "spoon": 4.5})


def test_only_the_clicked_lines_are_attributed() -> None:
    found = attribute([ORDER], [_click("mug", _at(0), request_id="req-7")])
    assert found == [AttributedOrder("o1", 20.0, ("mug",), "cart", "req-7", "s1")]


def test_a_click_and_an_add_to_cart_attribute_two_lines() -> None:
    events = [_click("mug", _at(0)), _click("tea", _at(10), kind="add_to_cart", request_id="r2")]
    found = attribute([ORDER], events)
    assert found == [AttributedOrder("o1", 35.0, ("mug", "tea"), "cart", "r2", "s1")]


def test_an_impression_alone_attributes_nothing() -> None:
    assert attribute([ORDER], [_click("mug", _at(0), kind="impression")]) == []


def test_a_product_not_in_the_order_attributes_nothing() -> None:
    assert attribute([ORDER], [_click("kettle", _at(0))]) == []


def test_another_sessions_click_attributes_nothing() -> None:
    assert attribute([ORDER], [_click("mug", _at(0), session="s2")]) == []


def test_a_cancelled_order_attributes_nothing() -> None:
    cancelled = _order("o1", _at(60), {"mug": 20.0}, cancelled=True)
    assert attribute([cancelled], [_click("mug", _at(0))]) == []


@pytest.mark.parametrize(
    ("clicked_at", "attributed"),
    [
        pytest.param(ORDER.created_at + timedelta(seconds=1), False, id="after-the-order"),
        pytest.param(ORDER.created_at, True, id="at-the-order-time"),
        pytest.param(ORDER.created_at - DAY, True, id="exactly-24h-before"),
        pytest.param(ORDER.created_at - DAY - timedelta(seconds=1), False, id="24h-and-1s-before"),
        pytest.param(
            ORDER.created_at - DAY + timedelta(microseconds=1), True, id="just-inside-the-window"
        ),
    ],
)
def test_the_window_is_closed_at_both_ends(clicked_at: datetime, attributed: bool) -> None:
    found = attribute([ORDER], [_click("mug", clicked_at)])
    assert [order.revenue for order in found] == ([20.0] if attributed else [])


def test_the_window_is_a_parameter() -> None:
    click = [_click("mug", _at(0))]
    assert attribute([ORDER], click, window=timedelta(minutes=60))[0].revenue == 20.0
    assert attribute([ORDER], click, window=timedelta(minutes=59, seconds=59)) == []


def test_times_in_other_time_zones_compare_as_instants() -> None:
    paris = timezone(timedelta(hours=2))
    # 13:30 in Paris is 11:30 UTC: before the 12:00 UTC order, not after it.
    click = _click("mug", datetime(2024, 5, 1, 13, 30, tzinfo=paris))
    order = _order("o1", T0, {"mug": 20.0})
    assert [found.revenue for found in attribute([order], [click])] == [20.0]
    later = _click("mug", datetime(2024, 5, 1, 14, 30, tzinfo=paris))
    assert attribute([order], [later]) == []


def test_any_of_the_orders_tokens_matches_the_session() -> None:
    order = _order("o1", _at(60), {"mug": 20.0}, sessions=("checkout-9", "cart-3"))
    found = attribute([order], [_click("mug", _at(0), session="cart-3")])
    assert [(a.order_id, a.session_id) for a in found] == [("o1", "cart-3")]


def test_the_customer_on_an_exposure_links_the_session() -> None:
    order = _order("o1", _at(60), {"mug": 20.0}, sessions=("checkout-9",), customer="c-42")
    click = [_click("mug", _at(0), session="s7")]
    exposure = Exposure("s7", "recs", "hybrid", holdout=False, at=_at(-5), customer="c-42")
    other = Exposure("s7", "recs", "hybrid", holdout=False, at=_at(-5), customer="c-43")
    assert attribute([order], click) == []
    assert attribute([order], click, [other]) == []
    found = attribute([order], click, [exposure])
    assert found == [AttributedOrder("o1", 20.0, ("mug",), "cart", "r1", "s7")]


def test_duplicate_interactions_count_the_order_and_its_lines_once() -> None:
    click = _click("mug", _at(0))
    found = attribute([ORDER], [click, click, click])
    assert found == [AttributedOrder("o1", 20.0, ("mug",), "cart", "r1", "s1")]


def test_two_orders_from_one_session_each_get_their_own_lines() -> None:
    first = _order("o1", _at(60), {"mug": 20.0, "tea": 15.0})
    second = _order("o2", _at(120), {"tea": 15.0, "spoon": 4.5})
    events = [_click("mug", _at(0), request_id="r1"), _click("tea", _at(90), request_id="r2")]
    found = attribute([first, second], events)
    assert found == [
        AttributedOrder("o1", 20.0, ("mug",), "cart", "r1", "s1"),
        AttributedOrder("o2", 15.0, ("tea",), "cart", "r2", "s1"),
    ]


def test_two_lines_of_one_product_both_count_and_the_product_is_listed_once() -> None:
    lines = (
        OrderLineFact("mug", 1, 20.0),
        OrderLineFact("tea", 2, 30.0),
        OrderLineFact("mug", 2, 36.0),
    )
    order = OrderFact("o1", _at(60), 86.0, lines, ("s1",))
    found = attribute([order], [_click("mug", _at(0))])
    assert found == [AttributedOrder("o1", 56.0, ("mug",), "cart", "r1", "s1")]


def test_the_latest_qualifying_interaction_names_the_placement() -> None:
    events = [
        _click("tea", _at(30), placement="product", request_id="late"),
        _click("mug", _at(10), placement="cart", request_id="early"),
        # Later, but none of these qualifies: an impression, another product, after the order.
        _click("mug", _at(50), kind="impression", placement="home", request_id="seen"),
        _click("kettle", _at(55), placement="home", request_id="other"),
        _click("mug", _at(61), placement="home", request_id="after"),
    ]
    found = attribute([ORDER], events)
    assert found == [AttributedOrder("o1", 35.0, ("mug", "tea"), "product", "late", "s1")]


def test_a_tie_in_time_goes_to_the_later_event_in_the_input() -> None:
    order = _order("o1", _at(60), {"mug": 20.0}, sessions=("s1", "s2"))
    events = [
        _click("mug", _at(0), session="s2", placement="checkout", request_id="first"),
        _click("mug", _at(0), session="s1", placement="cart", request_id="second"),
    ]
    assert attribute([order], events)[0].request_id == "second"
    assert attribute([order], events[::-1])[0].request_id == "first"


def test_orders_keep_their_input_order() -> None:
    orders = [_order(f"o{i}", _at(60 - i), {"mug": float(i)}) for i in range(5)]
    found = attribute(orders, [_click("mug", _at(0))])
    assert [(a.order_id, a.revenue) for a in found] == [(f"o{i}", float(i)) for i in range(5)]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda at: _click("mug", at), id="interaction"),
        pytest.param(lambda at: Exposure("s1", "recs", "hybrid", False, at), id="exposure"),
        pytest.param(lambda at: _order("o1", at, {"mug": 1.0}), id="order"),
    ],
)
def test_a_naive_datetime_is_rejected(make: Callable[[datetime], object]) -> None:
    with pytest.raises(InvalidRequest, match="timezone-aware"):
        make(datetime(2024, 5, 1, 12, 0))


def test_an_unknown_kind_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match="unknown interaction kind"):
        Interaction("purchase", "s1", "mug", T0)  # type: ignore[arg-type]


@pytest.mark.parametrize("window", [timedelta(0), timedelta(hours=-1)])
def test_a_window_that_is_not_positive_is_rejected(window: timedelta) -> None:
    with pytest.raises(InvalidRequest, match="window must be positive"):
        attribute([ORDER], [], window=window)


def test_a_repeated_order_id_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match="'o1' is given more than once"):
        attribute([ORDER, ORDER], [])


def _brute_force(
    orders: list[OrderFact],
    interactions: list[Interaction],
    exposures: list[Exposure],
    window: timedelta,
) -> list[AttributedOrder]:
    """The rules read literally: every order against every interaction, no index, no bisection."""
    found = []
    for order in orders:
        if order.cancelled:
            continue
        products = [line.product_id for line in order.lines]
        matched: set[str] = set()
        latest: tuple[datetime, int, Interaction] | None = None
        for position, event in enumerate(interactions):
            same_visitor = event.session_id in order.session_ids or any(
                e.session_id == event.session_id
                and e.customer is not None
                and e.customer == order.customer
                for e in exposures
            )
            if (
                event.kind != "impression"
                and same_visitor
                and event.product_id in products
                and order.created_at - window <= event.at <= order.created_at
            ):
                matched.add(event.product_id)
                if latest is None or (event.at, position) > latest[:2]:
                    latest = (event.at, position, event)
        if latest is not None:
            revenue = sum(line.revenue for line in order.lines if line.product_id in matched)
            names = tuple(dict.fromkeys(p for p in products if p in matched))
            event = latest[2]
            found.append(
                AttributedOrder(
                    order.order_id,
                    revenue,
                    names,
                    event.placement,
                    event.request_id,
                    event.session_id,
                )
            )
    return found


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_agrees_with_a_brute_force_reference(seed: int) -> None:
    rng = random.Random(seed)
    sessions = [f"s{i}" for i in range(8)]
    products = [f"p{i}" for i in range(6)]
    customers = ["c0", "c1", "c2"]
    kinds: list[InteractionKind] = ["impression", "click", "add_to_cart"]
    # Whole minutes over three days, so that ties and exact window edges happen often.
    interactions = [
        Interaction(
            rng.choice(kinds),
            rng.choice(sessions),
            rng.choice(products),
            _at(rng.randrange(3 * 24 * 60)),
            rng.choice(["cart", "checkout", None]),
            f"r{n}",
        )
        for n in range(300)
    ]
    interactions += rng.sample(interactions, 30)
    exposures = [
        Exposure(rng.choice(sessions), "recs", "a", False, _at(0), rng.choice([*customers, None]))
        for _ in range(6)
    ]
    orders = []
    for n in range(60):
        chosen = rng.sample(products, rng.randint(1, 4))
        lines = tuple(OrderLineFact(p, 1, float(rng.randint(1, 99)) / 4) for p in chosen)
        orders.append(
            OrderFact(
                f"o{n}",
                _at(rng.randrange(3 * 24 * 60)),
                sum(line.revenue for line in lines),
                lines,
                tuple(rng.sample([*sessions, "token-x", "token-y"], rng.randint(1, 2))),
                rng.choice([*customers, None]),
                cancelled=rng.random() < 0.1,
            )
        )
    window = timedelta(hours=rng.choice([1, 6, 24]))
    expected = _brute_force(orders, interactions, exposures, window)
    assert len(expected) > 10
    assert attribute(orders, interactions, exposures, window) == expected
