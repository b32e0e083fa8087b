"""gzip for JSON answers when the client accepts it: recommendation lists compress ~4x, which
matters on a phone at checkout. Small bodies are sent as they are. Imports Flask only."""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

__all__ = ["MIN_SIZE", "init_app"]

MIN_SIZE = 500


def init_app(app: Flask) -> None:
    app.after_request(_compress)


def _compress(response: Response) -> Response:
    if (
        response.direct_passthrough
        or response.status_code < 200
        or response.status_code in (204, 304)
        or response.mimetype != "application/json"
        or "Content-Encoding" in response.headers
        or "gzip" not in request.headers.get("Accept-Encoding", "").lower()
    ):
        return response
    data = response.get_data()
    if len(data) < MIN_SIZE:
        return response
    response.set_data(gzip.compress(data, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response
