"""The storefront endpoints' CORS: checkout extensions run in a web worker whose origin changes
without notice, so these endpoints answer any origin (no credentials) and their preflights.
Imports Flask only."""

from __future__ import annotations

from flask import Blueprint, Response

__all__ = ["CORS_HEADERS", "share"]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Cartwise-Key",
    "Access-Control-Max-Age": "7200",
}


def share(bp: Blueprint, *paths: str) -> None:
    """Every answer of `bp`, errors included, readable from any origin (a 401 must reach the
    extension as its code, not fail as a CORS error), and a preflight answered on each of
    `paths`."""

    @bp.after_request
    def _cors(response: Response) -> Response:
        response.headers.update(CORS_HEADERS)
        return response

    def preflight() -> Response:
        response = Response(status=204)
        response.headers.update(CORS_HEADERS)
        return response

    for path in paths:
        bp.add_url_rule(path, "preflight", preflight, methods=["OPTIONS"])
