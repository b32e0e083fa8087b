"""Security headers on every response, added in one pass after the view:

- `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`;
- `Content-Security-Policy`: the view's own when it set one (the embedded dashboard lets the
  shop's admin frame it), else `PAGE_CSP` for HTML (the demo page loads only its own scripts,
  styles and images) and `API_CSP` for everything else, empty answers included;
- `X-Frame-Options: DENY`, unless that policy's `frame-ancestors` allows a framer: a browser
  that reads both must not be told to refuse the frame the policy allows;
- `Permissions-Policy` turning off powerful browser features nothing here uses;
- `Cross-Origin-Opener-Policy: same-origin`;
- `Cross-Origin-Resource-Policy: cross-origin` on answers other origins may read by CORS (the
  checkout extension reads them from a web worker of another origin), `same-origin` elsewhere;
- `Strict-Transport-Security` when the app's public URL (`CARTWISE_APP_URL`) is https, or the
  request reached this server over https. `X-Forwarded-Proto` is not read: the app trusts no
  proxy's headers (there is no ProxyFix), so behind a TLS proxy the public URL decides.

Views set only the policy (and CORS headers) themselves; the other headers are this module's.
Imports Flask only.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request

__all__ = [
    "API_CSP",
    "HSTS",
    "PAGE_CSP",
    "PERMISSIONS_POLICY",
    "init_app",
]

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
HSTS = "max-age=31536000"
"""One year. Without includeSubDomains: the app's host may be a subdomain of a domain whose
other hosts are not ours to force onto https."""

_Headers = list[tuple[str, str]]
_COMMON: _Headers = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]
_DENY_FRAMING = ("X-Frame-Options", "DENY")
_CORP_ANY = ("Cross-Origin-Resource-Policy", "cross-origin")
_CORP_SAME = ("Cross-Origin-Resource-Policy", "same-origin")
_HSTS = ("Strict-Transport-Security", HSTS)


def init_app(app: Flask, *, app_url: str | None = None) -> None:
    """Add the headers to every response of `app`; HSTS on all of them when `app_url` (the
    public URL) is https, else on those whose request came over https."""
    always_https = app_url is not None and app_url.lower().startswith("https://")
    app.after_request(_secure_with(always_https))


def _secure_with(always_https: bool) -> Callable[[Response], Response]:
    common = [*_COMMON, _HSTS] if always_https else _COMMON

    def secure(response: Response) -> Response:
        headers = response.headers
        policy: str | None = None
        shared = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-security-policy":
                policy = value
            elif lowered == "access-control-allow-origin":
                shared = True
        add = headers.add
        for name, value in common:
            add(name, value)
        if not always_https and request.is_secure:
            add(*_HSTS)
        if policy is None:
            page = response.mimetype == "text/html" and response.status_code != 204
            add("Content-Security-Policy", PAGE_CSP if page else API_CSP)
            add(*_DENY_FRAMING)
        elif not _allows_framing(policy):
            add(*_DENY_FRAMING)
        add(*(_CORP_ANY if shared else _CORP_SAME))
        return response

    return secure


def _allows_framing(policy: str) -> bool:
    """Whether `policy` names someone who may frame the page (`frame-ancestors` other than
    'none'); a policy without the directive leaves framing to X-Frame-Options."""
    for directive in policy.split(";"):
        name, _, sources = directive.strip().partition(" ")
        if name.lower() == "frame-ancestors":
            return sources.strip() not in ("", "'none'")
    return False
