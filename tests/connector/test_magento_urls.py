"""Store URL validation: https only, no private, loopback, link-local, reserved or multicast
address (literal, disguised, or behind a name), unless allowed for development."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from cartwise.connector.magento.urls import (
    Resolver,
    address_allowed,
    shop_key,
    validate_store_code,
    validate_store_url,
)
from cartwise.errors import InvalidRequest

PUBLIC_IP = "93.184.215.14"


def resolver(*addresses: str) -> Resolver:
    """A resolver answering every host with `addresses` (no DNS in tests)."""

    def resolve(host: str) -> Iterable[str]:
        return addresses

    return resolve


def reason(exc: pytest.ExceptionInfo[InvalidRequest]) -> object:
    return exc.value.details["reason"]


@pytest.mark.parametrize(
    ("url", "base_url", "key"),
    [
        pytest.param("https://shop.example.com", "https://shop.example.com", "shop.example.com"),
        pytest.param(
            "  HTTPS://Shop.Example.COM./  ",
            "https://shop.example.com",
            "shop.example.com",
            id="case-dot-slash",
        ),
        pytest.param(
            "https://shop.example.com:443/", "https://shop.example.com", "shop.example.com"
        ),
        pytest.param(
            "https://shop.example.com:8443/magento/",
            "https://shop.example.com:8443/magento",
            "shop.example.com:8443",
            id="port-and-path",
        ),
        pytest.param(
            "https://shop.example.com/rest/V1",
            "https://shop.example.com",
            "shop.example.com",
            id="pasted-rest-url",
        ),
        pytest.param(
            "https://bücher.example/", "https://xn--bcher-kva.example", "xn--bcher-kva.example"
        ),
        pytest.param(f"https://{PUBLIC_IP}/", f"https://{PUBLIC_IP}", PUBLIC_IP, id="public-ip"),
    ],
)
def test_good_urls_are_normalised(url: str, base_url: str, key: str) -> None:
    found = validate_store_url(url, resolve=resolver(PUBLIC_IP))
    assert found.base_url == base_url
    assert shop_key(found) == key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("http://shop.example.com", "https_required", id="http"),
        pytest.param("ftp://shop.example.com", "https_required", id="ftp"),
        pytest.param("shop.example.com", "https_required", id="no-scheme"),
        pytest.param("", "invalid_url", id="empty"),
        pytest.param("https://shop.exa\tmple.com/", "invalid_url", id="control-character"),
        pytest.param("https://user:pw@shop.example.com", "credentials_in_url", id="userinfo"),
        pytest.param("https://shop.example.com/?a=1", "query_not_allowed", id="query"),
        pytest.param("https://shop.example.com/#x", "query_not_allowed", id="fragment"),
        pytest.param("https:///path", "invalid_host", id="no-host"),
        pytest.param("https://shop.example.com:99999", "invalid_port", id="port"),
        pytest.param("https://shop_example.com", "invalid_host", id="underscore"),
        pytest.param("https://[::1", "invalid_url", id="broken-ipv6"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, expected: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        validate_store_url(url, resolve=resolver(PUBLIC_IP))
    assert reason(exc) == expected
    assert exc.value.code == "invalid_request"


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("10.0.0.7", id="private-10"),
        pytest.param("172.16.3.4", id="private-172"),
        pytest.param("192.168.1.1", id="private-192"),
        pytest.param("127.0.0.1", id="loopback"),
        pytest.param("169.254.169.254", id="link-local-metadata"),
        pytest.param("100.64.0.1", id="shared-cgnat"),
        pytest.param("0.0.0.0", id="unspecified"),
        pytest.param("224.0.0.1", id="multicast"),
        pytest.param("240.0.0.1", id="reserved"),
        pytest.param("[::1]", id="ipv6-loopback"),
        pytest.param("[fe80::1]", id="ipv6-link-local"),
        pytest.param("[fc00::1]", id="ipv6-unique-local"),
        pytest.param("[ff02::1]", id="ipv6-multicast"),
        pytest.param("[::ffff:127.0.0.1]", id="ipv4-mapped"),
        pytest.param("[64:ff9b::a00:1]", id="nat64-private"),
        pytest.param("[2002:c0a8:101::1]", id="6to4-private"),
        pytest.param("localhost", id="localhost"),
        pytest.param("shop.localhost", id="dot-localhost"),
    ],
)
def test_private_addresses_are_refused_unless_allowed(host: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        validate_store_url(f"https://{host}/", resolve=resolver(PUBLIC_IP))
    assert reason(exc) == "private_address"
    assert validate_store_url(f"https://{host}/", allow_private=True).base_url.startswith("https")


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("2130706433", id="decimal"),
        pytest.param("127.1", id="short-dotted"),
        pytest.param("0x7f.1", id="hex"),
        pytest.param("017700000001", id="octal"),
    ],
)
def test_ip_addresses_in_disguise_are_refused(host: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        validate_store_url(f"https://{host}/")
    assert reason(exc) == "invalid_host"


@pytest.mark.parametrize(
    "addresses",
    [
        pytest.param(("10.1.2.3",), id="private"),
        pytest.param((PUBLIC_IP, "169.254.169.254"), id="one-of-several"),
        pytest.param(("::1",), id="ipv6-loopback"),
    ],
)
def test_names_resolving_to_private_addresses_are_refused(addresses: tuple[str, ...]) -> None:
    with pytest.raises(InvalidRequest) as exc:
        validate_store_url("https://shop.example.com", resolve=resolver(*addresses))
    assert reason(exc) == "private_address"


def test_a_name_that_resolves_to_nothing_is_refused() -> None:
    with pytest.raises(InvalidRequest) as exc:
        validate_store_url("https://shop.example.com", resolve=resolver())
    assert reason(exc) == "unresolvable_host"


def test_without_a_resolver_only_the_url_itself_is_checked() -> None:
    assert validate_store_url("https://shop.example.com").host == "shop.example.com"


def test_development_stores_may_use_http_and_private_addresses() -> None:
    found = validate_store_url(
        "http://magento.test:8080", allow_private=True, resolve=resolver("172.17.0.2")
    )
    assert found.base_url == "http://magento.test:8080"
    assert shop_key(found, "de") == "magento.test:8080/de"


@pytest.mark.parametrize("code", ["default", "de", "en_us", "b2b_2"])
def test_store_codes(code: str) -> None:
    assert validate_store_code(code) == code


@pytest.mark.parametrize("code", ["DE", "1de", "de-ch", "de/../x", "a" * 33, " de"])
def test_bad_store_codes_are_refused(code: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        validate_store_code(code)
    assert reason(exc) == "invalid_store_code"


def test_no_store_code_is_the_default_store_view() -> None:
    assert validate_store_code(None) is None
    assert validate_store_code("") is None


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        (PUBLIC_IP, True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("fe80::1%eth0", False),
        ("not an address", False),
    ],
)
def test_address_allowed(address: str, allowed: bool) -> None:
    assert address_allowed(address) is allowed
