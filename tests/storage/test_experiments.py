"""Experiments, exposures and readouts, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartwise import storage
from cartwise.domain import Platform, ShopRef
from cartwise.errors import Conflict, NotFound
from cartwise.storage.experiments import ExposureRecord

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DEFINITION = {
    "arms": [{"key": "control", "kind": "no_recommendations"}, {"key": "model"}],
    "holdout_share": 0.05,
    "planned_visitors_per_arm": 4000,
}


def exposure(session: str, at: datetime, arm: str = "model", **kw: object) -> ExposureRecord:
    fields: dict[str, object] = {"placement": "cart", "holdout": False, "customer_id": None}
    fields.update(kw)
    return ExposureRecord(
        "exp1",
        session,
        str(fields["placement"]),
        arm,
        bool(fields["holdout"]),
        at,
        at,
        fields["customer_id"],  # type: ignore[arg-type]
    )


def test_one_experiment_runs_at_a_time_and_keys_are_never_reused(
    db: storage.Store, domain: str
) -> None:
    db.experiments.start(domain, "exp1", DEFINITION, T0)
    running = db.experiments.running(domain)
    assert running is not None and running.key == "exp1" and running.running
    assert running.definition == DEFINITION and running.started_at == T0
    with pytest.raises(Conflict, match="exp1"):
        db.experiments.start(domain, "exp2", DEFINITION, T0)
    stopped = db.experiments.stop(domain, "exp1", T0 + timedelta(days=3))
    assert stopped.stopped_at == T0 + timedelta(days=3) and not stopped.running
    assert db.experiments.running(domain) is None
    with pytest.raises(Conflict, match="used before"):
        db.experiments.start(domain, "exp1", DEFINITION, T0)
    db.experiments.start(domain, "exp2", DEFINITION, T0 + timedelta(days=4))
    assert [e.key for e in db.experiments.all(domain)] == ["exp2", "exp1"]
    # stopping again keeps the first stop time
    again = db.experiments.stop(domain, "exp1", T0 + timedelta(days=9))
    assert again.stopped_at == T0 + timedelta(days=3)
    with pytest.raises(NotFound):
        db.experiments.stop(domain, "nope", T0)


def test_exposures_keep_the_first_arm_and_time_and_move_the_last_time_forward(
    db: storage.Store, domain: str
) -> None:
    db.experiments.record_exposures(
        domain,
        [
            exposure("s1", T0 + timedelta(minutes=5)),
            exposure("s1", T0, customer_id="c1"),
            exposure("s2", T0, arm="control", placement="checkout"),
        ],
    )
    # a later flush with an older last time, and another arm (never happens with hashing,
    # but a replay must not rewrite history)
    db.experiments.record_exposures(
        domain,
        [
            exposure("s1", T0 + timedelta(minutes=1), arm="control"),
            exposure("s2", T0 + timedelta(hours=2), arm="control", placement="checkout"),
        ],
    )
    got = {(e.session_id, e.placement): e for e in db.experiments.exposures(domain, "exp1")}
    assert set(got) == {("s1", "cart"), ("s2", "checkout")}
    s1 = got[("s1", "cart")]
    assert (s1.arm, s1.first_at, s1.last_at, s1.customer_id) == (
        "model",
        T0,
        T0 + timedelta(minutes=5),
        "c1",
    )
    s2 = got[("s2", "checkout")]
    assert (s2.arm, s2.first_at, s2.last_at) == ("control", T0, T0 + timedelta(hours=2))


def test_forgetting_a_customer_deletes_their_exposures_only(db: storage.Store, domain: str) -> None:
    db.experiments.record_exposures(
        domain,
        [
            exposure("s1", T0, customer_id="c1"),
            exposure("s1", T0, customer_id="c1", placement="checkout"),
            exposure("s2", T0, customer_id="c2"),
        ],
    )
    assert db.experiments.forget_customer(domain, "c1") == ["s1"]
    assert [e.session_id for e in db.experiments.exposures(domain, "exp1")] == ["s2"]


def test_readouts_are_replaced_and_shops_are_apart(db: storage.Store, domain: str) -> None:
    other = "other.myshopify.com"
    db.shops.ensure(ShopRef(other, Platform.SHOPIFY))
    db.experiments.start(domain, "exp1", DEFINITION, T0)
    db.experiments.record_exposures(domain, [exposure("s1", T0)])
    assert db.experiments.report(domain, "exp1") is None
    db.experiments.save_report(domain, "exp1", {"visitors": 1}, T0)
    db.experiments.save_report(domain, "exp1", {"visitors": 2}, T0 + timedelta(hours=1))
    assert db.experiments.report(domain, "exp1") == ({"visitors": 2}, T0 + timedelta(hours=1))
    assert db.experiments.running(other) is None
    assert db.experiments.exposures(other, "exp1") == []
    assert db.experiments.report(other, "exp1") is None
    db.experiments.start(other, "exp1", DEFINITION, T0)  # the same key in another shop
