"""`/openapi.json` describes the endpoints that exist, with schemas from the pydantic models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
    assert set(spec["paths"]) == {"/v1/recommendations", "/healthz", "/readyz", "/v1/demo/products"}
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
