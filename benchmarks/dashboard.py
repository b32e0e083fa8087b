"""The embedded dashboard's server time per section for a shop with 1,000,000 storefront events.

    python benchmarks/dashboard.py [--events 1000000] [--orders 25000] [--days 180] [--renders 20]
        [--db PATH]

1. Seeds a fresh SQLite file (or reuses `--db` when it already holds the shop): a catalog of
   500 products, `--orders` orders over the period (more than the back-test's cap of 20,000)
   and a model trained on them, `--events` storefront events spread over `--days` days and
   four placements, stored through `store.tracking.add_many` in batches of 5,000 (so the daily
   rollup is the one ingestion maintains, and is checked against the events afterwards),
   20,000 webhook deliveries, a second shop with its own 100,000 events, and a running
   experiment of 20,000 visitors with its readout computed.
2. Renders each section (`GET /app/fragments/<name>` with an App Bridge token, through the
   WSGI test client, so no network) and the shell and preview `--renders` times, after one
   warm-up, and prints the median and p95 in milliseconds; then the back-test once cold and
   once from memory. Goal: every section ≤ 200 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from pydantic import SecretStr
from sqlalchemy import func, select

from cartwise import storage
from cartwise.api import create_app
from cartwise.connector.shopify.tokens import OfflineToken
from cartwise.domain import Order, OrderLine, Platform, Product, ShopRef
from cartwise.installs import save_install
from cartwise.readouts import compute_readout
from cartwise.schemas import TrackedEvent
from cartwise.settings import RateLimitSettings, Settings, ShopifySettings
from cartwise.storage import Store
from cartwise.storage.experiments import ExposureRecord
from cartwise.storage.schema import event_daily, shops, tracked_events
from cartwise.training import train_shop

SHOP = "bench-dashboard.myshopify.com"
OTHER = "bench-neighbour.myshopify.com"
CLIENT_ID = "bench-dashboard-client"
CLIENT_SECRET = "shpss_bench_dashboard_secret_0123456789abcdef01234567"
SECTIONS = ("overview", "kpis", "experiments", "rules", "backtest")
PLACEMENTS: tuple[str | None, ...] = ("cart", "checkout", "product", None)
PLACEMENT_WEIGHTS = (0.5, 0.25, 0.2, 0.05)
KINDS = ("impression", "click", "add_to_cart")
KIND_WEIGHTS = (0.9, 0.07, 0.03)
BATCH = 5_000


def token() -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://{SHOP}/admin",
        "dest": f"https://{SHOP}",
        "aud": CLIENT_ID,
        "sub": "1",
        "exp": now + 600,
        "nbf": now - 5,
        "iat": now - 5,
        "jti": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
    }
    return jwt.encode(claims, CLIENT_SECRET, algorithm="HS256")


def install(store: Store, shop: str) -> None:
    store.shops.ensure(ShopRef(shop, Platform.SHOPIFY))
    save_install(
        store,
        OfflineToken(
            shop=shop,
            access_token="shpat_bench",
            scope="read_orders,read_products",
            expires_at=None,
            refresh_token=None,
            refresh_expires_at=None,
        ),
    )


def add_events(store: Store, shop: str, n: int, days: int, rng: random.Random) -> float:
    """`n` events over the last `days` days, in batches of `BATCH`; returns seconds taken."""
    now = datetime.now(UTC)
    start = time.perf_counter()
    done = 0
    while done < n:
        size = min(BATCH, n - done)
        batch = [
            TrackedEvent.model_construct(
                kind=kind,
                product_id=f"p{rng.randrange(500)}",
                session_id=f"s{rng.randrange(200_000)}",
                request_id=None,
                placement=placement,
                occurred_at=now - timedelta(seconds=rng.uniform(0, days * 86_400)),
                event_id=f"{shop[:8]}-{done + i}",
            )
            for i, placement, kind in zip(
                range(size),
                rng.choices(PLACEMENTS, PLACEMENT_WEIGHTS, k=size),
                rng.choices(KINDS, KIND_WEIGHTS, k=size),
                strict=True,
            )
        ]
        done += store.tracking.add_many(shop, batch)
        if done % 100_000 < BATCH:
            print(f"  {shop}: {done:,} events ({time.perf_counter() - start:.0f} s)", flush=True)
    return time.perf_counter() - start


def check_rollup(store: Store, shop: str, engine_url: str) -> None:
    """The rollup's totals per placement and kind equal a count of the events themselves."""
    from sqlalchemy import create_engine

    engine = create_engine(engine_url)
    with engine.connect() as conn:
        shop_id = conn.execute(select(shops.c.id).where(shops.c.domain == shop)).scalar_one()
        raw = {
            (str(p or ""), str(k)): int(c)
            for p, k, c in conn.execute(
                select(tracked_events.c.placement, tracked_events.c.kind, func.count())
                .where(tracked_events.c.shop_id == shop_id)
                .group_by(tracked_events.c.placement, tracked_events.c.kind)
            )
        }
        rolled = {
            (str(p), str(k)): int(c)
            for p, k, c in conn.execute(
                select(event_daily.c.placement, event_daily.c.kind, func.sum(event_daily.c.count))
                .where(event_daily.c.shop_id == shop_id)
                .group_by(event_daily.c.placement, event_daily.c.kind)
            )
        }
    engine.dispose()
    if raw != rolled:
        raise SystemExit(f"the rollup disagrees with the events: {raw} != {rolled}")
    print(f"  rollup checked: {sum(rolled.values()):,} events in {len(rolled)} cells")


def seed(store: Store, url: str, events: int, n_orders: int, days: int) -> None:
    rng = random.Random(42)
    now = datetime.now(UTC)
    for shop in (SHOP, OTHER):
        install(store, shop)
        store.products.upsert_many(
            shop,
            [
                Product(f"p{i}", f"Product {i}", category=f"c{i % 12}", price=5.0 + i % 40)
                for i in range(500)
            ],
        )
    orders = [
        Order(
            f"o{n}",
            now - timedelta(days=days) + timedelta(seconds=n * days * 86_400 / n_orders),
            tuple(
                OrderLine(f"p{p}", 1, 5.0 + p % 40)
                for p in {int(rng.paretovariate(1.2) * 7) % 500 for _ in range(rng.randint(1, 4))}
            ),
            customer_id=f"c{rng.randrange(3_000)}" if rng.random() < 0.6 else None,
        )
        for n in range(n_orders)
    ]
    store.orders.upsert_many(SHOP, orders)
    train_shop(store, SHOP)
    print(f"seeding {events:,} events for {SHOP} …", flush=True)
    seconds = add_events(store, SHOP, events, days, rng)
    print(f"  {events / seconds:,.0f} events/s through add_many")
    add_events(store, OTHER, 100_000, days, rng)
    check_rollup(store, SHOP, url)
    with store.transaction() as tx:
        for n in range(20_000):
            tx.events.add_raw(
                SHOP,
                delivery_id=f"d{n}",
                topic="orders/create",
                body=b"",
                headers={},
            )
    started = now - timedelta(days=14)
    definition = {
        "arms": [{"key": "control", "kind": "no_recommendations"}, {"key": "model"}],
        "holdout_share": 0.05,
        "planned_visitors_per_arm": 40_000,
    }
    store.experiments.start(SHOP, "checkout-recs", definition, started)
    store.experiments.record_exposures(
        SHOP,
        [
            ExposureRecord(
                "checkout-recs",
                f"s{n}",
                "cart",
                "model" if n % 2 else "control",
                n % 20 == 0,
                started + timedelta(minutes=n % 10_000),
                started + timedelta(minutes=n % 10_000 + 5),
            )
            for n in range(20_000)
        ],
    )
    start = time.perf_counter()
    compute_readout(store, SHOP, "checkout-recs")
    print(f"  readout of 20,000 visitors computed in {time.perf_counter() - start:.1f} s")


def measure(call: Callable[[], int], renders: int) -> tuple[float, float]:
    """(median, p95) in ms of `renders` calls after one warm-up."""
    if call() != 200:
        raise SystemExit("a warm-up render failed")
    times = []
    for _ in range(renders):
        start = time.perf_counter()
        status = call()
        times.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise SystemExit(f"a render answered {status}")
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=25_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--db", type=Path, help="a SQLite file to seed once and reuse")
    args = parser.parse_args()
    path = args.db or Path(tempfile.mkdtemp(prefix="cartwise-dashboard-")) / "cartwise.db"
    url = f"sqlite:///{path}"
    store = storage.open(url)
    if store.shops.get(SHOP) is None:
        seed(store, url, args.events, args.orders, args.days)
    counts = Counter[str](store.tracking.counts(SHOP))
    print(f"shop {SHOP}: {sum(counts.values()):,} events, {store.orders.count(SHOP):,} orders")
    settings = Settings(
        demo_mode=False,
        secret_key=SecretStr("bench-dashboard-secret-key-0123456789abcdef"),
        shopify=ShopifySettings(client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)),
        # the renders come faster than a merchant's clicks: the admin limit would refuse them
        rate_limits=RateLimitSettings(enabled=False),
    )
    client = create_app(settings, store=store, start_worker=False).test_client()

    def bearer() -> dict[str, str]:
        return {"Authorization": f"Bearer {token()}"}

    rows: list[tuple[str, float, float]] = []

    def section(name: str) -> Callable[[], int]:
        return lambda: client.get(f"/app/fragments/{name}", headers=bearer()).status_code

    for name in SECTIONS:
        rows.append((f"GET /app/fragments/{name}", *measure(section(name), args.renders)))
    rows.append(
        (
            "GET /app (shell)",
            *measure(
                lambda: client.get(f"/app?shop={SHOP}&id_token={token()}").status_code,
                args.renders,
            ),
        )
    )
    rows.append(
        (
            "POST /app/preview",
            *measure(
                lambda: (
                    client.post(
                        "/app/preview", json={"cart": ["p1", "p7"]}, headers=bearer()
                    ).status_code
                ),
                args.renders,
            ),
        )
    )
    print(f"\n{'request':<34} {'median ms':>10} {'p95 ms':>10}  (≤ 200 ms goal for sections)")
    for label, median, p95 in rows:
        print(f"{label:<34} {median:>10.1f} {p95:>10.1f}")
    for attempt in ("cold", "from memory"):
        start = time.perf_counter()
        response = client.post("/app/backtest", headers=bearer())
        wall = time.perf_counter() - start
        body = response.get_json()
        print(
            f"POST /app/backtest, {attempt}: {wall:.2f} s wall, reported {body['seconds']:.2f} s, "
            f"{body['orders_used']:,} orders, {body['cases']:,} cases, cached={body['cached']}"
        )
    store.close()
    print(f"\ndatabase: {path}")


if __name__ == "__main__":
    main()
