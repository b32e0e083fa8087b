"""An experiment's readout: its exposures, storefront events and orders from storage, turned into
KPIs per arm, tests against the control and the fixed-horizon decision, saved as one JSON
document the dashboard and the admin API show without reading every event again.

Layer 4: storage plus the pure experiments package.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from cartwise.arms import experiment_from
from cartwise.errors import NotFound
from cartwise.experiments import (
    ArmComparison,
    ArmKpis,
    Exposure,
    Interaction,
    OrderFact,
    OrderLineFact,
    ProportionTest,
    WelchTest,
    arm_kpis,
    compare,
)
from cartwise.storage import Store

__all__ = ["ATTRIBUTION_WINDOW", "compute_readout", "planned_visitors", "refresh_readouts"]

log = logging.getLogger(__name__)

ATTRIBUTION_WINDOW = timedelta(hours=24)
"""An order counts for a visitor up to this long after the visitor's last exposure."""

DEFAULT_PLANNED_VISITORS = 10_000


def planned_visitors(definition: Mapping[str, Any]) -> int:
    """The visitors per arm the experiment waits for before any verdict."""
    value = definition.get("planned_visitors_per_arm")
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_PLANNED_VISITORS


def compute_readout(
    store: Store,
    shop: str,
    key: str,
    *,
    now: datetime | None = None,
    window: timedelta = ATTRIBUTION_WINDOW,
) -> dict[str, Any]:
    """Compute and save the readout of experiment `key`; returns it. `NotFound` for an unknown
    experiment."""
    record = store.experiments.get(shop, key)
    if record is None:
        raise NotFound(f"no experiment {key!r}")
    now = now or datetime.now(UTC)
    experiment = experiment_from(record)
    plan = planned_visitors(record.definition)
    stored = store.experiments.exposures(shop, key)
    exposures: list[Exposure] = []
    for e in stored:
        # the first and the last time bound the visitor's window
        for at in {e.first_at, e.last_at}:
            exposures.append(
                Exposure(e.session_id, key, e.arm, e.holdout, at, e.customer_id, e.placement)
            )
    sessions = {e.session_id for e in stored}
    interactions = [
        Interaction(
            ev.kind, ev.session_id, ev.product_id, ev.occurred_at, ev.placement, ev.request_id
        )
        for ev in store.tracking.of_sessions(shop, sessions, since=record.started_at)
    ]
    until = (record.stopped_at or now) + window
    orders = list(_orders(store, shop, record.started_at, until))
    kpis = arm_kpis(key, exposures, interactions, orders, window)
    control = experiment.control.key
    comparisons: list[ArmComparison] = []
    if control in kpis:
        for arm in experiment.arms:
            if arm.key != control and arm.key in kpis:
                comparisons.append(
                    compare(kpis[control], kpis[arm.key], planned_visitors_per_arm=plan)
                )
    report = {
        "experiment": key,
        "started_at": record.started_at.isoformat(),
        "stopped_at": record.stopped_at.isoformat() if record.stopped_at else None,
        "computed_at": now.isoformat(),
        "planned_visitors_per_arm": plan,
        "holdout_share": experiment.holdout_share,
        "control": control,
        "arms": {arm: _arm(k) for arm, k in kpis.items()},
        "comparisons": [_comparison(c) for c in comparisons],
        "events": len(interactions),
        "orders_considered": len(orders),
    }
    store.experiments.save_report(shop, key, report, now)
    return report


def refresh_readouts(
    store: Store,
    shops: list[str],
    now: datetime | None = None,
    window: timedelta = ATTRIBUTION_WINDOW,
) -> int:
    """Recompute the readout of every running experiment of `shops`; returns how many."""
    done = 0
    for shop in shops:
        running = store.experiments.running(shop)
        if running is None:
            continue
        try:
            compute_readout(store, shop, running.key, now=now, window=window)
            done += 1
        except Exception:
            log.exception("could not compute the readout of %s in %s", running.key, shop)
    return done


def _orders(store: Store, shop: str, since: datetime, until: datetime) -> Iterator[OrderFact]:
    page: list[Any] = []
    for order in store.orders.iter(shop, since=since):
        if order.created_at > until:
            break
        page.append(order)
        if len(page) >= 500:
            yield from _facts(store, shop, page)
            page = []
    yield from _facts(store, shop, page)


def _facts(store: Store, shop: str, page: list[Any]) -> Iterator[OrderFact]:
    if not page:
        return
    sessions = store.orders.sessions_of(shop, [o.order_id for o in page])
    for order in page:
        lines = tuple(
            OrderLineFact(ln.product_id, ln.quantity, (ln.price or 0.0) * ln.quantity)
            for ln in order.lines
        )
        yield OrderFact(
            order.order_id,
            order.created_at,
            sum(ln.revenue for ln in lines),
            lines,
            sessions.get(order.order_id, ()),
            order.customer_id,
            order.cancelled,
        )


def _arm(k: ArmKpis) -> dict[str, Any]:
    return {
        "visitors": k.visitors,
        "holdout_visitors": k.holdout_visitors,
        "impressions": k.impressions,
        "clicks": k.clicks,
        "add_to_carts": k.add_to_carts,
        "orders": k.orders,
        "converted_visitors": k.converted_visitors,
        "revenue": round(k.revenue, 2),
        "attributed_revenue": round(k.attributed_revenue, 2),
        "checkouts_started": k.checkouts_started,
        "checkouts_completed": k.checkouts_completed,
        "ctr": k.ctr,
        "add_to_cart_rate": k.add_to_cart_rate,
        "conversion_rate": k.conversion_rate,
        "average_order_value": k.average_order_value,
        "revenue_per_visitor": k.revenue_per_visitor,
        "checkout_completion_rate": k.checkout_completion_rate,
        "placements": {
            name: {**asdict(p), "ctr": p.ctr, "add_to_cart_rate": p.add_to_cart_rate}
            for name, p in sorted(k.placements.items())
        },
    }


def _test(test: ProportionTest | WelchTest | None) -> dict[str, float] | None:
    if test is None:
        return None
    return {name: _finite(value) for name, value in asdict(test).items()}


def _finite(value: float) -> float:
    """JSON has no NaN or infinity; a degenerate statistic is reported as 0."""
    return float(value) if math.isfinite(value) else 0.0


def _comparison(c: ArmComparison) -> dict[str, Any]:
    return {
        "control": c.control,
        "variant": c.variant,
        "conversion": _test(c.conversion),
        "ctr": _test(c.ctr),
        "add_to_cart_rate": _test(c.add_to_cart_rate),
        "checkout_completion": _test(c.checkout_completion),
        "revenue_per_visitor": _test(c.revenue_per_visitor),
        "average_order_value": _test(c.average_order_value),
        "decision": {"verdict": c.decision.verdict, "reason": c.decision.reason},
        "guardrail": c.guardrail,
    }
