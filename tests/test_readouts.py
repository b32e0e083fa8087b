"""Experiment readouts from what storage holds: exact KPIs per arm for seeded sessions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cartwise import storage
from cartwise.domain import Order, OrderLine, Platform, ShopRef
from cartwise.errors import NotFound
from cartwise.readouts import compute_readout, refresh_readouts
from cartwise.schemas import TrackedEvent
from cartwise.storage import Store
from cartwise.storage.experiments import ExposureRecord

SHOP = "tea.myshopify.com"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
DEFINITION = {
    "arms": [{"key": "control", "kind": "no_recommendations"}, {"key": "model"}],
    "holdout_share": 0.1,
    "planned_visitors_per_arm": 2,
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{tmp_path / 'cartwise.db'}")
    opened.shops.ensure(ShopRef(SHOP, Platform.SHOPIFY))
    yield opened
    opened.close()


def seen(session: str, arm: str, placement: str = "cart", **kw: object) -> ExposureRecord:
    return ExposureRecord(
        "exp1",
        session,
        placement,
        arm,
        bool(kw.get("holdout", False)),
        T0 + H,
        T0 + H,
        kw.get("customer"),  # type: ignore[arg-type]
    )


def event(n: int, kind: str, session: str, product: str, at: datetime) -> TrackedEvent:
    return TrackedEvent.model_validate(
        {
            "kind": kind,
            "product_id": product,
            "session_id": session,
            "event_id": f"e{n}",
            "occurred_at": at.isoformat(),
            "placement": "cart",
            "request_id": f"r{n}",
        }
    )


def order(order_id: str, at: datetime, lines: list[tuple[str, int, float]], **kw: object) -> Order:
    return Order(
        order_id,
        at,
        tuple(OrderLine(p, q, price) for p, q, price in lines),
        customer_id=kw.get("customer"),  # type: ignore[arg-type]
    )


def seed(store: Store) -> None:
    store.experiments.start(SHOP, "exp1", DEFINITION, T0)
    store.experiments.record_exposures(
        SHOP,
        [
            seen("s1", "model"),
            seen("s2", "model", placement="checkout"),
            seen("s3", "control"),
            seen("s4", "control", holdout=True),
            seen("s5", "model", customer="c9"),
        ],
    )
    m = timedelta(minutes=1)
    store.tracking.add_many(
        SHOP,
        [
            event(1, "impression", "s1", "mug", T0 + H + m),
            event(2, "click", "s1", "mug", T0 + H + 2 * m),
            event(3, "impression", "s2", "tea", T0 + H + m),
            event(4, "impression", "s5", "pot", T0 + H + m),
            event(5, "add_to_cart", "s5", "pot", T0 + H + 2 * m),
            event(6, "impression", "stranger", "pot", T0 + H),
        ],
    )
    orders = [
        order("o1", T0 + 2 * H, [("mug", 2, 10.0), ("tea", 1, 5.0)]),
        order("o2", T0 + 3 * H, [("pot", 1, 30.0)], customer="c9"),
        order("o3", T0 + 2 * H, [("cup", 1, 8.0)]),
        order("o4", T0 + 2 * H, [("cup", 3, 8.0)]),
        order("o5", T0 + 30 * H, [("mug", 1, 10.0)]),  # after s1's window closed
        order("o0", T0 - H, [("mug", 1, 10.0)]),  # before the experiment
    ]
    store.orders.upsert_many(SHOP, orders)
    for order_id, session in [("o1", "s1"), ("o3", "s3"), ("o4", "s4"), ("o5", "s1"), ("o0", "s1")]:
        store.orders.add_sessions(SHOP, order_id, [session, f"cart-{order_id}"])


def test_the_readout_counts_each_arm_exactly(store: Store) -> None:
    seed(store)
    now = T0 + 40 * H
    report = compute_readout(store, SHOP, "exp1", now=now)
    model, control = report["arms"]["model"], report["arms"]["control"]
    assert (model["visitors"], model["impressions"], model["clicks"], model["add_to_carts"]) == (
        3,
        3,
        1,
        1,
    )
    assert (model["orders"], model["converted_visitors"]) == (2, 2)
    assert model["revenue"] == 55.0  # o1 25 + o2 30
    assert model["attributed_revenue"] == 50.0  # the clicked mugs 20 + the added pot 30
    assert (model["checkouts_started"], model["checkouts_completed"]) == (1, 0)
    assert model["conversion_rate"] == pytest.approx(2 / 3)
    assert model["average_order_value"] == pytest.approx(27.5)
    assert (control["visitors"], control["holdout_visitors"], control["orders"]) == (1, 1, 1)
    assert control["revenue"] == 8.0 and control["attributed_revenue"] == 0.0
    assert report["events"] == 5 and report["orders_considered"] == 5
    [comparison] = report["comparisons"]
    assert (comparison["control"], comparison["variant"]) == ("control", "model")
    # the horizon (2 per arm) is not reached by the control's single visitor
    assert comparison["decision"]["verdict"] == "keep collecting"
    # what was computed is what is stored
    assert store.experiments.report(SHOP, "exp1") == (report, now)


def test_refresh_computes_running_experiments_only(store: Store) -> None:
    seed(store)
    other = "other.myshopify.com"
    store.shops.ensure(ShopRef(other, Platform.SHOPIFY))
    assert refresh_readouts(store, [SHOP, other], now=T0 + 5 * H) == 1
    store.experiments.stop(SHOP, "exp1", T0 + 6 * H)
    assert refresh_readouts(store, [SHOP, other]) == 0


def test_an_unknown_experiment_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        compute_readout(store, SHOP, "nope")


def test_a_shorter_attribution_window_counts_fewer_orders(store: Store) -> None:
    seed(store)
    report = compute_readout(store, SHOP, "exp1", now=T0 + 40 * H, window=H)
    model = report["arms"]["model"]
    # o1 (one hour after the exposure, the edge included) still counts; o2 (two hours) not
    assert (model["orders"], model["revenue"], model["attributed_revenue"]) == (1, 25.0, 20.0)
