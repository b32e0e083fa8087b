"""ensure_webhook_subscriptions against a stateful fake of Shopify's Admin GraphQL endpoint
(respx at the transport): listing across pages, creating what is missing with the right enum
names and uri, user errors, idempotence, compliance topics and addresses pointing elsewhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx

from cartwise.connector.shopify.admin import ShopifyAdmin
from cartwise.connector.shopify.subscriptions import (
    COMPLIANCE_TOPICS,
    SubscriptionReport,
    ensure_webhook_subscriptions,
)
from cartwise.errors import InvalidRequest, UpstreamRejected
from cartwise.webhooks import topics as cartwise_topics

from .shopify_fakes import ENDPOINT, SHOP, TOKEN, FakeTime, cost

CALLBACK = "https://cartwise.example.com/webhooks/shopify"
ELSEWHERE = "https://old-host.example.com/webhooks"
API_TOPICS = cartwise_topics.SHOPIFY_TOPICS - cartwise_topics.COMPLIANCE_TOPICS


@dataclass
class FakeShopify:
    """The shop's shop-specific subscriptions, served `page_size` at a time whatever `first`
    asks for, and created by `webhookSubscriptionCreate` the way Shopify does it."""

    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    user_errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    graphql_errors: set[str] = field(default_factory=set)
    list_variables: list[dict[str, Any]] = field(default_factory=list)
    create_variables: list[dict[str, Any]] = field(default_factory=list)

    def add(self, topic: str, uri: str) -> None:
        number = len(self.subscriptions) + 1
        self.subscriptions.append(
            {"id": f"gid://shopify/WebhookSubscription/{number}", "topic": topic, "uri": uri}
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["X-Shopify-Access-Token"] == TOKEN
        body = json.loads(request.content)
        variables = body.get("variables") or {}
        if "webhookSubscriptionCreate(" in body["query"]:
            return self._create(variables)
        assert "webhookSubscriptions(" in body["query"]
        return self._list(variables)

    def _list(self, variables: dict[str, Any]) -> httpx.Response:
        self.list_variables.append(variables)
        start = int(variables.get("after") or 0)
        end = start + self.page_size
        page = self.subscriptions[start:end]
        more = end < len(self.subscriptions)
        connection = {
            "nodes": [dict(node) for node in page],
            "pageInfo": {"hasNextPage": more, "endCursor": str(end) if page else None},
        }
        return _ok({"webhookSubscriptions": connection})

    def _create(self, variables: dict[str, Any]) -> httpx.Response:
        self.create_variables.append(variables)
        topic = variables["topic"]
        uri = variables["webhookSubscription"]["uri"]
        if topic in self.graphql_errors:
            message = f"Variable $topic was provided invalid value {topic}"
            return httpx.Response(200, json={"errors": [{"message": message}]})
        errors = self.user_errors.get(topic, [])
        if any(s["topic"] == topic and s["uri"] == uri for s in self.subscriptions):
            errors = [{"field": ["webhookSubscription", "callbackUrl"], "message": "taken"}]
        if errors:
            result: dict[str, Any] = {"webhookSubscription": None, "userErrors": errors}
        else:
            self.add(topic, uri)
            result = {"webhookSubscription": dict(self.subscriptions[-1]), "userErrors": []}
        return _ok({"webhookSubscriptionCreate": result})

    def created_topics(self) -> list[str]:
        return [v["topic"] for v in self.create_variables]


def _ok(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"data": data, "extensions": cost(10, 10, 1990.0)})


def ensure(
    fake: FakeShopify, topics: Iterable[str], callback: str = CALLBACK
) -> SubscriptionReport:
    respx.post(ENDPOINT).mock(side_effect=fake)
    time = FakeTime()

    async def go() -> SubscriptionReport:
        async with ShopifyAdmin(SHOP, TOKEN, sleep=time.sleep, clock=time.clock) as admin:
            return await ensure_webhook_subscriptions(admin, callback, topics)

    return asyncio.run(go())


@respx.mock
def test_existing_subscriptions_are_read_across_pages_and_only_the_missing_are_created() -> None:
    fake = FakeShopify(page_size=2)
    fake.add("ORDERS_CREATE", CALLBACK)
    fake.add("SHOP_UPDATE", "https://someone-else.example.com/hook")  # a topic not asked for
    fake.add("PRODUCTS_UPDATE", CALLBACK)
    fake.add("ORDERS_PAID", CALLBACK)
    fake.add("CARTS_UPDATE", CALLBACK + "/")  # the same address, written with a slash

    report = ensure(fake, API_TOPICS)

    assert [v.get("after") for v in fake.list_variables] == [None, "2", "4"]
    assert all(v["first"] == 250 for v in fake.list_variables)
    assert report.existing == ("carts/update", "orders/create", "orders/paid", "products/update")
    expected = sorted(API_TOPICS - set(report.existing))
    assert report.created == tuple(expected)
    assert sorted(fake.created_topics()) == sorted(t.replace("/", "_").upper() for t in expected)
    assert report.failed == {} and report.skipped == {} and report.elsewhere == {}
    assert report.complete


@respx.mock
def test_creation_sends_the_graphql_enum_name_and_the_callback_uri_as_json() -> None:
    fake = FakeShopify()
    report = ensure(fake, ["orders/create", "app/uninstalled", "inventory_levels/update"])

    assert report.created == ("app/uninstalled", "inventory_levels/update", "orders/create")
    assert fake.create_variables == [
        {"topic": "APP_UNINSTALLED", "webhookSubscription": {"uri": CALLBACK, "format": "JSON"}},
        {
            "topic": "INVENTORY_LEVELS_UPDATE",
            "webhookSubscription": {"uri": CALLBACK, "format": "JSON"},
        },
        {"topic": "ORDERS_CREATE", "webhookSubscription": {"uri": CALLBACK, "format": "JSON"}},
    ]


@respx.mock
def test_user_errors_are_reported_per_topic_and_the_other_topics_still_get_created() -> None:
    fake = FakeShopify(
        user_errors={
            "ORDERS_PAID": [
                {"field": ["topic"], "message": "requires the read_orders access scope"},
            ],
            "CARTS_CREATE": [{"field": None, "message": "Webhook limit reached"}],
        }
    )
    report = ensure(fake, ["orders/paid", "carts/create", "products/create"])

    assert report.failed == {
        "orders/paid": "topic: requires the read_orders access scope",
        "carts/create": "Webhook limit reached",
    }
    assert report.created == ("products/create",)
    assert not report.complete


@respx.mock
def test_a_graphql_error_for_one_topic_fails_that_topic_only() -> None:
    fake = FakeShopify(graphql_errors={"CARTS_CREATE"})
    report = ensure(fake, ["carts/create", "orders/create"])

    assert list(report.failed) == ["carts/create"]
    assert "invalid value CARTS_CREATE" in report.failed["carts/create"]
    assert report.created == ("orders/create",)


@respx.mock
def test_a_second_run_creates_nothing() -> None:
    fake = FakeShopify(page_size=3)
    first = ensure(fake, cartwise_topics.SHOPIFY_TOPICS)
    mutations = len(fake.create_variables)
    second = ensure(fake, cartwise_topics.SHOPIFY_TOPICS)

    assert mutations == len(API_TOPICS)
    assert set(first.created) == API_TOPICS
    assert len(fake.create_variables) == mutations
    assert second.created == ()
    assert set(second.existing) == API_TOPICS
    assert second.failed == {}
    assert second.skipped == first.skipped


@respx.mock
def test_compliance_topics_are_skipped_and_never_sent_to_shopify() -> None:
    fake = FakeShopify()
    report = ensure(fake, cartwise_topics.SHOPIFY_TOPICS)

    assert set(report.skipped) == cartwise_topics.COMPLIANCE_TOPICS
    assert all("shopify.app.toml" in reason for reason in report.skipped.values())
    sent = set(fake.created_topics())
    assert not sent & {"CUSTOMERS_DATA_REQUEST", "CUSTOMERS_REDACT", "SHOP_REDACT"}
    assert report.complete


def test_the_compliance_topics_are_the_ones_the_webhook_registry_names() -> None:
    assert COMPLIANCE_TOPICS == cartwise_topics.COMPLIANCE_TOPICS


@respx.mock
def test_a_subscription_pointing_elsewhere_is_reported_and_left_alone() -> None:
    fake = FakeShopify()
    fake.add("ORDERS_CREATE", ELSEWHERE)
    fake.add("ORDERS_CREATE", "pubsub://project:topic")
    fake.add("PRODUCTS_DELETE", ELSEWHERE)
    fake.add("PRODUCTS_DELETE", CALLBACK)

    report = ensure(fake, ["orders/create", "products/delete"])

    assert report.elsewhere == {
        "orders/create": (ELSEWHERE, "pubsub://project:topic"),
        "products/delete": (ELSEWHERE,),
    }
    assert report.existing == ("products/delete",)
    assert report.created == ("orders/create",)
    assert [s["uri"] for s in fake.subscriptions if s["topic"] == "ORDERS_CREATE"] == [
        ELSEWHERE,
        "pubsub://project:topic",
        CALLBACK,
    ]


@respx.mock
def test_the_deprecated_endpoint_shape_is_read_too() -> None:
    fake = FakeShopify()
    fake.subscriptions = [
        {
            "id": "gid://shopify/WebhookSubscription/1",
            "topic": "ORDERS_CREATE",
            "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": CALLBACK},
        },
        {
            "id": "gid://shopify/WebhookSubscription/2",
            "topic": "ORDERS_PAID",
            "callbackUrl": CALLBACK,
        },
    ]
    report = ensure(fake, ["orders/create", "orders/paid"])

    assert report.existing == ("orders/create", "orders/paid")
    assert fake.create_variables == []


@respx.mock
def test_a_refused_token_ends_the_run() -> None:
    respx.post(ENDPOINT).mock(return_value=httpx.Response(401, json={"errors": "bad token"}))
    time = FakeTime()

    async def go() -> SubscriptionReport:
        async with ShopifyAdmin(SHOP, TOKEN, sleep=time.sleep, clock=time.clock) as admin:
            return await ensure_webhook_subscriptions(admin, CALLBACK, ["orders/create"])

    with pytest.raises(UpstreamRejected) as caught:
        asyncio.run(go())
    assert caught.value.details["reason"] == "unauthorized"


@pytest.mark.parametrize(
    ("callback", "topics"),
    [
        pytest.param("http://cartwise.example.com/webhooks/shopify", ["orders/create"], id="http"),
        pytest.param("/webhooks/shopify", ["orders/create"], id="relative"),
        pytest.param(CALLBACK, ["Orders Create"], id="bad-topic"),
        pytest.param(CALLBACK, "orders/create", id="one-string"),
    ],
)
@respx.mock
def test_bad_arguments_are_refused_before_any_call(callback: str, topics: Any) -> None:
    # No route: respx fails any request that reaches the transport.
    async def go() -> None:
        async with ShopifyAdmin(SHOP, TOKEN) as admin:
            await ensure_webhook_subscriptions(admin, callback, topics)

    with pytest.raises(InvalidRequest):
        asyncio.run(go())
