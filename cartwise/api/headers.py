"""Security headers on every response: no MIME sniffing, no referrer, no framing, and a CSP
that lets the demo page load only its own scripts, styles and images. Imports Flask only."""

from __future__ import annotations

from flask import Flask, Response

__all__ = ["API_CSP", "PAGE_CSP", "init_app"]

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def init_app(app: Flask) -> None:
    app.after_request(_secure)


def _secure(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    is_page = response.mimetype == "text/html"
    headers.setdefault("Content-Security-Policy", PAGE_CSP if is_page else API_CSP)
    return response
