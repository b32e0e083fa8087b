"""Shop-specific webhook subscriptions: check a shop's, create the missing ones.

The app's `shopify.app.toml` declares its subscriptions for every shop. This module is for the
shops that need more: installed before the file declared them, or whose shop-specific
subscriptions Shopify deleted after deliveries kept failing
(https://shopify.dev/docs/apps/build/webhooks/best-practices). It only ever adds
subscriptions; one pointing elsewhere is reported, never changed. Layer 2: imports
`cartwise.errors` and `cartwise.connector.shopify.admin`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cartwise.connector.shopify.admin import ShopifyAdmin
from cartwise.errors import InvalidRequest, UpstreamRejected

__all__ = ["COMPLIANCE_TOPICS", "SubscriptionReport", "ensure_webhook_subscriptions"]

log = logging.getLogger(__name__)

COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
"""Privacy topics Shopify accepts only in the app configuration, never through the Admin API."""

_COMPLIANCE_REASON = "compliance topic: declared in shopify.app.toml, not creatable via the API"
_TOPIC = re.compile(r"[a-z0-9_]+(?:/[a-z0-9_]+)+")

# `uri` replaced `endpoint { ... on WebhookHttpEndpoint { callbackUrl } }` and `callbackUrl`
# (both deprecated): https://shopify.dev/changelog/consolidate-webhook-graphql-surfaces
_LIST = """
query cartwiseWebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}
"""

_CREATE = """
mutation cartwiseWebhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!
  $webhookSubscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""


@dataclass(frozen=True)
class SubscriptionReport:
    """What `ensure_webhook_subscriptions` found and did; topics are names like `orders/create`.

    `existing`: already subscribed at the callback URL. `created`: subscribed by this run.
    `failed`: topic → Shopify's message. `skipped`: topic → why it was not attempted.
    `elsewhere`: topic → other addresses the shop also sends it to (left as they are).
    """

    existing: tuple[str, ...] = ()
    created: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    elsewhere: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every topic that can be created through the API is subscribed at the callback URL."""
        return not self.failed


async def ensure_webhook_subscriptions(
    admin: ShopifyAdmin, callback_url: str, topics: Iterable[str]
) -> SubscriptionReport:
    """Subscribe the shop behind `admin` to each of `topics` at `callback_url` (HTTPS, JSON),
    creating only what is missing: a second run creates nothing.

    Compliance topics are skipped. A topic Shopify refuses (user errors, or GraphQL errors
    for that one call, such as a topic this API version does not know) lands in `failed` and
    the others go on. Raises InvalidRequest for a callback URL that is not absolute https or a
    malformed topic name (before any call); UpstreamRejected, UpstreamError or UpstreamTimeout
    when Shopify refuses the shop's token or cannot be reached (see `ShopifyAdmin.query`).
    """
    wanted = _wanted(topics)
    target = _address(_checked_url(callback_url))
    enum_topics = {_enum_name(topic): topic for topic in wanted}

    at_target: set[str] = set()
    others: dict[str, set[str]] = {}
    async for node in admin.paginate(_LIST, ["webhookSubscriptions"]):
        topic = enum_topics.get(str((node or {}).get("topic") or ""))
        uri = _node_uri(node)
        if topic is None or uri is None:
            continue
        if _address(uri) == target:
            at_target.add(topic)
        else:
            others.setdefault(topic, set()).add(uri)

    created: list[str] = []
    failed: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for topic in wanted:
        if topic in COMPLIANCE_TOPICS:
            skipped[topic] = _COMPLIANCE_REASON
        elif topic not in at_target:
            error = await _create(admin, topic, callback_url)
            if error is None:
                created.append(topic)
            else:
                failed[topic] = error
    elsewhere = {t: tuple(sorted(others[t])) for t in wanted if t in others}

    if created:
        log.info("created webhook subscriptions for %s: %s", admin.shop, ", ".join(created))
    for topic, message in failed.items():
        log.warning("Shopify refused the %s subscription for %s: %s", topic, admin.shop, message)
    for topic, uris in elsewhere.items():
        log.warning("%s also sends %s to %s", admin.shop, topic, ", ".join(uris))
    return SubscriptionReport(
        existing=tuple(t for t in wanted if t in at_target),
        created=tuple(created),
        failed=failed,
        skipped=skipped,
        elsewhere=elsewhere,
    )


async def _create(admin: ShopifyAdmin, topic: str, callback_url: str) -> str | None:
    """None when Shopify created the subscription, else its reason."""
    variables = {
        "topic": _enum_name(topic),
        "webhookSubscription": {"uri": callback_url, "format": "JSON"},
    }
    try:
        data = await admin.query(_CREATE, variables)
    except UpstreamRejected as exc:
        # GraphQL errors concern this call only; a refused token (401, 403, ...) ends the run.
        if exc.details.get("reason") != "graphql_errors":
            raise
        return exc.message
    result = (data or {}).get("webhookSubscriptionCreate") or {}
    errors = result.get("userErrors") or []
    if errors:
        return "; ".join(_user_error(e) for e in errors)
    if not result.get("webhookSubscription"):
        return "Shopify answered without the created subscription."
    return None


def _wanted(topics: Iterable[str]) -> tuple[str, ...]:
    if isinstance(topics, str):
        raise InvalidRequest(
            "topics must be a collection of topic names, not one string.", reason="invalid_topic"
        )
    names = set(topics)
    for name in names:
        if not isinstance(name, str) or not _TOPIC.fullmatch(name):
            raise InvalidRequest(
                f"{name!r} is not a webhook topic name like 'orders/create'.",
                reason="invalid_topic",
            )
    return tuple(sorted(names))


def _enum_name(topic: str) -> str:
    """`orders/create` → `ORDERS_CREATE`, the GraphQL `WebhookSubscriptionTopic` value."""
    return topic.replace("/", "_").upper()


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidRequest(
            "The webhook callback URL must be an absolute https URL.", reason="invalid_callback"
        )
    return url


def _address(url: str) -> str:
    """A URL compared case-insensitively in scheme and host, without a trailing slash."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{query}"


def _node_uri(node: Any) -> str | None:
    """A subscription's address from `uri`, or from the deprecated `endpoint`/`callbackUrl`."""
    if not isinstance(node, Mapping):
        return None
    endpoint = node.get("endpoint")
    candidates = [
        node.get("uri"),
        endpoint.get("callbackUrl") if isinstance(endpoint, Mapping) else None,
        node.get("callbackUrl"),
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _user_error(error: Any) -> str:
    if not isinstance(error, Mapping):
        return str(error)
    message = str(error.get("message") or "refused")
    where = error.get("field")
    if isinstance(where, list) and where:
        return f"{'.'.join(str(part) for part in where)}: {message}"
    return message
