"""verify → dedupe → store raw → enqueue, for one Shopify delivery.

Everything after the signature check is one transaction: the event row (unique per shop and
delivery id, and per shop, topic and event id) and its job are stored together or not at all,
so a duplicate is recognised on any worker and a stored event is never without its job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from cartwise.connector.shopify.domains import normalize_shop_domain
from cartwise.connector.shopify.payloads import (
    CustomersDataRequestPayload,
    CustomersRedactPayload,
    ShopPayload,
    ShopRedactPayload,
    parse,
)
from cartwise.connector.shopify.verify import AppCredentials, VerifiedWebhook, verify_webhook
from cartwise.errors import InvalidPayload
from cartwise.storage import Store
from cartwise.webhooks.topics import PROCESS_EVENT, SHOPIFY_TOPICS, STORED_HEADERS

__all__ = ["IngestResult", "ingest_shopify"]

log = logging.getLogger(__name__)

Outcome = Literal["stored", "duplicate", "dead_letter"]


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    shop: str
    topic: str
    event_pk: int | None = None
    reason: str | None = None


def ingest_shopify(
    store: Store,
    creds: AppCredentials,
    *,
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
) -> IngestResult:
    """Take one delivery. Raises `InvalidSignature` (401) before anything is stored when the
    signature or its headers are wrong; a signed delivery is always kept: stored and queued,
    recognised as a duplicate, or dead-lettered with the reason when it can't be used (an
    unknown topic, a payload that does not parse, or one that names another shop than the
    delivery's header: only the body is signed, so a captured body could be replayed under
    another shop's header), so Shopify never retries it in vain."""
    delivery = verify_webhook(creds, method, headers, body, now=now)
    kept = _kept_headers(headers)
    if delivery.topic not in SHOPIFY_TOPICS:
        return _dead_letter(store, delivery, body, kept, f"unknown topic {delivery.topic!r}")
    try:
        payload = parse(delivery.topic, body)
    except InvalidPayload as exc:
        return _dead_letter(store, delivery, body, kept, exc.message)
    if not _payload_shop_matches(payload, delivery.shop):
        return _dead_letter(
            store, delivery, body, kept, "the payload names another shop than the delivery"
        )
    with store.transaction() as tx:
        event_pk = tx.events.add_raw_returning(
            delivery.shop,
            delivery_id=delivery.webhook_id,
            topic=delivery.topic,
            body=body,
            headers=kept,
            event_id=delivery.event_id,
        )
        if event_pk is not None:
            tx.jobs.enqueue(PROCESS_EVENT, delivery.shop, {"event": event_pk})
    if event_pk is None:
        return IngestResult("duplicate", delivery.shop, delivery.topic)
    return IngestResult("stored", delivery.shop, delivery.topic, event_pk=event_pk)


def _dead_letter(
    store: Store,
    delivery: VerifiedWebhook,
    body: bytes,
    headers: dict[str, str],
    reason: str,
) -> IngestResult:
    log.warning("dead-lettered a %s delivery of %s: %s", delivery.topic, delivery.shop, reason)
    store.events.dead_letter(
        delivery.shop,
        topic=delivery.topic,
        reason=reason,
        body=body,
        headers=headers,
        delivery_id=delivery.webhook_id,
    )
    return IngestResult("dead_letter", delivery.shop, delivery.topic, reason=reason)


def _payload_shop_matches(payload: BaseModel, shop: str) -> bool:
    """Whether a payload that names its shop (privacy topics, app/uninstalled) names `shop`."""
    if isinstance(payload, ShopPayload):
        named = payload.myshopify_domain
    elif isinstance(
        payload, CustomersDataRequestPayload | CustomersRedactPayload | ShopRedactPayload
    ):
        named = payload.shop_domain
    else:
        return True
    return named is None or normalize_shop_domain(named) == shop


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name.lower(): value for name, value in headers.items() if name.lower() in STORED_HEADERS
    }
