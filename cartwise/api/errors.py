"""Error handlers: every failure leaves as `{"error": {"code", "message"}}` JSON with its status,
never as an HTML page or a traceback. Imports Flask, pydantic and layer 0 only."""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from cartwise.api.bodies import invalid
from cartwise.errors import CartwiseError

__all__ = ["error_response", "init_app"]

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def init_app(app: Flask) -> None:
    app.register_error_handler(CartwiseError, _cartwise_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _cartwise_error(exc: CartwiseError) -> Response:
    if exc.status >= 500:
        log.error("%s on %s %s: %s", exc.code, request.method, request.path, exc.message)
    response = jsonify(exc.to_dict())
    response.status_code = exc.status
    retry_after = exc.details.get("retry_after")
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


def _validation_error(exc: ValidationError) -> Response:
    return _cartwise_error(invalid(exc))


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _HTTP_CODES.get(status) or _snake(exc.name)
    response = error_response(status, code, _message(exc, status))
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _message(exc: HTTPException, status: int) -> str:
    if status == 404:
        return f"Nothing is served at {request.path}."
    if status == 405:
        return f"{request.method} is not allowed on {request.path}."
    if status == 413:
        limit = request.max_content_length
        size = f" of {limit // 1024} KiB" if limit else ""
        return f"The request body is larger than the limit{size}."
    return exc.description or exc.name


def _unexpected_error(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
