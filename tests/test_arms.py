"""Experiments at serving time: definitions, treatments, the exposure log, the click record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cartwise import storage
from cartwise.arms import (
    ExperimentMemory,
    ExposureLog,
    StorefrontRecord,
    experiment_from,
    treatment_for,
)
from cartwise.domain import Platform, ShopRef
from cartwise.errors import InvalidRequest
from cartwise.experiments import ItemStats, assign
from cartwise.schemas import ExperimentArm, TrackedEvent
from cartwise.storage import Store

SHOP = "tea.myshopify.com"
DEFINITION = {
    "arms": [
        {"key": "control", "kind": "no_recommendations"},
        {"key": "model"},
        {"key": "wide", "settings": {"exploration_share": 0.25, "personalised": False}},
    ],
    "holdout_share": 0.1,
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{tmp_path / 'cartwise.db'}")
    opened.shops.ensure(ShopRef(SHOP, Platform.SHOPIFY))
    yield opened
    opened.close()


def test_a_definition_becomes_an_experiment() -> None:
    experiment = experiment_from(DEFINITION, "exp1")
    assert [a.key for a in experiment.arms] == ["control", "model", "wide"]
    assert experiment.control.kind == "no_recommendations"
    assert experiment.holdout_share == 0.1
    assert experiment.arm("wide").settings == {"exploration_share": 0.25, "personalised": False}


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ("nope", "arms must be a list"),
        ([{"key": "control", "kind": "trending_only"}], "at least one variant"),
        ([{"key": "a"}, {"key": "b"}], "exactly one control"),
        (
            [{"key": "c", "kind": "trending_only"}, {"key": "v", "settings": {"colour": "red"}}],
            "unknown setting 'colour'",
        ),
        (
            [{"key": "c", "kind": "trending_only"}, {"key": "v", "settings": {"personalised": 1}}],
            "true or false",
        ),
        (
            [
                {"key": "c", "kind": "trending_only"},
                {"key": "v", "settings": {"exploration_share": 0.9}},
            ],
            "0 to 0.5",
        ),
        (
            [
                {"key": "c", "kind": "trending_only"},
                {"key": "v", "settings": {"exploration_share": True}},
            ],
            "must be a number",
        ),
    ],
)
def test_invalid_definitions_are_refused_with_a_reason(arms: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        experiment_from({"arms": arms}, "exp1")


def test_treatments_follow_the_hashed_assignment() -> None:
    experiment = experiment_from(DEFINITION, "exp1")
    seen = set()
    for n in range(400):
        visitor = f"session-{n}"
        treatment = treatment_for(SHOP, experiment, visitor)
        expected = assign(SHOP, experiment, visitor)
        assert treatment.label == ExperimentArm(
            experiment="exp1", arm=expected.arm, holdout=expected.holdout
        )
        if expected.arm == "control":
            assert treatment.kind == "no_recommendations"
        elif expected.arm == "wide":
            assert (treatment.kind, treatment.personalised, treatment.exploration_share) == (
                "variant",
                False,
                0.25,
            )
        else:
            assert (treatment.kind, treatment.personalised, treatment.exploration_share) == (
                "variant",
                True,
                None,
            )
        seen.add((expected.arm, expected.holdout))
    assert ("control", True) in seen and ("model", False) in seen and ("wide", False) in seen


def test_the_running_experiment_is_read_at_most_once_per_ttl(store: Store) -> None:
    clock = Clock()
    memory = ExperimentMemory(store, ttl=5.0, clock=clock)
    assert memory.running(SHOP) is None
    store.experiments.start(SHOP, "exp1", DEFINITION, datetime.now(UTC))
    assert memory.running(SHOP) is None
    clock.now += 5.1
    running = memory.running(SHOP)
    assert running is not None and running.experiment.key == "exp1"
    assert running.placement is None and running.covers("checkout")
    store.experiments.stop(SHOP, "exp1", datetime.now(UTC))
    memory.invalidate(SHOP)
    assert memory.running(SHOP) is None


def test_an_invalid_stored_definition_is_ignored_not_raised(store: Store) -> None:
    store.experiments.start(SHOP, "bad", {"arms": [{"key": "only"}]}, datetime.now(UTC))
    assert ExperimentMemory(store).running(SHOP) is None


def test_exposures_are_buffered_then_written_in_one_batch(store: Store) -> None:
    clock = Clock()
    log = ExposureLog(store, interval=1.0, clock=clock)
    label = ExperimentArm(experiment="exp1", arm="model")
    t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    log.record(SHOP, label, "s1", "cart", None, t0)
    log.record(SHOP, label, "s1", "cart", "c1", t0 + timedelta(seconds=30))
    log.record(SHOP, label, "s2", "checkout", None, t0)
    assert store.experiments.exposures(SHOP, "exp1") == []
    clock.now += 1.0
    log.record(SHOP, label, "s3", "cart", None, t0)  # the request that notices flushes
    got = {e.session_id: e for e in store.experiments.exposures(SHOP, "exp1")}
    assert set(got) == {"s1", "s2", "s3"}
    assert (got["s1"].first_at, got["s1"].last_at, got["s1"].customer_id) == (
        t0,
        t0 + timedelta(seconds=30),
        "c1",
    )
    assert log.flush() == 0


def test_exposures_wait_for_storage_to_come_back(store: Store, tmp_path: Path) -> None:
    label = ExperimentArm(experiment="exp1", arm="model")
    log = ExposureLog(store, interval=3600)
    log.record("unknown.myshopify.com", label, "s1", "cart", None)
    log.record(SHOP, label, "s2", "cart", None)
    # the unknown shop's exposures fail (kept for later), the others are written
    assert log.flush() == 1
    store.shops.ensure(ShopRef("unknown.myshopify.com", Platform.SHOPIFY))
    assert log.flush() == 1
    assert [e.session_id for e in store.experiments.exposures("unknown.myshopify.com", "exp1")] == [
        "s1"
    ]


def test_the_storefront_record_counts_one_success_per_click_or_add(store: Store) -> None:
    now = datetime.now(UTC)

    def event(n: int, kind: str, product: str, days_ago: int = 0) -> TrackedEvent:
        return TrackedEvent.model_validate(
            {
                "kind": kind,
                "product_id": product,
                "session_id": f"s{n}",
                "event_id": f"e{n}",
                "occurred_at": (now - timedelta(days=days_ago)).isoformat(),
            }
        )

    store.tracking.add_many(
        SHOP,
        [
            event(1, "impression", "mug"),
            event(2, "impression", "mug"),
            event(3, "click", "mug"),
            event(4, "add_to_cart", "mug"),
            event(5, "click", "tea"),  # a click whose impression beacon was lost
            event(6, "impression", "pot", days_ago=45),  # outside the 30 days
        ],
    )
    clock = Clock()
    record = StorefrontRecord(store, ttl=60, clock=clock)
    assert record.stats(SHOP) == {
        "mug": ItemStats(impressions=2, successes=1),
        "tea": ItemStats(impressions=1, successes=1),
    }
    store.tracking.add_many(SHOP, [event(7, "impression", "pot")])
    assert "pot" not in record.stats(SHOP)
    clock.now += 61
    assert record.stats(SHOP)["pot"] == ItemStats(impressions=1, successes=0)


def test_an_experiment_may_split_one_placement_only(store: Store) -> None:
    store.experiments.start(
        SHOP, "exp1", {**DEFINITION, "placement": "checkout"}, datetime.now(UTC)
    )
    running = ExperimentMemory(store).running(SHOP)
    assert running is not None and running.placement == "checkout"
    assert running.covers("checkout") and not running.covers("cart")
