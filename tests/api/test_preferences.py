"""Shopper preferences end to end, in the two-shop world of `test_auth`: real checkout session
tokens and app-proxy signatures, a logged-in customer with history, opting out and back in,
what the recommendations then answer, what ingestion stores afterwards, the privacy webhooks,
shop isolation, and refusals of bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from cartwise.pseudonyms import customer_key
from cartwise.recommender import HybridRecommender

from .shopify import SHOP_A, SHOP_B, checkout_token, delivery, proxy_query
from .test_auth import CUSTOMER_A, CUSTOMERS_B, World, bearer, build_world

NEWCOMER_A = "6100000000077"
"""A customer of shop A with no history."""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db")
    yield built
    built.store.close()


@pytest.fixture
def opt_in_world(tmp_path: Path) -> Iterator[World]:
    """The same world where only customers who said yes are personalised."""
    built = build_world(tmp_path / "cartwise.db", consent_required=True)
    yield built
    built.store.close()


def as_customer(customer: str | None, shop: str = SHOP_A) -> dict[str, str]:
    """The headers of a checkout extension whose buyer is `customer` (None: not logged in)."""
    sub = f"gid://shopify/Customer/{customer}" if customer else None
    return bearer(checkout_token(shop, sub=sub))


def key_of(world: World, customer: str, shop: str = SHOP_A) -> str:
    return customer_key(world.settings.effective_secret_key(), shop, customer)


def preferences(world: World, headers: dict[str, str], **query: str) -> dict[str, Any]:
    response = world.client.get("/v1/preferences", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.get_json()
    return body


def choose(world: World, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = world.client.post("/v1/preferences", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


Shown = tuple[str, list[tuple[str, str]]]


def shown(response: TestResponse) -> Shown:
    """What a shopper sees: the answer's source and its products with their reasons."""
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return body["source"], [(item["product_id"], item["reason"]) for item in body["items"]]


def recommend(world: World, headers: dict[str, str]) -> Shown:
    return shown(world.client.post("/v1/recommendations", json={"k": 4}, headers=headers))


def kinds(answer: dict[str, Any]) -> list[str]:
    return [reason["kind"] for reason in answer["reasons"]]


def latest_model(world: World, shop: str = SHOP_A) -> HybridRecommender:
    artifact = world.store.models.latest(shop)
    assert artifact is not None
    return HybridRecommender.from_bytes(artifact.blob)


# --- what a customer sees -------------------------------------------------------------------


def test_a_customer_sees_the_purchases_their_recommendations_use(world: World) -> None:
    answer = preferences(world, as_customer(CUSTOMER_A))

    assert answer["personalised"] is True
    assert answer["personalised_by_default"] is True
    assert (answer["last_set_at"], answer["last_set_by"]) == (None, None)
    # the two bags were in both of their orders (a tie), the picnic set in the later one only
    history = [(item["product_id"], item["title"]) for item in answer["history"]]
    assert sorted(history[:2]) == [("7100008", "ALPINE LUNCH BAG"), ("7100009", "ALPINE JUMBO BAG")]
    assert history[2:] == [("7100012", "ALPINE PICNIC SET")]
    assert kinds(answer) == ["your_purchases", "your_cart", "popular", "shop_picks"]
    assert [r["personal"] for r in answer["reasons"]] == [True, False, False, False]


def test_a_customer_without_history_is_shown_no_personal_reason(world: World) -> None:
    answer = preferences(world, as_customer(NEWCOMER_A))
    assert answer["personalised"] is True
    assert answer["history"] == []
    assert "your_purchases" not in kinds(answer)


# --- opting out -----------------------------------------------------------------------------


def test_opting_out_answers_as_an_anonymous_shopper_and_detaches_the_history(
    world: World,
) -> None:
    me, nobody = as_customer(CUSTOMER_A), as_customer(None)
    key = key_of(world, CUSTOMER_A)
    personal, anonymous = recommend(world, me), recommend(world, nobody)
    assert personal[0] == "model" and personal != anonymous  # so the comparison below bites
    assert latest_model(world).history(key)
    orders_before = world.store.orders.count(SHOP_A)
    version_before = world.store.models.latest_version(SHOP_A)
    before = datetime.now(UTC)

    answer = choose(world, me, personalised=False)

    assert answer["personalised"] is False
    assert answer["last_set_by"] == "shopper"
    set_at = datetime.fromisoformat(answer["last_set_at"])
    assert before - timedelta(seconds=1) <= set_at <= datetime.now(UTC)
    assert answer["history"] == []
    assert "your_purchases" not in kinds(answer)
    # at once, in this process: the answer is the anonymous one, nothing of theirs in it
    assert recommend(world, me) == anonymous
    # their orders stay in the shop's counts, but no longer under their key
    assert world.store.orders.for_customer(SHOP_A, key) == []
    assert world.store.orders.count(SHOP_A) == orders_before
    assert [(e.personalised, e.source) for e in world.store.consent.history(SHOP_A, key)] == [
        (False, "shopper")
    ]
    # the model is rebuilt without their history
    assert world.store.jobs.counts(SHOP_A).get("queued") == 1
    world.app.extensions["cartwise_worker"].drain()
    assert world.store.models.latest_version(SHOP_A) != version_before
    assert latest_model(world).history(key) == []
    assert recommend(world, me) == anonymous


def test_opting_out_again_changes_nothing(world: World) -> None:
    me = as_customer(CUSTOMER_A)
    first = choose(world, me, personalised=False)
    world.app.extensions["cartwise_worker"].drain()
    jobs = world.store.jobs.counts(SHOP_A)

    again = choose(world, me, personalised=False)

    assert again == first
    assert preferences(world, me) == first
    assert len(world.store.consent.history(SHOP_A, key_of(world, CUSTOMER_A))) == 1
    assert world.store.jobs.counts(SHOP_A) == jobs  # nothing left to rebuild for


def test_opting_back_in_personalises_from_then_on(world: World) -> None:
    me = as_customer(CUSTOMER_A)
    choose(world, me, personalised=False)
    world.app.extensions["cartwise_worker"].drain()  # the rebuild the opt-out queued

    answer = choose(world, me, personalised=True)

    assert answer["personalised"] is True and answer["last_set_by"] == "shopper"
    # the history detached at the opt-out is not brought back
    assert answer["history"] == []
    log = world.store.consent.history(SHOP_A, key_of(world, CUSTOMER_A))
    assert [e.personalised for e in log] == [False, True]


def order_json(order_id: str, customer: str, products: list[str]) -> dict[str, Any]:
    at = datetime.now(UTC).replace(microsecond=0).isoformat()
    return {
        "id": int(order_id),
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "created_at": at,
        "updated_at": at,
        "cancelled_at": None,
        "test": False,
        "currency": "EUR",
        "customer": {"id": int(customer), "email": f"{customer}@example.test"},
        "line_items": [
            {"id": 90 + n, "product_id": int(p), "variant_id": int(p) * 10, "quantity": 1}
            for n, p in enumerate(products)
        ],
    }


def deliver(world: World, topic: str, payload: dict[str, Any], shop: str = SHOP_A) -> None:
    headers, body = delivery(topic, payload, shop=shop)
    response = world.client.post("/webhooks/shopify", data=body, headers=headers)
    assert response.status_code == 200, response.get_json()


def test_a_later_order_of_an_opted_out_customer_is_stored_without_their_key(
    world: World,
) -> None:
    choose(world, as_customer(CUSTOMER_A), personalised=False)
    deliver(world, "orders/create", order_json("5100900001", CUSTOMER_A, ["7100010", "7100011"]))
    deliver(world, "orders/create", order_json("5100900002", NEWCOMER_A, ["7100010", "7100011"]))
    world.app.extensions["cartwise_worker"].drain()

    mine = world.store.orders.get(SHOP_A, "5100900001")
    theirs = world.store.orders.get(SHOP_A, "5100900002")
    assert mine is not None and theirs is not None
    assert mine.customer_id is None
    assert [line.product_id for line in mine.lines] == ["7100010", "7100011"]
    assert theirs.customer_id == key_of(world, NEWCOMER_A)
    assert latest_model(world).history(key_of(world, CUSTOMER_A)) == []
    assert sorted(p for p, _ in latest_model(world).history(key_of(world, NEWCOMER_A))) == [
        "7100010",
        "7100011",
    ]


# --- consent required -----------------------------------------------------------------------


def test_where_consent_is_required_a_customer_is_personalised_only_after_saying_yes(
    opt_in_world: World,
) -> None:
    world = opt_in_world
    me, nobody = as_customer(CUSTOMER_A), as_customer(None)
    anonymous = recommend(world, nobody)

    before = preferences(world, me)
    assert before["personalised"] is False
    assert before["personalised_by_default"] is False
    assert before["history"] == []
    assert recommend(world, me) == anonymous

    after = choose(world, me, personalised=True)

    assert after["personalised"] is True
    assert {item["title"] for item in after["history"]} >= {"ALPINE LUNCH BAG", "ALPINE JUMBO BAG"}
    personal = recommend(world, me)
    assert personal[0] == "model" and personal != anonymous


def test_where_consent_is_required_orders_are_kept_under_a_key_only_after_a_yes(
    opt_in_world: World,
) -> None:
    world = opt_in_world
    choose(world, as_customer(CUSTOMER_A), personalised=True)
    # placed after the yes (order times are whole seconds; the yes was logged within this one)
    later = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0).isoformat()
    for order_id, customer in (("5100900011", CUSTOMER_A), ("5100900012", NEWCOMER_A)):
        payload = order_json(order_id, customer, ["7100010", "7100011"])
        payload["created_at"] = payload["updated_at"] = later
        deliver(world, "orders/create", payload)
    world.app.extensions["cartwise_worker"].drain()

    said_yes = world.store.orders.get(SHOP_A, "5100900011")
    never_asked = world.store.orders.get(SHOP_A, "5100900012")
    assert said_yes is not None and never_asked is not None
    assert said_yes.customer_id == key_of(world, CUSTOMER_A)
    assert never_asked.customer_id is None
    assert [line.product_id for line in never_asked.lines] == ["7100010", "7100011"]


# --- the app proxy --------------------------------------------------------------------------


def signed(customer: str | None, shop: str = SHOP_A) -> str:
    return proxy_query(
        {
            "shop": shop,
            "logged_in_customer_id": customer or "",
            "path_prefix": "/apps/cartwise",
            "timestamp": str(int(time.time())),
        }
    )


def test_through_the_app_proxy(world: World) -> None:
    anonymous = shown(world.client.get(f"/proxy/recommendations?{signed(None)}"))

    read = world.client.get(f"/proxy/preferences?{signed(CUSTOMER_A)}")
    assert read.status_code == 200, read.get_json()
    assert read.get_json()["personalised"] is True
    assert read.get_json()["history"]

    update = world.client.post(
        f"/proxy/preferences?{signed(CUSTOMER_A)}", json={"personalised": False}
    )

    assert update.status_code == 200, update.get_json()
    assert update.get_json()["personalised"] is False
    after = shown(world.client.get(f"/proxy/recommendations?{signed(CUSTOMER_A)}"))
    assert after == anonymous
    # the same customer seen through the checkout extension has opted out too
    assert preferences(world, as_customer(CUSTOMER_A))["personalised"] is False


def test_the_app_proxy_refuses_a_visitor_who_is_not_logged_in(world: World) -> None:
    for response in (
        world.client.get(f"/proxy/preferences?{signed(None)}"),
        world.client.post(f"/proxy/preferences?{signed(None)}", json={"personalised": False}),
    ):
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "forbidden"
        assert response.get_json()["error"]["details"]["reason"] == "customer_required"
    assert world.store.consent.histories(SHOP_A, [key_of(world, CUSTOMER_A)]) == {}


def test_the_app_proxy_refuses_a_query_it_did_not_sign(world: World) -> None:
    query = signed(CUSTOMER_A).replace(
        f"logged_in_customer_id={CUSTOMER_A}", "logged_in_customer_id=1"
    )
    response = world.client.post(f"/proxy/preferences?{query}", json={"personalised": False})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_signature"


# --- shops and callers ----------------------------------------------------------------------


def test_two_shops_keep_their_choices_apart(world: World) -> None:
    """The same platform customer id in two shops is two customers: opting out in A leaves B's
    answers and log as they were."""
    customer = CUSTOMERS_B[0]
    in_b = as_customer(customer, SHOP_B)
    personal_b = recommend(world, in_b)
    assert personal_b[0] == "model"

    choose(world, as_customer(customer, SHOP_A), personalised=False)

    assert recommend(world, in_b) == personal_b
    assert preferences(world, in_b)["personalised"] is True
    assert preferences(world, in_b)["history"]
    assert world.store.consent.histories(SHOP_B, [key_of(world, customer, SHOP_B)]) == {}
    assert world.store.orders.for_customer(SHOP_B, key_of(world, customer, SHOP_B))


def test_an_api_key_acts_for_the_customer_it_names_in_its_own_shop(world: World) -> None:
    key = {"X-Cartwise-Key": world.key_a}
    assert preferences(world, key, customer_id=CUSTOMER_A)["history"]

    answer = choose(world, key, personalised=False, customer_id=CUSTOMER_A)

    assert answer["personalised"] is False
    assert preferences(world, as_customer(CUSTOMER_A))["personalised"] is False
    # shop B's key names a customer of shop B: shop A's choice is not theirs
    assert preferences(world, {"X-Cartwise-Key": world.key_b}, customer_id=CUSTOMER_A)[
        "personalised"
    ]


def test_a_checkout_caller_cannot_act_for_someone_else(world: World) -> None:
    """A `customer_id` in the body is ignored for a session token: its subject decides."""
    choose(world, as_customer(NEWCOMER_A), personalised=False, customer_id=CUSTOMER_A)
    assert preferences(world, as_customer(CUSTOMER_A))["personalised"] is True
    assert preferences(world, as_customer(NEWCOMER_A))["personalised"] is False


def test_answers_carry_cors_headers_and_the_preflight_is_answered(world: World) -> None:
    preflight = world.client.options(
        "/v1/preferences",
        headers={
            "Origin": "https://extensions.shopifycdn.com",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert preflight.status_code == 204
    refused = world.client.get("/v1/preferences")
    assert refused.status_code == 401
    for response in (preflight, refused):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]


# --- privacy ----------------------------------------------------------------------------------


def test_the_privacy_webhooks_export_and_delete_the_consent_log(world: World) -> None:
    choose(world, as_customer(CUSTOMER_A), personalised=False)
    choose(world, as_customer(CUSTOMERS_B[0], SHOP_B), personalised=False)
    person = {"id": int(CUSTOMER_A), "email": "a@example.test"}
    deliver(
        world,
        "customers/data_request",
        {
            "shop_id": 1,
            "shop_domain": SHOP_A,
            "orders_requested": [],
            "customer": person,
            "data_request": {"id": 9001},
        },
    )
    world.app.extensions["cartwise_worker"].drain()
    [export] = world.store.exports.list(SHOP_A)
    [entry] = export.document["consent"]
    assert (entry["personalised"], entry["source"]) == (False, "shopper")
    assert datetime.fromisoformat(entry["recorded_at"]).tzinfo is not None
    assert export.document["stored_customer_key"] == key_of(world, CUSTOMER_A)

    redact = {"shop_id": 1, "shop_domain": SHOP_A, "customer": person, "orders_to_redact": []}
    for _ in range(2):  # a second request finds nothing left
        deliver(world, "customers/redact", redact)
        world.app.extensions["cartwise_worker"].drain()
        assert world.store.consent.history(SHOP_A, key_of(world, CUSTOMER_A)) == []
    assert preferences(world, as_customer(CUSTOMER_A))["last_set_at"] is None

    b_key = key_of(world, CUSTOMERS_B[0], SHOP_B)
    assert world.store.consent.current(SHOP_B, b_key) is False
    for _ in range(2):
        deliver(world, "shop/redact", {"shop_id": 2, "shop_domain": SHOP_B}, shop=SHOP_B)
        world.app.extensions["cartwise_worker"].drain()
        assert world.store.consent.current(SHOP_B, b_key) is None


# --- refusals -----------------------------------------------------------------------------


def assert_refused(response: TestResponse, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"personalised": "false"}, id="a-string"),
        pytest.param({"personalised": 0}, id="a-number"),
        pytest.param({"personalised": None}, id="null"),
        pytest.param({"personalised": False, "reason": "spam"}, id="an-unknown-field"),
        pytest.param({"personalised": False, "customer_id": ""}, id="an-empty-customer"),
        pytest.param({"personalised": False, "customer_id": "9" * 129}, id="a-long-customer"),
        pytest.param([False], id="not-an-object"),
    ],
)
def test_a_body_that_does_not_validate_changes_nothing(world: World, body: Any) -> None:
    response = world.client.post("/v1/preferences", json=body, headers=as_customer(CUSTOMER_A))
    assert_refused(response, 422, "invalid_request")
    assert world.store.consent.history(SHOP_A, key_of(world, CUSTOMER_A)) == []


def test_a_body_that_is_not_json_is_refused(world: World) -> None:
    response = world.client.post(
        "/v1/preferences", data="personalised=false", headers=as_customer(CUSTOMER_A)
    )
    assert_refused(response, 422, "invalid_request")


@pytest.mark.parametrize(
    ("method", "headers", "status", "code"),
    [
        pytest.param("get", {}, 401, "unauthorized", id="get-no-credential"),
        pytest.param("post", {}, 401, "unauthorized", id="post-no-credential"),
        pytest.param("get", bearer("not-a-jwt"), 401, "unauthorized", id="a-bad-token"),
        pytest.param("get", {"X-Cartwise-Key": "cw_nope"}, 401, "unauthorized", id="a-bad-key"),
        pytest.param("get", "no-buyer", 403, "forbidden", id="get-not-logged-in"),
        pytest.param("post", "no-buyer", 403, "forbidden", id="post-not-logged-in"),
        pytest.param("get", "key", 403, "forbidden", id="a-key-naming-no-customer"),
    ],
)
def test_a_caller_without_a_customer_is_refused(
    world: World, method: str, headers: Any, status: int, code: str
) -> None:
    if headers == "no-buyer":
        headers = as_customer(None)
    elif headers == "key":
        headers = {"X-Cartwise-Key": world.key_a}
    response = getattr(world.client, method)(
        "/v1/preferences", json={"personalised": False}, headers=headers
    )
    assert_refused(response, status, code)


@pytest.mark.parametrize("customer_id", ["", "9" * 129], ids=["empty", "too-long"])
def test_a_bad_customer_id_in_the_query_is_refused(world: World, customer_id: str) -> None:
    response = world.client.get(
        "/v1/preferences",
        query_string={"customer_id": customer_id},
        headers={"X-Cartwise-Key": world.key_a},
    )
    assert_refused(response, 422, "invalid_request")
