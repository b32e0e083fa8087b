"""A stateful fake of the Shopify Admin GraphQL API for backfill and sync tests, mounted on
respx: bulk queries (CREATED → RUNNING → COMPLETED, JSONL results with `__parentId` children)
and paginated `products`/`orders` connections filtered by `updated_at`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx

SHOP = "fake-shop.myshopify.com"
ENDPOINT = f"https://{SHOP}/admin/api/2026-10/graphql.json"
RESULTS = "https://storage.example.com/bulk"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def gid(kind: str, n: int | str) -> str:
    return f"gid://shopify/{kind}/{n}"


@dataclass
class FakeAdmin:
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    variants: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    lines: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_queries: list[str] = field(default_factory=list)
    polls_until_done: int = 2
    fail_status: str | None = None

    # -- data ---------------------------------------------------------------------------

    def add_product(self, n: int, *, stock: int = 5, updated: datetime = T0) -> None:
        self.products[n] = {
            "id": gid("Product", n),
            "title": f"Product {n}",
            "handle": f"p-{n}",
            "productType": "Mugs" if n % 2 else "Tea",
            "vendor": f"Vendor {n % 3}",
            "tags": ["gift"] if n % 4 == 0 else [],
            "status": "ACTIVE",
            "updatedAt": iso(updated),
            "publishedAt": iso(T0 - timedelta(days=400)),
            "featuredImage": {"url": f"https://cdn.example.com/{n}.png"},
        }
        self.variants[n] = [
            {
                "id": gid("ProductVariant", n * 10 + k),
                "sku": f"S{n}-{k}",
                "price": f"{n}.50",
                "inventoryQuantity": stock,
                "inventoryPolicy": "DENY",
                "inventoryItem": {"id": gid("InventoryItem", n * 10 + k), "tracked": True},
            }
            for k in (1, 2)
        ]

    def add_order(
        self,
        n: int,
        products: list[int],
        *,
        customer: int | None = None,
        created: datetime = T0,
        updated: datetime | None = None,
        cancelled: bool = False,
        country: str = "DE",
    ) -> None:
        self.orders[n] = {
            "id": gid("Order", n),
            "createdAt": iso(created),
            "updatedAt": iso(updated or created),
            "cancelledAt": iso(updated or created) if cancelled else None,
            "test": False,
            "customer": {"id": gid("Customer", customer)} if customer else None,
            "shippingAddress": {"countryCodeV2": country},
        }
        self.lines[n] = [
            {
                "id": gid("LineItem", n * 100 + k),
                "quantity": 1,
                "variant": {"id": gid("ProductVariant", p * 10 + 1)},
                "product": {"id": gid("Product", p)},
                "originalUnitPriceSet": {"shopMoney": {"amount": f"{p}.50"}},
            }
            for k, p in enumerate(products)
        ]

    def jsonl(self, resource: str, since: datetime | None) -> str:
        out = []
        parents, children = (
            (self.products, self.variants) if resource == "products" else (self.orders, self.lines)
        )
        for n, node in sorted(parents.items()):
            if since and resource == "orders" and node["createdAt"] < iso(since):
                continue
            out.append(json.dumps(node))
            out.extend(json.dumps({**c, "__parentId": node["id"]}) for c in children[n])
        return "\n".join(out) + "\n" if out else ""

    def nodes(self, resource: str, since: str) -> list[dict[str, Any]]:
        parents, children, key = (
            (self.products, self.variants, "variants")
            if resource == "products"
            else (self.orders, self.lines, "lineItems")
        )
        picked = [
            {**node, key: {"nodes": children[n]}}
            for n, node in sorted(parents.items(), key=lambda kv: kv[1]["updatedAt"])
            if node["updatedAt"] >= since
        ]
        return picked

    # -- the API ------------------------------------------------------------------------

    def mount(self, router: respx.MockRouter) -> None:
        router.post(ENDPOINT).mock(side_effect=self.graphql)
        router.get(url__startswith=RESULTS).mock(side_effect=self.result)

    def graphql(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        query, variables = body["query"], body.get("variables") or {}
        if "bulkOperationRunQuery" in query:
            return self._start(variables["query"])
        if "BulkOperation" in query:
            return self._status(variables["id"])
        for resource in ("products", "orders"):
            if re.search(rf"\b{resource}\(first", query):
                return self._page(resource, variables)
        raise AssertionError(query)

    def _start(self, bulk_query: str) -> httpx.Response:
        self.bulk_queries.append(bulk_query)
        resource = "orders" if "orders" in bulk_query.split("{", 2)[1] else "products"
        match = re.search(r"created_at:>='([^']+)'", bulk_query)
        since = datetime.fromisoformat(match.group(1).replace("Z", "+00:00")) if match else None
        op_id = gid("BulkOperation", len(self.operations) + 1)
        self.operations[op_id] = {
            "resource": resource,
            "since": since,
            "polls": 0,
            "content": self.jsonl(resource, since),
        }
        return _ok(
            {
                "bulkOperationRunQuery": {
                    "bulkOperation": {"id": op_id, "status": "CREATED"},
                    "userErrors": [],
                }
            }
        )

    def _status(self, op_id: str) -> httpx.Response:
        op = self.operations.get(op_id)
        if op is None:
            return _ok({"node": None})
        op["polls"] += 1
        done = op["polls"] > self.polls_until_done
        status = (self.fail_status or "COMPLETED") if done else "RUNNING"
        content = op["content"]
        return _ok(
            {
                "node": {
                    "id": op_id,
                    "status": status,
                    "errorCode": "INTERNAL_SERVER_ERROR" if status == "FAILED" else None,
                    "objectCount": str(content.count("\n")),
                    "url": f"{RESULTS}/{op_id.rsplit('/', 1)[1]}.jsonl"
                    if status == "COMPLETED" and content
                    else None,
                    "partialDataUrl": None,
                }
            }
        )

    def result(self, request: httpx.Request) -> httpx.Response:
        op_n = request.url.path.rsplit("/", 1)[1].split(".")[0]
        return httpx.Response(200, text=self.operations[gid("BulkOperation", op_n)]["content"])

    def _page(self, resource: str, variables: dict[str, Any]) -> httpx.Response:
        since = re.search(r"updated_at:>='([^']+)'", variables["search"]).group(1)  # type: ignore[union-attr]
        nodes = self.nodes(resource, since)
        start = int(variables.get("after") or 0)
        first = variables["first"]
        chunk = nodes[start : start + first]
        more = start + first < len(nodes)
        return _ok(
            {
                resource: {
                    "nodes": chunk,
                    "pageInfo": {
                        "hasNextPage": more,
                        "endCursor": str(start + first) if more else None,
                    },
                }
            }
        )


def _ok(data: Any) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "data": data,
            "extensions": {
                "cost": {
                    "requestedQueryCost": 10,
                    "actualQueryCost": 10,
                    "throttleStatus": {
                        "maximumAvailable": 2000,
                        "currentlyAvailable": 1990,
                        "restoreRate": 100,
                    },
                }
            },
        },
    )


def catalog(admin: FakeAdmin, products: int = 20, orders: int = 120) -> None:
    """A small shop: products, and orders of 2–3 of them by a handful of customers."""
    for n in range(1, products + 1):
        admin.add_product(n)
    for n in range(1, orders + 1):
        admin.add_order(
            1000 + n,
            [1 + n % products, 1 + (n * 7) % products, 1 + (n * 3) % 5][: 2 + n % 2],
            customer=n % 9 or None,
            created=T0 - timedelta(days=n % 90),
        )
