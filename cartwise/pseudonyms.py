"""Keyed hashes: how customer ids and API keys are stored. A plain hash of a numeric customer id
can be reversed by enumeration; HMAC with the secret key kept outside the database cannot.

Layer 0: standard library only.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["api_key_hash", "customer_key", "tombstone_key"]


def customer_key(secret: bytes, shop: str, customer_id: str) -> str:
    """The stored stand-in for a platform customer id, different per shop (so two shops' rows
    can't be joined on it)."""
    message = f"customer\x00{shop}\x00{customer_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def api_key_hash(secret: bytes, key: str) -> str:
    """The stored form of an API key; the key itself is shown once, at creation."""
    return hmac.new(secret, f"api-key\x00{key}".encode(), hashlib.sha256).hexdigest()


def tombstone_key(key: str) -> str:
    """What a redaction tombstone stores for a customer's keyed hash: a one-way derivative, so
    that the customer's stored stand-in itself is gone after the redaction, while a late
    delivery about them (whose keyed hash is computed anew) still finds the tombstone."""
    return hashlib.sha256(f"tombstone\x00{key}".encode()).hexdigest()
