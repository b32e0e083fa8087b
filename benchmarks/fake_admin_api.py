"""A local stand-in for Shopify's Admin GraphQL API, for the backfill benchmark: bulk queries
(CREATED → RUNNING → COMPLETED) whose JSONL results are files streamed from disk, paginated
`orders` pages, and Shopify's leaky cost bucket (THROTTLED as HTTP 200 with `throttleStatus`).

    python benchmarks/fake_admin_api.py --port P --data DIR [--bucket 1000] [--restore 500]

DIR holds `products.jsonl` and `orders.jsonl` (made by `benchmarks/backfill.py`). The server
counts what it served at `GET /stats`.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Bucket:
    def __init__(self, maximum: float, restore: float) -> None:
        self.maximum, self.restore = maximum, restore
        self.level, self.at = maximum, time.monotonic()
        self.lock = threading.Lock()
        self.spent = 0.0
        self.throttled = 0
        self.served = 0
        self.first_at: float | None = None
        self.last_at = 0.0

    def take(self, requested: float, actual: float) -> tuple[bool, float]:
        with self.lock:
            now = time.monotonic()
            self.level = min(self.maximum, self.level + (now - self.at) * self.restore)
            self.at = now
            if self.level < requested:
                self.throttled += 1
                return False, self.level
            self.level -= actual
            self.spent += actual
            self.served += 1
            self.first_at = self.first_at or now
            self.last_at = now
            return True, self.level


def make_handler(data: Path, bucket: Bucket, polls: int) -> type[BaseHTTPRequestHandler]:
    operations: dict[str, dict[str, Any]] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/stats":
                with bucket.lock:
                    self._json(
                        {
                            "served": bucket.served,
                            "throttled": bucket.throttled,
                            "spent": bucket.spent,
                            "first_at": bucket.first_at,
                            "last_at": bucket.last_at,
                            "maximum": bucket.maximum,
                            "restore": bucket.restore,
                        }
                    )
                return
            name = self.path.rsplit("/", 1)[1]
            path = data / name
            self.send_response(200)
            self.send_header("Content-Type", "application/jsonl")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            with path.open("rb") as f:
                while chunk := f.read(256 * 1024):
                    self.wfile.write(chunk)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            query, variables = body["query"], body.get("variables") or {}
            requested, actual = (100.0, 80.0) if "orders(first" in query else (10.0, 10.0)
            ok, level = bucket.take(requested, actual)
            cost = {
                "requestedQueryCost": requested,
                "actualQueryCost": actual if ok else None,
                "throttleStatus": {
                    "maximumAvailable": bucket.maximum,
                    "currentlyAvailable": level,
                    "restoreRate": bucket.restore,
                },
            }
            if not ok:
                self._json(
                    {
                        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                        "extensions": {"cost": cost},
                    }
                )
                return
            self._json({"data": self._answer(query, variables), "extensions": {"cost": cost}})

        def _answer(self, query: str, variables: dict[str, Any]) -> Any:
            if "bulkOperationRunQuery" in query:
                resource = (
                    "orders" if "orders" in variables["query"].split("{", 2)[1] else "products"
                )
                op_id = f"gid://shopify/BulkOperation/{len(operations) + 1}"
                operations[op_id] = {"resource": resource, "polls": 0}
                return {
                    "bulkOperationRunQuery": {
                        "bulkOperation": {"id": op_id, "status": "CREATED"},
                        "userErrors": [],
                    }
                }
            if "BulkOperation" in query:
                op = operations[variables["id"]]
                op["polls"] += 1
                done = op["polls"] > polls
                name = f"{op['resource']}.jsonl"
                host = self.headers["Host"]
                return {
                    "node": {
                        "id": variables["id"],
                        "status": "COMPLETED" if done else "RUNNING",
                        "errorCode": None,
                        "objectCount": str(_lines(data / name)),
                        "url": f"http://{host}/results/{name}" if done else None,
                        "partialDataUrl": None,
                    }
                }
            if "orders(first" in query:
                first = variables["first"]
                start = int(variables.get("after") or 0)
                nodes = [{"id": f"gid://shopify/Order/{start + i}"} for i in range(first)]
                return {
                    "orders": {
                        "nodes": nodes,
                        "pageInfo": {"hasNextPage": True, "endCursor": str(start + first)},
                    }
                }
            raise ValueError(re.sub(r"\s+", " ", query)[:80])

    return Handler


_COUNTS: dict[Path, int] = {}


def _lines(path: Path) -> int:
    if path not in _COUNTS:
        with path.open("rb") as f:
            _COUNTS[path] = sum(1 for _ in f)
    return _COUNTS[path]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--bucket", type=float, default=1000.0)
    parser.add_argument("--restore", type=float, default=500.0)
    parser.add_argument("--polls", type=int, default=2)
    args = parser.parse_args()
    handler = make_handler(args.data, Bucket(args.bucket, args.restore), args.polls)
    ThreadingHTTPServer(("127.0.0.1", args.port), handler).serve_forever()


if __name__ == "__main__":
    main()
