"""OAuth 1.0a signing of Magento requests, checked against a published vector (HMAC-SHA1) and
against signatures computed here with hmac and hashlib from RFC 5849's base-string rules
(HMAC-SHA256, the method cartwise uses), plus the Bearer alternative."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx
import pytest
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1

from cartwise.connector.magento.auth import (
    BearerAuth,
    IntegrationCredentials,
    OAuth1Auth,
    auth_for,
)

# The example of Twitter's "Creating a signature" documentation (HMAC-SHA1), for which the
# documentation gives the base string and the signature.
TWITTER = IntegrationCredentials(
    consumer_key="xvz1evFS4wEEPTGEFPHBog",
    consumer_secret="kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    access_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    access_token_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
)
TWITTER_BASE_STRING = (
    "POST&https%3A%2F%2Fapi.twitter.com%2F1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue"
    "%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog"
    "%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
    "%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958"
    "%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"
    "%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a"
    "%2520signed%2520OAuth%2520request%2521"
)
TWITTER_SIGNATURE = "tnnArxj06cWHq44gCs1OSKk/jLY="

MAGENTO = IntegrationCredentials(
    consumer_key="x2fl2ad8tbofr2o3v6l3iwhw1v4t3wmj",
    consumer_secret="k8q3t0pjyswtkxkz1rk0ozbmqsvy1zyc",
    access_token="wd8s6u2kd5ya4ndqh8t3cthfoxxdjqnn",
    access_token_secret="3zqcmj1idr2fw7r4ahsxnwh3oovoy5fy",
)


def authorization(auth: httpx.Auth, request: httpx.Request) -> dict[str, str]:
    """The OAuth parameters of the Authorization header `auth` puts on `request`."""
    signed = next(auth.sync_auth_flow(request))
    header = signed.headers["Authorization"]
    assert header.startswith("OAuth ")
    params = {}
    for part in header.removeprefix("OAuth ").split(", "):
        name, _, value = part.partition("=")
        params[name] = unquote(value.strip('"'))
    return params


def encode(value: str) -> str:
    """RFC 5849 §3.6: percent-encode all but the unreserved characters."""
    return quote(value, safe="-._~")


def rfc5849_signature(
    method: str, url: str, body_params: list[tuple[str, str]], oauth: dict[str, str], key: str
) -> str:
    """HMAC-SHA256 over the signature base string of RFC 5849 §3.4.1, built from scratch."""
    parts = urlsplit(url)
    base_uri = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
    params = parse_qsl(parts.query, keep_blank_values=True) + body_params
    params += [(k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")]
    normalized = "&".join(f"{k}={v}" for k, v in sorted((encode(k), encode(v)) for k, v in params))
    base = "&".join([method.upper(), encode(base_uri), encode(normalized)])
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_the_published_hmac_sha1_vector() -> None:
    auth = OAuth1Auth(
        TWITTER,
        signature_method=SIGNATURE_HMAC_SHA1,
        clock=lambda: 1318622958,
        nonce=lambda: "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
    )
    request = httpx.Request(
        "POST",
        "https://api.twitter.com/1/statuses/update.json?include_entities=true",
        data={"status": "Hello Ladies + Gentlemen, a signed OAuth request!"},
    )
    params = authorization(auth, request)
    assert params["oauth_signature"] == TWITTER_SIGNATURE
    key = f"{TWITTER.consumer_secret}&{TWITTER.access_token_secret}"
    independent = hmac.new(key.encode(), TWITTER_BASE_STRING.encode(), hashlib.sha1).digest()
    assert base64.b64encode(independent).decode() == TWITTER_SIGNATURE


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://shop.example.com/rest/V1/store/storeViews", id="no-query"),
        pytest.param(
            "https://shop.example.com/rest/default/V1/products?"
            "searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=updated_at"
            "&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D="
            "2026-03-02%2009%3A00%3A00"
            "&searchCriteria%5BpageSize%5D=100&searchCriteria%5BcurrentPage%5D=2",
            id="search-criteria",
        ),
        pytest.param(
            "https://shop.example.com/rest/V1/stockItems/MH01%20S%2BGray%2F%C3%A9", id="odd-sku"
        ),
        pytest.param("https://shop.example.com/rest/V1/x?b=2&a=2&a=1&c=", id="repeats-order"),
    ],
)
def test_hmac_sha256_matches_an_independent_rfc5849_signature(url: str) -> None:
    auth = OAuth1Auth(MAGENTO, clock=lambda: 1767000000, nonce=lambda: "a1b2c3d4e5f6")
    params = authorization(auth, httpx.Request("GET", url))
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert params["oauth_version"] == "1.0"
    assert params["oauth_consumer_key"] == MAGENTO.consumer_key
    assert params["oauth_token"] == MAGENTO.access_token
    assert (params["oauth_timestamp"], params["oauth_nonce"]) == ("1767000000", "a1b2c3d4e5f6")
    key = f"{encode(MAGENTO.consumer_secret)}&{encode(MAGENTO.access_token_secret)}"
    assert params["oauth_signature"] == rfc5849_signature("GET", url, [], params, key)


def test_a_form_body_is_part_of_the_signature() -> None:
    auth = OAuth1Auth(MAGENTO, clock=lambda: 1767000000, nonce=lambda: "n0nce")
    url = "https://shop.example.com/rest/V1/integration/thing"
    request = httpx.Request("POST", url, data={"name": "a b+c"})
    params = authorization(auth, request)
    key = f"{MAGENTO.consumer_secret}&{MAGENTO.access_token_secret}"
    assert params["oauth_signature"] == rfc5849_signature(
        "POST", url, [("name", "a b+c")], params, key
    )


def test_a_json_body_is_not_signed() -> None:
    auth = OAuth1Auth(MAGENTO, clock=lambda: 1767000000, nonce=lambda: "n0nce")
    url = "https://shop.example.com/rest/V1/thing"
    params = authorization(auth, httpx.Request("POST", url, json={"a": 1}))
    key = f"{MAGENTO.consumer_secret}&{MAGENTO.access_token_secret}"
    assert params["oauth_signature"] == rfc5849_signature("POST", url, [], params, key)


def test_every_request_gets_a_fresh_nonce() -> None:
    auth = OAuth1Auth(MAGENTO)
    url = "https://shop.example.com/rest/V1/orders"
    first = authorization(auth, httpx.Request("GET", url))
    second = authorization(auth, httpx.Request("GET", url))
    assert first["oauth_nonce"] != second["oauth_nonce"]


def test_bearer_sends_only_the_access_token() -> None:
    creds = IntegrationCredentials("", "", "wd8s6u2kd5ya4ndqh8t3cthfoxxdjqnn", "", bearer=True)
    auth = auth_for(creds)
    assert isinstance(auth, BearerAuth)
    signed = next(auth.sync_auth_flow(httpx.Request("GET", "https://shop.example.com/rest/V1/x")))
    assert signed.headers["Authorization"] == "Bearer wd8s6u2kd5ya4ndqh8t3cthfoxxdjqnn"


def test_oauth_is_the_default() -> None:
    assert isinstance(auth_for(MAGENTO), OAuth1Auth)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(("key", "", "token", "secret"), id="no-consumer-secret"),
        pytest.param(("key", "secret", "token", ""), id="no-token-secret"),
        pytest.param(("", "secret", "token", "secret"), id="no-consumer-key"),
    ],
)
def test_oauth_needs_all_four_credentials(fields: tuple[str, str, str, str]) -> None:
    with pytest.raises(ValueError, match=r"OAuth 1\.0a needs"):
        IntegrationCredentials(*fields)


def test_bearer_needs_the_access_token() -> None:
    with pytest.raises(ValueError, match="Bearer"):
        IntegrationCredentials("key", "secret", "", "secret", bearer=True)


def test_the_repr_hides_the_secrets() -> None:
    shown = repr(MAGENTO)
    assert MAGENTO.consumer_key in shown
    for secret in (MAGENTO.consumer_secret, MAGENTO.access_token, MAGENTO.access_token_secret):
        assert secret not in shown


def test_plaintext_and_rsa_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        OAuth1Auth(MAGENTO, signature_method="PLAINTEXT")
