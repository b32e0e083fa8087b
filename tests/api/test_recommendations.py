"""`POST /v1/recommendations` through Flask's test client against a real SQLite store."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cartwise.api import create_app
from cartwise.settings import ModelSettings, Settings
from cartwise.storage import Store

from .conftest import CATALOG, SHOP

ITEM_KEYS = {"product_id", "variant_id", "title", "price", "image_url", "reason", "score"}
TITLES = {p.product_id: p.title for p in CATALOG}


def ask(client: FlaskClient, cart: list[str], **fields: Any) -> dict[str, Any]:
    body = {"cart": [{"product_id": pid, "quantity": 1} for pid in cart], **fields}
    response = client.post("/v1/recommendations", json=body)
    assert response.status_code == 200, response.get_json()
    payload: dict[str, Any] = response.get_json()
    return payload


def ids(answer: dict[str, Any]) -> list[str]:
    return [item["product_id"] for item in answer["items"]]


def test_answer_follows_the_contract(client: FlaskClient, train: Callable[[], int]) -> None:
    version = train()
    body = {
        "cart": [{"product_id": "22423", "variant_id": None, "quantity": 1}],
        "customer_id": None,
        "session_id": "s1",
        "placement": "cart",
        "k": 3,
    }
    response = client.post("/v1/recommendations", json=body)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.get_json()
    assert set(answer) == {"items", "source", "model_version", "request_id", "experiment"}
    assert answer["experiment"] is None  # no experiment running
    assert answer["source"] == "model"
    assert answer["model_version"] == version
    assert re.fullmatch(r"[0-9a-f]{32}", answer["request_id"])
    assert len(answer["items"]) == 3
    first = answer["items"][0]
    assert set(first) == ITEM_KEYS
    assert first["product_id"] in {"22697", "22699", "22720"}
    assert first["title"] == TITLES[first["product_id"]]
    assert isinstance(first["price"], float)
    assert first["reason"] == "Often bought with REGENCY CAKESTAND 3 TIER"
    scores = [item["score"] for item in answer["items"]]
    assert scores == sorted(scores, reverse=True)


def test_every_answer_has_its_own_request_id(client: FlaskClient, train: Callable[[], int]) -> None:
    train()
    assert ask(client, ["22423"])["request_id"] != ask(client, ["22423"])["request_id"]


def test_cart_items_are_never_returned(client: FlaskClient, train: Callable[[], int]) -> None:
    train()
    cart = ["22423", "22697", "85123A"]
    answer = ask(client, cart, k=20)
    returned = ids(answer)
    assert returned
    assert not set(returned) & set(cart)
    assert len(returned) == len(set(returned))


def test_short_model_answers_are_topped_up_to_k(
    client: FlaskClient, train: Callable[[], int]
) -> None:
    train()
    answer = ask(client, ["22423"], k=20)
    assert answer["source"] == "model"
    assert sorted(ids(answer)) == sorted(pid for pid in TITLES if pid != "22423")


def test_unavailable_and_sold_out_items_are_never_returned(
    app: Flask, client: FlaskClient, store: Store, train: Callable[[], int]
) -> None:
    train()
    assert {"22697", "22699"} <= set(ids(ask(client, ["22423"], k=20)))

    store.products.set_stock(SHOP, "22697", 0, True)
    store.products.set_stock(SHOP, "22699", None, False)
    # The process holds products for two seconds; a change it applies itself is seen at once.
    catalog = app.extensions["cartwise"].catalog
    catalog.invalidate(SHOP)

    returned = ids(ask(client, ["22423"], k=20))
    assert "22697" not in returned
    assert "22699" not in returned
    assert "22720" in returned


def test_empty_cart_gets_trending(client: FlaskClient, train: Callable[[], int]) -> None:
    version = train()
    answer = ask(client, [], k=4)
    assert answer["source"] == "trending"
    assert answer["model_version"] == version
    assert len(answer["items"]) == 4


def test_known_customer_with_empty_cart_gets_the_model(
    client: FlaskClient, train: Callable[[], int]
) -> None:
    train()
    answer = ask(client, [], customer_id="c1", k=4)
    assert answer["source"] == "model"
    assert {"20725", "22386"} & set(ids(answer))


def test_without_a_model_the_catalog_is_the_fallback(client: FlaskClient) -> None:
    answer = ask(client, ["21212"], k=3)
    assert answer["source"] == "fallback"
    assert answer["model_version"] is None
    titles = [item["title"] for item in answer["items"]]
    expected = sorted(title for pid, title in TITLES.items() if pid != "21212")[:3]
    assert titles == expected


def test_a_storage_outage_still_answers_200(
    app: Flask,
    client: FlaskClient,
    train: Callable[[], int],
    take_database_away: Callable[[], None],
) -> None:
    train()
    before = ask(client, ["22423"])
    assert before["source"] == "model"
    take_database_away()
    # The loaded model and the products held in memory keep answering.
    during = ask(client, ["22423"])
    assert during["source"] == "model"
    assert ids(during) == ids(before)
    # With nothing held, the answer is an empty fallback, still a 200.
    app.extensions["cartwise"].catalog.invalidate(SHOP)
    answer = ask(client, ["22423"])
    assert answer["source"] == "fallback"
    assert answer["items"] == []


def test_an_unknown_shop_is_404(store: Store) -> None:
    settings = Settings(demo_mode=True, demo_shop="nowhere.example")
    client = create_app(settings, store=store).test_client()
    response = client.post("/v1/recommendations", json={"cart": []})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_shop"


def test_outside_demo_mode_it_is_401(store: Store) -> None:
    client = create_app(
        Settings(demo_mode=False, secret_key="test-only-secret-key-0123456789abcdef"), store=store
    ).test_client()
    response = client.post("/v1/recommendations", json={"cart": []})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("data", "content_type", "mentions"),
    [
        pytest.param(b'{"cart": [', "application/json", "json", id="truncated-json"),
        pytest.param(b"", "application/json", "json", id="empty-body"),
        pytest.param(b"[]", "application/json", "body", id="not-an-object"),
        pytest.param(b'{"cart": []}', "text/plain", "application/json", id="wrong-content-type"),
        pytest.param(b'{"cart": [], "k": 0}', "application/json", "k", id="k-zero"),
        pytest.param(b'{"cart": [], "k": 51}', "application/json", "k", id="k-too-big"),
        pytest.param(b'{"cart": [], "k": "many"}', "application/json", "k", id="k-not-int"),
        pytest.param(b'{"cart": [], "k": "4"}', "application/json", "k", id="k-as-string"),
        pytest.param(b'{"cart": [], "k": true}', "application/json", "k", id="k-as-boolean"),
        pytest.param(b'{"cart": [], "k": 4.5}', "application/json", "k", id="k-fractional"),
        pytest.param(b'{"cart": {}}', "application/json", "cart", id="cart-not-list"),
        pytest.param(
            b'{"cart": [{"product_id": "1", "quantity": 0}]}',
            "application/json",
            "cart.0.quantity",
            id="zero-quantity",
        ),
        pytest.param(
            b'{"cart": [{"product_id": ""}]}',
            "application/json",
            "cart.0.product_id",
            id="empty-product-id",
        ),
        pytest.param(b'{"cart": [{}]}', "application/json", "product_id", id="no-product-id"),
        pytest.param(
            b'{"cart": [], "placement": "attic"}', "application/json", "placement", id="placement"
        ),
        pytest.param(b'{"cart": [], "coupon": "x"}', "application/json", "coupon", id="extra"),
    ],
)
def test_invalid_bodies_are_422(
    client: FlaskClient, data: bytes, content_type: str, mentions: str
) -> None:
    response = client.post("/v1/recommendations", data=data, content_type=content_type)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert mentions.lower() in error["message"].lower()
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "k", [pytest.param(b"4.0", id="point-zero"), pytest.param(b"4e0", id="exponent")]
)
def test_whole_numbers_are_integers_as_json_schema_says(
    client: FlaskClient, train: Callable[[], int], k: bytes
) -> None:
    """Bodies are validated strictly, yet `4.0` is the integer 4 in JSON Schema."""
    train()
    data = b'{"cart": [{"product_id": "22423", "quantity": 1.0}], "k": ' + k + b"}"
    response = client.post("/v1/recommendations", data=data, content_type="application/json")
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["items"]) == 4


def test_a_body_over_one_megabyte_is_413(client: FlaskClient) -> None:
    data = b'{"cart": [], "session_id": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post("/v1/recommendations", data=data, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_a_request_without_k_gets_the_deployments_default(
    store: Store, train: Callable[[], int]
) -> None:
    train()
    settings = Settings(demo_mode=True, demo_shop=SHOP, model=ModelSettings(default_k=3))
    client = create_app(settings, store=store).test_client()
    unasked = client.post("/v1/recommendations", json={"cart": [{"product_id": "22423"}]})
    asked = client.post("/v1/recommendations", json={"cart": [{"product_id": "22423"}], "k": 5})
    assert len(unasked.get_json()["items"]) == 3
    assert len(asked.get_json()["items"]) == 5
