"""Fakes for Shopify Admin API tests: a clock that sleeps without wall time, and a leaky cost
bucket that answers like Shopify's (THROTTLED as HTTP 200, `extensions.cost` on every answer)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

SHOP = "fake-shop.myshopify.com"
TOKEN = "shpat_test_token"
ENDPOINT = f"https://{SHOP}/admin/api/2026-10/graphql.json"


@dataclass
class FakeTime:
    now: float = 1_000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def cost(
    requested: float,
    actual: float | None,
    available: float,
    *,
    maximum: float = 2000.0,
    rate: float = 100.0,
) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": maximum,
                "currentlyAvailable": available,
                "restoreRate": rate,
            },
        }
    }


def throttled_body(requested: float, available: float, **kw: float) -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {
                    "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
        ],
        "extensions": cost(requested, None, available, **kw),
    }


@dataclass
class BucketServer:
    """Shopify's leaky bucket on a fake clock: a query needs its requested cost available,
    spends its actual cost, and the bucket refills at `rate` points per second."""

    time: FakeTime
    requested: float = 400.0
    actual: float = 300.0
    maximum: float = 2000.0
    rate: float = 100.0
    latency: float = 0.05
    level: float = 2000.0
    at: float | None = None
    throttled: int = 0
    served: int = 0
    spent: float = 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.time.now
        if self.at is not None:
            self.level = min(self.maximum, self.level + (now - self.at) * self.rate)
        self.at = now
        self.time.now += self.latency
        if self.level < self.requested:
            self.throttled += 1
            return httpx.Response(
                200,
                json=throttled_body(
                    self.requested, self.level, maximum=self.maximum, rate=self.rate
                ),
            )
        self.level -= self.actual
        self.spent += self.actual
        self.served += 1
        body = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "data": {"echo": body.get("variables")},
                "extensions": cost(
                    self.requested, self.actual, self.level, maximum=self.maximum, rate=self.rate
                ),
            },
        )
