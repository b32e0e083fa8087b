"""The request body limit: a body over `max_bytes` is refused with 413 `payload_too_large` before
anything parses it.

werkzeug refuses a larger `Content-Length` by itself. A chunked body has none: werkzeug reads it
only up to the limit and then stops without a word, so the view would parse the first 1 MiB as
if it were the whole body (a 422, or a 401 for a webhook signature over the cut bytes). Such a
body is read here first, up to the limit, and refused when more follows. Imports Flask only.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

__all__ = ["init_app"]


def init_app(app: Flask, max_bytes: int) -> None:
    app.config["MAX_CONTENT_LENGTH"] = max_bytes
    app.before_request(_refuse_long_streams)


def _refuse_long_streams() -> None:
    environ = request.environ
    # Only a server that ends a chunked body itself sets wsgi.input_terminated (gunicorn does);
    # without it werkzeug reads nothing and the raw stream must not be touched.
    if (
        "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        or "wsgi.input_terminated" not in environ
    ):
        return
    request.get_data(cache=True)  # at most the limit; the views read this copy
    if environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
