"""Offline back-test of the engine on a shop's own orders: the basket-completion protocol.

The protocol is the one the shared benchmark harness uses, so figures are comparable: a temporal
split (the last 15 % of time is test), one product hidden at random (fixed seed) from every test
order with at least two products, the rest of the order as the cart, HR/NDCG/MRR@10 with the
hidden product ranked among all catalog products, coverage, and known/new customer and cold/warm
item subsets; plus next-basket figures for known customers. A popularity baseline runs beside
the engine so a merchant sees the lift. Layer 4: imports connector, recommender and training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cartwise.connector.csv_files import find_dataset, read_orders, read_products
from cartwise.domain import Order, Product
from cartwise.errors import DataImportError
from cartwise.recommender import HybridRecommender
from cartwise.recommender.params import HybridParams
from cartwise.recommender.records import to_interactions, to_items

__all__ = [
    "BasketCase",
    "Split",
    "basket_cases",
    "evaluate_dataset",
    "evaluate_orders",
    "format_report",
    "score_basket_cases",
    "temporal_split",
]

K = 10
SEED = 42
TEST_FRAC = 0.15
MAX_CASES = 5000
MAX_NEXT_CASES = 3000

Recommend = Callable[[Sequence[str], str | None, int], list[str]]


@dataclass(frozen=True, slots=True)
class Split:
    train: list[Order]
    test: list[Order]
    cutoff: float


@dataclass(frozen=True, slots=True)
class BasketCase:
    order_id: str
    customer_id: str | None
    cart: list[str]
    hidden: str
    known_customer: bool
    cold_item: bool


def temporal_split(orders: Sequence[Order], test_frac: float = TEST_FRAC) -> Split:
    """Cut at the (1 - test_frac) quantile of order time (linear interpolation); an order goes
    wholly to the side of its first timestamp."""
    if not orders:
        raise DataImportError("no orders to evaluate")
    times = np.asarray([o.created_at.timestamp() for o in orders])
    cutoff = float(np.quantile(times, 1.0 - test_frac))
    train = [o for o, t in zip(orders, times, strict=True) if t < cutoff]
    test = [o for o, t in zip(orders, times, strict=True) if t >= cutoff]
    return Split(train, test, cutoff)


def _distinct_products(order: Order) -> list[str]:
    return list(dict.fromkeys(line.product_id for line in order.lines))


def basket_cases(
    split: Split, catalog: set[str], max_cases: int = MAX_CASES, seed: int = SEED
) -> tuple[list[BasketCase], int]:
    """Hide one product (seeded) of each test order with >= 2 catalog products; returns the
    cases and how many orders were eligible."""
    known = {o.customer_id for o in split.train if o.customer_id}
    train_items = {line.product_id for o in split.train for line in o.lines}
    eligible = []
    for order in sorted(split.test, key=lambda o: o.order_id):
        products = [p for p in _distinct_products(order) if p in catalog]
        if len(products) >= 2:
            eligible.append((order, products))
    rng = np.random.default_rng(seed)
    chosen = eligible
    if max_cases and len(eligible) > max_cases:
        idx = np.sort(rng.choice(len(eligible), max_cases, replace=False))
        chosen = [eligible[i] for i in idx]
    cases = []
    for order, products in chosen:
        h = int(rng.integers(len(products)))
        cases.append(
            BasketCase(
                order_id=order.order_id,
                customer_id=order.customer_id,
                cart=products[:h] + products[h + 1 :],
                hidden=products[h],
                known_customer=bool(order.customer_id) and order.customer_id in known,
                cold_item=products[h] not in train_items,
            )
        )
    return cases, len(eligible)


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    arr = np.asarray(samples) * 1000.0
    return {f"p{q}": float(np.percentile(arr, q)) for q in (50, 95, 99)} | {"max": float(arr.max())}


def score_basket_cases(
    recommend: Recommend, cases: Sequence[BasketCase], catalog_size: int, k: int = K
) -> dict[str, Any]:
    """HR/NDCG/MRR@k overall and per subset, coverage@k and per-call latency (ms). Cart items
    and duplicates an engine returns are dropped before scoring (they only cost it slots)."""
    subsets: dict[str, list[tuple[float, float, float]]] = {
        name: [] for name in ("all", "known", "new", "cold_item", "warm_item")
    }
    seen: set[str] = set()
    latencies: list[float] = []
    for case in cases:
        start = time.perf_counter()
        ranked = recommend(case.cart, case.customer_id, k)
        latencies.append(time.perf_counter() - start)
        cart = set(case.cart)
        clean = [p for p in dict.fromkeys(ranked) if p not in cart][:k]
        seen.update(clean)
        if case.hidden in clean:
            rank = clean.index(case.hidden) + 1
            hit = (1.0, 1.0 / math.log2(rank + 1), 1.0 / rank)
        else:
            hit = (0.0, 0.0, 0.0)
        subsets["all"].append(hit)
        subsets["known" if case.known_customer else "new"].append(hit)
        subsets["cold_item" if case.cold_item else "warm_item"].append(hit)
    out: dict[str, Any] = {}
    for name, hits in subsets.items():
        arr = np.asarray(hits) if hits else np.zeros((0, 3))
        out[name] = {"n": len(hits)} | (
            {
                "hr": float(arr[:, 0].mean()),
                "ndcg": float(arr[:, 1].mean()),
                "mrr": float(arr[:, 2].mean()),
            }
            if hits
            else {}
        )
    out["coverage"] = len(seen) / max(catalog_size, 1)
    out["latency_ms"] = _percentiles(latencies)
    return out


def _next_basket(
    recommend: Recommend, split: Split, catalog: set[str], k: int = K
) -> dict[str, Any]:
    """Each known customer's first test order, predicted from history alone (empty cart)."""
    known = {o.customer_id for o in split.train if o.customer_id}
    first: dict[str, Order] = {}
    for o in split.test:
        if o.customer_id in known:
            cur = first.get(o.customer_id)
            if cur is None or (o.created_at, o.order_id) < (cur.created_at, cur.order_id):
                first[o.customer_id] = o
    hr = recall = ndcg = 0.0
    n = 0
    rng = np.random.default_rng(SEED + 1)
    customers = sorted(first)
    if len(customers) > MAX_NEXT_CASES:
        customers = [customers[i] for i in np.sort(rng.choice(len(customers), MAX_NEXT_CASES))]
    for customer in customers:
        truth = [p for p in _distinct_products(first[customer]) if p in catalog]
        if not truth:
            continue
        ranked = list(dict.fromkeys(recommend([], customer, k)))[:k]
        hits = [1.0 if p in truth else 0.0 for p in ranked]
        dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(truth), k)))
        hr += float(any(hits))
        recall += sum(hits) / len(truth)
        ndcg += dcg / ideal
        n += 1
    return {"n": n} | ({"hr": hr / n, "recall": recall / n, "ndcg": ndcg / n} if n else {})


class _Popularity:
    """The reference every merchant understands: most-ordered products of the last 30 days."""

    def __init__(self, train: Sequence[Order]) -> None:
        end = max(o.created_at for o in train).timestamp()
        counts: dict[str, float] = {}
        for o in train:
            recent = end - o.created_at.timestamp() <= 30 * 86_400
            for p in _distinct_products(o):
                counts[p] = counts.get(p, 0.0) + (1.0 if recent else 1e-6)
        self.ranked = sorted(counts, key=lambda p: (-counts[p], p))

    def recommend(self, cart: Sequence[str], customer_id: str | None, k: int) -> list[str]:
        skip = set(cart)
        return [p for p in self.ranked[: k + len(skip)] if p not in skip][:k]


def evaluate_orders(
    orders: Sequence[Order],
    products: Sequence[Product],
    *,
    params: HybridParams | None = None,
    test_frac: float = TEST_FRAC,
    baseline: bool = True,
) -> dict[str, Any]:
    """Back-test on in-memory orders and products; see the module docstring for the protocol."""
    catalog = {p.product_id for p in products} | {ln.product_id for o in orders for ln in o.lines}
    split = temporal_split(orders, test_frac)
    if not split.train:
        raise DataImportError("the training period holds no orders; more history is needed")
    cases, eligible = basket_cases(split, catalog)
    if not cases:
        raise DataImportError("no test order has two or more products; nothing to evaluate")
    start = time.perf_counter()
    model = HybridRecommender(params).fit(to_interactions(split.train), to_items(products))
    fit_s = time.perf_counter() - start

    def engine(cart: Sequence[str], customer: str | None, k: int) -> list[str]:
        return [r.product_id for r in model.recommend(cart, customer, k)]

    methods = {"cartwise": {"fit_s": fit_s} | _evaluate(engine, split, cases, catalog)}
    if baseline:
        pop = _Popularity(split.train)
        methods["popularity"] = {"fit_s": 0.0} | _evaluate(pop.recommend, split, cases, catalog)
    return {
        "protocol": "basket completion, temporal split, one hidden product per test order",
        "k": K,
        "seed": SEED,
        "catalog_size": len(catalog),
        "split": {
            "train_orders": len(split.train),
            "test_orders": len(split.test),
            "cutoff": split.cutoff,
        },
        "cases": {
            "basket": len(cases),
            "basket_eligible": eligible,
            "known_share": sum(c.known_customer for c in cases) / len(cases),
            "cold_share": sum(c.cold_item for c in cases) / len(cases),
            "mean_cart": sum(len(c.cart) for c in cases) / len(cases),
        },
        "methods": methods,
    }


def _evaluate(
    recommend: Recommend, split: Split, cases: Sequence[BasketCase], catalog: set[str]
) -> dict[str, Any]:
    return {
        "basket": score_basket_cases(recommend, cases, len(catalog)),
        "next_basket": _next_basket(recommend, split, catalog),
    }


def evaluate_dataset(
    data_dir: Path | str, *, progress: bool = False, params: HybridParams | None = None
) -> dict[str, Any]:
    """Back-test on a dataset folder (`orders.csv[.gz]`, `products.csv[.gz]`)."""
    orders_path, products_path = find_dataset(data_dir)
    products = read_products(products_path)
    orders = read_orders(orders_path)
    report = evaluate_orders(orders.records, products.records, params=params)
    report["data_dir"] = str(Path(data_dir).resolve())
    report["skipped_rows"] = len(orders.errors) + len(products.errors)
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as a short Markdown table a merchant can read."""
    c, s = report["cases"], report["split"]
    lines = [
        f"Back-test: {c['basket']:,} checkout baskets from {s['test_orders']:,} test orders "
        f"(trained on {s['train_orders']:,} earlier orders; catalog {report['catalog_size']:,}).",
        f"Known customers {c['known_share']:.0%}, hidden product new to the shop "
        f"{c['cold_share']:.1%}, mean cart {c['mean_cart']:.1f} products.",
        "",
        "| method | HR@10 | NDCG@10 | MRR@10 | coverage | HR known | HR new | HR cold item "
        "| next-basket HR | fit s | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(d: dict[str, Any], key: str) -> str:
        return f"{d[key]:.4f}" if key in d else "-"

    for name, m in report["methods"].items():
        b = m["basket"]
        lines.append(
            f"| {name} | {f(b['all'], 'hr')} | {f(b['all'], 'ndcg')} | {f(b['all'], 'mrr')} "
            f"| {b['coverage']:.3f} | {f(b['known'], 'hr')} | {f(b['new'], 'hr')} "
            f"| {f(b['cold_item'], 'hr')} | {f(m['next_basket'], 'hr')} | {m['fit_s']:.1f} "
            f"| {b['latency_ms'].get('p99', 0.0):.3f} |"
        )
    return "\n".join(lines)
