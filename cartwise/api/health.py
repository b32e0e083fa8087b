"""`GET /healthz` (the process answers) and `GET /readyz` (the database answers too).

Imports Flask, pydantic and layers 0-4 through `api.context`.
"""

from __future__ import annotations

import logging
from typing import Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel

from cartwise.api.context import services
from cartwise.errors import StorageError

__all__ = ["HealthStatus", "bp"]

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


class HealthStatus(BaseModel):
    status: Literal["ok"]


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: answers while the process can serve requests at all; touches nothing."""
    return jsonify(HealthStatus(status="ok").model_dump())


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: 200 when the database answers a query, else 503 `storage_unavailable`."""
    try:
        services().store.ping()
    except Exception as exc:
        log.warning("readiness check failed: %s", exc)
        raise StorageError("The database does not answer.") from None
    return jsonify(HealthStatus(status="ok").model_dump())
