"""The privacy obligations: customers/redact, customers/data_request and shop/redact, each
idempotent, and what they must reach (rows, raw event bodies, model versions).

Customer ids are stored only as keyed hashes (`pseudonyms.customer_key`); emails and phones are
never stored outside a raw delivery body, and bodies are blanked once a delivery is handled.
Layer 4: imports storage, the payload models and the trainer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cartwise.connector.shopify.payloads import (
    CustomersDataRequestPayload,
    CustomersRedactPayload,
    normalize_id,
)
from cartwise.errors import ModelNotTrained
from cartwise.pseudonyms import tombstone_key
from cartwise.storage import Store
from cartwise.training import train_shop

__all__ = ["apply_retention", "export_customer", "redact_customer", "redact_shop"]

log = logging.getLogger(__name__)

CustomerKey = Callable[[str, str], str]
"""(shop, platform customer id) -> the keyed hash stored in its place."""


def redact_customer(
    store: Store, shop: str, request: CustomersRedactPayload, customer_key: CustomerKey
) -> dict[str, int]:
    """Remove the customer's personal data and history from the shop: their orders and the
    orders named in the request, their carts, their consent log, any stored delivery body
    naming them, and every model version that saw them (the model is rebuilt without them;
    aggregate counts of other shoppers stay). Tombstones keep late deliveries from bringing the
    data back."""
    customer = request.customer.id
    key = customer_key(shop, customer) if customer else None
    order_ids = list(request.orders_to_redact)
    store.redactions.add(shop, "order", order_ids)
    if key:
        store.redactions.add(shop, "customer", [tombstone_key(key)])
    counts = {"orders": 0, "carts": 0, "events": 0, "exports": 0, "storefront_events": 0}
    counts["consent"] = store.consent.delete_customer(shop, key) if key else 0
    if store.shops.get(shop) is not None:
        theirs = [o.order_id for o in store.orders.for_customer(shop, key)] if key else []
        sessions = [
            s for keys in store.orders.sessions_of(shop, order_ids + theirs).values() for s in keys
        ]
        deleted = store.orders.delete(shop, order_ids=order_ids, customer_id=key)
        counts["orders"] = len(deleted)
        store.versions.forget(shop, "order", deleted)
        if key:
            counts["carts"] = store.carts.delete(shop, customer_id=key)
            sessions += store.experiments.forget_customer(shop, key)
        # what the storefront reported in their sessions (the daily counts name no one)
        counts["storefront_events"] = store.tracking.delete_sessions(shop, sessions)
    if customer:
        counts["exports"] = store.exports.delete_for_customer(shop, customer)
    counts["events"] = store.events.blank_bodies(
        shop, _mentions(customer, request.customer.email, request.customer.phone, order_ids)
    )
    if store.shops.get(shop) is not None:
        rebuild_without_history(store, shop)
    log.info("redacted a customer of %s: %s", shop, counts)
    return counts


def rebuild_without_history(store: Store, shop: str) -> None:
    """Retrain from what storage holds now and drop every older model version."""
    try:
        train_shop(store, shop)
    except ModelNotTrained:
        store.models.prune(shop, keep=0)
        return
    store.models.prune(shop, keep=1)


def export_customer(
    store: Store, shop: str, request: CustomersDataRequestPayload, customer_key: CustomerKey
) -> dict[str, Any]:
    """Everything cartwise holds about one customer of the shop, as a JSON-ready document,
    saved for the merchant (Shopify expects the app to hand it to the merchant)."""
    customer = request.customer.id
    key = customer_key(shop, customer) if customer else None
    known = store.shops.get(shop) is not None
    orders = store.orders.for_customer(shop, key) if known and key else []
    requested = {o for o in request.orders_requested}
    if known and requested:
        seen = {o.order_id for o in orders}
        for order_id in sorted(requested - seen):
            order = store.orders.get(shop, order_id)
            if order is not None:
                orders.append(order)
    carts = store.carts.for_customer(shop, key) if known and key else []
    consent = store.consent.history(shop, key) if key else []
    document: dict[str, Any] = {
        "shop": shop,
        "data_request_id": request.data_request_id,
        "customer_id": customer,
        "generated_at": datetime.now(UTC).isoformat(),
        "stored_customer_key": key if (orders or carts or consent) else None,
        "personal_fields_stored": "none: no name, email, phone or address is kept",
        "orders": [
            {
                "order_id": o.order_id,
                "created_at": o.created_at.isoformat(),
                "cancelled": o.cancelled,
                "lines": [
                    {
                        "product_id": ln.product_id,
                        "variant_id": ln.variant_id,
                        "quantity": ln.quantity,
                        "price": ln.price,
                    }
                    for ln in o.lines
                ],
            }
            for o in orders
        ],
        "carts": [
            {
                "cart_id": c.cart_id,
                "updated_at": c.updated_at.isoformat(),
                "lines": [
                    {
                        "product_id": ln.product_id,
                        "variant_id": ln.variant_id,
                        "quantity": ln.quantity,
                    }
                    for ln in c.lines
                ],
            }
            for c in carts
        ],
        "consent": [
            {
                "personalised": e.personalised,
                "source": e.source,
                "recorded_at": e.recorded_at.isoformat(),
            }
            for e in consent
        ],
    }
    store.exports.save(shop, request.data_request_id, document)
    return document


def redact_shop(store: Store, shop: str) -> dict[str, int]:
    """Delete everything of the shop: catalog, orders, carts, models, credentials, API keys,
    rules, events, jobs, tombstones, sync state, exports and consent log. Safe to run again."""
    counts = {
        "events": store.events.delete_for_shop(shop),
        "exports": store.exports.delete_for_shop(shop),
        "consent": store.consent.delete_shop(shop),
        "versions": store.versions.forget(shop),
        "redactions": store.redactions.delete_for_shop(shop),
        "sync": store.sync.delete_for_shop(shop),
        "shop": int(store.shops.delete(shop)),
    }
    store.jobs.delete_for_shop(shop)
    log.info("redacted shop %s: %s", shop, counts)
    return counts


def _mentions(
    customer_id: str | None, email: str | None, phone: str | None, order_ids: list[str]
) -> Callable[[bytes], bool]:
    """Whether a stored delivery body is about the customer: its order, customer, email or
    phone fields name them. Parsed, not substring-matched, so other customers' events stay."""
    wanted_orders = set(order_ids)
    wanted = {v.lower() for v in (email, phone) if v}

    def match(body: bytes) -> bool:
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            return False
        if not isinstance(doc, dict):
            return False
        if _id(doc.get("id")) in wanted_orders and ("line_items" in doc):
            return True
        people = [doc.get("customer"), doc]
        for person in people:
            if not isinstance(person, dict):
                continue
            if customer_id and person is not doc and _id(person.get("id")) == customer_id:
                return True
            for field in ("email", "phone"):
                value = person.get(field)
                if isinstance(value, str) and value.lower() in wanted:
                    return True
        return False

    return match


def _id(value: object) -> str | None:
    try:
        return normalize_id(value)
    except Exception:
        return None


def apply_retention(store: Store, days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete or anonymise what is older than `days` in every shop (see
    `storage.retention`); logged with the counts, so the merchant's auditor can see it ran."""
    before = (now or datetime.now(UTC)) - timedelta(days=days)
    done = store.retention.purge(before)
    log.info("retention (%d days, before %s): %s", days, before.isoformat(), done)
    return done
