"""Tests for Shopify request verification: webhooks, checkout and admin session tokens, app proxy.

Signatures and tokens are made here from the bytes with hmac/base64/PyJWT, never by the code
under test. Secrets are 64 bytes so PyJWT accepts them for HS256 and HS512 alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwise.connector.shopify.domains import normalize_shop_domain
from cartwise.connector.shopify.verify import (
    AdminSessionToken,
    AppCredentials,
    verify_admin_session_token,
    verify_app_proxy,
    verify_checkout_token,
    verify_webhook,
)
from cartwise.errors import InvalidSignature, Unauthorized

CLIENT_ID = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
SECRET = "shpss_current_" + "k" * 50
OLD_SECRET = "shpss_previous_" + "o" * 49
OTHER_SECRET = "shpss_another_app_" + "x" * 46
SHOP = "test-shop.myshopify.com"
CREDS = AppCredentials(CLIENT_ID, SECRET)
FROZEN = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
# Hypothesis keeps no example database, so running the suite leaves no files behind.
FUZZ = settings(max_examples=200, database=None, suppress_health_check=[HealthCheck.too_slow])

# A compliance webhook body, with the `/` escaping and spacing Shopify uses: re-serialising it
# with json.dumps changes the bytes.
BODY = (
    b'{"shop_id":954889,"shop_domain":"test-shop.myshopify.com","customer":{"id":191167,'
    b'"email":"john@example.com","phone":"555-625-1199"},"orders_to_redact":[299938,280263],'
    b'"note":"a\\/b & caf\xc3\xa9"}'
)


@pytest.fixture
def frozen() -> Iterator[datetime]:
    with time_machine.travel(FROZEN, tick=False):
        yield FROZEN


def b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_headers(body: bytes = BODY, *, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-Shopify-Hmac-Sha256": b64_hmac(secret, body),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Topic": "customers/redact",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Triggered-At": "2026-11-20T11:59:58.877041743Z",
        "X-Shopify-API-Version": "2026-10",
    }


def reason_of(excinfo: pytest.ExceptionInfo[Any]) -> str:
    reason = excinfo.value.details["reason"]
    assert isinstance(reason, str)
    return reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("test-shop.myshopify.com", SHOP, id="plain"),
        pytest.param("Test-Shop.MyShopify.com", SHOP, id="mixed-case"),
        pytest.param("https://test-shop.myshopify.com/", SHOP, id="scheme-and-slash"),
        pytest.param("my_shop.myshopify.com", "my_shop.myshopify.com", id="underscore"),
        pytest.param("evil.com", None, id="other-host"),
        pytest.param("x.myshopify.com.evil.com", None, id="suffix-attack"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
        pytest.param("test-shop", None, id="bare-name"),
        pytest.param("test-shop.myshopify.com\n", None, id="trailing-newline"),
        pytest.param(" test-shop.myshopify.com", None, id="leading-space"),
        pytest.param("http://test-shop.myshopify.com", None, id="http"),
        pytest.param("test-shop.myshopify.com:8443", None, id="port"),
        pytest.param("test-shop.myshopify.com/admin", None, id="path"),
        pytest.param("-shop.myshopify.com", None, id="leading-dash"),
        pytest.param("a.b.myshopify.com", None, id="sub-subdomain"),
        pytest.param("\u212ahop.myshopify.com", None, id="kelvin-sign-lookalike"),
    ],
)
def test_normalize_shop_domain(value: str | None, expected: str | None) -> None:
    assert normalize_shop_domain(value) == expected


def test_credentials_repr_hides_secrets() -> None:
    creds = AppCredentials(CLIENT_ID, SECRET, OLD_SECRET, FROZEN)
    assert SECRET not in repr(creds)
    assert OLD_SECRET not in repr(creds)
    assert CLIENT_ID in repr(creds)


def test_app_config_drops_the_old_secret_after_its_window() -> None:
    creds = AppCredentials(CLIENT_ID, SECRET, OLD_SECRET, FROZEN + timedelta(hours=1))
    assert creds.app_config(FROZEN)["old_client_secret"] == OLD_SECRET
    assert creds.app_config(FROZEN + timedelta(hours=1))["old_client_secret"] is None
    assert AppCredentials(CLIENT_ID, SECRET, OLD_SECRET).app_config()["old_client_secret"] == (
        OLD_SECRET
    )


def test_credentials_refuse_a_naive_rotation_deadline() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AppCredentials(CLIENT_ID, SECRET, OLD_SECRET, datetime(2026, 1, 1))


def test_valid_webhook_verifies() -> None:
    webhook = verify_webhook(CREDS, "POST", webhook_headers(), BODY)

    assert webhook.shop == SHOP
    assert webhook.topic == "customers/redact"
    assert webhook.webhook_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert webhook.event_id == "98880550-7158-44d4-b7cd-2c97c8a091b5"
    assert webhook.triggered_at == datetime(2026, 11, 20, 11, 59, 58, 877041, tzinfo=UTC)
    assert webhook.api_version == "2026-10"


def test_webhook_headers_are_case_insensitive() -> None:
    headers = {name.lower(): value for name, value in webhook_headers().items()}
    headers["X-SHOPIFY-TOPIC"] = headers.pop("x-shopify-topic")
    assert verify_webhook(CREDS, "POST", headers, BODY).topic == "customers/redact"


def test_events_deliveries_use_unprefixed_headers() -> None:
    headers = {
        "shopify-hmac-sha256": b64_hmac(SECRET, BODY),
        "shopify-shop-domain": SHOP,
        "shopify-topic": "orders/create",
        "shopify-webhook-id": "wh-1",
        "shopify-event-id": "ev-1",
        "shopify-triggered-at": "2026-11-20T12:00:00Z",
    }
    webhook = verify_webhook(CREDS, "POST", headers, BODY)

    assert (webhook.shop, webhook.topic, webhook.webhook_id, webhook.event_id) == (
        SHOP,
        "orders/create",
        "wh-1",
        "ev-1",
    )
    assert webhook.triggered_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert webhook.api_version is None


def test_optional_webhook_headers_may_be_missing_or_unreadable() -> None:
    headers = webhook_headers()
    del headers["X-Shopify-Event-Id"], headers["X-Shopify-API-Version"]
    headers["X-Shopify-Triggered-At"] = "yesterday"
    webhook = verify_webhook(CREDS, "POST", headers, BODY)
    assert (webhook.event_id, webhook.triggered_at, webhook.api_version) == (None, None, None)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"X-Shopify-Shop-Domain": "evil.com"}, "invalid_shop_domain", id="evil-shop"),
        pytest.param(
            {"X-Shopify-Shop-Domain": "test-shop.myshopify.com.evil.com"},
            "invalid_shop_domain",
            id="suffix-shop",
        ),
        pytest.param({"X-Shopify-Shop-Domain": None}, "invalid_shop_domain", id="no-shop"),
        pytest.param({"X-Shopify-Topic": None}, "missing_topic", id="no-topic"),
        pytest.param({"X-Shopify-Topic": ""}, "missing_topic", id="empty-topic"),
        pytest.param({"X-Shopify-Webhook-Id": None}, "missing_webhook_id", id="no-webhook-id"),
    ],
)
def test_signed_webhook_with_bad_delivery_headers_is_401(
    change: dict[str, str | None], reason: str
) -> None:
    headers = webhook_headers()
    for name, value in change.items():
        headers.pop(name)
        if value is not None:
            headers[name] = value
    with pytest.raises(InvalidSignature) as excinfo:
        verify_webhook(CREDS, "POST", headers, BODY)
    assert excinfo.value.status == 401
    assert reason_of(excinfo) == reason


@pytest.mark.parametrize(
    ("method", "headers", "body", "reason"),
    [
        pytest.param("GET", webhook_headers(), BODY, "method_not_allowed", id="get"),
        pytest.param("POST", webhook_headers(b""), b"", "empty_body", id="empty-body"),
        pytest.param(
            "POST",
            webhook_headers(b"\xff\xfe{}"),
            b"\xff\xfe{}",
            "invalid_body_encoding",
            id="not-utf8",
        ),
        pytest.param(
            "POST",
            {**webhook_headers(), "X-Shopify-Hmac-Sha256": "caf\u00e9"},
            BODY,
            "invalid_signature",
            id="non-ascii-header",
        ),
    ],
)
def test_unverifiable_webhooks_are_401(
    method: str, headers: dict[str, str], body: bytes, reason: str
) -> None:
    with pytest.raises(InvalidSignature) as excinfo:
        verify_webhook(CREDS, method, headers, body)
    assert excinfo.value.status == 401
    assert reason_of(excinfo) == reason


def test_webhook_signed_with_old_secret_is_accepted_only_inside_its_window() -> None:
    creds = AppCredentials(CLIENT_ID, SECRET, OLD_SECRET, FROZEN + timedelta(minutes=60))
    headers = webhook_headers(secret=OLD_SECRET)

    assert verify_webhook(creds, "POST", headers, BODY, now=FROZEN + timedelta(minutes=59)).shop
    with pytest.raises(InvalidSignature) as excinfo:
        verify_webhook(creds, "POST", headers, BODY, now=FROZEN + timedelta(minutes=61))
    assert reason_of(excinfo) == "invalid_signature"


def test_webhook_comparison_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify_webhook(CREDS, "POST", webhook_headers(), BODY)
    with pytest.raises(InvalidSignature):
        verify_webhook(CREDS, "POST", webhook_headers(secret=OTHER_SECRET), BODY)

    assert len(calls) == 2


def expect_rejected(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(InvalidSignature) as excinfo:
        verify_webhook(CREDS, "POST", headers, body)
    assert excinfo.value.status == 401


@FUZZ
@given(position=st.integers(min_value=0, max_value=len(BODY) - 1), mask=st.integers(1, 255))
def test_fuzz_one_flipped_body_byte_is_rejected(position: int, mask: int) -> None:
    body = bytearray(BODY)
    body[position] ^= mask
    expect_rejected(webhook_headers(), bytes(body))


@FUZZ
@given(secret=st.binary(min_size=1, max_size=80).map(lambda raw: raw.hex()))
def test_fuzz_wrong_secret_is_rejected(secret: str) -> None:
    expect_rejected(webhook_headers(secret=secret), BODY)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=43))
def test_fuzz_truncated_signature_is_rejected(cut: int) -> None:
    headers = webhook_headers()
    headers["X-Shopify-Hmac-Sha256"] = headers["X-Shopify-Hmac-Sha256"][:cut]
    expect_rejected(headers, BODY)


@FUZZ
@given(
    indent=st.sampled_from([None, 0, 1, 2, 4]),
    separators=st.sampled_from([(",", ":"), (", ", ": "), (",", ": "), (", ", ":")]),
    sort_keys=st.booleans(),
    ensure_ascii=st.booleans(),
)
def test_fuzz_reserialised_body_is_rejected(
    indent: int | None, separators: tuple[str, str], sort_keys: bool, ensure_ascii: bool
) -> None:
    data = json.loads(BODY)
    body = json.dumps(
        data, indent=indent, separators=separators, sort_keys=sort_keys, ensure_ascii=ensure_ascii
    ).encode()
    assert body != BODY  # json.dumps never escapes "/", Shopify does
    expect_rejected(webhook_headers(), body)


@FUZZ
@given(
    mutation=st.sampled_from(["missing", "empty", "hex", "hex-upper", "whitespace", "prefix"]),
    header_case=st.sampled_from(["X-Shopify-Hmac-Sha256", "x-shopify-hmac-sha256"]),
)
def test_fuzz_malformed_signature_header_is_rejected(mutation: str, header_case: str) -> None:
    headers = webhook_headers()
    good = headers.pop("X-Shopify-Hmac-Sha256")
    hex_digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    replacement = {
        "missing": None,
        "empty": "",
        "hex": hex_digest,
        "hex-upper": hex_digest.upper(),
        "whitespace": f" {good} ",
        "prefix": f"sha256={good}",
    }[mutation]
    if replacement is not None:
        headers[header_case] = replacement
    expect_rejected(headers, BODY)


@FUZZ
@given(body=st.binary(max_size=200))
def test_fuzz_any_body_with_the_original_signature_is_rejected(body: bytes) -> None:
    if body != BODY:
        expect_rejected(webhook_headers(), body)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_built(header: dict[str, Any], claims: dict[str, Any], secret: str | None) -> str:
    """A JWT assembled by hand, for headers PyJWT would refuse to produce."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if secret is None:
        return f"{signing_input}."
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def checkout_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "dest": SHOP,
        "aud": CLIENT_ID,
        "exp": now + 300,
        "nbf": now - 1,
        "iat": now - 1,
        "jti": "5b5a5b3c-8b3c-4f5f-9a64-0d9a2c2f1e77",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def bearer(token: str) -> str:
    return f"Bearer {token}"


def signed(claims: dict[str, Any], *, secret: str = SECRET, **kwargs: Any) -> str:
    return jwt.encode(claims, secret, algorithm=kwargs.pop("algorithm", "HS256"), **kwargs)


def test_valid_checkout_token_verifies() -> None:
    token = verify_checkout_token(CREDS, bearer(signed(checkout_claims())))

    assert token.shop == SHOP
    assert token.customer_id is None
    assert token.claims["aud"] == CLIENT_ID


def test_checkout_token_subject_gives_the_customer_id() -> None:
    claims = checkout_claims(sub="gid://shopify/Customer/7294378471562")
    assert verify_checkout_token(CREDS, bearer(signed(claims))).customer_id == "7294378471562"


def test_checkout_token_with_an_odd_subject_has_no_customer() -> None:
    claims = checkout_claims(sub="gid://shopify/Customer/12/../13")
    assert verify_checkout_token(CREDS, bearer(signed(claims))).customer_id is None


def _mutated_checkout_tokens() -> list[Any]:
    claims = checkout_claims
    now = int(time.time())
    return [
        pytest.param(
            bearer(hand_built({"alg": "none", "typ": "JWT"}, claims(), None)), id="alg-none"
        ),
        pytest.param(
            bearer(hand_built({"alg": "none", "typ": "JWT"}, claims(), SECRET)), id="alg-none-sig"
        ),
        pytest.param(bearer(signed(claims(), secret=OTHER_SECRET)), id="wrong-secret"),
        pytest.param(bearer(signed(claims(), algorithm="HS512")), id="hs512"),
        pytest.param(bearer(hand_built({"alg": "RS256"}, claims(), SECRET)), id="rs256-header"),
        pytest.param(bearer(hand_built({"typ": "JWT"}, claims(), SECRET)), id="no-alg"),
        pytest.param(bearer(signed(claims(aud="another-app"))), id="wrong-aud"),
        pytest.param(bearer(signed(claims(aud=[CLIENT_ID, "x"]))), id="aud-list"),
        pytest.param(bearer(signed(claims(aud=None))), id="missing-aud"),
        pytest.param(bearer(signed(claims(exp=now - 600))), id="expired-10-min"),
        pytest.param(bearer(signed(claims(nbf=now + 600))), id="nbf-in-10-min"),
        pytest.param(bearer(signed(claims(exp=None))), id="missing-exp"),
        pytest.param(bearer(signed(claims(nbf=None))), id="missing-nbf"),
        pytest.param(bearer(signed(claims(dest="evil.com"))), id="dest-not-myshopify"),
        pytest.param(bearer(signed(claims(dest=f"{SHOP}.evil.com"))), id="dest-suffix"),
        pytest.param(bearer(signed(claims(dest=None))), id="missing-dest"),
        pytest.param(bearer(signed(claims(), headers={"kid": "key-1"})), id="kid"),
        pytest.param(
            bearer(signed(claims(), headers={"jku": "https://evil.example/jwks"})), id="jku"
        ),
        pytest.param(bearer(signed(claims())[:-6]), id="truncated"),
        pytest.param(bearer(signed(claims()).rsplit(".", 1)[0]), id="no-signature"),
        pytest.param(signed(claims()), id="no-bearer-prefix"),
        pytest.param(f"Basic {signed(claims())}", id="basic-scheme"),
        pytest.param("Bearer ", id="empty-token"),
        pytest.param("", id="empty-header"),
        pytest.param(None, id="no-header"),
        pytest.param(bearer("not.a.jwt"), id="garbage"),
    ]


@pytest.mark.parametrize("authorization", _mutated_checkout_tokens())
def test_bad_checkout_tokens_are_401(authorization: str | None) -> None:
    with pytest.raises(Unauthorized) as excinfo:
        verify_checkout_token(CREDS, authorization)
    assert excinfo.value.status == 401
    assert reason_of(excinfo)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param({"aud": "another-app"}, "invalid_audience", id="aud"),
        pytest.param({"exp": -600}, "expired_token", id="exp"),
        pytest.param({"dest": "evil.com"}, "invalid_destination", id="dest"),
        pytest.param({"dest": None}, "missing_claim", id="no-dest"),
    ],
)
def test_checkout_token_failures_name_their_reason(claims: dict[str, Any], reason: str) -> None:
    if "exp" in claims:
        claims = {"exp": int(time.time()) + claims["exp"]}
    with pytest.raises(Unauthorized) as excinfo:
        verify_checkout_token(CREDS, bearer(signed(checkout_claims(**claims))))
    assert reason_of(excinfo) == reason


def test_checkout_token_without_authorization_names_the_reason() -> None:
    with pytest.raises(Unauthorized) as excinfo:
        verify_checkout_token(CREDS, None)
    assert reason_of(excinfo) == "missing_authorization"


@pytest.mark.parametrize(
    ("exp_offset", "accepted"),
    [
        pytest.param(-5, True, id="5s-late-accepted"),
        pytest.param(-9, True, id="9s-late-accepted"),
        pytest.param(-11, False, id="11s-late-rejected"),
    ],
)
def test_checkout_token_expiry_has_ten_seconds_leeway(
    frozen: datetime, exp_offset: int, accepted: bool
) -> None:
    moment = int(frozen.timestamp())
    claims = checkout_claims(exp=moment + exp_offset, nbf=moment - 300, iat=moment - 300)
    authorization = bearer(signed(claims))
    if accepted:
        assert verify_checkout_token(CREDS, authorization, now=frozen).shop == SHOP
    else:
        with pytest.raises(Unauthorized) as excinfo:
            verify_checkout_token(CREDS, authorization, now=frozen)
        assert reason_of(excinfo) == "expired_token"


def test_checkout_token_lifetime_is_also_checked_at_the_given_now() -> None:
    authorization = bearer(signed(checkout_claims()))
    with pytest.raises(Unauthorized) as excinfo:
        verify_checkout_token(CREDS, authorization, now=datetime.now(UTC) + timedelta(hours=1))
    assert reason_of(excinfo) == "expired_token"
    with pytest.raises(Unauthorized) as excinfo:
        verify_checkout_token(CREDS, authorization, now=datetime.now(UTC) - timedelta(hours=1))
    assert reason_of(excinfo) == "token_not_yet_valid"


def test_checkout_token_signed_with_old_secret_inside_its_window(frozen: datetime) -> None:
    creds = AppCredentials(CLIENT_ID, SECRET, OLD_SECRET, frozen + timedelta(hours=1))
    authorization = bearer(signed(checkout_claims(), secret=OLD_SECRET))

    assert verify_checkout_token(creds, authorization, now=frozen).shop == SHOP
    with pytest.raises(Unauthorized):
        verify_checkout_token(creds, authorization, now=frozen + timedelta(hours=1))


def test_checkout_token_ignores_the_preflight_shortcut() -> None:
    # shopify_app answers an OPTIONS request with an Origin header as a CORS preflight (ok=True);
    # a token check must never succeed that way.
    with pytest.raises(Unauthorized):
        verify_checkout_token(CREDS, bearer("not.a.jwt"), method="OPTIONS", url="https://x")


def admin_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://{SHOP}/admin",
        "dest": f"https://{SHOP}",
        "aud": CLIENT_ID,
        "sub": "42",
        "exp": now + 60,
        "nbf": now - 1,
        "iat": now - 1,
        "jti": "f8912129-1af6-4cad-9ca3-76b0f7621087",
        "sid": "aaea182f-1d3a-4b46-9e4b-a0cd3e6c3f53",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def test_valid_admin_session_token_verifies() -> None:
    raw = signed(admin_claims())
    token = verify_admin_session_token(CREDS, bearer(raw))

    assert isinstance(token, AdminSessionToken)
    assert (token.shop, token.user_id, token.token) == (SHOP, "42", raw)
    assert raw not in repr(token)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param(
            {"iss": "https://other-shop.myshopify.com/admin"}, "invalid_issuer", id="iss-other"
        ),
        pytest.param({"iss": f"https://{SHOP}"}, "invalid_issuer", id="iss-no-admin"),
        pytest.param({"iss": "https://evil.com/admin"}, "invalid_issuer", id="iss-evil"),
        pytest.param(
            {"dest": "https://other-shop.myshopify.com"}, "invalid_issuer", id="dest-other"
        ),
        pytest.param({"dest": SHOP}, "invalid_destination", id="dest-without-scheme"),
        pytest.param({"dest": "https://evil.com"}, "invalid_destination", id="dest-evil"),
        pytest.param({"aud": "another-app"}, "invalid_audience", id="wrong-aud"),
        pytest.param({"iss": None}, "missing_claim", id="missing-iss"),
        pytest.param({"nbf": None}, "missing_claim", id="missing-nbf"),
    ],
)
def test_bad_admin_session_tokens_are_401(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unauthorized) as excinfo:
        verify_admin_session_token(CREDS, bearer(signed(admin_claims(**changes))))
    assert excinfo.value.status == 401
    assert reason_of(excinfo) == reason


def test_admin_session_token_refuses_jose_key_headers() -> None:
    with pytest.raises(Unauthorized) as excinfo:
        verify_admin_session_token(CREDS, bearer(signed(admin_claims(), headers={"kid": "1"})))
    assert reason_of(excinfo) == "invalid_token"


DOCS_SECRET_CREDS = AppCredentials(CLIENT_ID, "hush")
DOCS_TIMESTAMP = 1317327555


def proxy_signature(pairs: list[tuple[str, str]], secret: str) -> str:
    """Shopify's app-proxy rule: repeated values joined by ",", sorted, no separator, hex."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    message = "".join(f"{key}={','.join(values)}" for key, values in sorted(grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def proxy_pairs(timestamp: int, customer: str = "1") -> list[tuple[str, str]]:
    return [
        ("extra", "1"),
        ("extra", "2"),
        ("shop", "shop-name.myshopify.com"),
        ("logged_in_customer_id", customer),
        ("path_prefix", "/apps/awesome_reviews"),
        ("timestamp", str(timestamp)),
    ]


def proxy_url(pairs: list[tuple[str, str]]) -> str:
    return f"https://cartwise.example/proxy/recs?{urlencode(pairs)}"


def signed_proxy_url(
    pairs: list[tuple[str, str]], secret: str = SECRET, extra: Sequence[tuple[str, str]] = ()
) -> str:
    return proxy_url([*pairs, ("signature", proxy_signature(pairs, secret)), *extra])


@pytest.fixture
def docs_time() -> Iterator[datetime]:
    moment = datetime.fromtimestamp(DOCS_TIMESTAMP + 30, UTC)
    with time_machine.travel(moment, tick=False):
        yield moment


def test_app_proxy_docs_example_verifies(docs_time: datetime) -> None:
    signature = "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
    url = proxy_url([*proxy_pairs(DOCS_TIMESTAMP), ("signature", signature)])
    request = verify_app_proxy(DOCS_SECRET_CREDS, url, now=docs_time)

    assert request.shop == "shop-name.myshopify.com"
    assert request.logged_in_customer_id == "1"
    assert request.path_prefix == "/apps/awesome_reviews"
    assert request.params == {
        "extra": "1,2",
        "shop": "shop-name.myshopify.com",
        "logged_in_customer_id": "1",
        "path_prefix": "/apps/awesome_reviews",
        "timestamp": str(DOCS_TIMESTAMP),
    }


def test_app_proxy_accepts_reordered_parameters() -> None:
    pairs = proxy_pairs(int(time.time()))
    signature = proxy_signature(pairs, SECRET)
    # Keys in another order; the repeated key keeps its values' order, which the signature covers.
    url = proxy_url([("signature", signature), *pairs[2:][::-1], *pairs[:2]])
    assert verify_app_proxy(CREDS, url).params["extra"] == "1,2"


def test_app_proxy_accepts_values_joined_with_commas() -> None:
    pairs = proxy_pairs(int(time.time()))
    signature = proxy_signature(pairs, SECRET)
    joined = [("extra", "1,2"), *(pair for pair in pairs if pair[0] != "extra")]
    assert (
        verify_app_proxy(CREDS, proxy_url([*joined, ("signature", signature)])).params["extra"]
        == "1,2"
    )


def test_app_proxy_anonymous_visitor_has_no_customer() -> None:
    request = verify_app_proxy(CREDS, signed_proxy_url(proxy_pairs(int(time.time()), "")))
    assert request.logged_in_customer_id is None


def test_app_proxy_old_secret_counts_only_inside_its_window() -> None:
    now = datetime.now(UTC)
    creds = AppCredentials(CLIENT_ID, SECRET, OLD_SECRET, now + timedelta(minutes=30))
    url = signed_proxy_url(proxy_pairs(int(time.time())), OLD_SECRET)

    assert verify_app_proxy(creds, url, now=now).shop == "shop-name.myshopify.com"
    with pytest.raises(InvalidSignature):
        verify_app_proxy(creds, url, now=now + timedelta(minutes=31))


def _tampered(pairs: list[tuple[str, str]], key: str, value: str) -> list[tuple[str, str]]:
    return [(k, value if k == key else v) for k, v in pairs]


def _bad_proxy_urls() -> list[Any]:
    def now() -> int:
        return int(time.time())

    def sig(pairs: list[tuple[str, str]], secret: str = SECRET) -> tuple[str, str]:
        return ("signature", proxy_signature(pairs, secret))

    def case(build: Callable[[], str], reason: str, name: str) -> Any:
        return pytest.param(build, reason, id=name)

    return [
        case(lambda: proxy_url(proxy_pairs(now())), "missing_signature", "no-signature"),
        case(
            lambda: signed_proxy_url(proxy_pairs(now()), OTHER_SECRET),
            "invalid_signature",
            "wrong-secret",
        ),
        case(
            lambda: signed_proxy_url(proxy_pairs(now()), extra=[("discount", "100")]),
            "invalid_signature",
            "param-added-after-signing",
        ),
        case(
            lambda: proxy_url(
                [
                    *_tampered(proxy_pairs(now()), "shop", "other-shop.myshopify.com"),
                    sig(proxy_pairs(now())),
                ]
            ),
            "invalid_signature",
            "shop-swapped",
        ),
        case(
            lambda: proxy_url(
                [
                    *_tampered(proxy_pairs(now()), "logged_in_customer_id", "2"),
                    sig(proxy_pairs(now())),
                ]
            ),
            "invalid_signature",
            "customer-changed",
        ),
        case(
            lambda: signed_proxy_url(
                proxy_pairs(now()), extra=[("shop", "other-shop.myshopify.com")]
            ),
            "duplicate_parameter",
            "duplicate-shop",
        ),
        case(
            lambda: signed_proxy_url(proxy_pairs(now()), extra=[("timestamp", str(now()))]),
            "duplicate_parameter",
            "duplicate-timestamp",
        ),
        case(
            lambda: signed_proxy_url(proxy_pairs(now()), extra=[("signature", "0" * 64)]),
            "duplicate_parameter",
            "duplicate-signature",
        ),
        case(
            lambda: signed_proxy_url(proxy_pairs(now()), extra=[("logged_in_customer_id", "2")]),
            "duplicate_parameter",
            "duplicate-customer",
        ),
        case(lambda: signed_proxy_url(proxy_pairs(now() - 91)), "stale_timestamp", "91s-old"),
        case(lambda: signed_proxy_url(proxy_pairs(now() - 3600)), "stale_timestamp", "1h-old"),
        case(lambda: signed_proxy_url(proxy_pairs(now() + 120)), "stale_timestamp", "future"),
        case(
            lambda: signed_proxy_url(_tampered(proxy_pairs(now()), "timestamp", f" {now()}")),
            "invalid_timestamp",
            "padded-timestamp",
        ),
        case(
            lambda: signed_proxy_url([p for p in proxy_pairs(now()) if p[0] != "timestamp"]),
            "missing_timestamp",
            "no-timestamp",
        ),
        case(
            lambda: signed_proxy_url(_tampered(proxy_pairs(now()), "shop", "evil.com")),
            "invalid_shop_domain",
            "signed-evil-shop",
        ),
        case(
            lambda: signed_proxy_url([p for p in proxy_pairs(now()) if p[0] != "shop"]),
            "invalid_shop_domain",
            "no-shop",
        ),
        case(
            lambda: proxy_url([*proxy_pairs(now()), ("signature", "caf\u00e9")]),
            "invalid_signature",
            "non-ascii-signature",
        ),
        case(
            lambda: proxy_url(
                [
                    *proxy_pairs(now()),
                    ("signature", proxy_signature(proxy_pairs(now()), SECRET).upper()),
                ]
            ),
            "invalid_signature",
            "upper-case-hex",
        ),
    ]


@pytest.mark.parametrize(("build", "reason"), _bad_proxy_urls())
def test_bad_app_proxy_requests_are_401(build: Callable[[], str], reason: str) -> None:
    with pytest.raises(InvalidSignature) as excinfo:
        verify_app_proxy(CREDS, build())
    assert excinfo.value.status == 401
    assert reason_of(excinfo) == reason


def test_app_proxy_timestamp_is_checked_at_the_given_now() -> None:
    url = signed_proxy_url(proxy_pairs(int(time.time())))
    with pytest.raises(InvalidSignature) as excinfo:
        verify_app_proxy(CREDS, url, now=datetime.now(UTC) + timedelta(minutes=5))
    assert reason_of(excinfo) == "stale_timestamp"
