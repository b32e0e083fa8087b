"""Mixed load on the production profile: recommendations from wrk while signed order webhooks
arrive at a steady rate and `cartwise worker` ingests them, for 1, 2 and 4 gunicorn workers.

    python benchmarks/load.py [--workers 1,2,4] [--seconds 10] [--webhooks-per-second 100]
                              [--profile postgres|sqlite|both]

postgres: PostgreSQL on 127.0.0.1:5432 (a fresh database per run, dropped after), Redis on
127.0.0.1:6379 (the shared response cache, rate limits and RQ tickets: queue and keys of a name
of the run's own), web workers without a job thread and one `cartwise worker` process beside
them. sqlite: the embedded profile (one file, jobs in the web workers' threads). Load: wrk (8
connections, `apt-get install wrk`) cycling through up to 3,000 distinct carts of the shop's real
orders (anonymous shoppers, k=10), each cart seen again only after the others, so answers are
computed, not remembered; webhooks from 4 Python threads on one schedule at a fixed rate,
every delivery new, retried until acknowledged. Printed per worker count: recommendations/s,
p50/p99, non-2xx, webhooks acknowledged/s and their p99, and once the run is over how long
the queue took to drain and whether every delivery became exactly one stored order. The
reference, measured in the same run, is the bare Flask JSON endpoint with the same worker count
under the same wrk load.
Needs `pip install -e ".[server]"`.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import http_service as hs
from local_servers import free_port

from cartwise import storage

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


@contextmanager
def postgres_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    name = f"cartwise_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class WebhookSender:
    """Signed orders/create deliveries at `rate` per second until stopped, from `threads`
    client threads sharing one schedule (a delivery waits in the listen queue behind the
    storefront's connections, so one thread alone falls behind the rate); a delivery not
    acknowledged with 200 is sent again (as Shopify does), so each is stored once."""

    def __init__(
        self, port: int, rate: float, products: list[str], first_id: int, threads: int = 4
    ) -> None:
        self._port = port
        self._rate = rate
        self._products = products
        self._next_id = first_id
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._send, daemon=True)
            for _ in range(threads if rate > 0 else 0)
        ]
        self.stop = threading.Event()
        self.acked: list[int] = []
        self.latencies: list[float] = []
        self.retries = 0

    def start(self) -> None:
        self._started = time.perf_counter()
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _send(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=10)
        while not self.stop.is_set():
            with self._lock:
                n = next(self._numbers)
            wait = self._started + n / self._rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if self.stop.is_set():
                break
            order_id = self._next_id + n
            cart = self._products[n % 5 : n % 5 + 3]
            headers, body = hs.signed("orders/create", hs.order_payload(order_id, cart))
            while True:
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/webhooks/shopify", body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=10)
                    ok = False
                if ok:
                    with self._lock:
                        self.latencies.append(time.perf_counter() - t0)
                        self.acked.append(order_id)
                    break
                with self._lock:
                    self.retries += 1
                time.sleep(0.05)
        conn.close()


def drained(db_url: str, shop: str, expected: int, timeout: float = 120.0) -> float:
    """Seconds until the shop holds `expected` orders more than the seed and no job is due."""
    started = time.monotonic()
    with storage.open(db_url) as store:
        while time.monotonic() - started < timeout:
            pending = store.jobs.pending()
            idle = pending["due"] == 0 and pending["running"] == 0
            if idle and store.orders.count(shop) >= expected:
                return time.monotonic() - started
            time.sleep(0.2)
    return float("inf")


def run_profile(profile: str, workers: list[int], seconds: int, rate: float) -> dict[str, object]:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    cartwise = str(Path(sys.executable).with_name("cartwise"))
    work = Path(tempfile.mkdtemp(prefix="cartwise-load-"))
    results: dict[str, object] = {"profile": profile, "machine": f"{os.cpu_count()} cores"}
    try:
        with _database(profile, work) as db_url:
            key, top = hs.seed(db_url)
            carts = hs.distinct_carts(db_url, 3000)
            results["distinct_carts"] = len(carts)
            (work / "bare").mkdir()
            (work / "bare" / "app.py").write_text(hs.BARE_APP)
            next_id = 60_000_000
            for n in workers:
                row: dict[str, object] = {}
                port = free_port()
                bare = [gunicorn, "-w", str(n), "-b", f"127.0.0.1:{port}", "--chdir"]
                with hs.running([*bare, str(work / "bare"), "app:app"], port, dict(os.environ)):
                    script = hs.carts_script(work, "/recommend", key, carts)
                    hs.wrk_rate(f"http://127.0.0.1:{port}", script, 2)
                    row["bare_flask"] = hs.wrk_rate(f"http://127.0.0.1:{port}", script, seconds)

                queue = f"cartwise-load-{uuid.uuid4().hex[:8]}"
                env = {
                    **hs.serve_env(db_url, jobs=profile == "sqlite"),
                    "CARTWISE_SERVER__WORKERS": str(n),
                    "CARTWISE_JOBS__QUEUE": queue,
                }
                if profile == "postgres":
                    env["CARTWISE_REDIS_URL"] = REDIS_URL
                port = free_port()
                with storage.open(db_url) as store:
                    before = store.orders.count(hs.SHOP)
                with (
                    _maybe_worker(profile, cartwise, env),
                    hs.running(hs.cartwise_cmd(port), port, env),
                ):
                    script = hs.carts_script(work, "/v1/recommendations", key, carts)
                    hs.wrk_rate(f"http://127.0.0.1:{port}", script, 2)  # models loaded
                    sender = WebhookSender(port, rate, top, next_id)
                    sender.start()
                    row["cartwise"] = hs.wrk_rate(f"http://127.0.0.1:{port}", script, seconds)
                    sender.stop.set()
                    sender.join()
                    next_id += 1_000_000
                    lat = sorted(sender.latencies)
                    row["webhooks"] = {
                        "acked": len(sender.acked),
                        "per_s": len(sender.acked) / seconds,
                        "retries": sender.retries,
                        "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else float("nan"),
                    }
                    took = drained(db_url, hs.SHOP, before + len(set(sender.acked)))
                    with storage.open(db_url) as store:
                        stored = store.orders.count(hs.SHOP) - before
                    row["drained_s"] = took
                    row["orders_stored"] = stored
                    row["orders_lost_or_doubled"] = stored - len(set(sender.acked))
                ours, ref = row["cartwise"], row["bare_flask"]
                assert isinstance(ours, dict) and isinstance(ref, dict)
                row["ratio_rps"] = ours["rps"] / ref["rps"]
                results[f"workers_{n}"] = row
                print(json.dumps({f"{profile}_workers_{n}": row}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


@contextmanager
def _database(profile: str, work: Path) -> Iterator[str]:
    if profile == "postgres":
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{work / 'cartwise.db'}"


@contextmanager
def _maybe_worker(profile: str, cartwise: str, env: dict[str, str]) -> Iterator[None]:
    if profile != "postgres":
        yield
        return
    with hs.running([cartwise, "worker"], None, env):
        yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--webhooks-per-second", type=float, default=100.0)
    parser.add_argument("--profile", choices=["postgres", "sqlite", "both"], default="both")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    workers = [int(w) for w in args.workers.split(",")]
    profiles = ["sqlite", "postgres"] if args.profile == "both" else [args.profile]
    out = []
    for profile in profiles:
        chosen = workers if profile == "postgres" else [1]
        out.append(run_profile(profile, chosen, args.seconds, args.webhooks_per_second))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
