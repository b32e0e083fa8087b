"""The HTTP service end to end on one machine: recommendation throughput and tail under gunicorn
against a bare Flask JSON endpoint measured in the same run, webhook acknowledgements per
second, and how long an order webhook takes to change the next recommendation.

    python benchmarks/http_service.py [--requests 5000] [--webhooks 3000] [--freshness 20]

Everything runs on loopback: `cartwise serve` (1 gunicorn worker, embedded SQLite, the bundled
sample shop, an API key) and, as the reference, a 1-worker gunicorn serving a Flask view that
returns 10 ids (the "physical limit" endpoint of the shared harness's anchors). Load comes from
ApacheBench (`apt-get install apache2-utils`), keep-alive, fixed request counts; webhook
deliveries also from wrk when it is installed (`apt-get install wrk`). Webhook
deliveries are all distinct, signed like Shopify's, posted over one keep-alive connection per
client thread, with the job worker off (an acknowledgement must not wait for processing).
Needs `pip install -e ".[server]"`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from local_servers import free_port, wait_up

from cartwise import storage
from cartwise.connector.shopify.tokens import OfflineToken
from cartwise.domain import Platform, ShopRef
from cartwise.installs import create_api_key, save_install
from cartwise.settings import Settings
from cartwise.training import train_shop

SHOP = "bench-shop.myshopify.com"
CLIENT_ID = "bench-client-id"
CLIENT_SECRET = "shpss_bench_secret_0123456789abcdef0123456789abcdef"
SECRET_KEY = "bench-secret-key-0123456789abcdef-0123456789"

BARE_APP = """
from flask import Flask, jsonify, request
app = Flask(__name__)
IDS = [f"P{i:05d}" for i in range(10)]

@app.post("/recommend")
def recommend():
    body = request.get_json(force=True, silent=True) or {}
    return jsonify({"products": IDS, "cart": len(body.get("cart", []))})
"""


@contextmanager
def running(cmd: list[str], port: int | None, env: dict[str, str] | None = None) -> Iterator[None]:
    """`cmd` running for the block (once it listens on `port`, when it serves one), then
    terminated."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if port is not None:
            wait_up(port, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ab(url: str, body: Path, n: int, c: int, headers: dict[str, str]) -> dict[str, float]:
    # -t before -n: ab's -t alone means 50,000 requests, and the later flag wins.
    cmd = ["ab", "-q", "-k", "-t", "120", "-n", str(n), "-c", str(c), "-p", str(body)]
    cmd += ["-T", "application/json"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=300).stdout
    rps = re.search(r"Requests per second:\s+([\d.]+)", out)
    pcts = dict(re.findall(r"^\s+(\d+)%\s+(\d+)", out, re.M))
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else float("nan"),
        "p50_ms": float(pcts.get("50", "nan")),
        "p99_ms": float(pcts.get("99", "nan")),
        "failed": float(failed.group(1)) if failed else float("nan"),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


def seed(db: Path | str) -> tuple[str, list[str]]:
    """The sample shop in `db` as a Shopify shop would hold it (numeric product ids), trained,
    installed, with an API key; returns the key and the ten trending product ids."""
    from dataclasses import replace

    from cartwise.connector.csv_files import read_orders, read_products
    from cartwise.domain import OrderLine

    settings = Settings(demo_mode=False, secret_key=SECRET_KEY)
    with ExitFiles() as files:
        products = read_products(files.products).records
        orders = read_orders(files.orders).records
    numeric = {p.product_id: str(1_000_000 + n) for n, p in enumerate(products)}
    for order in orders:
        for line in order.lines:
            numeric.setdefault(line.product_id, str(1_000_000 + len(numeric)))
    with storage.open(database_url(db), upgrade=True) as store:
        store.shops.ensure(ShopRef(SHOP, Platform.SHOPIFY))
        store.products.upsert_many(
            SHOP, [replace(p, product_id=numeric[p.product_id]) for p in products]
        )
        store.orders.upsert_many(
            SHOP,
            [
                replace(
                    o,
                    lines=tuple(
                        OrderLine(numeric[ln.product_id], ln.quantity, ln.price, ln.variant_id)
                        for ln in o.lines
                    ),
                )
                for o in orders
            ],
        )
        train_shop(store, SHOP)
        save_install(store, OfflineToken(SHOP, "shpat_bench", "read_orders", None, None, None))
        _, key = create_api_key(store, settings.effective_secret_key(), SHOP)
        top = [r.product_id for r in _model_trending(store)]
    return key, top


def database_url(db: Path | str) -> str:
    """A SQLite file's URL, or `db` itself when it is already a URL (PostgreSQL)."""
    return db if isinstance(db, str) else f"sqlite:///{db}"


def _model_trending(store: storage.Store) -> list:  # type: ignore[type-arg]
    from cartwise.recommender import HybridRecommender

    artifact = store.models.latest(SHOP)
    assert artifact is not None
    return HybridRecommender.from_bytes(artifact.blob).trending(k=10)


class ExitFiles:
    def __enter__(self) -> ExitFiles:
        from contextlib import ExitStack

        self._stack = ExitStack()
        base = resources.files("cartwise") / "sample_data"
        self.orders = self._stack.enter_context(resources.as_file(base / "orders.csv.gz"))
        self.products = self._stack.enter_context(resources.as_file(base / "products.csv"))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def serve_env(db: Path | str, *, jobs: bool) -> dict[str, str]:
    return {
        **os.environ,
        "CARTWISE_DATABASE_URL": database_url(db),
        "CARTWISE_DEMO_MODE": "false",
        "CARTWISE_SECRET_KEY": SECRET_KEY,
        "CARTWISE_SHOPIFY__CLIENT_ID": CLIENT_ID,
        "CARTWISE_SHOPIFY__CLIENT_SECRET": CLIENT_SECRET,
        "CARTWISE_JOBS__IN_PROCESS": "true" if jobs else "false",
        "CARTWISE_SERVER__WORKERS": "1",
        # what is measured is serving one shop flat out, not its rate limit refusing
        "CARTWISE_RATE_LIMITS__ENABLED": "false",
    }


def cartwise_cmd(port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("cartwise")), "serve", "--port", str(port)]


def signed(topic: str, payload: dict[str, object]) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    digest = hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
    }, body


def order_payload(order_id: int, products: list[str]) -> dict[str, object]:
    now = datetime.now(UTC).isoformat()
    return {
        "id": order_id,
        "created_at": now,
        "updated_at": now,
        "line_items": [
            {"id": n, "product_id": p, "variant_id": n, "quantity": 1, "price": "1.00"}
            for n, p in enumerate(products, start=1)
        ],
    }


def webhook_rate(port: int, total: int, threads: int, products: list[str]) -> dict[str, float]:
    deliveries = [
        signed("orders/create", order_payload(10_000_000 + n, products[n % 5 : n % 5 + 3]))
        for n in range(total)
    ]
    shares = [deliveries[i::threads] for i in range(threads)]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def send(share: list[tuple[dict[str, str], bytes]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        bad = 0
        for headers, body in share:
            t0 = time.perf_counter()
            conn.request("POST", "/webhooks/shopify", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t0)
            bad += response.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    workers = [threading.Thread(target=send, args=(share,)) for share in shares]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "acks_per_s": total / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "non_200": float(errors[0]),
    }


def webhook_rate_wrk(
    port: int, work: Path, total: int, products: list[str], seconds: int = 10
) -> dict[str, float]:
    """The same distinct signed deliveries from wrk (a C client: less of the 2 cores taken
    from the server than Python's), 4 connections for `seconds`; wrk replays a table of
    `total` pre-signed requests, so every acknowledged delivery is a new one while fewer
    than `total` are sent."""
    script = work / "webhooks.lua"
    with script.open("w") as out:
        out.write("local reqs = {}\ninit = function(args)\n")
        for n in range(total):
            headers, body = signed(
                "orders/create", order_payload(40_000_000 + n, products[n % 5 : n % 5 + 3])
            )
            fields = ", ".join(f'["{k}"]="{v}"' for k, v in headers.items())
            out.write(
                f'reqs[{n + 1}] = wrk.format("POST", "/webhooks/shopify", {{{fields}}}, '
                f"[==[{body.decode()}]==])\n"
            )
        out.write(
            "end\nlocal i = 0\nrequest = function()\n  i = i + 1\n"
            "  if i > #reqs then i = 1 end\n  return reqs[i]\nend\n"
            "done = function(summary, latency, requests)\n"
            '  io.write(string.format("p50_us %d\\np99_us %d\\n", '
            "latency:percentile(50), latency:percentile(99)))\nend\n"
        )
    url = f"http://127.0.0.1:{port}/webhooks/shopify"
    cmd = ["wrk", "-t1", "-c4", f"-d{seconds}s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    sent = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p50 = re.search(r"p50_us (\d+)", out)
    p99 = re.search(r"p99_us (\d+)", out)
    return {
        "acks_per_s": float(rps.group(1)) if rps else float("nan"),
        "sent": float(sent.group(1)) if sent else float("nan"),
        "distinct_available": float(total),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "p50_ms": int(p50.group(1)) / 1000 if p50 else float("nan"),
        "p99_ms": int(p99.group(1)) / 1000 if p99 else float("nan"),
    }


def distinct_carts(db: Path | str, n: int) -> list[list[str]]:
    """Up to `n` different carts, each the first three products of a real order of the shop."""
    seen: set[tuple[str, ...]] = set()
    with storage.open(database_url(db)) as store:
        for order in store.orders.iter(SHOP):
            cart = tuple(dict.fromkeys(line.product_id for line in order.lines))[:3]
            if cart and cart not in seen:
                seen.add(cart)
            if len(seen) >= n:
                break
    return [list(c) for c in seen]


def wrk_rate(url: str, script: Path, seconds: int = 10) -> dict[str, float]:
    cmd = ["wrk", "-t1", "-c8", f"-d{seconds}s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p50 = re.search(r"p50_us (\d+)", out)
    p99 = re.search(r"p99_us (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else float("nan"),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "p50_ms": int(p50.group(1)) / 1000 if p50 else float("nan"),
        "p99_ms": int(p99.group(1)) / 1000 if p99 else float("nan"),
    }


def carts_script(work: Path, path: str, key: str, carts: list[list[str]]) -> Path:
    """A wrk script cycling through one request per cart (distinct bodies: no answer memory
    can help but for a cart seen again within its two seconds)."""
    script = work / f"carts{path.replace('/', '_')}.lua"
    with script.open("w") as out:
        out.write("local reqs = {}\ninit = function(args)\n")
        for n, cart in enumerate(carts):
            body = json.dumps({"cart": [{"product_id": p} for p in cart], "k": 10})
            out.write(
                f'reqs[{n + 1}] = wrk.format("POST", "{path}", '
                f'{{["Content-Type"]="application/json", ["X-Cartwise-Key"]="{key}"}}, '
                f"[==[{body}]==])\n"
            )
        out.write(
            "end\nlocal i = 0\nrequest = function()\n  i = i + 1\n"
            "  if i > #reqs then i = 1 end\n  return reqs[i]\nend\n"
            "done = function(summary, latency, requests)\n"
            '  io.write(string.format("p50_us %d\\np99_us %d\\n", '
            "latency:percentile(50), latency:percentile(99)))\nend\n"
        )
    return script


def freshness(port: int, key: str, rounds: int) -> list[float]:
    """Seconds from posting an order of two products new to the shop (a, b) until b is
    recommended for a cart holding a, polling as fast as one client can. The products arrive by
    products/create first, as in a live shop."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "X-Cartwise-Key": key}
    found = []
    for n in range(rounds):
        a, b = str(5_000_000 + 2 * n), str(5_000_001 + 2 * n)
        for pid in (a, b):
            product = {
                "id": int(pid),
                "title": f"New arrival {pid}",
                "product_type": "new",
                "status": "active",
                "updated_at": datetime.now(UTC).isoformat(),
                "variants": [{"id": int(pid) * 10, "price": "9.00"}],
            }
            wh_headers, body = signed("products/create", product)
            conn.request("POST", "/webhooks/shopify", body=body, headers=wh_headers)
            conn.getresponse().read()
        time.sleep(0.5)  # the catalog is in storage before the order comes
        wh_headers, body = signed("orders/create", order_payload(20_000_000 + n, [a, b]))
        ask = json.dumps({"cart": [{"product_id": a}], "k": 3})
        t0 = time.perf_counter()
        conn.request("POST", "/webhooks/shopify", body=body, headers=wh_headers)
        conn.getresponse().read()
        while True:
            conn.request("POST", "/v1/recommendations", body=ask, headers=headers)
            items = json.loads(conn.getresponse().read())["items"]
            if any(item["product_id"] == b for item in items):
                found.append(time.perf_counter() - t0)
                break
            if time.perf_counter() - t0 > 10:
                found.append(float("inf"))
                break
    conn.close()
    return found


def fresh_copy(db: Path, work: Path) -> Path:
    copy = work / "wrk.db"
    shutil.copyfile(db, copy)
    return copy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--webhooks", type=int, default=3000)
    parser.add_argument("--freshness", type=int, default=20)
    args = parser.parse_args()
    if not shutil.which("ab"):
        print("needs ApacheBench: apt-get install apache2-utils", file=sys.stderr)
        return 2
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    work = Path(tempfile.mkdtemp(prefix="cartwise-bench-"))
    try:
        db = work / "cartwise.db"
        key, top = seed(db)
        # the freshness run starts from the seeded shop, not behind the webhook run's backlog
        fresh_db = work / "fresh.db"
        shutil.copyfile(db, fresh_db)
        body = work / "body.json"
        body.write_text(json.dumps({"cart": [{"product_id": p} for p in top[:3]], "k": 10}))
        results: dict[str, object] = {"machine": f"{os.cpu_count()} cores"}

        carts = distinct_carts(db, 3000)
        results["distinct_carts"] = len(carts)
        (work / "bare").mkdir()
        (work / "bare" / "app.py").write_text(BARE_APP)
        port = free_port()
        bare_cmd = [gunicorn, "-w", "1", "-b", f"127.0.0.1:{port}", "--chdir", str(work / "bare")]
        with running([*bare_cmd, "app:app"], port):
            for c in (1, args.concurrency):
                ab(f"http://127.0.0.1:{port}/recommend", body, 500, c, {})  # warm-up
                results[f"bare_flask_c{c}"] = ab(
                    f"http://127.0.0.1:{port}/recommend", body, args.requests, c, {}
                )
            if shutil.which("wrk"):
                script = carts_script(work, "/recommend", key, carts)
                results["bare_flask_wrk_c8"] = wrk_rate(f"http://127.0.0.1:{port}", script)

        port = free_port()
        with running(cartwise_cmd(port), port, serve_env(db, jobs=False)):
            url = f"http://127.0.0.1:{port}/v1/recommendations"
            for c in (1, args.concurrency):
                ab(url, body, 500, c, {"X-Cartwise-Key": key})  # warm-up: model loaded
                results[f"cartwise_c{c}"] = ab(url, body, args.requests, c, {"X-Cartwise-Key": key})
            if shutil.which("wrk"):
                script = carts_script(work, "/v1/recommendations", key, carts)
                results["cartwise_distinct_carts_wrk_c8"] = wrk_rate(
                    f"http://127.0.0.1:{port}", script
                )
            results["webhooks_1_client"] = webhook_rate(port, args.webhooks, 1, top)
            results["webhooks_4_clients"] = webhook_rate(port, args.webhooks, 4, top)
        if shutil.which("wrk"):
            port = free_port()
            with running(cartwise_cmd(port), port, serve_env(fresh_copy(db, work), jobs=False)):
                results["webhooks_wrk_4_connections"] = webhook_rate_wrk(port, work, 30_000, top)

        # the same with 4 threads (gthread): connections are kept alive between deliveries
        port = free_port()
        env = {**serve_env(db, jobs=False), "CARTWISE_SERVER__THREADS": "4"}
        with running(cartwise_cmd(port), port, env):
            results["webhooks_4_clients_gthread"] = webhook_rate(port, args.webhooks, 4, top)
            url = f"http://127.0.0.1:{port}/v1/recommendations"
            ab(url, body, 500, args.concurrency, {"X-Cartwise-Key": key})
            results[f"cartwise_gthread_c{args.concurrency}"] = ab(
                url, body, args.requests, args.concurrency, {"X-Cartwise-Key": key}
            )

        port = free_port()
        with running(cartwise_cmd(port), port, serve_env(fresh_db, jobs=True)):
            seconds = freshness(port, key, args.freshness)
        results["order_to_recommendation_s"] = {
            "rounds": len(seconds),
            "p50": statistics.median(seconds) if seconds else float("nan"),
            "max": max(seconds) if seconds else float("nan"),
        }
        for c in (1, args.concurrency):
            ours = results[f"cartwise_c{c}"]
            ref = results[f"bare_flask_c{c}"]
            assert isinstance(ours, dict) and isinstance(ref, dict)
            results[f"ratio_rps_c{c}"] = ours["rps"] / ref["rps"]
        ours = results.get("cartwise_distinct_carts_wrk_c8")
        ref = results.get("bare_flask_wrk_c8")
        if isinstance(ours, dict) and isinstance(ref, dict):
            results["ratio_rps_distinct_carts_wrk_c8"] = ours["rps"] / ref["rps"]
        print(json.dumps(results, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
