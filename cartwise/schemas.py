"""The public `/v1` HTTP contract: request and response bodies, shared by `api` and `sdk`.

Pydantic models, layer 0: imports nothing from cartwise but `errors` and `domain`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "CartItem",
    "ErrorBody",
    "ErrorResponse",
    "EventBatch",
    "EventKind",
    "EventsAccepted",
    "ExperimentArm",
    "Placement",
    "RecommendationItem",
    "RecommendationRequest",
    "RecommendationResponse",
    "RequestContext",
    "Source",
    "TrackedEvent",
]

Placement = Literal["cart", "checkout", "product", "thank_you", "home", "other"]
Source = Literal["model", "trending", "defaults", "cache", "fallback", "control"]
"""Where an answer's items came from; "control": the shopper is in an experiment's control arm
that shows no recommendations, so the storefront shows nothing (not its curated fallback)."""


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


class ExperimentArm(BaseModel):
    """Where the shopper landed in the shop's running experiment: stable for the session.
    A held-out shopper sees the control and is left out of the readout."""

    model_config = ConfigDict(frozen=True)

    experiment: str
    arm: str
    holdout: bool = False


class RecommendationResponse(BaseModel):
    items: list[RecommendationItem]
    source: Source
    model_version: int | None
    request_id: str
    experiment: ExperimentArm | None = None


EventKind = Literal["impression", "click", "add_to_cart"]


def _plausible_time(value: datetime) -> datetime:
    """A storefront event happened after 1970; the bound also keeps the instant convertible to
    UTC (0001-01-01 at +16:00 is not)."""
    if not 1970 <= value.year <= 2999:
        raise ValueError("occurred_at must be in a year from 1970 to 2999")
    return value


class TrackedEvent(BaseModel):
    """One storefront interaction with a recommended product. `event_id` makes a batch sent
    again (its answer was lost) harmless; `request_id` ties the event to the answer shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EventKind
    product_id: str = Field(min_length=1, max_length=128)
    session_id: str = Field(min_length=1, max_length=128)
    request_id: str | None = Field(default=None, max_length=64)
    placement: Placement | None = None
    occurred_at: Annotated[datetime, AfterValidator(_plausible_time)] = Field(
        default_factory=lambda: datetime.now(UTC),
        json_schema_extra={"pattern": r"^(19[7-9][0-9]|2[0-9]{3})-"},
        description="A year from 1970 to 2999.",
    )
    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=64)


class EventBatch(BaseModel):
    """`POST /v1/events`: `{"events": [...]}`, at most 500."""

    model_config = ConfigDict(extra="forbid")

    events: list[TrackedEvent] = Field(min_length=1, max_length=500)


class EventsAccepted(BaseModel):
    """202: how many events were new, and how many had been received before."""

    accepted: int
    duplicates: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, object] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
