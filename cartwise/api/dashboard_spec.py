"""The dashboard's routes as OpenAPI paths, for `openapi.build_spec`: the HTML pages as
`text/html`, the preview and back-test with their JSON bodies. Imports pydantic only."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from cartwise.api.dashboard import FRAGMENTS, PreviewRequest
from cartwise.api.dashboard_backtest import BacktestResponse

__all__ = ["MODELS", "paths"]

MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (PreviewRequest, "validation"),
    (BacktestResponse, "serialization"),
]

_SECURITY: list[dict[str, list[str]]] = [{"adminSessionToken": []}, {"apiKey": []}]


def _schema(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _schema(name)}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {}}}


def _refusals() -> dict[str, Any]:
    """What the JSON routes answer before they run, as the admin API does."""
    return {
        "401": _json("ErrorResponse", "`unauthorized`."),
        "403": _json("ErrorResponse", "`forbidden`: a storefront key."),
        "429": _json("ErrorResponse", "`rate_limited`: too many invalid keys; see Retry-After."),
    }


def paths() -> dict[str, Any]:
    query = [
        {
            "name": "id_token",
            "in": "query",
            "required": True,
            "description": "The App Bridge session token Shopify adds when it loads the app.",
            "schema": {"type": "string"},
        },
        *(
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in ("shop", "host", "embedded")
        ),
    ]
    return {
        "/app": {
            "get": {
                "operationId": "dashboard",
                "summary": "The embedded dashboard (app home in the Shopify admin).",
                "description": "Framed by the shop's admin only. The shop is the `id_token`'s; "
                "a `shop` parameter naming another shop is refused.",
                "security": [],
                "parameters": query,
                "responses": {
                    "200": _html("The page; its sections load from /app/fragments."),
                    "401": _html("A small page: no valid token, or the app is not installed."),
                    "403": _html("A small page: `shop` names another shop than the token."),
                },
            }
        },
        "/app/fragments/{name}": {
            "get": {
                "operationId": "dashboardFragment",
                "summary": "One dashboard section as HTML.",
                "security": _SECURITY,
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": [name for name, _ in FRAGMENTS]},
                    }
                ],
                "responses": {
                    "200": _html("The section."),
                    "401": _html("An error notice: no valid credential."),
                    "403": _html("An error notice: a storefront key."),
                    "404": _html("An error notice: no such section."),
                    "429": _html("An error notice: too many invalid keys; see Retry-After."),
                },
            }
        },
        "/app/preview": {
            "post": {
                "operationId": "dashboardPreview",
                "summary": "What a shopper with this cart would be shown now, with reasons.",
                "security": _SECURITY,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _schema("PreviewRequest")}},
                },
                "responses": {
                    "200": _json("RecommendationResponse", "The answer."),
                    **_refusals(),
                    "422": _json("ErrorResponse", "`invalid_request`: the body does not validate."),
                },
            }
        },
        "/app/backtest": {
            "post": {
                "operationId": "dashboardBacktest",
                "summary": "Back-test on the shop's newest 20,000 orders, kept per model version.",
                "security": _SECURITY,
                "responses": {
                    "200": _json("BacktestResponse", "cartwise against popularity."),
                    **_refusals(),
                    "422": _json("ErrorResponse", "`import_failed`: too few orders."),
                },
            }
        },
    }
