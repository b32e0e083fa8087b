"""Per-arm KPIs of an experiment, and the readout that compares a variant with its control.

Visitors are the sessions exposed to the experiment; their events and orders inside the analysis
window become counts, rates and per-visitor samples, which `compare` hands to the tests of
`statistics`. Every rate is 0.0 when its denominator is 0: read the count beside it to tell "no
data" from "zero". Pure (layer 2): imports only layer 0, numpy and its own package.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import numpy as np

from cartwise.errors import InvalidRequest
from cartwise.experiments.attribution import (
    DEFAULT_WINDOW,
    Exposure,
    Interaction,
    OrderFact,
    _check_unique,
    _check_window,
    attribute,
)
from cartwise.experiments.statistics import (
    Decision,
    ProportionTest,
    SummaryStats,
    WelchTest,
    decide,
    two_proportion_z_test,
    welch_t_test,
)

CHECKOUT_PLACEMENT: Final = "checkout"
GUARDRAIL_ALPHA: Final = 0.05


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


@dataclass(frozen=True, slots=True)
class PlacementKpis:
    """One arm's events in one placement; an attributed order counts where its latest touch was."""

    impressions: int = 0
    clicks: int = 0
    add_to_carts: int = 0
    attributed_orders: int = 0
    attributed_revenue: float = 0.0

    @property
    def ctr(self) -> float:
        return _ratio(self.clicks, self.impressions)

    @property
    def add_to_cart_rate(self) -> float:
        return _ratio(self.add_to_carts, self.impressions)


@dataclass(frozen=True, slots=True)
class ArmKpis:
    """One arm's counts and samples; money is in the shop's currency.

    `revenue_per_visitor_stats` has one value per visitor (0 for those who bought nothing), so its
    mean equals `revenue_per_visitor`; `order_value_stats` has one value per order. A sample of
    fewer than 2 values reports variance 0. `placements` leaves out events without a placement.
    """

    arm: str
    visitors: int
    holdout_visitors: int
    impressions: int
    clicks: int
    add_to_carts: int
    orders: int
    converted_visitors: int
    revenue: float
    attributed_revenue: float
    checkouts_started: int
    checkouts_completed: int
    revenue_per_visitor_stats: SummaryStats
    order_value_stats: SummaryStats
    placements: Mapping[str, PlacementKpis] = field(default_factory=dict)

    @property
    def ctr(self) -> float:
        return _ratio(self.clicks, self.impressions)

    @property
    def add_to_cart_rate(self) -> float:
        return _ratio(self.add_to_carts, self.impressions)

    @property
    def conversion_rate(self) -> float:
        return _ratio(self.converted_visitors, self.visitors)

    @property
    def average_order_value(self) -> float:
        return _ratio(self.revenue, self.orders)

    @property
    def revenue_per_visitor(self) -> float:
        return _ratio(self.revenue, self.visitors)

    @property
    def checkout_completion_rate(self) -> float:
        return _ratio(self.checkouts_completed, self.checkouts_started)


@dataclass(slots=True)
class _Visitor:
    session_id: str
    arm: str
    holdout: bool
    first_at: datetime
    last_at: datetime
    checkout: bool = False
    linking: list[Exposure] = field(default_factory=list)

    def active_at(self, moment: datetime, window: timedelta) -> bool:
        return self.first_at <= moment <= self.last_at + window


def _visitors(experiment_key: str, exposures: Iterable[Exposure]) -> dict[str, _Visitor]:
    """Each exposed session, its arm and holdout flag taken from its first exposure."""
    own = [(e.at, k, e) for k, e in enumerate(exposures) if e.experiment == experiment_key]
    own.sort(key=lambda item: (item[0], item[1]))
    visitors: dict[str, _Visitor] = {}
    for at, _, exposure in own:
        visitor = visitors.get(exposure.session_id)
        if visitor is None:
            visitor = _Visitor(exposure.session_id, exposure.arm, exposure.holdout, at, at)
            visitors[exposure.session_id] = visitor
        visitor.last_at = at
        visitor.checkout = visitor.checkout or exposure.placement == CHECKOUT_PLACEMENT
        if exposure.customer is not None:
            visitor.linking.append(exposure)
    return visitors


def _credit(
    orders: Sequence[OrderFact], visitors: Mapping[str, _Visitor], window: timedelta
) -> dict[str, list[tuple[_Visitor, OrderFact]]]:
    """Per arm, each live order credited to one of its visitors, so no order counts twice.

    A visitor whose session is one of the order's tokens comes before one matched through the
    customer, then the earliest exposed, then the smallest session id. An order matching
    visitors of two arms counts in both: the experiment cannot tell which arm earned it.
    """
    by_customer: dict[str, list[_Visitor]] = defaultdict(list)
    for visitor in visitors.values():
        for customer in dict.fromkeys(e.customer for e in visitor.linking if e.customer):
            by_customer[customer].append(visitor)
    credited: dict[str, list[tuple[_Visitor, OrderFact]]] = defaultdict(list)
    for order in orders:
        if order.cancelled:
            continue
        candidates: list[tuple[int, datetime, str, _Visitor]] = []
        for session in set(order.session_ids):
            if session in visitors:
                visitor = visitors[session]
                candidates.append((0, visitor.first_at, session, visitor))
        if order.customer is not None:
            for visitor in by_customer.get(order.customer, []):
                candidates.append((1, visitor.first_at, visitor.session_id, visitor))
        best: dict[str, tuple[int, datetime, str, _Visitor]] = {}
        for candidate in candidates:
            visitor = candidate[3]
            if not visitor.active_at(order.created_at, window):
                continue
            held = best.get(visitor.arm)
            if held is None or candidate[:3] < held[:3]:
                best[visitor.arm] = candidate
        for arm, (_, _, _, visitor) in best.items():
            credited[arm].append((visitor, order))
    return credited


def _summary(values: Sequence[float]) -> SummaryStats:
    sample = np.asarray(values, dtype=np.float64)
    if sample.size == 0:
        return SummaryStats(0, 0.0, 0.0)
    variance = float(sample.var(ddof=1)) if sample.size >= 2 else 0.0
    return SummaryStats(int(sample.size), float(sample.mean()), variance)


def _placements(
    events: Sequence[Interaction], placed: Iterable[tuple[str | None, float]]
) -> dict[str, PlacementKpis]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for event in events:
        if event.placement is not None:
            counts[event.placement][event.kind] += 1
    orders: dict[str, int] = defaultdict(int)
    revenue: dict[str, list[float]] = defaultdict(list)
    for placement, amount in placed:
        if placement is not None:
            orders[placement] += 1
            revenue[placement].append(amount)
    return {
        name: PlacementKpis(
            impressions=counts[name]["impression"],
            clicks=counts[name]["click"],
            add_to_carts=counts[name]["add_to_cart"],
            attributed_orders=orders[name],
            attributed_revenue=math.fsum(revenue[name]),
        )
        for name in sorted(counts.keys() | orders.keys())
    }


def arm_kpis(
    experiment_key: str,
    exposures: Iterable[Exposure],
    interactions: Iterable[Interaction],
    orders: Sequence[OrderFact],
    window: timedelta = DEFAULT_WINDOW,
) -> dict[str, ArmKpis]:
    """KPIs of each arm of `experiment_key`, keyed by arm, for the arms that appear in exposures.

    A visitor is a session exposed to the experiment; held-out visitors only count in
    `holdout_visitors`. A visitor's events and orders count from its first exposure to `window`
    after its last (both ends included); an order reaches a visitor through one of its tokens or
    through the customer on the visitor's exposures. Exactly repeated events count once;
    cancelled orders count nowhere. Raises `InvalidRequest` for a non-positive window or a
    repeated order id.
    """
    _check_window(window)
    _check_unique(orders)
    everyone = _visitors(experiment_key, exposures)
    visitors = {session: v for session, v in everyone.items() if not v.holdout}
    held_out: dict[str, int] = defaultdict(int)
    for outsider in everyone.values():
        if outsider.holdout:
            held_out[outsider.arm] += 1
    events: dict[str, dict[Interaction, None]] = defaultdict(dict)
    for event in interactions:
        actor = visitors.get(event.session_id)
        if actor is not None and actor.active_at(event.at, window):
            events[actor.arm][event] = None
    credited = _credit(orders, visitors, window)
    members: dict[str, list[_Visitor]] = defaultdict(list)
    for visitor in visitors.values():
        members[visitor.arm].append(visitor)
    arms = sorted(members.keys() | held_out.keys())
    return {
        arm: _arm(arm, members[arm], held_out[arm], list(events[arm]), credited[arm], window)
        for arm in arms
    }


def _arm(
    arm: str,
    members: Sequence[_Visitor],
    holdout_visitors: int,
    events: Sequence[Interaction],
    credited: Sequence[tuple[_Visitor, OrderFact]],
    window: timedelta,
) -> ArmKpis:
    spent: dict[str, list[float]] = defaultdict(list)
    for visitor, order in credited:
        spent[visitor.session_id].append(order.total)
    per_visitor = [math.fsum(spent.get(visitor.session_id, [])) for visitor in members]
    orders = [order for _, order in credited]
    linking = [exposure for visitor in members for exposure in visitor.linking]
    attributed = attribute(orders, events, linking, window)
    kinds = [event.kind for event in events]
    checkout = [visitor for visitor in members if visitor.checkout]
    return ArmKpis(
        arm=arm,
        visitors=len(members),
        holdout_visitors=holdout_visitors,
        impressions=kinds.count("impression"),
        clicks=kinds.count("click"),
        add_to_carts=kinds.count("add_to_cart"),
        orders=len(orders),
        converted_visitors=len(spent),
        revenue=math.fsum(order.total for order in orders),
        attributed_revenue=math.fsum(found.revenue for found in attributed),
        checkouts_started=len(checkout),
        checkouts_completed=sum(1 for visitor in checkout if visitor.session_id in spent),
        revenue_per_visitor_stats=_summary(per_visitor),
        order_value_stats=_summary([order.total for order in orders]),
        placements=_placements(events, ((a.placement, a.revenue) for a in attributed)),
    )


@dataclass(frozen=True, slots=True)
class ArmComparison:
    """A variant against the control; a test is None where its data cannot support it.

    Rate tests need impressions (or visitors, or started checkouts) in both arms and no more
    successes than trials; Welch tests need 2 values per arm and some variance. `decision` is the
    fixed-horizon verdict on conversion. `guardrail` is raised whenever the data show it, horizon
    or not: the variant lifts CTR or add-to-cart rate but significantly lowers checkout
    completion.
    """

    control: str
    variant: str
    conversion: ProportionTest | None
    ctr: ProportionTest | None
    add_to_cart_rate: ProportionTest | None
    checkout_completion: ProportionTest | None
    revenue_per_visitor: WelchTest | None
    average_order_value: WelchTest | None
    decision: Decision
    guardrail: bool


def _rate_test(
    control: tuple[int, int], variant: tuple[int, int], confidence: float
) -> ProportionTest | None:
    if any(n <= 0 or not 0 <= successes <= n for successes, n in (control, variant)):
        return None
    return two_proportion_z_test(*control, *variant, confidence=confidence)


def _mean_test(control: SummaryStats, variant: SummaryStats, confidence: float) -> WelchTest | None:
    if control.n < 2 or variant.n < 2 or control.variance == variant.variance == 0.0:
        return None
    return welch_t_test(control, variant, confidence=confidence)


def compare(
    control: ArmKpis,
    variant: ArmKpis,
    *,
    planned_visitors_per_arm: int,
    confidence: float = 0.95,
    guardrail_alpha: float = GUARDRAIL_ALPHA,
) -> ArmComparison:
    """Test `variant` against `control` at `confidence`; the verdict waits for the planned size.

    Raises `InvalidRequest` for a confidence or guardrail alpha outside (0, 1), or a non-positive
    planned size.
    """
    if not 0.0 < guardrail_alpha < 1.0:
        raise InvalidRequest("guardrail_alpha must be strictly between 0 and 1")
    decision = decide(
        control.converted_visitors,
        control.visitors,
        variant.converted_visitors,
        variant.visitors,
        planned_n_per_arm=planned_visitors_per_arm,
        alpha=1 - confidence,
    )
    completion = _rate_test(
        (control.checkouts_completed, control.checkouts_started),
        (variant.checkouts_completed, variant.checkouts_started),
        confidence,
    )
    lifts_take_rate = (
        variant.ctr > control.ctr or variant.add_to_cart_rate > control.add_to_cart_rate
    )
    hurts_completion = completion is not None and (
        completion.difference < 0 and completion.p_value < guardrail_alpha
    )
    return ArmComparison(
        control=control.arm,
        variant=variant.arm,
        conversion=_rate_test(
            (control.converted_visitors, control.visitors),
            (variant.converted_visitors, variant.visitors),
            confidence,
        ),
        ctr=_rate_test(
            (control.clicks, control.impressions), (variant.clicks, variant.impressions), confidence
        ),
        add_to_cart_rate=_rate_test(
            (control.add_to_carts, control.impressions),
            (variant.add_to_carts, variant.impressions),
            confidence,
        ),
        checkout_completion=completion,
        revenue_per_visitor=_mean_test(
            control.revenue_per_visitor_stats, variant.revenue_per_visitor_stats, confidence
        ),
        average_order_value=_mean_test(
            control.order_value_stats, variant.order_value_stats, confidence
        ),
        decision=decision,
        guardrail=lifts_take_rate and hurts_completion,
    )
