"""The Shopify webhook topics cartwise subscribes to, and the job each one becomes."""

from __future__ import annotations

__all__ = ["COMPLIANCE_TOPICS", "PROCESS_EVENT", "SHOPIFY_TOPICS", "STORED_HEADERS"]

PROCESS_EVENT = "process_event"
"""The job kind that turns a stored delivery into domain records and model updates."""

COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})

SHOPIFY_TOPICS = frozenset(
    {
        "orders/create",
        "orders/paid",
        "orders/updated",
        "orders/cancelled",
        "carts/create",
        "carts/update",
        "checkouts/create",
        "checkouts/update",
        "products/create",
        "products/update",
        "products/delete",
        "inventory_levels/update",
        "app/uninstalled",
        *COMPLIANCE_TOPICS,
    }
)

STORED_HEADERS = frozenset(
    {
        "x-shopify-topic",
        "x-shopify-shop-domain",
        "x-shopify-api-version",
        "x-shopify-webhook-id",
        "x-shopify-event-id",
        "x-shopify-triggered-at",
        "x-shopify-name",
        "shopify-topic",
        "shopify-shop-domain",
        "shopify-api-version",
        "shopify-webhook-id",
        "shopify-event-id",
        "shopify-triggered-at",
    }
)
"""Headers kept with a stored event: what identifies it, never its signature."""
