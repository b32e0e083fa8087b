"""Bulk-operation queries for a shop's history, and the reading of their JSONL results.

A bulk result is flat: each nested connection's nodes are lines of their own carrying the
`__parentId` of the object they belong to. Shopify writes children after their parent, though
not always right after it, so `assemble` keeps a bounded window of parents open and hands out a
parent with its children once it leaves the window: memory stays flat for any file size. With
each object it reports how many lines are now fully accounted for, the point a crashed backfill
can resume from without losing a child. The assembled objects have the shapes the payload
models already read (GraphQL names), so a backfilled order is the same record as a webhook's.
Layer 2: imports only `cartwise.errors`.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cartwise.errors import InvalidPayload

__all__ = [
    "Assembled",
    "AssemblyStats",
    "assemble",
    "orders_query",
    "products_query",
    "search_date",
]


def search_date(at: datetime) -> str:
    """A timestamp as Shopify's search syntax wants it (ISO 8601, UTC, no fractions)."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def products_query(updated_since: datetime | None = None) -> str:
    """Every product with what recommendations use: type, vendor, tags, status, image and
    variants with their price, stock policy and inventory item."""
    search = f"(query: \"updated_at:>='{search_date(updated_since)}'\")" if updated_since else ""
    return f"""{{
  products{search} {{
    edges {{ node {{
      id title handle productType vendor tags status updatedAt publishedAt
      featuredImage {{ url }}
      variants {{ edges {{ node {{
        id sku price inventoryQuantity inventoryPolicy
        inventoryItem {{ id tracked }}
      }} }} }}
    }} }}
  }}
}}"""


def orders_query(
    created_since: datetime | None = None, updated_since: datetime | None = None
) -> str:
    """Orders with their lines, customer and shipping country (the segment signal); limited to
    those created (backfill window) or updated (reconciliation) since the given times."""
    terms = []
    if created_since:
        terms.append(f"created_at:>='{search_date(created_since)}'")
    if updated_since:
        terms.append(f"updated_at:>='{search_date(updated_since)}'")
    search = f'(query: "{" ".join(terms)}")' if terms else ""
    return f"""{{
  orders{search} {{
    edges {{ node {{
      id createdAt updatedAt cancelledAt test
      customer {{ id }}
      shippingAddress {{ countryCodeV2 }}
      lineItems {{ edges {{ node {{
        id quantity
        variant {{ id }}
        product {{ id }}
        originalUnitPriceSet {{ shopMoney {{ amount }} }}
      }} }} }}
    }} }}
  }}
}}"""


_CHILD_LISTS = {"ProductVariant": "variants", "LineItem": "lineItems"}


@dataclass(slots=True)
class Assembled:
    """One top-level object with its children gathered under `variants` / `lineItems`, and
    `safe_lines`: how many lines of the file are fully accounted for once this object (and
    every one handed out before it) is stored."""

    node: dict[str, Any]
    safe_lines: int


@dataclass(slots=True)
class _Open:
    node: dict[str, Any]
    first_line: int
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(slots=True)
class AssemblyStats:
    """What `assemble` had to leave out: children whose parent had already been handed out
    (or never came)."""

    orphans: int = 0


async def assemble(
    lines: AsyncIterator[bytes],
    *,
    start_line: int = 0,
    window: int = 1_000,
    stats: AssemblyStats | None = None,
) -> AsyncIterator[Assembled]:
    """Top-level objects of a bulk result with their children, in file order.

    `start_line` is the number of lines already consumed before `lines` (a resumed download);
    `window` is how many parents stay open for late children. A child whose parent already
    left the window (or never came) is counted in `stats.orphans` and left out; a line that
    is not a JSON object with an id raises `InvalidPayload`.
    """
    stats = stats if stats is not None else AssemblyStats()
    open_parents: OrderedDict[str, _Open] = OrderedDict()
    number = start_line
    async for raw in lines:
        number += 1
        try:
            item = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidPayload(f"bulk result line {number} is not JSON") from None
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            if isinstance(item, dict) and "__parentId" in item:
                item.setdefault("id", f"line-{number}")
            else:
                raise InvalidPayload(f"bulk result line {number} has no id")
        parent_id = item.pop("__parentId", None)
        if parent_id is None:
            open_parents[item["id"]] = _Open(item, number)
            while len(open_parents) > window:
                yield _close(open_parents, number)
            continue
        parent = open_parents.get(parent_id)
        if parent is None:
            stats.orphans += 1
            continue
        key = _CHILD_LISTS.get(_kind(item["id"]), "children")
        parent.children.setdefault(key, []).append(item)
    while open_parents:
        yield _close(open_parents, number)


def _close(open_parents: OrderedDict[str, _Open], number: int) -> Assembled:
    _, oldest = open_parents.popitem(last=False)
    oldest.node.update(oldest.children)
    # Lines before the oldest parent still open are settled; with none open, all read are.
    safe = next(iter(open_parents.values())).first_line - 1 if open_parents else number
    return Assembled(oldest.node, safe)


def _kind(gid: str) -> str:
    """`ProductVariant` of `gid://shopify/ProductVariant/1`."""
    parts = gid.split("/")
    return parts[3] if len(parts) > 4 and gid.startswith("gid://") else ""
