"""Experiments through the API: started and stopped by the merchant, every answer naming the
shopper's arm (stable across calls), controls answering as they should, exposures logged,
the readout counting clicked recommendations that were bought; one shop never touches another's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cartwise.domain import Order, OrderLine
from cartwise.experiments import assign

from .shopify import SHOP_A, SHOP_B
from .test_admin import key_header
from .test_auth import World, build_world

ARMS = [{"key": "control", "kind": "no_recommendations"}, {"key": "model"}]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db")
    yield built
    built.store.close()


def start(world: World, key: str = "exp1", admin: str | None = None, **body: Any) -> Any:
    payload = {"key": key, "arms": ARMS, "planned_visitors_per_arm": 1000, **body}
    return world.client.post(
        "/v1/admin/experiments", json=payload, headers=key_header(admin or world.admin_key_a)
    )


def ask(world: World, session: str | None, key: str | None = None, **extra: Any) -> Any:
    body: dict[str, Any] = {"cart": [{"product_id": "7100001"}], "k": 3, **extra}
    if session is not None:
        body["session_id"] = session
    response = world.client.post(
        "/v1/recommendations", json=body, headers=key_header(key or world.key_a)
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def flush(world: World) -> None:
    exposures = world.app.extensions["cartwise"].exposures
    exposures.flush()


def test_starting_an_experiment_returns_it_and_computes_the_plan(world: World) -> None:
    response = start(
        world,
        planned_visitors_per_arm=None,
        baseline_conversion=0.1,
        minimum_detectable_effect=0.02,
        holdout_share=0.05,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["key"] == "exp1" and body["running"] is True
    # 3,841 per arm for 10 % → 12 % at 5 % / 80 % (the normal approximation)
    assert body["planned_visitors_per_arm"] == 3841
    assert [a["key"] for a in body["arms"]] == ["control", "model"]
    listed = world.client.get("/v1/admin/experiments", headers=key_header(world.admin_key_a))
    assert [e["key"] for e in listed.get_json()["experiments"]] == ["exp1"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"arms": [{"key": "a"}, {"key": "b"}]}, 422, "invalid_request"),
        ({"arms": [{"key": "c", "kind": "trending_only"}] * 2}, 422, "invalid_request"),
        ({"arms": [ARMS[0], {"key": "v", "settings": {"colour": 1}}]}, 422, "invalid_request"),
        ({"planned_visitors_per_arm": None}, 422, "invalid_request"),
        ({"holdout_share": 0.9}, 422, "invalid_request"),
        ({"key": "has space"}, 422, "invalid_request"),
        ({"shop": SHOP_B}, 422, "invalid_request"),
    ],
)
def test_invalid_experiments_are_refused_and_nothing_is_stored(
    world: World, body: dict[str, Any], status: int, code: str
) -> None:
    response = start(world, **body)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert world.store.experiments.all(SHOP_A) == []


def test_one_experiment_at_a_time_and_keys_are_not_reused(world: World) -> None:
    assert start(world).status_code == 201
    second = start(world, key="exp2")
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "conflict"
    stopped = world.client.post(
        "/v1/admin/experiments/exp1/stop", headers=key_header(world.admin_key_a)
    )
    assert stopped.status_code == 200 and stopped.get_json()["running"] is False
    assert start(world).status_code == 409
    assert start(world, key="exp2").status_code == 201


def test_answers_name_a_stable_arm_and_the_control_shows_nothing(world: World) -> None:
    plain = ask(world, "s-before")
    assert plain["experiment"] is None and plain["items"]
    assert start(world).status_code == 201
    experiment = world.app.extensions["cartwise"].experiments
    experiment.invalidate(SHOP_A)
    arms: Counter[str] = Counter()
    for n in range(60):
        session = f"session-{n}"
        first, again = ask(world, session), ask(world, session)
        assert first["experiment"] == again["experiment"]
        arm = first["experiment"]["arm"]
        running = experiment.running(SHOP_A)
        assert arm == assign(SHOP_A, running.experiment, session).arm
        arms[arm] += 1
        if arm == "control":
            assert first["items"] == [] and first["source"] == "control"
        else:
            assert first["items"] and first["source"] == "model"
    assert arms["control"] > 10 and arms["model"] > 10
    # no session and no customer: the shopper cannot be told apart, so answered outside it
    assert ask(world, None)["experiment"] is None
    flush(world)
    logged = world.store.experiments.exposures(SHOP_A, "exp1")
    assert len(logged) == 60
    assert Counter(e.arm for e in logged) == arms


def test_an_experiment_on_one_placement_leaves_the_others_alone(world: World) -> None:
    assert start(world, placement="checkout").status_code == 201
    world.app.extensions["cartwise"].experiments.invalidate(SHOP_A)
    assert ask(world, "s1", placement="cart")["experiment"] is None
    assert ask(world, "s1", placement="checkout")["experiment"]["experiment"] == "exp1"


def test_another_shop_neither_sees_nor_stops_the_experiment(world: World) -> None:
    assert start(world).status_code == 201
    other = world.client.post(
        "/v1/admin/experiments/exp1/stop", headers=key_header(world.admin_key_b)
    )
    assert other.status_code == 404
    read = world.client.get("/v1/admin/experiments/exp1", headers=key_header(world.admin_key_b))
    assert read.status_code == 404
    assert world.store.experiments.running(SHOP_A) is not None
    assert ask(world, "s1", key=world.key_b)["experiment"] is None
    storefront = world.client.get("/v1/admin/experiments", headers=key_header(world.key_a))
    assert storefront.status_code == 403


def test_the_readout_counts_bought_recommendations_per_arm(world: World) -> None:
    assert start(world).status_code == 201
    world.app.extensions["cartwise"].experiments.invalidate(SHOP_A)
    answers = {f"s{n}": ask(world, f"s{n}") for n in range(40)}
    treated = [s for s, a in answers.items() if a["experiment"]["arm"] == "model"]
    control = [s for s, a in answers.items() if a["experiment"]["arm"] == "control"]
    flush(world)
    # two treated shoppers click a recommendation and buy it (two of them, at its price)
    events = []
    bought: dict[str, tuple[str, float]] = {}
    for session in treated[:2]:
        item = answers[session]["items"][0]
        bought[session] = (item["product_id"], item["price"])
        events += [
            {"kind": "impression", "product_id": item["product_id"], "session_id": session},
            {"kind": "click", "product_id": item["product_id"], "session_id": session},
        ]
    posted = world.client.post(
        "/v1/events", json={"events": events}, headers=key_header(world.key_a)
    )
    assert posted.status_code == 202, posted.get_json()
    now = datetime.now(UTC)
    for n, (session, (product, price)) in enumerate(bought.items()):
        order = Order(f"90{n}", now, (OrderLine(product, 2, price), OrderLine("7100008", 1, 1.65)))
        world.store.orders.upsert_many(SHOP_A, [order])
        world.store.orders.add_sessions(SHOP_A, order.order_id, [session])
    # a control shopper buys too, with nothing to attribute
    world.store.orders.upsert_many(SHOP_A, [Order("999", now, (OrderLine("7100004", 1, 4.95),))])
    world.store.orders.add_sessions(SHOP_A, "999", [control[0]])
    response = world.client.get(
        "/v1/admin/experiments/exp1?refresh=1", headers=key_header(world.admin_key_a)
    )
    assert response.status_code == 200
    readout = response.get_json()["readout"]
    model, ctl = readout["arms"]["model"], readout["arms"]["control"]
    assert model["visitors"] == len(treated) and ctl["visitors"] == len(control)
    assert (model["impressions"], model["clicks"], model["orders"]) == (2, 2, 2)
    expected = sum(2 * price for _, price in bought.values())
    assert model["attributed_revenue"] == pytest.approx(expected)
    assert model["revenue"] == pytest.approx(expected + 2 * 1.65)
    assert (ctl["orders"], ctl["revenue"], ctl["attributed_revenue"]) == (1, 4.95, 0.0)
    verdict = readout["comparisons"][0]["decision"]["verdict"]
    assert verdict == "keep collecting"  # 1,000 planned per arm
