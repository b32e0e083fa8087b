"""`GET /openapi.json`: an OpenAPI 3.1 document for the endpoints this app serves, its schemas
generated from the pydantic models of `schemas` and the blueprints. Imports Flask and pydantic."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

import cartwise
from cartwise.api.context import services
from cartwise.api.demo import DemoProductList, DemoProductQuery
from cartwise.api.health import HealthStatus
from cartwise.schemas import ErrorResponse, RecommendationRequest, RecommendationResponse

__all__ = ["bp", "build_spec"]

bp = Blueprint("openapi", __name__)

_REF = "#/components/schemas/{model}"


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec(demo=services().settings.demo_mode))


def build_spec(*, demo: bool) -> dict[str, Any]:
    """The document; `demo` adds the demo endpoints, which exist only in demo mode."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (RecommendationRequest, "validation"),
        (RecommendationResponse, "serialization"),
        (ErrorResponse, "serialization"),
        (HealthStatus, "serialization"),
    ]
    paths: dict[str, Any] = {
        "/v1/recommendations": {"post": _recommendations_op()},
        "/healthz": {"get": _health_op("Liveness: the process answers.", ready=False)},
        "/readyz": {"get": _health_op("Readiness: the database answers.", ready=True)},
    }
    if demo:
        models.append((DemoProductList, "serialization"))
        paths["/v1/demo/products"] = {"get": _demo_products_op()}
    _, schema = models_json_schema(models, ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cartwise",
            "version": cartwise.__version__,
            "description": "Checkout recommendations with a reason for every product.",
        },
        "paths": paths,
        "components": {"schemas": schema.get("$defs", {})},
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ErrorResponse, description)


def _recommendations_op() -> dict[str, Any]:
    return {
        "operationId": "recommend",
        "summary": "Products to show next to a cart, each with a reason.",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(RecommendationRequest)}},
        },
        "responses": {
            "200": _json(RecommendationResponse, "Ranked products; `source` names the step."),
            "401": _error("Authentication is required (outside demo mode)."),
            "404": _error("`unknown_shop`: the shop has no data."),
            "413": _error("`payload_too_large`: the body is over 1 MB."),
            "422": _error("`invalid_request`: the body is not valid JSON for this schema."),
        },
    }


def _health_op(summary: str, *, ready: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _json(HealthStatus, "Healthy.")}
    if ready:
        responses["503"] = _error("`storage_unavailable`: the database does not answer.")
    return {"summary": summary, "responses": responses}


def _demo_products_op() -> dict[str, Any]:
    return {
        "operationId": "demoProducts",
        "summary": "Browse or search the demo shop's catalog (demo mode only).",
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": prop}
            for name, prop in DemoProductQuery.model_json_schema()["properties"].items()
        ],
        "responses": {
            "200": _json(DemoProductList, "Products, ordered by title when not searching."),
            "404": _error("`unknown_shop`: the demo data is not loaded."),
            "422": _error("`invalid_request`: a bad `q` or `limit`."),
        },
    }
