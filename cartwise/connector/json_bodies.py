"""Reading platform bodies safely, for every connector: JSON that nests too deep is refused
before the parser recurses, NaN and Infinity are not JSON, and validation errors are told by
field name, never by value (bodies hold personal data).
Layer 2: standard library and pydantic only.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

__all__ = ["MAX_DEPTH", "describe", "load_json", "too_deep"]

MAX_DEPTH = 64
"""Platform payloads nest a few levels; deeper bodies are refused before the JSON parser recurses
(a RecursionError deep in the parser can leave the interpreter's recursion accounting off)."""

_MAX_REPORTED_ERRORS = 3
_OPENERS = re.compile(rb"[\[{]")
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]')


def too_deep(body: bytes | str) -> bool:
    """Whether a JSON text nests deeper than `MAX_DEPTH` (counted outside strings)."""
    raw = body.encode() if isinstance(body, str) else body
    if len(_OPENERS.findall(raw)) <= MAX_DEPTH:
        return False
    depth = 0
    for token in _TOKENS.finditer(raw):
        first = token.group()[:1]
        if first in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif first in (b"]", b"}"):
            depth -= 1
    return False


def _reject_constant(name: str) -> object:
    """JSON has no NaN or Infinity; Python's json module would accept them."""
    raise ValueError("not a JSON constant")


def load_json(body: bytes | str, *, what: str = "the body") -> object:
    """The JSON value of a body; ValueError (no value echoed) when it nests too deep or is not
    JSON (bad UTF-8 and over-long numbers included)."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    if too_deep(raw):
        raise ValueError(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ValueError(f"{what} is not valid JSON") from None


def describe(error: ValidationError) -> tuple[str, list[str]]:
    """A short message naming the failing fields (never their values), and those fields."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    fields = [".".join(str(part) for part in problem["loc"]) or "body" for problem in problems]
    shown = [
        f"{field}: {problem['msg'].removeprefix('Value error, ')}"
        for field, problem in zip(fields, problems[:_MAX_REPORTED_ERRORS], strict=False)
    ]
    if len(problems) > len(shown):
        shown.append(f"and {len(problems) - len(shown)} more")
    return "; ".join(shown), fields
