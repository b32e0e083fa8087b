"""verify → dedupe → store raw → enqueue, for one delivery of the cartwise Magento module.

The module signs each delivery with its store's signing secret (shown once when the store was
connected): `X-Cartwise-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`,
several `v1=` allowed (a module switching secrets signs with both). A delivery whose signature
is missing, wrong, or more than the window (300 s) away from now in either direction is refused
with 401 before anything is stored. The headers name the store (`X-Cartwise-Store`, its shop
key), the event (`X-Cartwise-Event`) and the delivery (`X-Cartwise-Event-Id`, the dedupe key);
they are not signed, but the store picks the secret that must verify, and a replay under another
event id within the window changes nothing: processing keeps only newer states of a resource.
A signed delivery is stored with the topic `magento/<event>` through the same transaction and job
as Shopify's, or dead-lettered (unknown event, unreadable body) and answered 200 all the same.
Layer 3: imports layers 0-2.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Iterable, Mapping

from cartwise.connector.magento.payloads import EVENT_MODELS, parse_event
from cartwise.errors import InvalidPayload, InvalidSignature
from cartwise.storage import Store
from cartwise.webhooks.ingest import IngestResult
from cartwise.webhooks.topics import PROCESS_EVENT

__all__ = [
    "MAGENTO_EVENTS",
    "MAGENTO_TOPIC_PREFIX",
    "SIGNATURE_WINDOW_SECONDS",
    "ingest_magento",
    "verify_signature",
]

log = logging.getLogger(__name__)

MAGENTO_TOPIC_PREFIX = "magento/"
MAGENTO_EVENTS = frozenset(EVENT_MODELS)
"""The events the module sends: `order_placed`, `cart_saved`, `product_saved`."""
SIGNATURE_WINDOW_SECONDS = 300

SIGNATURE_HEADER = "x-cartwise-signature"
STORE_HEADER = "x-cartwise-store"
EVENT_HEADER = "x-cartwise-event"
EVENT_ID_HEADER = "x-cartwise-event-id"
STORED_HEADERS = frozenset({STORE_HEADER, EVENT_HEADER, EVENT_ID_HEADER, "x-cartwise-module"})
"""Headers kept with a stored delivery: what identifies it, never its signature."""

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_SAFE_EVENT = re.compile(r"[a-z0-9_]{1,64}")
_MAX_SIGNATURES = 8
_MAX_EVENT_ID = 255


def _refuse(reason: str) -> InvalidSignature:
    return InvalidSignature(f"Delivery rejected: {reason.replace('_', ' ')}.", reason=reason)


def verify_signature(
    secrets: Iterable[str],
    body: bytes,
    header: str | None,
    *,
    now: float,
    window: float = SIGNATURE_WINDOW_SECONDS,
) -> int:
    """Check `X-Cartwise-Signature` over the raw body with any of `secrets`; returns its
    timestamp. Raises InvalidSignature with the reason `missing_signature`,
    `malformed_signature`, `stale_signature` (outside `window` seconds of `now`, either way)
    or `invalid_signature`. Each candidate is compared in constant time."""
    if not header or not header.strip():
        raise _refuse("missing_signature")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise _refuse("malformed_signature")
        if name == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise _refuse("malformed_signature")
            timestamp = int(value)
        elif name == "v1" and _HEX_SHA256.fullmatch(value):
            candidates.append(value.lower())
    if timestamp is None or not candidates or len(candidates) > _MAX_SIGNATURES:
        raise _refuse("malformed_signature")
    if abs(now - timestamp) > window:
        raise _refuse("stale_signature")
    message = str(timestamp).encode() + b"." + body
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise _refuse("invalid_signature")
    return timestamp


def ingest_magento(
    store: Store,
    *,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    window: float = SIGNATURE_WINDOW_SECONDS,
) -> IngestResult:
    """Take one delivery of the Magento module. Raises InvalidSignature (401) before anything
    is stored when the store is unknown or disconnected (`unknown_store`), the signature does
    not check out, or the event headers are missing (`missing_event`, `missing_event_id`);
    a signed delivery is stored and queued, recognised as a duplicate (same event id), or
    dead-lettered with the reason when it can't be used."""
    lowered = {name.lower(): value for name, value in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER)
    if not signature:
        raise _refuse("missing_signature")
    shop = (lowered.get(STORE_HEADER) or "").strip()
    if not shop:
        raise _refuse("missing_store")
    connected = store.magento.get(shop)
    if connected is None or not connected.active or not connected.signing_secret:
        raise _refuse("unknown_store")
    verify_signature(
        [connected.signing_secret],
        body,
        signature,
        now=time.time() if now is None else now,
        window=window,
    )
    event = (lowered.get(EVENT_HEADER) or "").strip()
    if not event:
        raise _refuse("missing_event")
    event_id = (lowered.get(EVENT_ID_HEADER) or "").strip()
    if not event_id or len(event_id) > _MAX_EVENT_ID:
        raise _refuse("missing_event_id")
    kept = {name: value for name, value in lowered.items() if name in STORED_HEADERS}
    topic = MAGENTO_TOPIC_PREFIX + (event if _SAFE_EVENT.fullmatch(event) else "unknown")
    if event not in MAGENTO_EVENTS:
        return _dead_letter(store, shop, topic, event_id, body, kept, "unknown Magento event")
    try:
        parse_event(event, body)
    except InvalidPayload as exc:
        return _dead_letter(store, shop, topic, event_id, body, kept, exc.message)
    with store.transaction() as tx:
        event_pk = tx.events.add_raw_returning(
            shop, delivery_id=event_id, topic=topic, body=body, headers=kept, event_id=event_id
        )
        if event_pk is not None:
            tx.jobs.enqueue(PROCESS_EVENT, shop, {"event": event_pk})
    if event_pk is None:
        return IngestResult("duplicate", shop, topic)
    return IngestResult("stored", shop, topic, event_pk=event_pk)


def _dead_letter(
    store: Store,
    shop: str,
    topic: str,
    event_id: str,
    body: bytes,
    headers: dict[str, str],
    reason: str,
) -> IngestResult:
    log.warning("dead-lettered a %s delivery of %s: %s", topic, shop, reason)
    store.events.dead_letter(
        shop, topic=topic, reason=reason, body=body, headers=headers, delivery_id=event_id
    )
    return IngestResult("dead_letter", shop, topic, reason=reason)
