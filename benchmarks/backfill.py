"""Backfill from a local fake Admin API: time and peak memory for a shop of 100k orders, and
how well the client uses Shopify's cost bucket.

    python benchmarks/backfill.py [--orders 100000] [--products 2000] [--throttle-seconds 20]

1. Writes a shop as bulk-operation JSONL files (products with 2 variants each; orders of 1-4
   lines, with `__parentId` children), serves them from `benchmarks/fake_admin_api.py` over
   loopback HTTP, and runs `backfill_shopify` into a fresh SQLite file: bulk query, polling,
   streaming download, parsing, storing page by page with progress. Peak RSS is read at 10 %,
   50 % and 100 % of the order lines (flat memory: the same peak throughout), then the model is
   trained and timed on its own.
2. Runs paginated queries for `--throttle-seconds` against the fake's leaky bucket (1,000
   points, 500 restored per second, each query asking 100 and spending 80) and reports how many
   THROTTLED answers the client caused and how busy it kept the bucket:
   (points spent − the bucket's initial content) / (seconds × restore rate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from local_servers import free_port, wait_up

from cartwise import storage
from cartwise.backfill import backfill_shopify
from cartwise.connector.shopify.admin import ShopifyAdmin
from cartwise.ingestion import EventProcessor
from cartwise.training import train_shop

SHOP = "bench-backfill.myshopify.com"
SECRET = b"bench-backfill-secret-0123456789abcdef"
ORDERS_PAGE = """query ($first: Int!, $after: String) {
  orders(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } }
}"""


def gid(kind: str, n: int) -> str:
    return f"gid://shopify/{kind}/{n}"


def write_shop(folder: Path, n_products: int, n_orders: int) -> int:
    """products.jsonl and orders.jsonl as a bulk query returns them; the order line count."""
    rng = random.Random(7)
    start = datetime(2024, 11, 1, tzinfo=UTC)
    with (folder / "products.jsonl").open("w") as out:
        for p in range(1, n_products + 1):
            out.write(
                json.dumps(
                    {
                        "id": gid("Product", p),
                        "title": f"Product {p}",
                        "productType": f"Type {p % 40}",
                        "vendor": f"Vendor {p % 60}",
                        "tags": [f"tag{p % 25}"],
                        "status": "ACTIVE",
                        "updatedAt": "2026-11-01T00:00:00Z",
                        "publishedAt": "2024-01-01T00:00:00Z",
                        "featuredImage": {"url": f"https://cdn.example.com/{p}.png"},
                    }
                )
                + "\n"
            )
            for k in (1, 2):
                out.write(
                    json.dumps(
                        {
                            "id": gid("ProductVariant", p * 10 + k),
                            "sku": f"S{p}-{k}",
                            "price": f"{5 + p % 50}.00",
                            "inventoryQuantity": 20,
                            "inventoryPolicy": "DENY",
                            "inventoryItem": {
                                "id": gid("InventoryItem", p * 10 + k),
                                "tracked": True,
                            },
                            "__parentId": gid("Product", p),
                        }
                    )
                    + "\n"
                )
    weights = [1 / (i + 1) ** 0.8 for i in range(n_products)]
    lines = 0
    with (folder / "orders.jsonl").open("w") as out:
        for o in range(1, n_orders + 1):
            created = start + timedelta(minutes=o * 7)
            stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
            customer = rng.randrange(1, 30_000) if rng.random() < 0.7 else None
            out.write(
                json.dumps(
                    {
                        "id": gid("Order", o),
                        "createdAt": stamp,
                        "updatedAt": stamp,
                        "cancelledAt": None,
                        "test": False,
                        "customer": {"id": gid("Customer", customer)} if customer else None,
                        "shippingAddress": {"countryCodeV2": rng.choice(["DE", "FR", "GB", "US"])},
                    }
                )
                + "\n"
            )
            lines += 1
            for n, p in enumerate(
                rng.choices(range(1, n_products + 1), weights, k=rng.randint(1, 4))
            ):
                out.write(
                    json.dumps(
                        {
                            "id": gid("LineItem", o * 10 + n),
                            "quantity": 1,
                            "variant": {"id": gid("ProductVariant", p * 10 + 1)},
                            "product": {"id": gid("Product", p)},
                            "originalUnitPriceSet": {"shopMoney": {"amount": f"{5 + p % 50}.00"}},
                            "__parentId": gid("Order", o),
                        }
                    )
                    + "\n"
                )
                lines += 1
    return lines


class Loopback(httpx.AsyncBaseTransport):
    """Sends every request to the local fake, whatever host the client addressed."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def start_fake(data: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    script = Path(__file__).with_name("fake_admin_api.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", str(port), "--data", str(data), *extra]
    )
    try:
        wait_up(port, proc, 10, poll=0.05)
    except SystemExit:
        proc.kill()
        raise
    return proc, port


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_backfill(work: Path, port: int, order_lines: int) -> dict[str, Any]:
    marks: dict[str, float] = {}

    def progress(resource_name: str, lines: int, total: int) -> None:
        if resource_name != "orders" or not order_lines:
            return
        for share in (0.1, 0.5):
            key = f"peak_rss_mb_at_{int(share * 100)}pct_orders"
            if key not in marks and lines >= share * order_lines:
                marks[key] = round(peak_rss_mb(), 1)

    with storage.open(f"sqlite:///{work / 'backfill.db'}") as store:
        processor = EventProcessor(store, secret=SECRET)

        async def go() -> Any:
            async with ShopifyAdmin(SHOP, "shpat_bench", transport=Loopback(port)) as admin:
                return await backfill_shopify(
                    store,
                    SHOP,
                    admin,
                    processor,
                    full_history=True,
                    progress=progress,
                    poll=0.2,
                    train=False,
                )

        started = time.perf_counter()
        report = asyncio.run(go())
        backfill_s = time.perf_counter() - started
        marks["peak_rss_mb_at_100pct_orders"] = round(peak_rss_mb(), 1)
        started = time.perf_counter()
        trained = train_shop(store, SHOP)
        train_s = time.perf_counter() - started
        return {
            "orders_stored": store.orders.count(SHOP),
            "products_stored": store.products.count(SHOP),
            "orders_written": report.counts["orders"].written,
            "backfill_seconds": round(backfill_s, 1),
            "orders_per_second": round(store.orders.count(SHOP) / backfill_s),
            **marks,
            "train_seconds": round(train_s, 1),
            "model_items": trained.n_items if hasattr(trained, "n_items") else None,
            "peak_rss_mb_after_training": round(peak_rss_mb(), 1),
        }


def run_throttle(port: int, seconds: float) -> dict[str, Any]:
    async def go() -> int:
        async with ShopifyAdmin(SHOP, "shpat_bench", transport=Loopback(port)) as admin:
            started = time.monotonic()
            async for _ in admin.paginate(ORDERS_PAGE, ["orders"], page_size=50):
                if time.monotonic() - started > seconds:
                    break
            return admin.throttled

    client_throttled = asyncio.run(go())
    stats = httpx.get(f"http://127.0.0.1:{port}/stats").json()
    elapsed = stats["last_at"] - stats["first_at"]
    utilisation = (stats["spent"] - stats["maximum"]) / (elapsed * stats["restore"])
    return {
        "queries_served": stats["served"],
        "throttled_answers": stats["throttled"],
        "throttled_seen_by_client": client_throttled,
        "bucket_utilisation": round(utilisation, 3),
        "seconds": round(elapsed, 1),
        "bucket": f"{stats['maximum']:.0f} points, {stats['restore']:.0f}/s restored, "
        "queries ask 100 and spend 80",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--throttle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lines = write_shop(work, args.products, args.orders)
        results["order_result_lines"] = lines
        results["orders_jsonl_mb"] = round((work / "orders.jsonl").stat().st_size / 1e6, 1)
        fake, port = start_fake(work, "--bucket", "100000", "--restore", "100000")
        try:
            results["backfill"] = run_backfill(work, port, lines)
        finally:
            fake.terminate()
            fake.wait(10)
        if args.throttle_seconds > 0:
            fake, port = start_fake(work, "--bucket", "1000", "--restore", "500")
            try:
                results["throttle"] = run_throttle(port, args.throttle_seconds)
            finally:
                fake.terminate()
                fake.wait(10)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
