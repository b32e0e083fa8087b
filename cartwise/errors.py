"""The one error tree of cartwise: every error a user can see has a machine code and an HTTP status.

    CartwiseError               code "internal_error", 500
    ├── InvalidRequest            "invalid_request", 422   a body or argument that fails validation
    │   └── InvalidPayload        "invalid_payload", 422   a platform payload we cannot read
    ├── InvalidSignature          "invalid_signature", 401
    ├── Unauthorized              "unauthorized", 401
    ├── Forbidden                 "forbidden", 403
    ├── NotFound                  "not_found", 404
    │   ├── UnknownShop           "unknown_shop", 404
    │   └── ModelNotTrained       "model_not_trained", 404
    ├── Conflict                  "conflict", 409
    ├── RateLimited               "rate_limited", 429
    ├── DataImportError           "import_failed", 422     a file that cannot be imported at all
    ├── StorageError              "storage_unavailable", 503
    ├── UpstreamError             "upstream_error", 502    a platform or service failed
    │   ├── UpstreamRejected      "upstream_rejected", 502  it refused the call (4xx, query errors)
    │   └── UpstreamTimeout       "upstream_timeout", 504   no answer within the deadline
    └── ConfigurationError        "configuration_error", 500  settings the process can't run with

This module imports nothing from cartwise (layer 0).
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "CartwiseError",
    "ConfigurationError",
    "Conflict",
    "DataImportError",
    "Forbidden",
    "InvalidPayload",
    "InvalidRequest",
    "InvalidSignature",
    "ModelNotTrained",
    "NotFound",
    "RateLimited",
    "StorageError",
    "Unauthorized",
    "UnknownShop",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamTimeout",
]


class CartwiseError(Exception):
    """Base of every error cartwise raises on purpose; `code` is stable, `message` is for people."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of an error response: `{"error": {"code", "message", ...details}}`."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class InvalidRequest(CartwiseError):
    code = "invalid_request"
    status = 422


class InvalidPayload(InvalidRequest):
    code = "invalid_payload"


class InvalidSignature(CartwiseError):
    code = "invalid_signature"
    status = 401


class Unauthorized(CartwiseError):
    code = "unauthorized"
    status = 401


class Forbidden(CartwiseError):
    code = "forbidden"
    status = 403


class NotFound(CartwiseError):
    code = "not_found"
    status = 404


class UnknownShop(NotFound):
    code = "unknown_shop"


class ModelNotTrained(NotFound):
    code = "model_not_trained"


class Conflict(CartwiseError):
    code = "conflict"
    status = 409


class RateLimited(CartwiseError):
    code = "rate_limited"
    status = 429


class DataImportError(CartwiseError):
    code = "import_failed"
    status = 422


class StorageError(CartwiseError):
    code = "storage_unavailable"
    status = 503


class UpstreamError(CartwiseError):
    code = "upstream_error"
    status = 502


class UpstreamRejected(UpstreamError):
    """The platform answered and said no (an expired token, a missing scope, a bad query):
    retrying the same call cannot help."""

    code = "upstream_rejected"


class UpstreamTimeout(UpstreamError):
    """The platform did not give a usable answer before the caller's deadline (retries
    included)."""

    code = "upstream_timeout"
    status = 504


class ConfigurationError(CartwiseError):
    code = "configuration_error"
    status = 500
