"""The public `/v1` HTTP contract: request and response bodies, shared by `api` and `sdk`.

Pydantic models, layer 0: imports nothing from cartwise but `errors` and `domain`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CartItem",
    "ErrorBody",
    "ErrorResponse",
    "Placement",
    "RecommendationItem",
    "RecommendationRequest",
    "RecommendationResponse",
    "RequestContext",
    "Source",
]

Placement = Literal["cart", "checkout", "product", "thank_you", "home", "other"]
Source = Literal["model", "trending", "defaults", "cache", "fallback"]


class CartItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=128)
    variant_id: str | None = Field(default=None, max_length=128)
    quantity: int = Field(default=1, ge=1, le=100_000)


class RequestContext(BaseModel):
    """What the storefront knows about the shopper without knowing who they are: the segment a
    cold-start answer is tailored to."""

    model_config = ConfigDict(extra="forbid")

    device: Literal["mobile", "tablet", "desktop"] | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    referrer: str | None = Field(default=None, max_length=255)


class RecommendationRequest(BaseModel):
    """`POST /v1/recommendations`: the cart is the query; `k` products come back.

    `customer_id` is honoured only for server-to-server (API key) callers; a checkout or app
    proxy caller's customer comes from its verified credential."""

    model_config = ConfigDict(extra="forbid")

    cart: list[CartItem] = Field(default_factory=list, max_length=250)
    customer_id: str | None = Field(default=None, max_length=128)
    session_id: str | None = Field(default=None, max_length=128)
    placement: Placement = "cart"
    k: int = Field(default=8, ge=1, le=20)
    context: RequestContext | None = None


class RecommendationItem(BaseModel):
    product_id: str
    variant_id: str | None = None
    title: str
    price: float | None = None
    image_url: str | None = None
    reason: str
    score: float


class RecommendationResponse(BaseModel):
    items: list[RecommendationItem]
    source: Source
    model_version: int | None
    request_id: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, object] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
