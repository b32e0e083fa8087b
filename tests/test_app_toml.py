"""The Shopify app configuration in storefront_snippets/ agrees with the code: the webhook
topics with the topic registry, the scopes and API version with the settings' defaults, and it
holds no secret."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cartwise.settings import ShopifySettings
from cartwise.webhooks.topics import COMPLIANCE_TOPICS, SHOPIFY_TOPICS

APP_TOML = Path(__file__).resolve().parent.parent / "storefront_snippets/shopify/shopify.app.toml"
WEBHOOK_URI = "/webhooks/shopify"
SECRET_MARKERS = ("shpss_", "shpat_", "shpca_", "shppa_", "client_secret")
# Which read scope each topic's resource needs (https://shopify.dev/docs/api/webhooks).
TOPIC_SCOPES = {
    "orders": "read_orders",
    "carts": "read_orders",
    "checkouts": "read_orders",
    "products": "read_products",
    "inventory_levels": "read_inventory",
}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    with APP_TOML.open("rb") as file:
        return tomllib.load(file)


def _subscriptions(config: dict[str, Any]) -> list[dict[str, Any]]:
    subscriptions = config["webhooks"]["subscriptions"]
    assert isinstance(subscriptions, list)
    return subscriptions


def _listed(config: dict[str, Any], key: str) -> list[str]:
    return [topic for s in _subscriptions(config) for topic in s.get(key, [])]


def test_webhook_topics_are_the_registry_minus_the_compliance_topics(
    config: dict[str, Any],
) -> None:
    topics = _listed(config, "topics")
    assert len(topics) == len(set(topics))
    assert set(topics) == SHOPIFY_TOPICS - COMPLIANCE_TOPICS


def test_compliance_topics_are_the_registrys(config: dict[str, Any]) -> None:
    compliance = _listed(config, "compliance_topics")
    assert len(compliance) == len(set(compliance))
    assert set(compliance) == COMPLIANCE_TOPICS


def test_every_subscription_goes_to_the_one_webhook_endpoint(config: dict[str, Any]) -> None:
    subscriptions = _subscriptions(config)
    assert subscriptions
    assert {s["uri"] for s in subscriptions} == {WEBHOOK_URI}


def test_the_api_version_and_scopes_are_the_settings_defaults(config: dict[str, Any]) -> None:
    defaults = ShopifySettings()
    assert config["webhooks"]["api_version"] == defaults.api_version
    scopes = config["access_scopes"]["scopes"].split(",")
    assert sorted(scopes) == sorted(defaults.scopes.split(","))


def test_each_topic_has_its_scope_and_the_app_proxy_has_write_app_proxy(
    config: dict[str, Any],
) -> None:
    scopes = set(config["access_scopes"]["scopes"].split(","))
    for topic in _listed(config, "topics"):
        resource = topic.split("/")[0]
        if resource in TOPIC_SCOPES:
            assert TOPIC_SCOPES[resource] in scopes, topic
    assert "app_proxy" in config
    assert "write_app_proxy" in scopes


def test_the_urls_are_the_apps(config: dict[str, Any]) -> None:
    app_url = config["application_url"].rstrip("/")
    assert app_url.startswith("https://")
    assert config["auth"]["redirect_urls"] == [f"{app_url}/auth/callback"]
    assert config["app_proxy"] == {
        "url": f"{app_url}/proxy",
        "subpath": "cartwise",
        "prefix": "apps",
    }
    assert config["embedded"] is True
    assert config["name"] == "cartwise"


def _items(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}".lstrip("."), value
            yield from _items(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _items(value, f"{path}[{index}]")
    else:
        yield path, node


def test_no_key_or_value_looks_like_a_secret(config: dict[str, Any]) -> None:
    for path, value in _items(config):
        for marker in SECRET_MARKERS:
            assert marker not in path.lower(), path
            if isinstance(value, str):
                assert marker not in value.lower(), path
    text = APP_TOML.read_text(encoding="utf-8").lower()
    assert not any(marker in text for marker in SECRET_MARKERS[:4])
