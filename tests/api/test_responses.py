"""What a storefront gets back besides the ranking: gzip when it accepts it, the session cache
for repeated identical requests, and cold-start answers tailored to the shopper's segment."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from cartwise.storage import Store

from .conftest import SHOP


def _ask(client: FlaskClient, body: dict[str, object], **headers: str) -> dict[str, object]:
    response = client.post("/v1/recommendations", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_data()
    if response.headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    answer = json.loads(data)
    assert isinstance(answer, dict)
    return answer


def test_answers_are_gzipped_for_clients_that_accept_it(
    client: FlaskClient, train: Callable[[], int]
) -> None:
    train()
    body = {"cart": [{"product_id": "22423"}], "k": 8}
    plain = client.post("/v1/recommendations", json=body)
    packed = client.post("/v1/recommendations", json=body, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.get_data()) < len(plain.get_data())
    unpacked = json.loads(gzip.decompress(packed.get_data()))
    assert unpacked["items"] == plain.get_json()["items"]


def test_small_and_error_bodies_are_sent_as_they_are(client: FlaskClient) -> None:
    response = client.post(
        "/v1/recommendations",
        data="{",
        headers={"Accept-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "Content-Encoding" not in response.headers
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_a_repeated_request_of_a_session_is_answered_from_the_cache(
    app: Flask, client: FlaskClient, train: Callable[[], int]
) -> None:
    train()
    cache = app.extensions["cartwise"].responses
    body = {"cart": [{"product_id": "22423"}], "k": 4, "session_id": "s-1"}
    first = _ask(client, body)
    hits = cache.hits
    second = _ask(client, body)
    assert cache.hits == hits + 1
    assert second["items"] == first["items"]
    assert second["request_id"] != first["request_id"]

    _ask(client, {**body, "session_id": "s-2"})
    assert cache.hits == hits + 1  # another session is another key

    _ask(client, {**body, "cart": [{"product_id": "85123A"}]})
    assert cache.hits == hits + 1  # another cart too


def test_a_new_model_version_is_never_hidden_behind_a_cached_answer(
    app: Flask, client: FlaskClient, train: Callable[[], int]
) -> None:
    train()
    body = {"cart": [{"product_id": "22423"}], "k": 4, "session_id": "s-1"}
    before = _ask(client, body)
    version = train()
    app.extensions["cartwise"].registry.invalidate(SHOP)
    after = _ask(client, body)
    assert after["model_version"] == version != before["model_version"]


def test_without_a_session_nothing_is_cached(
    app: Flask, client: FlaskClient, train: Callable[[], int]
) -> None:
    train()
    cache = app.extensions["cartwise"].responses
    body = {"cart": [{"product_id": "22423"}], "k": 4}
    _ask(client, body)
    _ask(client, body)
    assert cache.hits == 0 and len(cache) == 0


def test_a_cold_start_answer_follows_the_shoppers_segment(
    client: FlaskClient, store: Store
) -> None:
    # No model yet: what sells to shoppers from DE comes first for a shopper from DE.
    now = datetime.now(UTC)
    store.segments.add(SHOP, ["country:DE"], ["47566", "20725"], now)
    store.segments.add(SHOP, ["country:DE"], ["47566"], now)
    store.segments.add(SHOP, ["country:FR"], ["84879"], now)

    german = _ask(client, {"cart": [], "k": 3, "context": {"country": "de"}})
    assert german["source"] == "trending"
    items = german["items"]
    assert isinstance(items, list)
    assert [i["product_id"] for i in items[:2]] == ["47566", "20725"]
    assert items[0]["reason"] == "Popular with shoppers from DE"

    french = _ask(client, {"cart": [], "k": 3, "context": {"country": "FR"}})
    french_items = french["items"]
    assert isinstance(french_items, list)
    assert french_items[0]["product_id"] == "84879"

    anyone = _ask(client, {"cart": [], "k": 3})
    assert anyone["source"] == "fallback"


def test_a_segment_outside_the_schema_is_refused(client: FlaskClient) -> None:
    response = client.post(
        "/v1/recommendations", json={"cart": [], "context": {"country": "Germany"}}
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_anonymous_shoppers_with_the_same_cart_share_one_answer_while_it_is_held(
    app: Flask, client: FlaskClient, store: Store, train: Callable[[], int]
) -> None:
    train()
    body = {"cart": [{"product_id": "22423"}], "k": 4}
    first = _ask(client, {**body, "session_id": "shopper-1"})
    items = first["items"]
    assert isinstance(items, list) and items
    top = items[0]["product_id"]

    # Sold out in the database; this process has not heard of it yet.
    store.products.set_stock(SHOP, top, 0, True)
    second = _ask(client, {**body, "session_id": "shopper-2"})
    assert second["items"] == first["items"]
    assert second["request_id"] != first["request_id"]

    # Once the shop's memory is dropped (a change seen here, or two seconds later) it is gone.
    app.extensions["cartwise"].catalog.invalidate(SHOP)
    third = _ask(client, {**body, "session_id": "shopper-3"})
    third_items = third["items"]
    assert isinstance(third_items, list)
    assert top not in [item["product_id"] for item in third_items]
