"""The SDK's errors, raised only by a `strict=True` client (the default client answers with its
curated defaults instead). They are a branch of cartwise's one error tree:

    CartwiseError
    └── SdkError                "sdk_error"         no usable answer from the server
        ├── BudgetExceeded      "budget_exceeded"   the time budget ran out (retries included)
        ├── ConnectionFailed    "connection_failed" the server could not be reached
        ├── ServerError         "server_error"      a 5xx, after the retries it allows
        ├── ClientError         "client_error"      a 4xx: the server's own code is `server_code`
        ├── InvalidResponse     "invalid_response"  a 2xx that is not JSON or not the contract
        └── CircuitOpen         "circuit_open"      the breaker is open: no request was sent

Bad arguments (k out of 1..20, an unknown placement) are programmer errors: `ValueError`, in
both modes. `status` is what a server relaying the failure would answer. Layer 0 only.
"""

from __future__ import annotations

from typing import Any

from cartwise.errors import CartwiseError

__all__ = [
    "BudgetExceeded",
    "CircuitOpen",
    "ClientError",
    "ConnectionFailed",
    "InvalidResponse",
    "SdkError",
    "ServerError",
]


class SdkError(CartwiseError):
    """The server gave no usable answer; `attempts` is how many requests were sent."""

    code = "sdk_error"
    status = 502

    def __init__(self, message: str, *, attempts: int = 0, **details: Any) -> None:
        super().__init__(message, **details)
        self.attempts = attempts


class BudgetExceeded(SdkError):
    code = "budget_exceeded"
    status = 504


class ConnectionFailed(SdkError):
    code = "connection_failed"
    status = 502


class _HttpError(SdkError):
    """An answer with an error status; `server_code` and `server_message` come from the
    `{"error": {...}}` body when the server sent one."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        server_code: str | None = None,
        server_message: str | None = None,
        server_details: dict[str, object] | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.http_status = http_status
        self.server_code = server_code
        self.server_message = server_message
        self.server_details = server_details


class ServerError(_HttpError):
    code = "server_error"
    status = 502


class ClientError(_HttpError):
    """The server refused the call (bad key, unknown shop, invalid body, rate limit): the same
    call fails the same way again, except a 429 later on."""

    code = "client_error"
    status = 502


class InvalidResponse(SdkError):
    code = "invalid_response"
    status = 502


class CircuitOpen(SdkError):
    code = "circuit_open"
    status = 503
