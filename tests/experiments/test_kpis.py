"""Per-arm KPIs from seeded sessions and orders, counted by hand, and the variant readout."""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from cartwise.errors import InvalidRequest
from cartwise.experiments import (
    ArmKpis,
    Exposure,
    Interaction,
    OrderFact,
    OrderLineFact,
    PlacementKpis,
    SummaryStats,
    arm_kpis,
    attribute,
    compare,
    two_proportion_z_test,
    welch_t_test,
)
from cartwise.experiments.attribution import InteractionKind

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
KEY = "recs"


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _exposure(
    session: str,
    arm: str,
    at: datetime,
    *,
    holdout: bool = False,
    customer: str | None = None,
    placement: str | None = None,
    experiment: str = KEY,
) -> Exposure:
    return Exposure(session, experiment, arm, holdout, at, customer, placement)


def _event(
    kind: InteractionKind,
    session: str,
    product: str,
    at: datetime,
    placement: str | None = "checkout",
) -> Interaction:
    return Interaction(kind, session, product, at, placement, f"req-{session}")


def _order(
    order_id: str,
    at: datetime,
    lines: dict[str, float],
    sessions: tuple[str, ...],
    *,
    customer: str | None = None,
    cancelled: bool = False,
) -> OrderFact:
    facts = tuple(OrderLineFact(product, 1, revenue) for product, revenue in lines.items())
    return OrderFact(order_id, at, sum(lines.values()), facts, sessions, customer, cancelled)


# Control (shows nothing): s1 and s5, with s4 held out. Variant "hybrid": s2 and s3.
EXPOSURES = [
    _exposure("s1", "control", T0, placement="cart"),
    _exposure("s2", "hybrid", T0, customer="c2", placement="checkout"),
    _exposure("s2", "hybrid", _at(120), placement="product"),
    _exposure("s3", "hybrid", _at(60), placement="checkout"),
    _exposure("s4", "control", T0, holdout=True, placement="checkout"),
    _exposure("s5", "control", T0, placement="checkout"),
    _exposure("s1", "x", T0, placement="checkout", experiment="another-experiment"),
]
INTERACTIONS = [
    _event("impression", "s2", "mug", _at(1)),
    _event("click", "s2", "mug", _at(2)),
    _event("click", "s2", "mug", _at(2)),  # the same beacon, delivered twice
    _event("impression", "s2", "tea", _at(3)),
    _event("add_to_cart", "s2", "tea", _at(4)),
    _event("impression", "s3", "kettle", _at(61), placement="product"),
    _event("impression", "s3", "spoon", _at(61), placement="product"),
    _event("click", "s4", "mug", _at(5)),  # held out
    _event("click", "s1", "lamp", _at(-10)),  # before s1's first exposure
]
ORDERS = [
    # s2's customer checks out under another token: 20.0 of its 30.0 follows the mug click.
    _order("o1", _at(240), {"mug": 20.0, "bowl": 10.0}, ("checkout-1",), customer="c2"),
    _order("o2", _at(300), {"tea": 12.5}, ("s2",)),
    _order("o3", _at(30), {"lamp": 40.0}, ("cart-3", "s1")),
    # Too late: 24 h and 1 s after s3's last exposure.
    _order("o4", _at(60) + DAY + timedelta(seconds=1), {"kettle": 9.0}, ("s3",)),
    _order("o5", _at(60), {"mug": 50.0}, ("s4",)),  # held out
    _order("o6", _at(60), {"vase": 70.0}, ("s5",), cancelled=True),
    _order("o7", _at(-1), {"vase": 80.0}, ("s5",)),  # before s5's first exposure
]


def test_each_arm_matches_the_hand_count() -> None:
    kpis = arm_kpis(KEY, EXPOSURES, INTERACTIONS, ORDERS)
    assert kpis == {
        "control": ArmKpis(
            arm="control",
            visitors=2,
            holdout_visitors=1,
            impressions=0,
            clicks=0,
            add_to_carts=0,
            orders=1,
            converted_visitors=1,
            revenue=40.0,
            attributed_revenue=0.0,
            checkouts_started=1,
            checkouts_completed=0,
            # s1 spent 40, s5 nothing: mean 20, variance (20² + 20²) / 1.
            revenue_per_visitor_stats=SummaryStats(2, 20.0, 800.0),
            order_value_stats=SummaryStats(1, 40.0, 0.0),
            placements={},
        ),
        "hybrid": ArmKpis(
            arm="hybrid",
            visitors=2,
            holdout_visitors=0,
            impressions=4,
            clicks=1,
            add_to_carts=1,
            orders=2,
            converted_visitors=1,
            revenue=42.5,
            attributed_revenue=32.5,
            checkouts_started=2,
            checkouts_completed=1,
            # s2 spent 30 + 12.5, s3 nothing: mean 21.25, variance 2 · 21.25².
            revenue_per_visitor_stats=SummaryStats(2, 21.25, 903.125),
            # Orders of 30 and 12.5: mean 21.25, variance 2 · 8.75².
            order_value_stats=SummaryStats(2, 21.25, 153.125),
            placements={
                "checkout": PlacementKpis(2, 1, 1, 2, 32.5),
                "product": PlacementKpis(2, 0, 0, 0, 0.0),
            },
        ),
    }


def test_the_derived_rates() -> None:
    kpis = arm_kpis(KEY, EXPOSURES, INTERACTIONS, ORDERS)
    hybrid, control = kpis["hybrid"], kpis["control"]
    assert (hybrid.ctr, hybrid.add_to_cart_rate) == (0.25, 0.25)
    assert (hybrid.conversion_rate, hybrid.checkout_completion_rate) == (0.5, 0.5)
    assert (hybrid.average_order_value, hybrid.revenue_per_visitor) == (21.25, 21.25)
    assert hybrid.revenue_per_visitor == hybrid.revenue_per_visitor_stats.mean
    assert hybrid.placements["checkout"].ctr == 0.5
    assert hybrid.placements["product"].add_to_cart_rate == 0.0
    # No impressions in a control that shows nothing: the rates are 0.0, not an error.
    assert (control.ctr, control.add_to_cart_rate) == (0.0, 0.0)
    assert (control.conversion_rate, control.checkout_completion_rate) == (0.5, 0.0)
    assert (control.average_order_value, control.revenue_per_visitor) == (40.0, 20.0)


def test_a_window_can_be_given() -> None:
    # A 1 h window loses o1 and o2, placed 2 h and 3 h after s2's last exposure.
    kpis = arm_kpis(KEY, EXPOSURES, INTERACTIONS, ORDERS, window=timedelta(hours=1))
    assert (kpis["hybrid"].orders, kpis["hybrid"].revenue) == (0, 0.0)
    assert (kpis["control"].orders, kpis["control"].revenue) == (1, 40.0)


def test_every_zero_denominator_gives_zero() -> None:
    empty = arm_kpis(KEY, [_exposure("s1", "control", T0, holdout=True)], [], [])
    assert list(empty) == ["control"]
    arm = empty["control"]
    assert (arm.visitors, arm.holdout_visitors) == (0, 1)
    rates = (arm.ctr, arm.add_to_cart_rate, arm.conversion_rate, arm.average_order_value)
    assert rates == (0.0, 0.0, 0.0, 0.0)
    assert (arm.revenue_per_visitor, arm.checkout_completion_rate) == (0.0, 0.0)
    assert arm.revenue_per_visitor_stats == SummaryStats(0, 0.0, 0.0)


def test_no_exposure_of_the_experiment_gives_no_arm() -> None:
    assert arm_kpis("unknown", EXPOSURES, INTERACTIONS, ORDERS) == {}


@pytest.mark.parametrize(
    ("placed_at", "counted"),
    [
        pytest.param(T0 - timedelta(seconds=1), False, id="before-the-first-exposure"),
        pytest.param(T0, True, id="at-the-first-exposure"),
        pytest.param(_at(60) + DAY, True, id="exactly-24h-after-the-last-exposure"),
        pytest.param(_at(60) + DAY + timedelta(seconds=1), False, id="24h-and-1s-after"),
    ],
)
def test_the_visitor_window_is_closed_at_both_ends(placed_at: datetime, counted: bool) -> None:
    exposures = [_exposure("s1", "hybrid", T0), _exposure("s1", "hybrid", _at(60))]
    orders = [_order("o1", placed_at, {"mug": 20.0}, ("s1",))]
    arm = arm_kpis(KEY, exposures, [], orders)["hybrid"]
    assert (arm.orders, arm.revenue) == ((1, 20.0) if counted else (0, 0.0))


def test_events_outside_the_visitor_window_are_not_counted() -> None:
    exposures = [_exposure("s1", "hybrid", T0)]
    events = [
        _event("impression", "s1", "mug", T0 - timedelta(seconds=1)),
        _event("impression", "s1", "mug", T0),
        _event("impression", "s1", "tea", T0 + DAY),
        _event("impression", "s1", "tea", T0 + DAY + timedelta(seconds=1)),
    ]
    assert arm_kpis(KEY, exposures, events, [])["hybrid"].impressions == 2


def test_the_first_exposure_decides_the_arm_and_the_last_ends_the_window() -> None:
    exposures = [_exposure("s1", "hybrid", _at(60)), _exposure("s1", "control", T0)]
    orders = [_order("o1", _at(60) + DAY, {"mug": 20.0}, ("s1",))]
    kpis = arm_kpis(KEY, exposures, [], orders)
    assert list(kpis) == ["control"]
    assert (kpis["control"].visitors, kpis["control"].revenue) == (1, 20.0)


def test_a_holdout_visitor_counts_nowhere_but_in_holdout_visitors() -> None:
    exposures = [_exposure("s1", "control", T0), _exposure("s2", "control", T0, holdout=True)]
    events = [_event("impression", "s2", "mug", _at(1)), _event("click", "s2", "mug", _at(2))]
    orders = [_order("o1", _at(10), {"mug": 20.0}, ("s2",))]
    arm = arm_kpis(KEY, exposures, events, orders)["control"]
    assert (arm.visitors, arm.holdout_visitors) == (1, 1)
    assert (arm.impressions, arm.clicks, arm.orders, arm.revenue) == (0, 0, 0, 0.0)


def test_an_order_reaching_two_visitors_of_one_arm_counts_once() -> None:
    exposures = [
        _exposure("s1", "hybrid", T0),
        # The same customer on another device, exposed earlier, and at checkout.
        _exposure("s2", "hybrid", _at(-30), customer="c1", placement="checkout"),
    ]
    orders = [_order("o1", _at(10), {"mug": 20.0}, ("s1",), customer="c1")]
    arm = arm_kpis(KEY, exposures, [], orders)["hybrid"]
    assert (arm.orders, arm.converted_visitors, arm.revenue) == (1, 1, 20.0)
    assert arm.revenue_per_visitor_stats == SummaryStats(2, 10.0, 200.0)
    # The order goes to s1, whose session placed it, not to s2 matched through the customer.
    assert (arm.checkouts_started, arm.checkouts_completed) == (1, 0)


def test_an_order_reaching_visitors_of_two_arms_counts_in_both() -> None:
    exposures = [_exposure("s1", "hybrid", T0), _exposure("s2", "control", T0, customer="c1")]
    orders = [_order("o1", _at(10), {"mug": 20.0}, ("s1",), customer="c1")]
    kpis = arm_kpis(KEY, exposures, [], orders)
    assert [(arm, k.orders, k.revenue) for arm, k in kpis.items()] == [
        ("control", 1, 20.0),
        ("hybrid", 1, 20.0),
    ]


def test_two_orders_from_one_session_make_one_converted_visitor() -> None:
    exposures = [_exposure("s1", "hybrid", T0), _exposure("s2", "hybrid", T0)]
    orders = [
        _order("o1", _at(10), {"mug": 20.0}, ("s1",)),
        _order("o2", _at(20), {"tea": 5.0}, ("s1",)),
    ]
    arm = arm_kpis(KEY, exposures, [], orders)["hybrid"]
    assert (arm.orders, arm.converted_visitors, arm.revenue) == (2, 1, 25.0)
    assert arm.order_value_stats == SummaryStats(2, 12.5, 112.5)


def test_a_repeated_order_id_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match="more than once"):
        arm_kpis(KEY, EXPOSURES, [], [ORDERS[0], ORDERS[0]])


def test_a_window_that_is_not_positive_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match="window must be positive"):
        arm_kpis(KEY, EXPOSURES, [], [], window=timedelta(0))


def _kpis(arm: str, **counts: int) -> ArmKpis:
    """An arm with the given counts; the samples are fixed unless a test replaces them."""
    base = {
        "visitors": 1000,
        "holdout_visitors": 0,
        "impressions": 1000,
        "clicks": 50,
        "add_to_carts": 20,
        "orders": 100,
        "converted_visitors": 100,
        "checkouts_started": 1000,
        "checkouts_completed": 600,
    }
    base.update(counts)
    return ArmKpis(
        arm=arm,
        revenue=5000.0,
        attributed_revenue=500.0,
        revenue_per_visitor_stats=SummaryStats(base["visitors"], 5.0, 400.0),
        order_value_stats=SummaryStats(base["orders"], 50.0, 900.0),
        **base,  # type: ignore[arg-type]
    )


CONTROL = _kpis("control")


def test_the_tests_are_the_statistics_functions_on_the_arms() -> None:
    variant = dataclasses.replace(
        _kpis("hybrid", clicks=80, add_to_carts=30, converted_visitors=130),
        revenue_per_visitor_stats=SummaryStats(1000, 6.5, 500.0),
        order_value_stats=SummaryStats(130, 50.0, 1000.0),
    )
    result = compare(CONTROL, variant, planned_visitors_per_arm=1000, confidence=0.9)
    assert (result.control, result.variant) == ("control", "hybrid")
    assert result.conversion == two_proportion_z_test(100, 1000, 130, 1000, confidence=0.9)
    assert result.ctr == two_proportion_z_test(50, 1000, 80, 1000, confidence=0.9)
    assert result.add_to_cart_rate == two_proportion_z_test(20, 1000, 30, 1000, confidence=0.9)
    assert result.checkout_completion == two_proportion_z_test(600, 1000, 600, 1000, confidence=0.9)
    assert result.revenue_per_visitor == welch_t_test(
        SummaryStats(1000, 5.0, 400.0), SummaryStats(1000, 6.5, 500.0), confidence=0.9
    )
    assert result.average_order_value == welch_t_test(
        SummaryStats(100, 50.0, 900.0), SummaryStats(130, 50.0, 1000.0), confidence=0.9
    )
    assert result.decision.verdict == "variant wins"
    assert result.guardrail is False


def test_no_winner_before_the_planned_horizon() -> None:
    variant = _kpis("hybrid", converted_visitors=300)
    early = compare(CONTROL, variant, planned_visitors_per_arm=1001)
    assert early.conversion is not None and early.conversion.p_value < 1e-20
    assert early.decision.verdict == "keep collecting"
    assert early.decision.test is None
    on_time = compare(CONTROL, variant, planned_visitors_per_arm=1000)
    assert on_time.decision.verdict == "variant wins"


def test_a_control_that_shows_nothing_has_no_ctr_test() -> None:
    control = _kpis("control", impressions=0, clicks=0, add_to_carts=0)
    result = compare(control, _kpis("hybrid"), planned_visitors_per_arm=1000)
    assert (result.ctr, result.add_to_cart_rate) == (None, None)
    assert result.conversion is not None


@pytest.mark.parametrize(
    ("control", "variant"),
    [
        pytest.param(SummaryStats(1, 5.0, 0.0), SummaryStats(10, 5.0, 1.0), id="one-value"),
        pytest.param(SummaryStats(10, 5.0, 0.0), SummaryStats(10, 6.0, 0.0), id="no-variance"),
    ],
)
def test_a_welch_test_without_the_data_for_it_is_none(
    control: SummaryStats, variant: SummaryStats
) -> None:
    arms = [
        dataclasses.replace(_kpis(name), order_value_stats=stats, revenue_per_visitor_stats=stats)
        for name, stats in (("control", control), ("hybrid", variant))
    ]
    result = compare(*arms, planned_visitors_per_arm=1000)
    assert (result.revenue_per_visitor, result.average_order_value) == (None, None)


@pytest.mark.parametrize(
    ("variant", "flagged"),
    [
        pytest.param(_kpis("v", clicks=80, checkouts_completed=500), True, id="ctr-up-done-down"),
        pytest.param(_kpis("v", add_to_carts=40, checkouts_completed=500), True, id="atc-up"),
        pytest.param(_kpis("v", checkouts_completed=500), False, id="no-take-rate-lift"),
        pytest.param(_kpis("v", clicks=80, checkouts_completed=590), False, id="not-significant"),
        pytest.param(_kpis("v", clicks=80, checkouts_completed=700), False, id="completion-up"),
        pytest.param(
            _kpis("v", clicks=40, add_to_carts=10, checkouts_completed=500),
            False,
            id="take-rate-down",
        ),
    ],
)
def test_the_guardrail_flags_take_rate_up_and_completion_down(
    variant: ArmKpis, flagged: bool
) -> None:
    result = compare(CONTROL, variant, planned_visitors_per_arm=10**6)
    assert result.guardrail is flagged
    assert result.decision.verdict == "keep collecting"


def test_the_guardrail_against_a_control_that_shows_nothing() -> None:
    control = _kpis("control", impressions=0, clicks=0, add_to_carts=0)
    variant = _kpis("v", checkouts_completed=500)
    assert compare(control, variant, planned_visitors_per_arm=1000).guardrail is True


def test_the_guardrail_needs_started_checkouts_in_both_arms() -> None:
    control = _kpis("control", checkouts_started=0, checkouts_completed=0)
    variant = _kpis("v", clicks=80, checkouts_completed=0)
    result = compare(control, variant, planned_visitors_per_arm=1000)
    assert (result.checkout_completion, result.guardrail) == (None, False)


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({"planned_visitors_per_arm": 0}, id="no-plan"),
        pytest.param({"planned_visitors_per_arm": 10, "confidence": 1.0}, id="confidence"),
        pytest.param({"planned_visitors_per_arm": 10, "guardrail_alpha": 0.0}, id="alpha"),
    ],
)
def test_bad_arguments_are_rejected(arguments: dict[str, int | float]) -> None:
    with pytest.raises(InvalidRequest):
        compare(CONTROL, _kpis("v"), **arguments)  # type: ignore[arg-type]


def _reference(
    exposures: list[Exposure],
    interactions: list[Interaction],
    orders: list[OrderFact],
    window: timedelta,
) -> dict[str, dict[str, object]]:
    """The rules read literally, visitor by visitor and order by order, with no shared indexes."""
    own = [(e.at, n, e) for n, e in enumerate(exposures) if e.experiment == KEY]
    own.sort(key=lambda item: (item[0], item[1]))
    first: dict[str, Exposure] = {}
    last: dict[str, datetime] = {}
    customers: dict[str, set[str | None]] = defaultdict(set)
    checkout: set[str] = set()
    for at, _, exposure in own:
        first.setdefault(exposure.session_id, exposure)
        last[exposure.session_id] = at
        if exposure.customer is not None:
            customers[exposure.session_id].add(exposure.customer)
        if exposure.placement == "checkout":
            checkout.add(exposure.session_id)

    def active(session: str, moment: datetime) -> bool:
        return first[session].at <= moment <= last[session] + window

    result: dict[str, dict[str, object]] = {}
    for arm in sorted({e.arm for e in first.values()}):
        members = {s for s, e in first.items() if e.arm == arm and not e.holdout}
        events = {i for i in interactions if i.session_id in members and active(i.session_id, i.at)}
        kinds = Counter(event.kind for event in events)
        credit: dict[str, str] = {}
        for order in orders:
            ranked = sorted(
                (0 if s in order.session_ids else 1, first[s].at, s)
                for s in members
                if not order.cancelled
                and (s in order.session_ids or order.customer in customers[s])
                and active(s, order.created_at)
            )
            if ranked:
                credit[order.order_id] = ranked[0][2]
        chosen = [order for order in orders if order.order_id in credit]
        spent = [
            sum(o.total for o in chosen if credit[o.order_id] == session) for session in members
        ]
        linking = [e for e in exposures if e.session_id in members and e.experiment == KEY]
        attributed = attribute(chosen, sorted(events, key=repr), linking, window)
        result[arm] = {
            "visitors": len(members),
            "holdout_visitors": sum(1 for e in first.values() if e.arm == arm and e.holdout),
            "impressions": kinds["impression"],
            "clicks": kinds["click"],
            "add_to_carts": kinds["add_to_cart"],
            "orders": len(chosen),
            "converted_visitors": len(set(credit.values())),
            "revenue": sum(o.total for o in chosen),
            "attributed_revenue": sum(a.revenue for a in attributed),
            "checkouts_started": len(members & checkout),
            "checkouts_completed": len(members & checkout & set(credit.values())),
            "revenue_per_visitor": (
                statistics.fmean(spent) if spent else 0.0,
                statistics.variance(spent) if len(spent) > 1 else 0.0,
            ),
        }
    return result


def _observed(kpis: ArmKpis) -> dict[str, object]:
    fields = [
        "visitors",
        "holdout_visitors",
        "impressions",
        "clicks",
        "add_to_carts",
        "orders",
        "converted_visitors",
        "revenue",
        "attributed_revenue",
        "checkouts_started",
        "checkouts_completed",
    ]
    found: dict[str, object] = {name: getattr(kpis, name) for name in fields}
    stats = kpis.revenue_per_visitor_stats
    found["revenue_per_visitor"] = (pytest.approx(stats.mean), pytest.approx(stats.variance))
    return found


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_agrees_with_a_brute_force_reference(seed: int) -> None:
    rng = random.Random(seed)
    sessions = [f"s{i}" for i in range(12)]
    products = [f"p{i}" for i in range(5)]
    kinds: list[InteractionKind] = ["impression", "click", "add_to_cart"]
    minutes = 3 * 24 * 60
    exposures = [
        Exposure(
            rng.choice(sessions),
            rng.choice([KEY, KEY, KEY, "other"]),
            rng.choice(["control", "a", "b"]),
            rng.random() < 0.15,
            _at(rng.randrange(minutes)),
            rng.choice(["c0", "c1", "c2", None, None]),
            rng.choice(["checkout", "cart", None]),
        )
        for _ in range(30)
    ]
    interactions = [
        Interaction(
            rng.choice(kinds),
            rng.choice(sessions),
            rng.choice(products),
            _at(rng.randrange(minutes)),
            rng.choice(["checkout", "cart"]),
            f"r{n}",
        )
        for n in range(200)
    ]
    interactions += rng.sample(interactions, 20)
    orders = []
    for n in range(50):
        chosen = rng.sample(products, rng.randint(1, 3))
        lines = tuple(OrderLineFact(p, 1, rng.randint(1, 99) / 4) for p in chosen)
        orders.append(
            OrderFact(
                f"o{n}",
                _at(rng.randrange(minutes)),
                sum(line.revenue for line in lines),
                lines,
                tuple(rng.sample([*sessions, "token-x"], rng.randint(1, 2))),
                rng.choice(["c0", "c1", "c2", None]),
                cancelled=rng.random() < 0.1,
            )
        )
    window = timedelta(hours=rng.choice([2, 12, 24]))
    expected = _reference(exposures, interactions, orders, window)
    found = arm_kpis(KEY, exposures, interactions, orders, window)
    assert {arm: _observed(kpis) for arm, kpis in found.items()} == expected
    assert sum(k.orders for k in found.values()) > 5
    for kpis in found.values():
        assert kpis.order_value_stats.n == kpis.orders
