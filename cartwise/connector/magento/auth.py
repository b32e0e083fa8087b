"""How cartwise proves itself to a Magento store: the four credentials of an integration
(System > Extensions > Integrations), used as OAuth 1.0a signatures or as a Bearer token.

Since Magento 2.4.4 an integration's access token is refused as a standalone Bearer token unless
the merchant enables *Allow OAuth Access Tokens to be used as standalone Bearer tokens*
(`oauth/consumer/enable_integration_as_bearer`), so OAuth 1.0a (HMAC-SHA256) is the default.
https://developer.adobe.com/commerce/webapi/get-started/authentication/gs-authentication-token/
The signature itself is oauthlib's. Layer 2: imports httpx, oauthlib and the standard library.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import httpx
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_HMAC_SHA256, Client

__all__ = ["BearerAuth", "IntegrationCredentials", "OAuth1Auth", "auth_for"]

_FORM = "application/x-www-form-urlencoded"
SIGNATURE_METHODS = frozenset({SIGNATURE_HMAC_SHA256, SIGNATURE_HMAC_SHA1})


@dataclass(frozen=True, slots=True)
class IntegrationCredentials:
    """An integration's consumer key/secret and access token/secret. `bearer=True` sends only
    the access token (the merchant must have enabled that option); otherwise every request is
    signed with OAuth 1.0a."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)
    bearer: bool = False

    def __post_init__(self) -> None:
        if self.bearer:
            if not self.access_token:
                raise ValueError("a Bearer integration needs its access token")
        elif not all(
            (self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret)
        ):
            raise ValueError("OAuth 1.0a needs the consumer key/secret and access token/secret")


class OAuth1Auth(httpx.Auth):
    """Signs each request with OAuth 1.0a in the `Authorization` header. A form-encoded body's
    parameters are signed too (RFC 5849 §3.4.1.3.1); other bodies are not part of the signature.
    `clock` (unix seconds) and `nonce` are seams for tests."""

    requires_request_body = True

    def __init__(
        self,
        credentials: IntegrationCredentials,
        *,
        signature_method: str = SIGNATURE_HMAC_SHA256,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] | None = None,
    ) -> None:
        if signature_method not in SIGNATURE_METHODS:
            raise ValueError(f"unsupported OAuth 1.0a signature method {signature_method!r}")
        self._credentials = credentials
        self._method = signature_method
        self._clock = clock
        self._nonce = nonce or (lambda: secrets.token_hex(16))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        creds = self._credentials
        client = Client(
            creds.consumer_key,
            client_secret=creds.consumer_secret,
            resource_owner_key=creds.access_token,
            resource_owner_secret=creds.access_token_secret,
            signature_method=self._method,
            nonce=self._nonce(),
            timestamp=str(int(self._clock())),
        )
        form = request.headers.get("Content-Type", "").split(";")[0].strip().lower() == _FORM
        body = request.content.decode() if form and request.content else None
        headers = {"Content-Type": _FORM} if body is not None else None
        _, signed, _ = client.sign(
            str(request.url), http_method=request.method, body=body, headers=headers
        )
        request.headers["Authorization"] = signed["Authorization"]
        yield request


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <access token>`, for stores that allow integration tokens so."""

    def __init__(self, access_token: str) -> None:
        self._header = f"Bearer {access_token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def auth_for(credentials: IntegrationCredentials) -> httpx.Auth:
    """The auth a store's credentials call for: Bearer when chosen, else OAuth 1.0a."""
    if credentials.bearer:
        return BearerAuth(credentials.access_token)
    return OAuth1Auth(credentials)
