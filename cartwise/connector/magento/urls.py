"""The gate a Magento store URL passes before cartwise sends it credentials.

A store URL comes from a merchant, and cartwise will call it with secrets from its own network,
so it must be https and must not reach private, loopback, link-local, reserved or multicast
addresses (a way to probe the network cartwise runs in); `allow_private=True` lifts both rules
for development stores. Host names are checked when a resolver is given: connecting a store
resolves the host, the REST client checks only what the URL itself says (no DNS in its hot
path). DNS answers that change after the check (rebinding) are not covered.
Imports `cartwise.errors` and the standard library only.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cartwise.errors import InvalidRequest

__all__ = [
    "Resolver",
    "StoreUrl",
    "address_allowed",
    "shop_key",
    "system_resolver",
    "validate_store_code",
    "validate_store_url",
]

Resolver = Callable[[str], Iterable[str]]
"""Host name → the IP addresses it resolves to (as text)."""

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# Magento's own rule for store view codes (Magento\Store\Model\ResourceModel\Store validation).
_STORE_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAMES = ("localhost", "localhost.localdomain")
_API_SUFFIXES = ("/rest/v1", "/rest", "/index.php")


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A validated store URL: `base_url` is scheme, host, port (when not the default) and the
    path Magento is installed under, without a trailing slash."""

    base_url: str
    host: str
    port: int | None = None
    path: str = ""

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def _refuse(reason: str, message: str, **details: object) -> InvalidRequest:
    return InvalidRequest(message, reason=reason, **details)


def address_allowed(address: str) -> bool:
    """Whether an IP address is public: not private, loopback, link-local, reserved, shared,
    unspecified or multicast, also when embedded in IPv6 (mapped, 6to4, Teredo, NAT64)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not address_allowed(str(embedded)):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def system_resolver(host: str) -> list[str]:
    """The addresses the operating system resolves `host` to; InvalidRequest when none."""
    try:
        found = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _refuse("unresolvable_host", f"The store host {host!r} does not resolve.") from None
    return [str(info[4][0]) for info in found]


def _normal_host(raw: str) -> str:
    """The host lower-cased, without a trailing dot, international names in their ASCII form."""
    host = raw.strip().rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _refuse("invalid_host", "The store host is not a valid domain name.") from None
    return host


def _check_name(host: str) -> None:
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _refuse("invalid_host", f"The store host {host!r} is not a valid domain name.")
    # An all-numeric last label is an IP address in disguise ("2130706433", "127.1", "0x7f.1"
    # all reach 127.0.0.1 through the system resolver); no real top-level domain looks so.
    last = labels[-1]
    if last.isdigit() or re.fullmatch(r"0x[0-9a-f]*", last):
        raise _refuse("invalid_host", f"The store host {host!r} is not a valid domain name.")


def validate_store_url(
    url: str, *, allow_private: bool = False, resolve: Resolver | None = None
) -> StoreUrl:
    """The store URL checked and normalised. `resolve` (e.g. `system_resolver`) also checks
    every address the host resolves to; without it only literal addresses are checked.

    Raises InvalidRequest (422) with `details["reason"]`: `invalid_url`, `https_required`,
    `credentials_in_url`, `query_not_allowed`, `invalid_host`, `invalid_port`,
    `private_address` or `unresolvable_host`. A pasted REST URL (`…/rest/V1`) gives the store's.
    """
    if not isinstance(url, str) or not url.strip() or not url.strip().isprintable():
        raise _refuse("invalid_url", "The store URL is empty or unreadable.")
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise _refuse("invalid_url", "The store URL cannot be read.") from None
    try:
        port = parts.port
    except ValueError:
        raise _refuse("invalid_port", "The store URL has an invalid port.") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_private and scheme == "http"):
        raise _refuse("https_required", "The store URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise _refuse("credentials_in_url", "The store URL must not contain a user or password.")
    if parts.query or parts.fragment:
        raise _refuse("query_not_allowed", "The store URL must not have a query or fragment.")
    if not parts.hostname:
        raise _refuse("invalid_host", "The store URL has no host.")
    host = _normal_host(parts.hostname)
    if port == (443 if scheme == "https" else 80):
        port = None
    try:
        literal: str | None = str(ipaddress.ip_address(host))
    except ValueError:
        literal = None
    if literal is not None:
        host = literal
        if not allow_private and not address_allowed(literal):
            raise _refuse("private_address", "The store URL points to a private address.")
    else:
        _check_name(host)
        local = host in _LOCAL_NAMES or host.endswith(".localhost")
        if local and not allow_private:
            raise _refuse("private_address", "The store URL points to this machine.")
        if resolve is not None and not allow_private:
            addresses = list(resolve(host))
            if not addresses:
                raise _refuse("unresolvable_host", f"The store host {host!r} does not resolve.")
            if not all(address_allowed(a) for a in addresses):
                raise _refuse(
                    "private_address", f"The store host {host!r} resolves to a private address."
                )
    path = parts.path.rstrip("/")
    for suffix in _API_SUFFIXES:
        if path.lower().endswith(suffix):
            path = path[: -len(suffix)].rstrip("/")
    found = StoreUrl(base_url="", host=host, port=port, path=path)
    return StoreUrl(f"{scheme}://{found.netloc}{path}", host, port, path)


def validate_store_code(code: str | None) -> str | None:
    """A Magento store view code (lower-case letter, then letters, digits, `_`; at most 32),
    or None for the default store view; InvalidRequest (`invalid_store_code`) otherwise."""
    if code is None or code == "":
        return None
    if not isinstance(code, str) or _STORE_CODE.fullmatch(code) is None:
        raise _refuse("invalid_store_code", "The store code is not a Magento store view code.")
    return code


def shop_key(url: StoreUrl, store_code: str | None = None) -> str:
    """The key cartwise knows a Magento store by: its host (and port), plus `/<store_code>`
    when one is used, e.g. `shop.example.com/de`."""
    key = url.netloc
    return f"{key}/{store_code}" if store_code else key
