"""What the fault tests and `benchmarks/reliability.py` share: a fresh database with one seeded
Shopify shop, `cartwise serve` (and, when asked, separate job workers) in subprocesses, a sender
that retries every delivery until it is acknowledged as Shopify does, a killer that SIGKILLs
workers at random moments, a storefront load, and the audit that compares what was stored and
what the model counts with what the sender knows.

Every order is created at the same instant, the instant the seeded model was fitted at, so each
order weighs exactly 1 in the model's decayed per-product counts: those counts are then whole
numbers that must equal the number of orders holding each product, however the model got them
(fitted from storage or updated one batch at a time).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from cartwise import storage
from cartwise.connector.shopify.tokens import OfflineToken
from cartwise.domain import Order, OrderLine, Platform, Product, ShopRef
from cartwise.installs import create_api_key, save_install
from cartwise.recommender.serialization import load_model
from cartwise.schemas import RecommendationResponse
from cartwise.training import train_shop

__all__ = [
    "POSTGRES_ADMIN_URL",
    "SHOP",
    "Answer",
    "Audit",
    "Delivery",
    "JobRunners",
    "KillRun",
    "Killer",
    "RecommendationLoad",
    "SendReport",
    "Sender",
    "Service",
    "audit",
    "kill_run",
    "make_deliveries",
    "postgres_database",
    "postgres_reachable",
    "seed_shop",
    "service_env",
    "wait_drained",
]

POSTGRES_ADMIN_URL = os.environ.get(
    "CARTWISE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SHOP = "reliability-shop.myshopify.com"
CLIENT_ID = "cartwise-reliability-client"
CLIENT_SECRET = "shpss_reliability_0123456789abcdef0123456789abcdef"
SECRET_KEY = "reliability-secret-key-0123456789abcdef-0123456789"
PRODUCTS = tuple(str(8_000_001 + n) for n in range(30))

# -- databases ---------------------------------------------------------------------------------


def postgres_reachable(admin_url: str = POSTGRES_ADMIN_URL) -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    import psycopg

    try:
        psycopg.connect(admin_url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {admin_url} does not answer: {exc}"
    return None


@contextlib.contextmanager
def postgres_database(
    admin_url: str = POSTGRES_ADMIN_URL, *, host: str | None = None, port: int | None = None
) -> Iterator[tuple[str, str]]:
    """A new database, migrated as a deployment does (`cartwise db upgrade`), dropped at the
    end; yields (its URL for the app, its URL straight to the server). `host`/`port` put
    something in between for the app (a fault proxy)."""
    import psycopg
    from sqlalchemy import make_url

    from cartwise.storage import migrate

    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"cartwise_rel_{uuid.uuid4().hex[:12]}"

    def run(sql: str) -> None:
        # a connection each time: the server may have been restarted in between
        with psycopg.connect(
            admin.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
        ) as conn:
            conn.execute(sql)

    run(f'CREATE DATABASE "{name}"')
    try:
        direct = admin.set(drivername="postgresql+psycopg", database=name)
        migrate.upgrade(direct.render_as_string(hide_password=False))
        app = direct.set(host=host or direct.host, port=port or direct.port)
        yield (
            app.render_as_string(hide_password=False),
            direct.render_as_string(hide_password=False),
        )
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the shop and its deliveries -----------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """The seeded shop: its storefront API key, the instant every order is created at, and
    the seeded orders (id → product ids), the start of the ground truth."""

    api_key: str
    at: datetime
    orders: Mapping[str, tuple[str, ...]]


def _basket(rng: random.Random) -> tuple[str, ...]:
    return tuple(rng.sample(PRODUCTS, rng.randint(1, 4)))


def seed_shop(url: str, *, orders: int = 30, seed: int = 7) -> Seeded:
    """One installed Shopify shop in the database at `url` with a catalog, `orders` orders
    (all created at one instant, a minute ago), a trained model and an API key."""
    rng = random.Random(seed)
    at = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    baskets = {f"seed-{n}": _basket(rng) for n in range(orders)}
    with storage.open(url) as store:
        store.shops.ensure(ShopRef(SHOP, Platform.SHOPIFY))
        store.products.upsert_many(
            SHOP, [Product(p, f"Product {p}", category="gifts", price=5.0) for p in PRODUCTS]
        )
        store.orders.upsert_many(
            SHOP,
            [
                Order(oid, at, tuple(OrderLine(p, 1, 5.0) for p in products))
                for oid, products in baskets.items()
            ],
        )
        train_shop(store, SHOP)
        save_install(
            store, OfflineToken(SHOP, "shpat_reliability", "read_orders", None, None, None)
        )
        _, key = create_api_key(store, SECRET_KEY.encode(), SHOP)
    return Seeded(api_key=key, at=at, orders=baskets)


@dataclass(frozen=True)
class Delivery:
    """One orders/create delivery, signed; its retries carry the same headers, as Shopify's."""

    order_id: str
    products: tuple[str, ...]
    headers: Mapping[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["X-Shopify-Webhook-Id"]


def make_deliveries(n: int, at: datetime, *, seed: int = 11, first_id: int = 1) -> list[Delivery]:
    """`n` distinct signed orders/create deliveries of orders created at `at`."""
    rng = random.Random(seed)
    stamp = at.isoformat()
    out = []
    for order_id in range(first_id, first_id + n):
        products = _basket(rng)
        body = json.dumps(
            {
                "id": order_id,
                "created_at": stamp,
                "updated_at": stamp,
                "currency": "EUR",
                "line_items": [
                    {"id": n, "product_id": int(p), "variant_id": n, "quantity": 1, "price": "5.00"}
                    for n, p in enumerate(products, start=1)
                ],
            }
        ).encode()
        digest = hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": str(uuid.UUID(int=rng.getrandbits(128))),
            "X-Shopify-Event-Id": str(uuid.UUID(int=rng.getrandbits(128))),
            "X-Shopify-Triggered-At": stamp,
        }
        out.append(Delivery(str(order_id), products, headers, body))
    return out


# -- the service -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRunners:
    """Which processes work the job queue: "web" — a thread in each web worker
    (CARTWISE_JOBS__IN_PROCESS=true) — or "worker": `processes` separate `cartwise worker`
    processes, restarted by the harness when they die, as a process supervisor would."""

    kind: Literal["web", "worker"] = "web"
    processes: int = 1


def service_env(
    database_url: str,
    *,
    jobs: JobRunners = JobRunners(),
    redis_url: str | None = None,
    lease_seconds: float = 3.0,
    **extra: str,
) -> dict[str, str]:
    """The environment of every cartwise process of a run (a short job lease: a killed
    worker's jobs are taken up again within seconds)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CARTWISE_") or key == "CARTWISE_TEST_POSTGRES_URL"
    }
    env.update(
        {
            "CARTWISE_DATABASE_URL": database_url,
            "CARTWISE_DEMO_MODE": "false",
            "CARTWISE_SECRET_KEY": SECRET_KEY,
            "CARTWISE_SHOPIFY__CLIENT_ID": CLIENT_ID,
            "CARTWISE_SHOPIFY__CLIENT_SECRET": CLIENT_SECRET,
            "CARTWISE_JOBS__IN_PROCESS": "true" if jobs.kind == "web" else "false",
            "CARTWISE_JOBS__LEASE_SECONDS": str(lease_seconds),
            # a training that others' updates overtook is redone after this quiet time
            "CARTWISE_JOBS__REBUILD_DELAY_SECONDS": "2",
        }
    )
    if redis_url:
        env["CARTWISE_REDIS_URL"] = redis_url
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (read from /proc: no dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def cartwise_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("cartwise")), *args]


class Service:
    """`cartwise serve --workers N` on a free loopback port, plus the job runners, with their
    output in `logs`. A context manager; `stop()` is SIGTERM, then SIGKILL after a while."""

    def __init__(
        self,
        env: Mapping[str, str],
        logs: Path,
        *,
        web_workers: int = 2,
        jobs: JobRunners = JobRunners(),
        boot_timeout: float = 60.0,
    ) -> None:
        self.env = dict(env)
        self.logs = logs
        self.web_workers = web_workers
        self.jobs = jobs
        self.port = free_port()
        self._boot_timeout = boot_timeout
        self._arbiter: subprocess.Popen[bytes] | None = None
        self._job_procs: list[subprocess.Popen[bytes]] = []
        self._supervising = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()
        self.job_restarts = 0

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as out:
            return subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def start(self) -> None:
        serve = ["serve", "--port", str(self.port), "--workers", str(self.web_workers)]
        self._arbiter = self._spawn("serve", cartwise_command(*serve))
        self._wait_up()
        if self.jobs.kind == "worker":
            for n in range(self.jobs.processes):
                self._job_procs.append(self._spawn(f"worker-{n}", cartwise_command("worker")))
            self._supervising.set()
            self._supervisor = threading.Thread(target=self._supervise, daemon=True)
            self._supervisor.start()

    def _wait_up(self) -> None:
        """Until the port answers HTTP with every web worker booted."""
        assert self._arbiter is not None
        deadline = time.monotonic() + self._boot_timeout
        while time.monotonic() < deadline:
            if self._arbiter.poll() is not None:
                raise RuntimeError(
                    f"cartwise serve exited with {self._arbiter.returncode}; see {self.logs}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                ok = conn.getresponse().status == 200
                conn.close()
                if ok and len(self.web_pids()) >= self.web_workers:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"cartwise serve did not answer within {self._boot_timeout:.0f}s")

    @property
    def arbiter_alive(self) -> bool:
        return self._arbiter is not None and self._arbiter.poll() is None

    def web_pids(self) -> list[int]:
        """The gunicorn workers: children of the arbiter (which is never killed)."""
        return [] if self._arbiter is None else _children(self._arbiter.pid)

    def job_pids(self) -> list[int]:
        """The processes that work the job queue."""
        if self.jobs.kind == "web":
            return self.web_pids()
        with self._lock:
            return [p.pid for p in self._job_procs if p.poll() is None]

    def _supervise(self) -> None:
        while self._supervising.wait(0.2) and self._supervising.is_set():
            with self._lock:
                for n, proc in enumerate(self._job_procs):
                    if proc.poll() is not None and self._supervising.is_set():
                        self._job_procs[n] = self._spawn(f"worker-{n}", cartwise_command("worker"))
                        self.job_restarts += 1

    def stop(self) -> None:
        self._supervising.clear()
        if self._supervisor is not None:
            self._supervisor.join(5)
        procs = [*self._job_procs, *([self._arbiter] if self._arbiter else [])]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- faults and load -----------------------------------------------------------------------


@dataclass
class Kill:
    at: float
    """Seconds since the killer started."""
    role: str
    pid: int


class Killer:
    """SIGKILLs a random process from `targets()` (role → pids) after a random pause drawn from
    `pause` seconds, again and again, until `stop()`; `kills` lists what it did."""

    def __init__(
        self,
        targets: Callable[[], Mapping[str, Sequence[int]]],
        *,
        pause: tuple[float, float] = (0.5, 1.5),
        seed: int = 3,
    ) -> None:
        self._targets = targets
        self._pause = pause
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="killer", daemon=True)
        self.kills: list[Kill] = []

    def start(self) -> Killer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self._rng.uniform(*self._pause)):
            choices = [(role, pid) for role, pids in self._targets().items() for pid in pids]
            if not choices:
                continue
            role, pid = self._rng.choice(sorted(set(choices)))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                self.kills.append(Kill(time.monotonic() - started, role, pid))


@dataclass
class SendReport:
    sent: int = 0
    attempts: int = 0
    acked: dict[str, str] = field(default_factory=dict)
    """webhook id → the outcome the service answered ("stored" or "duplicate")."""
    unacked: list[str] = field(default_factory=list)
    """webhook ids still not acknowledged when the sender gave up."""
    outcomes: Counter[str] = field(default_factory=Counter)
    """Every attempt's result: an HTTP status, or the name of the connection error."""
    bodies_500: list[str] = field(default_factory=list)
    ack_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0


class Sender:
    """Posts every delivery from `threads` client threads, each retrying its delivery (same
    headers, same body) on a connection error, a timeout, 429 or a 5xx until it gets a 200,
    for at most `give_up` seconds per delivery; a request takes at most `timeout` seconds, as
    Shopify's 5 s. Any other status is a failure of the service, kept in `outcomes`. With
    `spread`, the deliveries start evenly over at least that many seconds (a fast machine
    would otherwise send them all before anything else in the run has happened)."""

    def __init__(
        self,
        port: int,
        deliveries: Sequence[Delivery],
        *,
        threads: int = 4,
        timeout: float = 5.0,
        give_up: float = 120.0,
        spread: float = 0.0,
        seed: int = 5,
    ) -> None:
        self._port = port
        self._shares = [list(deliveries[n::threads]) for n in range(threads)]
        self._gap = spread / max(1, len(deliveries))
        self._threads = threads
        self._timeout = timeout
        self._give_up = give_up
        self._seed = seed
        self._lock = threading.Lock()
        self.report = SendReport()

    def run(self) -> SendReport:
        started = time.monotonic()
        workers = [
            threading.Thread(target=self._send, args=(share, n, started), daemon=True)
            for n, share in enumerate(self._shares)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _send(self, share: list[Delivery], n: int, started: float) -> None:
        rng = random.Random(self._seed * 1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=self._timeout)
        try:
            for i, delivery in enumerate(share):
                # delivery i of thread n is number i * threads + n of the whole sequence
                due = started + (i * self._threads + n) * self._gap
                time.sleep(max(0.0, due - time.monotonic()))
                self._deliver(conn, delivery, rng)
        finally:
            conn.close()

    def _deliver(
        self, conn: http.client.HTTPConnection, delivery: Delivery, rng: random.Random
    ) -> None:
        first = time.monotonic()
        tries = 0
        while True:
            tries += 1
            started = time.monotonic()
            try:
                conn.request(
                    "POST", "/webhooks/shopify", body=delivery.body, headers=delivery.headers
                )
                response = conn.getresponse()
                body = response.read()
                outcome = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                outcome, body, response = type(exc).__name__, b"", None
            with self._lock:
                self.report.attempts += 1
                self.report.outcomes[outcome] += 1
                if response is not None and response.status == 500:
                    self.report.bodies_500.append(body.decode(errors="replace")[:500])
            if response is not None and response.status == 200:
                with self._lock:
                    self.report.sent += 1
                    self.report.acked[delivery.webhook_id] = json.loads(body)["status"]
                    self.report.ack_seconds.append(time.monotonic() - started)
                return
            retryable = response is None or response.status in (408, 429) or response.status >= 500
            if not retryable or time.monotonic() - first > self._give_up:
                with self._lock:
                    self.report.sent += 1
                    self.report.unacked.append(delivery.webhook_id)
                return
            time.sleep(min(1.0, 0.02 * 2 ** min(tries, 6)) * rng.uniform(0.5, 1.0))


@dataclass
class Answer:
    at: float
    """Seconds since the load started."""
    seconds: float
    status: int | str
    valid: bool
    source: str | None


class RecommendationLoad:
    """A steady storefront: `threads` clients asking `POST /v1/recommendations` in a loop (a
    session id on each, so the shared response cache is used), each answer checked against
    the response schema. `answers` keeps every one; `mark(name)` notes a moment."""

    def __init__(
        self,
        port: int,
        api_key: str,
        *,
        threads: int = 2,
        timeout: float = 10.0,
        pause: float = 0.0,
        seed: int = 9,
    ) -> None:
        self._port = port
        self._headers = {"Content-Type": "application/json", "X-Cartwise-Key": api_key}
        self._threads = threads
        self._timeout = timeout
        self._pause = pause
        self._seed = seed
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._started = 0.0
        self.answers: list[Answer] = []
        self.marks: dict[str, float] = {}
        self.errors: Counter[str] = Counter()
        """The bodies of non-200 answers (trimmed), counted."""

    def start(self) -> RecommendationLoad:
        self._started = time.monotonic()
        self._workers = [
            threading.Thread(target=self._ask, args=(n,), daemon=True) for n in range(self._threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def now(self) -> float:
        return time.monotonic() - self._started

    def mark(self, name: str) -> None:
        self.marks[name] = self.now()

    def stop(self) -> list[Answer]:
        self._stop.set()
        for worker in self._workers:
            worker.join(self._timeout + 5)
        return self.answers

    def between(self, start: str, end: str | None = None) -> list[Answer]:
        low = self.marks[start]
        high = self.marks[end] if end else float("inf")
        with self._lock:
            return [a for a in self.answers if low <= a.at < high]

    def _ask(self, n: int) -> None:
        rng = random.Random(self._seed * 1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=self._timeout)
        while not self._stop.is_set():
            cart = rng.sample(PRODUCTS, rng.randint(1, 3))
            body = json.dumps(
                {
                    "cart": [{"product_id": p} for p in cart],
                    "k": 4,
                    "session_id": f"s{rng.randrange(50)}",
                }
            )
            at = self.now()
            started = time.monotonic()
            status: int | str
            valid, source = False, None
            try:
                conn.request("POST", "/v1/recommendations", body=body, headers=self._headers)
                response = conn.getresponse()
                raw = response.read()
                status = response.status
                if status == 200:
                    try:
                        answer = RecommendationResponse.model_validate_json(raw)
                        valid, source = bool(answer.items), answer.source
                    except ValidationError:
                        valid = False
                else:
                    with self._lock:
                        self.errors[f"{status} {raw.decode(errors='replace')[:300]}"] += 1
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                status = type(exc).__name__
            with self._lock:
                self.answers.append(Answer(at, time.monotonic() - started, status, valid, source))
            if self._pause:
                self._stop.wait(self._pause)
        conn.close()


# -- after the run -----------------------------------------------------------------------------


def wait_drained(store: storage.Store, *, timeout: float = 60.0) -> float:
    """Seconds until no job is due, scheduled or running; TimeoutError after `timeout`."""
    started = time.monotonic()
    while True:
        pending = store.jobs.pending()
        if not any(pending.values()):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"the job queue did not drain within {timeout:.0f}s: {pending}")
        time.sleep(0.2)


@dataclass
class Audit:
    """What storage and the model hold against what the sender knows. Every list empty and
    every mismatch map empty means nothing was lost or counted twice."""

    acked: int
    lost_events: list[str]
    """Acknowledged deliveries with no event stored."""
    duplicated_events: list[str]
    """Deliveries stored more than once."""
    unprocessed_events: list[str]
    """Events still pending, or failed."""
    ignored_events: int
    """Events whose job ran again after a kill and found its order already stored."""
    lost_orders: list[str]
    duplicated_orders: list[str]
    storage_counts_off: dict[str, tuple[int, int]]
    """product → (ground truth, orders in storage holding it), where they differ."""
    model_counts_off: dict[str, tuple[int, float]]
    """product → (ground truth, the latest model's count), where they differ."""
    model_interactions: tuple[int, int]
    """(ground truth order lines, the model's)."""
    model_version: int
    jobs: dict[str, int]
    dead_letters: int

    @property
    def storage_ok(self) -> bool:
        """Every acknowledged event and every order stored exactly once, and applied."""
        return not (
            self.lost_events
            or self.duplicated_events
            or self.unprocessed_events
            or self.lost_orders
            or self.duplicated_orders
            or self.storage_counts_off
            or self.jobs.get("failed", 0)
            or self.dead_letters
        )

    @property
    def model_ok(self) -> bool:
        """The model counts every order exactly once."""
        return (
            not self.model_counts_off and self.model_interactions[0] == self.model_interactions[1]
        )

    def summary(self) -> dict[str, object]:
        truth, model = self.model_interactions
        return {
            "acked": self.acked,
            "lost_events": len(self.lost_events),
            "duplicated_events": len(self.duplicated_events),
            "unprocessed_events": len(self.unprocessed_events),
            "events_ignored_on_retry": self.ignored_events,
            "lost_orders": len(self.lost_orders),
            "duplicated_orders": len(self.duplicated_orders),
            "products_miscounted_in_storage": len(self.storage_counts_off),
            "products_miscounted_in_model": len(self.model_counts_off),
            "model_order_lines_truth": truth,
            "model_order_lines_counted": model,
            "model_version": self.model_version,
            "jobs": self.jobs,
            "dead_letters": self.dead_letters,
        }


def audit(
    store: storage.Store, seeded: Seeded, deliveries: Sequence[Delivery], report: SendReport
) -> Audit:
    """Compare storage and the latest model with the ground truth: the seeded orders and every
    delivery sent (each one was either acknowledged or is listed as unacknowledged)."""
    truth_orders = dict(seeded.orders)
    truth_orders.update({d.order_id: d.products for d in deliveries})
    truth = Counter(p for products in truth_orders.values() for p in products)
    events = store.events.for_shop(SHOP)
    stored = Counter(e.delivery_id for e in events)
    orders = Counter(o.order_id for o in store.orders.iter(SHOP))
    in_storage: Counter[str] = Counter()
    for order in store.orders.iter(SHOP):
        in_storage.update({line.product_id for line in order.lines})
    artifact = store.models.latest(SHOP)
    assert artifact is not None
    model = load_model(artifact.blob)
    counts = dict(zip(model.ids, model.arrays["count"].tolist(), strict=True))
    products = sorted(set(truth) | set(counts))
    return Audit(
        acked=len(report.acked),
        lost_events=sorted(set(report.acked) - set(stored)),
        duplicated_events=sorted(d for d, n in stored.items() if n > 1),
        unprocessed_events=sorted(
            e.delivery_id for e in events if e.status not in ("processed", "ignored")
        ),
        ignored_events=sum(e.status == "ignored" for e in events),
        lost_orders=sorted(set(truth_orders) - set(orders)),
        duplicated_orders=sorted(o for o, n in orders.items() if n > 1),
        storage_counts_off={
            p: (truth[p], in_storage[p]) for p in products if truth[p] != in_storage[p]
        },
        model_counts_off={
            p: (truth[p], counts.get(p, 0.0)) for p in products if truth[p] != counts.get(p, 0.0)
        },
        model_interactions=(
            sum(len(products) for products in truth_orders.values()),
            int(model.header["n_interactions"]),
        ),
        model_version=artifact.version,
        jobs=store.jobs.counts(SHOP),
        dead_letters=len(store.events.dead_letters(SHOP)),
    )


# -- a whole kill -9 run -------------------------------------------------------------------


def sqlite_integrity(url: str) -> str | None:
    """`PRAGMA integrity_check` of the SQLite file at `url`; None for another database."""
    import sqlite3

    if not url.startswith("sqlite:///"):
        return None
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@dataclass
class KillRun:
    """What a kill -9 run did and found: the sender's report, the kills (and how many fell
    while deliveries were still being sent), the audit once the queue drained, and the audit
    after one more rebuild of the model from storage."""

    report: SendReport
    kills: list[Kill]
    kills_while_sending: int
    drain_seconds: float
    at_drain: Audit
    after_rebuild: Audit
    integrity: str | None
    """SQLite's `PRAGMA integrity_check` after the run ("ok"); None on PostgreSQL."""


def kill_run(
    url: str,
    logs: Path,
    *,
    deliveries: int,
    jobs: JobRunners = JobRunners(),
    web_workers: int = 2,
    threads: int = 4,
    pause: tuple[float, float] = (0.3, 0.9),
    env: Mapping[str, str] | None = None,
    direct_url: str | None = None,
    drain_timeout: float = 90.0,
    spread: float = 5.0,
) -> KillRun:
    """Seed the shop at `url`, serve it, send `deliveries` orders while SIGKILLing a random web
    worker or job runner every `pause` seconds (the deliveries spread over at least `spread`
    seconds, so that the killer strikes while they arrive also on a fast machine), wait for
    the queue to drain, audit; then queue a rebuild, wait again and audit again. `direct_url`
    is how the harness itself reaches the database (default `url`)."""
    from cartwise.ingestion import REBUILD

    direct = direct_url or url
    seeded = seed_shop(direct)
    sent = make_deliveries(deliveries, seeded.at)
    with Service(
        {**service_env(url, jobs=jobs), **(env or {})}, logs, web_workers=web_workers, jobs=jobs
    ) as service:
        targets: Callable[[], Mapping[str, Sequence[int]]] = lambda: {  # noqa: E731
            "web": service.web_pids(),
            "jobs": service.job_pids(),
        }
        killer = Killer(targets, pause=pause).start()
        report = Sender(service.port, sent, threads=threads, spread=spread).run()
        killer.stop()
        with storage.open(direct) as store:
            drain_seconds = wait_drained(store, timeout=drain_timeout)
            at_drain = audit(store, seeded, sent, report)
            store.jobs.enqueue(REBUILD, SHOP, dedupe_key=f"{REBUILD}:{SHOP}")
            wait_drained(store, timeout=drain_timeout)
            after_rebuild = audit(store, seeded, sent, report)
    return KillRun(
        integrity=sqlite_integrity(direct),
        report=report,
        kills=killer.kills,
        kills_while_sending=sum(k.at < report.seconds for k in killer.kills),
        drain_seconds=drain_seconds,
        at_drain=at_drain,
        after_rebuild=after_rebuild,
    )
