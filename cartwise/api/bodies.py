"""Reading request bodies and query strings into pydantic models, and describing their errors.

Imports Flask, pydantic and layer 0 only.
"""

from __future__ import annotations

import json
from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from cartwise.errors import InvalidRequest

__all__ = ["describe", "invalid", "parse_json", "parse_query"]

M = TypeVar("M", bound=BaseModel)

_MAX_LISTED = 5


def parse_json(model: type[M]) -> M:
    """The request body as `model`; raises `InvalidRequest` (422) for a body that is not JSON
    or does not validate, with every problem named in the message.

    Validated strictly, as the published JSON Schema reads: pydantic's lax mode would take
    `"5"` for a number, `false` for 0 and `0` for a date-time, which `/openapi.json` says are
    invalid. JSON Schema does count `1.0` as an integer, which strict mode refuses: a body
    refused for that is read again with its whole numbers written as integers."""
    if not request.is_json:
        raise InvalidRequest("Send a JSON body with the header Content-Type: application/json.")
    raw = request.get_data(cache=True)
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if not any(_whole_float(err["type"], err["input"]) for err in exc.errors()):
            raise invalid(exc) from None
    try:
        return model.model_validate_json(
            json.dumps(json.loads(raw, parse_float=_number)), strict=True
        )
    except ValidationError as exc:
        raise invalid(exc) from None


def _whole_float(error_type: str, value: object) -> bool:
    return error_type == "int_type" and isinstance(value, float) and value.is_integer()


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_query(model: type[M]) -> M:
    """The query string as `model`; raises `InvalidRequest` (422) when it does not validate."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise invalid(exc) from None


def invalid(exc: ValidationError) -> InvalidRequest:
    """A pydantic error as the 422 a caller sees, with each problem located."""
    problems = [{"loc": _location(err["loc"]), "message": err["msg"]} for err in exc.errors()]
    return InvalidRequest(describe(exc), errors=problems)


def describe(exc: ValidationError) -> str:
    """One readable line, e.g. "cart.0.quantity: Input should be greater than or equal to 1"."""
    errors = exc.errors()
    parts = [f"{_location(err['loc'])}: {err['msg']}" for err in errors[:_MAX_LISTED]]
    if len(errors) > _MAX_LISTED:
        parts.append(f"and {len(errors) - _MAX_LISTED} more")
    return "; ".join(parts)


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"
