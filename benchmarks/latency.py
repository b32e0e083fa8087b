"""In-process cost of the engine on one shop: fit time, model memory, recommend() and update().

    python benchmarks/latency.py [--data DIR] [--n 5000]

The engine is fit on the training period of the project's temporal split (`cartwise.evaluation`)
and asked for k=10 with the real carts (and customers) of the test period's basket cases,
cycled to `--n` calls, on one thread. A numpy top-10 over a catalog-sized score vector, timed in
the same run, is the floor to read the figures against on a noisy machine. No HTTP, JSON or
network is included. Needs `pip install -e ".[server,bench]"`.
"""

from __future__ import annotations

import os

# One thread everywhere, fixed before numpy (and its BLAS) is imported.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psutil
from threadpoolctl import threadpool_limits

import cartwise
from cartwise.connector.csv_files import find_dataset, read_orders, read_products
from cartwise.evaluation import basket_cases, temporal_split
from cartwise.recommender import HybridRecommender
from cartwise.recommender.records import to_interactions, to_items

K = 10
WARMUP = 100
SAMPLE_DATA = Path(cartwise.__file__).parent / "sample_data"


def _ms(samples_ns: Sequence[int]) -> dict[str, float]:
    arr = np.asarray(samples_ns, dtype=np.float64) / 1e6
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
    }


def _line(label: str, stats: dict[str, float]) -> str:
    figures = "  ".join(f"{key} {value:.3f} ms" for key, value in stats.items())
    return f"{label}: {figures}"


def run(data_dir: Path, n: int) -> None:
    orders_path, products_path = find_dataset(data_dir)
    products = read_products(products_path).records
    orders = read_orders(orders_path).records
    catalog = {p.product_id for p in products} | {ln.product_id for o in orders for ln in o.lines}
    split = temporal_split(orders)
    cases, _ = basket_cases(split, catalog, max_cases=0)
    if not cases:
        raise SystemExit("no test order has two or more products: nothing to time")
    print(
        f"data: {data_dir}; catalog {len(catalog):,} products; train "
        f"{len(split.train):,} orders, test {len(split.test):,} orders; {len(cases):,} test "
        f"carts (mean {np.mean([len(c.cart) for c in cases]):.1f} products, "
        f"{np.mean([c.known_customer for c in cases]):.0%} with a known customer)"
    )

    # The benchmark's own order records stay out of the cyclic GC's way (a server holds none).
    gc.collect()
    gc.freeze()
    process = psutil.Process()
    rss0 = process.memory_info().rss
    start = time.perf_counter()
    model = HybridRecommender().fit(to_interactions(split.train), to_items(products))
    fit_s = time.perf_counter() - start
    gc.collect()
    rss_mb = (process.memory_info().rss - rss0) / 2**20
    blob = model.to_bytes()
    print(f"fit: {fit_s:.2f} s ({model.n_items:,} products, {model.n_customers:,} customers)")
    print(f"model memory: RSS +{rss_mb:.1f} MB after fit; to_bytes() {len(blob) / 2**20:.1f} MB")

    calls = [cases[i % len(cases)] for i in range(n)]
    for case in calls[:WARMUP]:
        model.recommend(case.cart, case.customer_id, K)
    # The reference runs interleaved with the engine, call by call, so both meet the same noise.
    vectors = np.random.default_rng(0).random((16, model.n_items))
    rec_ns, ref_ns = [], []
    for i, case in enumerate(calls):
        t0 = time.perf_counter_ns()
        model.recommend(case.cart, case.customer_id, K)
        t1 = time.perf_counter_ns()
        v = vectors[i % len(vectors)]
        top = np.argpartition(v, -K)[-K:]
        top = top[np.argsort(-v[top])]
        t2 = time.perf_counter_ns()
        rec_ns.append(t1 - t0)
        ref_ns.append(t2 - t1)
    rec, ref = _ms(rec_ns), _ms(ref_ns)
    print(
        _line(
            f"recommend (k={K}, {n:,} calls over {len(cases):,} carts, after {WARMUP} "
            "untimed warm-up calls)",
            rec,
        )
    )
    print(
        _line(
            f"reference: numpy argpartition top-{K} of {model.n_items:,} float64 scores, "
            "timed between the same calls",
            ref,
        )
    )
    print(
        f"recommend / reference: p50 {rec['p50'] / ref['p50']:.1f}x, "
        f"p99 {rec['p99'] / ref['p99']:.1f}x"
    )

    stream = sorted(split.test, key=lambda o: (o.created_at, o.order_id))[:n]
    updates = [list(to_interactions([order])) for order in stream]
    updates = [lines for lines in updates if lines]
    copy = HybridRecommender.from_bytes(blob)
    upd_ns = []
    for lines in updates:
        t0 = time.perf_counter_ns()
        copy.update(lines)
        upd_ns.append(time.perf_counter_ns() - t0)
    upd = _ms(upd_ns)
    print(
        _line(
            f"update (one order per call: {len(updates):,} test orders applied once each, "
            "in time order, one after another to one copy of the fitted model)",
            upd,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=SAMPLE_DATA, help="dataset folder (default: bundled sample)"
    )
    parser.add_argument("--n", type=int, default=5000, help="recommend() calls (default 5000)")
    args = parser.parse_args(argv)
    if args.n <= 0:
        parser.error("--n must be positive")
    with threadpool_limits(limits=1):
        run(args.data, args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
