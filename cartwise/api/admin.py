"""The merchant's admin API: curated defaults and business rules, API keys, data exports.

Authenticated by an App Bridge session token (embedded admin) or an admin-scoped API key; the
shop is always the credential's. Imports Flask and layers 0-4.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cartwise.api.auth import admin_caller, forget_api_keys
from cartwise.api.bodies import parse_json
from cartwise.api.context import services
from cartwise.domain import ShopRules
from cartwise.installs import create_api_key
from cartwise.storage import ApiKeyRecord

__all__ = [
    "MAX_KEY_ID",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "ApiKeyList",
    "RulesBody",
    "bp",
]

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")

_ProductIds = list[Annotated[str, Field(min_length=1, max_length=128)]]


class RulesBody(BaseModel):
    """The shop's curated defaults and business rules (`PUT` replaces them all)."""

    model_config = ConfigDict(extra="forbid")

    defaults: _ProductIds = Field(default_factory=list, max_length=100)
    pinned: _ProductIds = Field(default_factory=list, max_length=20)
    blocked: _ProductIds = Field(default_factory=list, max_length=5000)
    min_price: float | None = Field(default=None, ge=0)
    max_price: float | None = Field(default=None, ge=0)
    max_per_vendor: int | None = Field(default=None, ge=1, le=20)
    max_per_category: int | None = Field(default=None, ge=1, le=20)
    exploration_share: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="Share of each answer's slots given to exploration (Thompson sampling).",
    )

    @model_validator(mode="after")
    def _band(self) -> RulesBody:
        low, high = self.min_price, self.max_price
        if low is not None and high is not None and low > high:
            raise ValueError("min_price must not be above max_price")
        return self

    def to_rules(self) -> ShopRules:
        return ShopRules(
            defaults=tuple(dict.fromkeys(self.defaults)),
            pinned=tuple(dict.fromkeys(self.pinned)),
            blocked=frozenset(self.blocked),
            min_price=self.min_price,
            max_price=self.max_price,
            max_per_vendor=self.max_per_vendor,
            max_per_category=self.max_per_category,
            exploration_share=self.exploration_share,
        )

    @classmethod
    def of(cls, rules: ShopRules) -> RulesBody:
        return cls(
            defaults=list(rules.defaults),
            pinned=list(rules.pinned),
            blocked=sorted(rules.blocked),
            min_price=rules.min_price,
            max_price=rules.max_price,
            max_per_vendor=rules.max_per_vendor,
            max_per_category=rules.max_per_category,
            exploration_share=rules.exploration_share,
        )


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=200)
    scope: Literal["storefront", "admin"] = "storefront"


class ApiKeyInfo(BaseModel):
    id: int
    prefix: str
    label: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyInfo):
    key: str = Field(description="The key itself: shown only in this response.")


class ApiKeyList(BaseModel):
    keys: list[ApiKeyInfo]


@bp.get("/rules")
def get_rules() -> Response:
    caller = admin_caller()
    return jsonify(RulesBody.of(services().store.rules.get(caller.shop)).model_dump())


@bp.put("/rules")
def put_rules() -> Response:
    caller = admin_caller()
    body = parse_json(RulesBody)
    ctx = services()
    ctx.store.rules.set(caller.shop, body.to_rules())
    if ctx.catalog is not None:
        ctx.catalog.invalidate(caller.shop)
    return jsonify(RulesBody.of(ctx.store.rules.get(caller.shop)).model_dump())


@bp.get("/api-keys")
def list_keys() -> Response:
    caller = admin_caller()
    records = services().store.api_keys.list(caller.shop)
    return jsonify(ApiKeyList(keys=[_info(r) for r in records]).model_dump(mode="json"))


@bp.post("/api-keys")
def create_key() -> Response:
    caller = admin_caller()
    body = parse_json(ApiKeyCreate)
    ctx = services()
    record, key = create_api_key(
        ctx.store,
        ctx.settings.effective_secret_key(),
        caller.shop,
        label=body.label,
        scope=body.scope,
    )
    created = ApiKeyCreated(key=key, **_info(record).model_dump())
    response = jsonify(created.model_dump(mode="json"))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


MAX_KEY_ID = 2**31 - 1
"""Key ids are 32-bit INTEGER columns in PostgreSQL: a larger id in the path is a 404 at the
router, never a query (SQLite's driver raises OverflowError past 64 bits)."""


@bp.delete(f"/api-keys/<int(max={MAX_KEY_ID}):key_id>")
def revoke_key(key_id: int) -> Response:
    caller = admin_caller()
    services().store.api_keys.revoke(caller.shop, key_id)
    forget_api_keys()
    return Response(status=204)


@bp.get("/data-exports")
def data_exports() -> Response:
    """The answers to customers/data_request for this shop, newest first."""
    caller = admin_caller()
    exports = services().store.exports.list(caller.shop)
    body: dict[str, Any] = {
        "exports": [
            {
                "id": e.id,
                "request_id": e.request_id,
                "created_at": e.created_at.isoformat(),
                "document": e.document,
            }
            for e in exports
        ]
    }
    return jsonify(body)


@bp.get("/sync")
def sync_status() -> Response:
    """Where the shop's history backfill and sync stand, per resource, with what the merchant
    should know (e.g. orders limited to 60 days without `read_all_orders`)."""
    caller = admin_caller()
    states = services().store.sync.for_shop(caller.shop)
    body: dict[str, Any] = {
        "resources": [
            {
                "resource": s.resource,
                "status": s.status,
                "objects": s.objects_done,
                "written": s.written,
                "orders_from": s.window_start.isoformat() if s.window_start else None,
                "synced_until": s.synced_until.isoformat() if s.synced_until else None,
                "updated_at": s.updated_at.isoformat() if s.updated_at else None,
                "message": s.message,
            }
            for s in states
        ]
    }
    return jsonify(body)


def _info(record: ApiKeyRecord) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=record.id,
        prefix=record.prefix,
        label=record.label,
        scope=record.scope,
        created_at=record.created_at,
        revoked_at=record.revoked_at,
    )
