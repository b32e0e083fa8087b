"""The dashboard's two JSON actions: the cart preview (the answer a shopper would get, with
reasons, under the saved rules) and the back-test (figures for cartwise and popularity, run once
per model version and then answered from memory)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from cartwise.api.dashboard_backtest import BacktestCache, BacktestRun
from cartwise.domain import ShopRules
from cartwise.training import train_shop

from .shopify import SHOP_A, admin_token
from .test_auth import CUSTOMER_A, SHOP_C, World, build_world
from .test_dashboard import bearer


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db")
    yield built
    built.store.close()


def post(world: World, path: str, body: Any = None, shop: str = SHOP_A) -> TestResponse:
    return world.client.post(path, json=body or {}, headers=bearer(admin_token(shop)))


# --- preview ------------------------------------------------------------------------------------


def test_the_preview_gives_each_product_its_reason(world: World) -> None:
    response = post(world, "/app/preview", {"cart": ["7100001"]})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["source"] == "model" and answer["model_version"] == 1
    items = {item["product_id"]: item for item in answer["items"]}
    assert "7100001" not in items
    assert items["7100002"]["reason"] == "Often bought with ALPINE CAKESTAND"
    assert items["7100002"]["title"] == "ALPINE TEACUP GREEN"
    assert all(item["reason"] for item in answer["items"])
    assert response.headers["Cache-Control"] == "no-store"


def test_the_preview_follows_the_saved_rules(world: World) -> None:
    world.store.rules.set(SHOP_A, ShopRules(pinned=("7100012",), blocked=frozenset({"7100002"})))
    world.app.extensions["cartwise"].catalog.invalidate(SHOP_A)
    answer = post(world, "/app/preview", {"cart": ["7100001"], "k": 4}).get_json()
    ids = [item["product_id"] for item in answer["items"]]
    assert ids[0] == "7100012" and "7100002" not in ids and len(ids) == 4
    assert answer["items"][0]["reason"] == "Recommended by the shop"


def test_the_preview_uses_a_known_customers_history(world: World) -> None:
    answer = post(world, "/app/preview", {"cart": [], "customer_id": CUSTOMER_A}).get_json()
    assert answer["source"] == "model"
    assert {"7100008", "7100009"} & {item["product_id"] for item in answer["items"]}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"cart": "7100001"}, id="cart-not-a-list"),
        pytest.param({"cart": [""]}, id="empty-id"),
        pytest.param({"cart": ["x" * 129]}, id="long-id"),
        pytest.param({"cart": [], "k": 0}, id="k-zero"),
        pytest.param({"cart": [], "shop": "shop-b.myshopify.com"}, id="a-shop-field"),
    ],
)
def test_a_preview_body_that_does_not_validate_is_a_422(world: World, body: Any) -> None:
    response = post(world, "/app/preview", body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_request"


# --- back-test ----------------------------------------------------------------------------------


def test_the_backtest_reports_both_methods_and_is_kept_per_model_version(world: World) -> None:
    first = post(world, "/app/backtest")
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["cached"] is False
    assert (body["model_version"], body["orders_used"], body["orders_cap"]) == (1, 12, 20_000)
    assert body["capped"] is False
    assert body["train_orders"] + body["test_orders"] == 12
    assert set(body["methods"]) == {"cartwise", "popularity"}
    for figures in body["methods"].values():
        assert 0.0 <= figures["hit_rate"] <= 1.0
        assert 0.0 <= figures["ndcg"] <= 1.0
        assert 0.0 < figures["coverage"] <= 1.0
    assert body["seconds"] >= 0.0

    again = post(world, "/app/backtest").get_json()
    assert again["cached"] is True
    assert {k: v for k, v in again.items() if k != "cached"} == {
        k: v for k, v in body.items() if k != "cached"
    }

    train_shop(world.store, SHOP_A)
    rebuilt = post(world, "/app/backtest").get_json()
    assert (rebuilt["cached"], rebuilt["model_version"]) == (False, 2)


def test_a_backtest_without_orders_is_a_clear_422(world: World) -> None:
    response = post(world, "/app/backtest", shop=SHOP_C)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "import_failed" and error["message"] == "no orders to evaluate"
    assert post(world, "/app/backtest", shop=SHOP_C).status_code == 422  # failures are not kept


def test_the_backtest_cache_runs_a_key_once_for_concurrent_callers() -> None:
    cache = BacktestCache()
    calls: list[int] = []
    gate = threading.Event()

    def compute() -> BacktestRun:
        calls.append(1)
        gate.wait(5)
        return BacktestRun({}, 0, False, 0.0, datetime.now(UTC))

    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_run("k", compute)[1]))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 1
    assert sorted(results) == [False, True, True, True]


def test_the_dashboards_json_actions_are_documented(world: World) -> None:
    spec = world.client.get("/openapi.json").get_json()
    assert spec["paths"]["/app/preview"]["post"]["requestBody"]["content"]["application/json"]
    assert "BacktestResponse" in spec["components"]["schemas"]
    assert "PreviewRequest" in spec["components"]["schemas"]
    assert "text/html" in spec["paths"]["/app"]["get"]["responses"]["200"]["content"]
