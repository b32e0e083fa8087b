"""Magento 2 / Adobe Commerce: store URL validation, integration auth (OAuth 1.0a or Bearer), the
REST client, payload parsing and conversion into domain records.

Import the submodules (`urls`, `auth`, `client`, `payloads`, `records`) directly; this package
imports none of them. Layer 2: receives URLs, credentials and HTTP clients as arguments.
"""

__all__: list[str] = []
