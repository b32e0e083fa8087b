"""`/openapi.json` describes the endpoints that exist, with schemas from the pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cartwise.api import create_app
from cartwise.settings import Settings
from cartwise.storage import Store


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_document_is_openapi_31_with_resolvable_refs(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    assert {"/v1/recommendations", "/webhooks/shopify", "/v1/demo/products"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    found = list(refs(spec))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas


def test_request_schema_carries_the_limits(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    op = spec["paths"]["/v1/recommendations"]["post"]
    assert {"200", "401", "413", "422"} <= set(op["responses"])
    request = spec["components"]["schemas"]["RecommendationRequest"]
    assert request["properties"]["k"]["maximum"] == 20
    assert request["additionalProperties"] is False
    limit = next(
        p for p in spec["paths"]["/v1/demo/products"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"]["maximum"] == 100


def test_demo_endpoints_are_left_out_outside_demo_mode(store: Store) -> None:
    client = create_app(
        Settings(demo_mode=False, secret_key="test-only-secret-key-0123456789abcdef"), store=store
    ).test_client()
    spec = client.get("/openapi.json").get_json()
    assert "/v1/demo/products" not in spec["paths"]
    assert "/v1/recommendations" in spec["paths"]


def _routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)
        found.update((path, method.lower()) for method in rule.methods or () if method != "HEAD")
    return found


def _documented(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, ops in spec["paths"].items() for method in ops}


@pytest.mark.parametrize("demo", [True, False], ids=["demo", "production"])
def test_document_matches_the_routes(store: Store, demo: bool) -> None:
    settings = Settings(demo_mode=demo, secret_key="test-only-secret-key-0123456789abcdef")
    app = create_app(settings, store=store)
    spec = app.test_client().get("/openapi.json").get_json()
    # Flask answers OPTIONS on every route by itself; only a route's own preflight is documented.
    routes = {(p, m) for p, m in _routes(app) if m != "options"}
    documented = {(p, m) for p, m in _documented(spec) if m != "options"}
    assert documented == routes
    assert ("/v1/recommendations", "options") in _documented(spec)


def test_every_operation_names_its_security(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert "security" in op or path.startswith("/v1/demo"), (path, method)
            for requirement in op.get("security", []):
                assert set(requirement) <= set(schemes)


def test_every_route_taking_an_api_key_documents_its_refusals(client: FlaskClient) -> None:
    """Found by schemathesis: after a burst of bad keys from one address every route that takes
    a key answers 429, and an admin route given a storefront key 403; both were undocumented
    on several routes."""
    spec = client.get("/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            schemes = {name for requirement in op.get("security", []) for name in requirement}
            if "apiKey" not in schemes:
                continue
            expected = {"401", "429"} | ({"403"} if "adminSessionToken" in schemes else set())
            assert expected <= set(op["responses"]), (path, method)


def test_the_document_states_the_limits_the_server_enforces(client: FlaskClient) -> None:
    """Found by schemathesis: each of these values was valid by the document yet refused with
    422 (or, for a key id past 64 bits, answered 500)."""
    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    product_id = {"type": "string", "minLength": 1, "maxLength": 128}
    for model, field in [
        ("RulesBody", "defaults"),
        ("RulesBody", "pinned"),
        ("RulesBody", "blocked"),
        ("PreviewRequest", "cart"),
    ]:
        assert schemas[model]["properties"][field]["items"] == product_id, (model, field)

    def query(path: str, method: str = "get") -> dict[str, Any]:
        return {p["name"]: p["schema"] for p in spec["paths"][path][method]["parameters"]}

    proxy = query("/proxy/recommendations")
    assert re.search(proxy["cart"]["pattern"], ",".join(["x" * 128] * 3))
    assert not re.search(proxy["cart"]["pattern"], "x" * 129)
    assert proxy["device"]["anyOf"][0]["enum"] == ["mobile", "tablet", "desktop"]
    assert "pattern" in proxy["country"]["anyOf"][0]
    shop = query("/auth/install")["shop"]["pattern"]
    assert re.search(shop, "shop-a.myshopify.com")
    assert not re.search(shop, "")
    assert query("/v1/admin/api-keys/{key_id}", "delete")["key_id"]["maximum"] == 2**31 - 1
    occurred_at = schemas["TrackedEvent"]["properties"]["occurred_at"]
    assert re.search(occurred_at["pattern"], "1970-01-01T00:00:00Z")
    assert not re.search(occurred_at["pattern"], "0001-01-01T14:34:49+16:26")
