"""`GET /openapi.json`: an OpenAPI 3.1 document for the endpoints this app serves, its schemas
generated from the pydantic models of `schemas` and the blueprints. Imports Flask and pydantic."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

import cartwise
from cartwise.api import dashboard_spec
from cartwise.api.admin import MAX_KEY_ID, ApiKeyCreate, ApiKeyCreated, ApiKeyList, RulesBody
from cartwise.api.context import services
from cartwise.api.demo import CartAdd, DemoProductList, DemoProductQuery, DemoThemeQuery
from cartwise.api.experiments import ExperimentBody, ExperimentInfo, ExperimentList
from cartwise.api.health import HealthStatus
from cartwise.api.preferences import Preferences, PreferencesQuery, PreferencesUpdate
from cartwise.api.recommendations import DefaultsQuery, ProxyQuery
from cartwise.schemas import (
    ErrorResponse,
    EventBatch,
    EventsAccepted,
    RecommendationRequest,
    RecommendationResponse,
)

__all__ = ["bp", "build_spec"]

bp = Blueprint("openapi", __name__)

_REF = "#/components/schemas/{model}"
_STOREFRONT_LIMIT = (
    "`rate_limited`: the shop's storefront requests per second (or the API key's) are used up, "
    "or too many invalid keys came from this address; see Retry-After."
)
_ADMIN_LIMIT = (
    "`rate_limited`: the shop's admin requests per minute are used up, or too many invalid "
    "keys came from this address; see Retry-After."
)
_LIMIT_UNAVAILABLE = (
    "`rate_limit_unavailable`: the shop's rate limit cannot be checked right now (admin calls "
    "are refused rather than uncounted); see Retry-After."
)
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before calling again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
_SHOP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*\.myshopify\.com$"


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec(demo=services().settings.demo_mode))


def build_spec(*, demo: bool) -> dict[str, Any]:
    """The document; `demo` adds the demo endpoints, which exist only in demo mode."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (RecommendationRequest, "validation"),
        (RecommendationResponse, "serialization"),
        (EventBatch, "validation"),
        (EventsAccepted, "serialization"),
        (ErrorResponse, "serialization"),
        (HealthStatus, "serialization"),
        (RulesBody, "validation"),
        (ApiKeyCreate, "validation"),
        (ApiKeyCreated, "serialization"),
        (ApiKeyList, "serialization"),
        (ExperimentBody, "validation"),
        (ExperimentInfo, "serialization"),
        (ExperimentList, "serialization"),
        (PreferencesUpdate, "validation"),
        (Preferences, "serialization"),
    ]
    paths: dict[str, Any] = {
        "/v1/recommendations": {
            "post": _recommendations_op(),
            "options": {
                "summary": "CORS preflight of checkout extensions (any origin, no credentials).",
                "security": [],
                "responses": {"204": {"description": "Allowed."}},
            },
        },
        "/proxy/recommendations": {"get": _proxy_op()},
        "/v1/defaults": {"get": _defaults_op()},
        "/v1/events": {
            "post": _events_op(proxy=False),
            "options": {
                "summary": "CORS preflight of checkout extensions (any origin, no credentials).",
                "security": [],
                "responses": {"204": {"description": "Allowed."}},
            },
        },
        "/proxy/events": {"post": _events_op(proxy=True)},
        "/v1/preferences": {
            "get": _preferences_op(update=False, proxy=False),
            "post": _preferences_op(update=True, proxy=False),
            "options": {
                "summary": "CORS preflight of checkout extensions (any origin, no credentials).",
                "security": [],
                "responses": {"204": {"description": "Allowed."}},
            },
        },
        "/proxy/preferences": {
            "get": _preferences_op(update=False, proxy=True),
            "post": _preferences_op(update=True, proxy=True),
        },
        "/webhooks/shopify": {"post": _webhook_op()},
        "/webhooks/magento": {"post": _magento_webhook_op()},
        "/auth/install": {"get": _install_op()},
        "/auth/callback": {"get": _callback_op()},
        "/auth/token-exchange": {"post": _token_exchange_op()},
        "/v1/admin/rules": {
            "get": _admin_op("getRules", "The shop's curated defaults and rules.", RulesBody),
            "put": _admin_op(
                "putRules", "Replace the shop's curated defaults and rules.", RulesBody, RulesBody
            ),
        },
        "/v1/admin/api-keys": {
            "get": _admin_op("listApiKeys", "The shop's API keys (never the keys).", ApiKeyList),
            "post": _admin_op(
                "createApiKey",
                "A new API key, shown once.",
                ApiKeyCreated,
                ApiKeyCreate,
                status="201",
            ),
        },
        "/v1/admin/api-keys/{key_id}": {"delete": _revoke_op()},
        "/v1/admin/data-exports": {"get": _exports_op()},
        "/v1/admin/sync": {"get": _sync_op()},
        "/v1/admin/experiments": {
            "get": _admin_op("listExperiments", "The shop's experiments.", ExperimentList),
            "post": _with(
                _admin_op(
                    "startExperiment",
                    "Start an experiment (one runs at a time).",
                    ExperimentInfo,
                    ExperimentBody,
                    status="201",
                ),
                "409",
                "`conflict`: another experiment runs, or the key was used before.",
            ),
        },
        "/v1/admin/experiments/{key}": {
            "get": _with(
                _keyed(
                    _admin_op(
                        "getExperiment",
                        "The experiment and its latest readout (`?refresh=1`: computed now).",
                        ExperimentInfo,
                    )
                ),
                "404",
                "`not_found`: no such experiment in this shop.",
            )
        },
        "/v1/admin/experiments/{key}/stop": {
            "post": _with(
                _keyed(
                    _admin_op(
                        "stopExperiment",
                        "Stop the experiment; a final readout is computed.",
                        ExperimentInfo,
                    )
                ),
                "404",
                "`not_found`: no such experiment in this shop.",
            )
        },
        "/healthz": {"get": _health_op("Liveness: the process answers.", ready=False)},
        "/readyz": {"get": _health_op("Readiness: the database answers.", ready=True)},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format); see docs/monitoring.md.",
                "description": "With CARTWISE_METRICS_TOKEN set, `Authorization: Bearer <token>` "
                "is required; unset, only direct loopback callers are answered.",
                "security": [],
                "responses": {
                    "200": {"description": "The metrics.", "content": {"text/plain": {}}},
                    "401": _error("`unauthorized`: the metrics token is missing or wrong."),
                    "403": _error("`forbidden`: no token is set and the caller is not local."),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1."}},
            }
        },
    }
    models.extend(dashboard_spec.MODELS)
    paths.update(_counted_as_admin(dashboard_spec.paths()))
    if demo:
        models.append((DemoProductList, "serialization"))
        models.append((CartAdd, "validation"))
        paths["/v1/demo/products"] = {"get": _demo_products_op()}
        paths["/"] = {
            "get": {
                "summary": "The demo storefront page (demo mode only).",
                "security": [],
                "responses": {"200": {"description": "HTML.", "content": {"text/html": {}}}},
            }
        }
        paths.update(_demo_theme_paths())
    for operations in paths.values():
        for op in operations.values():
            if "requestBody" in op:
                # every body is capped before a view reads it (`body_limit`, the whole app)
                op["responses"]["413"] = _error("`payload_too_large`: the body is over 1 MB.")
    _, schema = models_json_schema(models, ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cartwise",
            "version": cartwise.__version__,
            "description": "Checkout recommendations with a reason for every product.",
        },
        "paths": paths,
        "components": {"schemas": schema.get("$defs", {}), "securitySchemes": _SCHEMES},
    }


_SCHEMES = {
    "checkoutSessionToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Checkout UI extension session token (HS256, the app's secret).",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-Cartwise-Key"},
    "adminSessionToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "App Bridge session token of the embedded admin.",
    },
    "appProxySignature": {
        "type": "apiKey",
        "in": "query",
        "name": "signature",
        "description": "Shopify's app proxy signature over the query string.",
    },
    "magentoSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Cartwise-Signature",
        "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with the '
        "store's signing secret; X-Cartwise-Store names the store.",
    },
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Shopify-Hmac-Sha256",
        "description": "Base64 HMAC-SHA256 of the raw body with the app's secret.",
    },
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ErrorResponse, description)


def _wait(description: str) -> dict[str, Any]:
    """An error answer that carries Retry-After (429, 503)."""
    return {**_error(description), "headers": _RETRY_AFTER}


def _counted_as_admin(paths: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's calls with an admin credential (those that may answer 429) count against
    the shop's admin rate limit: their 429 says so, and a 503 is added, in the media type of
    their other refusals."""
    for item in paths.values():
        for op in item.values():
            refusal = op["responses"].get("429")
            if refusal is None:
                continue
            content = refusal["content"]
            for status, description in (("429", _ADMIN_LIMIT), ("503", _LIMIT_UNAVAILABLE)):
                op["responses"][status] = {
                    "description": description,
                    "content": content,
                    "headers": _RETRY_AFTER,
                }
    return paths


def _recommendations_op() -> dict[str, Any]:
    return {
        "operationId": "recommend",
        "summary": "Products to show next to a cart, each with a reason.",
        "security": [{"checkoutSessionToken": []}, {"apiKey": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(RecommendationRequest)}},
        },
        "responses": {
            "200": _json(RecommendationResponse, "Ranked products; `source` names the step."),
            "401": _error("A credential is required (outside demo mode)."),
            "429": _wait(_STOREFRONT_LIMIT),
            "404": _error("`unknown_shop`: the shop has no data."),
            "422": _error("`invalid_request`: the body is not valid JSON for this schema."),
        },
    }


def _events_op(*, proxy: bool) -> dict[str, Any]:
    security: list[dict[str, list[str]]] = (
        [{"appProxySignature": []}] if proxy else [{"checkoutSessionToken": []}, {"apiKey": []}]
    )
    return {
        "operationId": "proxyEvents" if proxy else "trackEvents",
        "summary": "Impressions, clicks and add-to-carts of recommended products (at most 500)."
        + (" Through Shopify's app proxy." if proxy else ""),
        "security": security,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(EventBatch)}},
        },
        "responses": {
            "202": _json(EventsAccepted, "Stored; events already received count as duplicates."),
            "401": _error("A credential is required (outside demo mode)."),
            "422": _error("`invalid_request`: the batch does not validate; nothing is stored."),
            "429": _wait(
                "`rate_limited`: the shop's events per minute are used up"
                + ("" if proxy else ", or too many invalid keys came from this address")
                + "; nothing is stored. Retry-After says when to send again."
            ),
        },
    }


def _preferences_op(*, update: bool, proxy: bool) -> dict[str, Any]:
    names = {
        (False, False): "getPreferences",
        (True, False): "setPreferences",
        (False, True): "proxyGetPreferences",
        (True, True): "proxySetPreferences",
    }
    summary = (
        "Turn personalisation off (`personalised: false`) or on for the logged-in customer; "
        "answers the new state. The same choice again changes nothing."
        if update
        else "Whether the logged-in customer is personalised, since when, and why they see "
        "what they see: their past products the recommendations use, and the kinds of reasons."
    )
    op: dict[str, Any] = {
        "operationId": names[update, proxy],
        "summary": summary + (" Through Shopify's app proxy." if proxy else ""),
        "security": (
            [{"appProxySignature": []}] if proxy else [{"checkoutSessionToken": []}, {"apiKey": []}]
        ),
        "responses": {
            "200": _json(Preferences, "The customer's preferences."),
            "401": _error(
                "`invalid_signature`: the query string is not Shopify's."
                if proxy
                else "A credential is required (outside demo mode)."
            ),
            "403": _error(
                "`forbidden`: no logged-in customer"
                + ("." if proxy else " (an API key names one with `customer_id`).")
            ),
            "404": _error("`unknown_shop`: the shop has no data."),
        },
    }
    op["responses"]["429"] = _error(
        "`rate_limited`: the shop's storefront requests per second are used up"
        + ("" if proxy else ", or too many invalid keys came from this address")
        + "; see Retry-After."
    )
    if update:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(PreferencesUpdate)}},
        }
        op["responses"]["422"] = _error("`invalid_request`: the body does not validate.")
    elif not proxy:
        op["parameters"] = [
            {"name": name, "in": "query", "required": False, "schema": prop}
            for name, prop in PreferencesQuery.model_json_schema()["properties"].items()
        ]
        op["responses"]["422"] = _error("`invalid_request`: a bad `customer_id`.")
    return op


def _defaults_op() -> dict[str, Any]:
    return {
        "operationId": "fallbackDefaults",
        "summary": "What to show when cartwise cannot be reached: curated defaults, then trending.",
        "security": [{"checkoutSessionToken": []}, {"apiKey": []}],
        "parameters": [
            {"name": "k", "in": "query", "required": False, "schema": prop}
            for prop in [DefaultsQuery.model_json_schema()["properties"]["k"]]
        ],
        "responses": {
            "200": _json(
                RecommendationResponse,
                "Products; `source` is `defaults` when the merchant's picks lead.",
            ),
            "401": _error("A credential is required (outside demo mode)."),
            "404": _error("`unknown_shop`: the shop has no data."),
            "422": _error("`invalid_request`: bad `k`."),
            "429": _wait(_STOREFRONT_LIMIT),
        },
    }


def _proxy_op() -> dict[str, Any]:
    return {
        "operationId": "proxyRecommend",
        "summary": "Recommendations for a theme block, through Shopify's app proxy.",
        "security": [{"appProxySignature": []}],
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": prop}
            for name, prop in ProxyQuery.model_json_schema()["properties"].items()
        ],
        "responses": {
            "200": _json(RecommendationResponse, "Ranked products."),
            "401": _error("`invalid_signature`: the query string is not Shopify's."),
            "422": _error("`invalid_request`: bad parameters."),
            "429": _wait("`rate_limited`: the shop's storefront requests per second are used up."),
        },
    }


def _webhook_op() -> dict[str, Any]:
    return {
        "operationId": "shopifyWebhook",
        "summary": "Every Shopify webhook topic, compliance topics included.",
        "security": [{"webhookSignature": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
        "responses": {
            "200": {"description": "Stored, a duplicate, or dead-lettered (`status`)."},
            "401": _error("`invalid_signature`: the signature or its headers are wrong."),
            "503": _error("`storage_unavailable`: Shopify will retry."),
        },
    }


def _magento_webhook_op() -> dict[str, Any]:
    headers = [
        ("X-Cartwise-Store", "The store's shop key, as shown when it was connected."),
        ("X-Cartwise-Event", "`order_placed`, `cart_saved` or `product_saved`."),
        ("X-Cartwise-Event-Id", "Unique per event; the same id is stored once."),
    ]
    return {
        "operationId": "magentoWebhook",
        "summary": "Events of the cartwise Magento module: orders, carts and products.",
        "security": [{"magentoSignature": []}],
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": True,
                "description": description,
                "schema": {"type": "string"},
            }
            for name, description in headers
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
        "responses": {
            "200": {"description": "Stored, a duplicate, or dead-lettered (`status`)."},
            "401": _error(
                "`invalid_signature`: unknown store, missing, wrong or stale signature, or "
                "missing event headers; nothing is stored."
            ),
            "503": _error("`storage_unavailable`: the module retries."),
        },
    }


def _install_op() -> dict[str, Any]:
    return {
        "operationId": "install",
        "summary": "Start the install: redirect to Shopify's consent screen.",
        "security": [],
        "parameters": [
            {
                "name": "shop",
                "in": "query",
                "required": True,
                "schema": {"type": "string", "pattern": _SHOP_PATTERN},
            }
        ],
        "responses": {
            "302": {"description": "To https://{shop}/admin/oauth/authorize."},
            "422": _error("`invalid_request`: not a myshopify.com domain."),
        },
    }


def _callback_op() -> dict[str, Any]:
    return {
        "operationId": "installCallback",
        "summary": "Finish the install: verify, exchange the code, store the offline token.",
        "security": [],
        "responses": {
            "302": {"description": "Back to the app in the shop's admin."},
            "401": _error("`invalid_signature`: bad HMAC, stale timestamp or state."),
            "502": _error("`upstream_error`: Shopify did not issue a token."),
        },
    }


def _token_exchange_op() -> dict[str, Any]:
    return {
        "operationId": "tokenExchange",
        "summary": "Exchange an embedded page's session token for an offline token.",
        "security": [{"adminSessionToken": []}],
        "responses": {
            "200": {"description": "Installed."},
            "401": _error("`unauthorized`: the session token is not valid."),
            "502": _error("`upstream_error`: Shopify did not issue a token."),
        },
    }


_ADMIN_SECURITY: list[dict[str, list[str]]] = [{"adminSessionToken": []}, {"apiKey": []}]


def _admin_errors() -> dict[str, Any]:
    """What any admin route may answer before it runs."""
    return {
        "401": _error("`unauthorized`: no valid credential."),
        "403": _error("`forbidden`: a storefront key on an admin route."),
        "429": _wait(_ADMIN_LIMIT),
        "503": _wait(_LIMIT_UNAVAILABLE),
    }


def _admin_op(
    operation: str,
    summary: str,
    answer: type[BaseModel],
    body: type[BaseModel] | None = None,
    *,
    status: str = "200",
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation,
        "summary": summary,
        "security": _ADMIN_SECURITY,
        "responses": {status: _json(answer, "Done."), **_admin_errors()},
    }
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
        op["responses"]["422"] = _error("`invalid_request`: the body does not validate.")
    return op


def _with(op: dict[str, Any], status: str, description: str) -> dict[str, Any]:
    op["responses"][status] = _error(description)
    return op


def _keyed(op: dict[str, Any]) -> dict[str, Any]:
    op["parameters"] = [
        {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    if op["operationId"] == "getExperiment":
        op["parameters"].append(
            {"name": "refresh", "in": "query", "required": False, "schema": {"enum": ["1"]}}
        )
    return op


def _revoke_op() -> dict[str, Any]:
    return {
        "operationId": "revokeApiKey",
        "summary": "Revoke one of the shop's API keys.",
        "security": _ADMIN_SECURITY,
        "parameters": [
            {
                "name": "key_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_KEY_ID},
            }
        ],
        "responses": {
            "204": {"description": "Revoked."},
            **_admin_errors(),
            "404": _error("`not_found`: no such key in this shop."),
        },
    }


def _exports_op() -> dict[str, Any]:
    return {
        "operationId": "dataExports",
        "summary": "Answers to customers/data_request, newest first.",
        "security": _ADMIN_SECURITY,
        "responses": {"200": {"description": "The exports."}, **_admin_errors()},
    }


def _sync_op() -> dict[str, Any]:
    return {
        "operationId": "syncStatus",
        "summary": "Where the shop's history backfill and sync stand, per resource.",
        "security": _ADMIN_SECURITY,
        "responses": {
            "200": {"description": "Per resource: status, counts, window and message."},
            **_admin_errors(),
        },
    }


def _health_op(summary: str, *, ready: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _json(HealthStatus, "Healthy.")}
    if ready:
        responses["503"] = _error("`storage_unavailable`: the database does not answer.")
    return {"summary": summary, "security": [], "responses": responses}


def _demo_theme_paths() -> dict[str, Any]:
    """The theme cart page holding the theme block, and the demo's stand-ins for what Shopify
    serves around it: the app proxy (no signature in demo mode) and the Ajax cart."""

    def page(summary: str, media: str) -> dict[str, Any]:
        return {
            "summary": summary,
            "security": [],
            "responses": {
                "200": {"description": "The page.", "content": {media: {}}},
                "404": _error("`not_found`."),
            },
        }

    return {
        "/demo/theme": {
            "get": {
                **page("A theme's cart page with the cartwise block (demo only).", "text/html"),
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": prop}
                    for name, prop in DemoThemeQuery.model_json_schema()["properties"].items()
                ],
            }
        },
        "/demo/theme/theme.css": {"get": page("The demo theme's styles.", "text/css")},
        "/demo/theme/assets/{name}": {
            "get": {
                **page("A file of the theme extension's assets/ folder.", "text/javascript"),
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            }
        },
        "/apps/cartwise/recommendations": {
            "get": {
                **_proxy_op(),
                "operationId": "demoProxyRecommend",
                "summary": "The app proxy path as the theme block calls it (demo shop, unsigned).",
                "security": [],
            }
        },
        "/apps/cartwise/events": {
            "post": {
                **_events_op(proxy=True),
                "operationId": "demoProxyEvents",
                "summary": "The app proxy's events path as the theme block calls it (demo shop).",
                "security": [],
            }
        },
        "/cart/add.js": {
            "post": {
                "operationId": "demoCartAdd",
                "summary": "Stand-in for Shopify's Ajax cart add (demo only).",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(CartAdd)}},
                },
                "responses": {
                    "200": {"description": '`{"items": [line, ...]}`, as Shopify answers.'},
                    "404": {"description": "Cannot find variant (Shopify's error body)."},
                    "422": {"description": "Sold out (Shopify's error body), or a bad body."},
                },
            }
        },
        "/cart.js": {
            "get": {
                "operationId": "demoCart",
                "summary": "Stand-in for Shopify's Ajax cart: what /cart/add.js added (demo only).",
                "security": [],
                "responses": {"200": {"description": "The cart."}},
            }
        },
    }


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
