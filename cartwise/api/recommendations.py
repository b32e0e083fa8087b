"""`POST /v1/recommendations`: the cart in, ranked products with reasons out (see `schemas`).

Open only in demo mode for now, where the shop is the demo shop. Imports Flask and layers 0-4.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from cartwise.api.bodies import parse_json
from cartwise.api.context import services
from cartwise.errors import Unauthorized
from cartwise.schemas import RecommendationRequest
from cartwise.serving import recommend

__all__ = ["bp"]

bp = Blueprint("recommendations", __name__, url_prefix="/v1")


@bp.post("/recommendations")
def recommendations() -> Response:
    """401 `unauthorized` outside demo mode; 422 `invalid_request` for a body that does not
    validate; 404 `unknown_shop` when the shop has no data; otherwise 200, even on a fallback."""
    ctx = services()
    if not ctx.settings.demo_mode:
        raise Unauthorized("Authentication is required outside demo mode.")
    body = parse_json(RecommendationRequest)
    answer = recommend(ctx.store, ctx.registry, ctx.settings.demo_shop, body)
    response = jsonify(answer.model_dump(mode="json"))
    response.headers["Cache-Control"] = "no-store"
    return response
