"""Shop domain validation: the one gate every shop name from a request passes before use.

A shop domain picks the tenant and the host cartwise sends secrets to, so only the plain
`<name>.myshopify.com` form is accepted. Imports the standard library only.
"""

from __future__ import annotations

import re

__all__ = ["normalize_shop_domain"]

# Shopify's own pattern (shopify-app-js `shop-validator.ts`), limited to myshopify.com and applied
# to the lower-cased ASCII value with `fullmatch`: `re.match(...$)` would also accept a trailing
# newline, and IGNORECASE would let Unicode look-alikes such as U+212A (Kelvin sign) match `k`.
_SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9_-]*\.myshopify\.com")
_SCHEME = "https://"


def normalize_shop_domain(value: str | None) -> str | None:
    """The lower-cased `name.myshopify.com` for `value`, or None when it is not one.

    Also accepts the domain with a leading `https://` and/or one trailing `/`, as Shopify sends
    it in some claims. Anything else (another host, a suffix attack such as
    `x.myshopify.com.evil.com`, paths, ports, whitespace) gives None.
    """
    if not isinstance(value, str) or not value.isascii():
        return None
    candidate = value.lower().removeprefix(_SCHEME).removesuffix("/")
    if _SHOP_DOMAIN.fullmatch(candidate) is None:
        return None
    return candidate
