"""`GET /v1/defaults`: what a storefront shows when it cannot reach cartwise, fetched ahead of
time by the SDK: the merchant's picks first, then trending, under the shop's rules."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from cartwise.domain import ShopRules
from cartwise.storage import Store

from .conftest import CATALOG, SHOP


def ids(body: dict[str, object]) -> list[str]:
    return [item["product_id"] for item in body["items"]]  # type: ignore[index, union-attr]


def test_curated_defaults_lead_then_trending_tops_up(
    app: Flask, store: Store, train: Callable[[], int]
) -> None:
    train()
    store.rules.set(
        SHOP,
        ShopRules(defaults=("47566", "84879"), pinned=("20725",), blocked=frozenset({"22423"})),
    )
    app.extensions["cartwise"].catalog.invalidate(SHOP)
    response = app.test_client().get("/v1/defaults?k=6")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age" in response.headers["Cache-Control"]
    body = response.get_json()
    assert ids(body)[:3] == ["20725", "47566", "84879"]
    assert len(ids(body)) == 6 and "22423" not in ids(body)
    assert body["source"] == "defaults"
    assert {i["reason"] for i in body["items"][:3]} == {"Recommended by the shop"}
    assert body["items"][3]["reason"] != "Recommended by the shop"


def test_without_picks_or_a_model_the_catalog_answers(app: Flask) -> None:
    body = app.test_client().get("/v1/defaults?k=3").get_json()
    assert body["source"] == "fallback"
    assert set(ids(body)) <= {p.product_id for p in CATALOG} and len(ids(body)) == 3


def test_a_bad_k_is_refused(app: Flask) -> None:
    response = app.test_client().get("/v1/defaults?k=0")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_request"
