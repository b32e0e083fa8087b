"""Basket-completion quality and cost of cartwise against peers, measured in one run.

    python benchmarks/quality.py --data DIR [--tune] [--json OUT] [--methods NAME ...]

The protocol is the project's own (`cartwise.evaluation`): temporal split (last 15 % of time is
test), one product hidden per test order with at least two products, the rest as the cart,
HR/NDCG/MRR@10 over the whole catalog. cartwise runs with its shipped defaults; the peers
(benchmarks/peers.py) with a-priori parameters, or with `--tune` with the parameters that scored
best on a validation split carved from the training period only. Each method is fit and scored
in its own forked process, one at a time, with one BLAS/OpenMP thread, so fit time, latency and
memory do not mix. Needs `pip install -e ".[server,bench]"`.
"""

from __future__ import annotations

import os

# One thread everywhere, fixed before numpy (and its BLAS) is imported.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import gc
import itertools
import json
import multiprocessing as mp
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import psutil
from peers import PEERS
from threadpoolctl import threadpool_limits

from cartwise.connector.csv_files import find_dataset, read_orders, read_products
from cartwise.domain import Order, Product
from cartwise.evaluation import BasketCase, basket_cases, score_basket_cases, temporal_split
from cartwise.recommender import HybridRecommender
from cartwise.recommender.records import to_interactions, to_items

K = 10
VAL_SEED = 42 + 7
VAL_MAX_CASES = 2000
ENGINE = "cartwise"
METHODS = [ENGINE, *PEERS]

Recommend = Callable[[Sequence[str], str | None, int], list[str]]


@dataclass(frozen=True, slots=True)
class _Period:
    """Training orders, the catalog the models may know, and the cases they are scored on."""

    train: list[Order]
    known_ids: list[str]
    """products.csv ∪ products of the training orders: what a model can be given."""
    cases: list[BasketCase]
    catalog_size: int
    """Size of the catalog the hidden product is ranked among (for coverage)."""


@dataclass(frozen=True, slots=True)
class _Data:
    products: list[Product]
    test: _Period
    validation: _Period
    info: dict[str, Any]


def _load(data_dir: Path) -> _Data:
    orders_path, products_path = find_dataset(data_dir)
    products = read_products(products_path).records
    orders = read_orders(orders_path).records
    product_ids = list(dict.fromkeys(p.product_id for p in products))

    catalog = set(product_ids) | {ln.product_id for o in orders for ln in o.lines}
    split = temporal_split(orders)
    cases, eligible = basket_cases(split, catalog)
    train_ids = list(dict.fromkeys(ln.product_id for o in split.train for ln in o.lines))
    known_ids = list(dict.fromkeys(product_ids + train_ids))
    test = _Period(split.train, known_ids, cases, len(catalog))

    inner = temporal_split(split.train)
    inner_ids = list(
        dict.fromkeys(product_ids + [ln.product_id for o in inner.train for ln in o.lines])
    )
    val_cases, val_eligible = basket_cases(
        inner, set(known_ids), max_cases=VAL_MAX_CASES, seed=VAL_SEED
    )
    validation = _Period(inner.train, inner_ids, val_cases, len(known_ids))

    def describe(c: list[BasketCase]) -> dict[str, Any]:
        return {
            "cases": len(c),
            "known_share": sum(x.known_customer for x in c) / max(len(c), 1),
            "cold_share": sum(x.cold_item for x in c) / max(len(c), 1),
            "mean_cart": sum(len(x.cart) for x in c) / max(len(c), 1),
        }

    info = {
        "data": str(data_dir),
        "data_dir": str(data_dir.resolve()),
        "catalog_size": len(catalog),
        "train_orders": len(split.train),
        "test_orders": len(split.test),
        "test": describe(cases) | {"eligible": eligible},
        "validation": {"train_orders": len(inner.train), "val_orders": len(inner.test)}
        | describe(val_cases)
        | {"eligible": val_eligible},
    }
    return _Data(products, test, validation, info)


def _fit(name: str, period: _Period, products: list[Product], params: dict[str, Any]) -> Recommend:
    if name == ENGINE:
        model = HybridRecommender().fit(to_interactions(period.train), to_items(products))

        def engine(cart: Sequence[str], customer_id: str | None, k: int) -> list[str]:
            return [r.product_id for r in model.recommend(cart, customer_id, k)]

        return engine
    return PEERS[name].fit(period.train, period.known_ids, params).recommend


# Forked children: each sees the parent's data copy-on-write and sends back plain dicts.


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        with threadpool_limits(limits=1):
            conn.send(("ok", fn(*args)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _run_forked(
    tasks: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], workers: int = 1
) -> list[Any]:
    """Run each `fn(*args)` in a forked process, at most `workers` at a time; results in order.
    A failing child raises RuntimeError with its traceback."""
    ctx = mp.get_context("fork")
    results: list[Any] = [None] * len(tasks)
    running: dict[Any, tuple[int, Any]] = {}
    pending = list(enumerate(tasks))
    while pending or running:
        while pending and len(running) < workers:
            i, (fn, args) = pending.pop(0)
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(send, fn, args))
            proc.start()
            send.close()
            running[recv] = (i, proc)
        for recv in wait(list(running)):
            i, proc = running.pop(recv)
            try:
                status, value = recv.recv()
            except EOFError:
                status, value = "error", f"child exited with code {proc.exitcode}"
            proc.join()
            if status != "ok":
                raise RuntimeError(value)
            results[i] = value
    return results


def _trial(name: str, data: _Data, fit_params: dict[str, Any]) -> list[dict[str, Any]]:
    """Validation NDCG@10 of one fit for every request-time hist_weight of its grid."""
    period = data.validation
    start = time.perf_counter()
    recommend = _fit(name, period, data.products, fit_params)
    fit_s = time.perf_counter() - start
    peer = getattr(recommend, "__self__", None)
    hist_grid = list(PEERS[name].hist_grid) if name in PEERS else []
    out = []
    for hist_weight in hist_grid or [None]:
        if hist_weight is not None:
            peer.hist_weight = hist_weight  # type: ignore[union-attr]
        score = score_basket_cases(recommend, period.cases, period.catalog_size, K)
        params = fit_params | ({} if hist_weight is None else {"hist_weight": hist_weight})
        out.append({"params": params, "ndcg": score["all"].get("ndcg", 0.0), "fit_s": fit_s})
    return out


def _evaluate(name: str, data: _Data, params: dict[str, Any]) -> dict[str, Any]:
    """Fit on the full training period and score the test cases; memory is the RSS this
    process gained during fit (psutil), after a garbage collection."""
    process = psutil.Process()
    gc.collect()
    rss0 = process.memory_info().rss
    start = time.perf_counter()
    recommend = _fit(name, data.test, data.products, params)
    fit_s = time.perf_counter() - start
    gc.collect()
    mem_mb = (process.memory_info().rss - rss0) / 2**20
    basket = score_basket_cases(recommend, data.test.cases, data.test.catalog_size, K)
    return {"fit_s": fit_s, "mem_mb": mem_mb, "basket": basket}


def _tune(names: Sequence[str], data: _Data, workers: int) -> dict[str, dict[str, Any]]:
    """Grid search on the validation split: one forked fit per fit-time combination, each
    scored for every hist_weight; cartwise is scored once with its defaults, for reference."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        spec = PEERS.get(name)
        if spec is None or (not spec.fit_grid and not spec.hist_grid):
            if name == ENGINE:
                jobs.append((name, {}))
            continue
        keys = list(spec.fit_grid)
        for combo in itertools.product(*(spec.fit_grid[key] for key in keys)):
            jobs.append((name, dict(zip(keys, combo, strict=True))))
    start = time.perf_counter()
    results = _run_forked([(_trial, (name, data, p)) for name, p in jobs], workers)
    wall = time.perf_counter() - start
    tuned: dict[str, dict[str, Any]] = {}
    for (name, _), trials in zip(jobs, results, strict=True):
        entry = tuned.setdefault(name, {"trials": []})
        entry["trials"].extend(trials)
    for entry in tuned.values():
        best = max(entry["trials"], key=lambda t: t["ndcg"])  # first of equals: grid order
        entry["params"] = best["params"]
        entry["val_ndcg"] = best["ndcg"]
    print(f"tuning: {len(jobs)} fits on the validation split, {wall:.0f} s", file=sys.stderr)
    return tuned


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _format(report: dict[str, Any]) -> str:
    info, methods = report["info"], report["methods"]
    test, val = info["test"], info["validation"]
    lines = [
        f"Data: {info['data']}; catalog {info['catalog_size']:,} products; "
        f"train {info['train_orders']:,} orders, test {info['test_orders']:,} orders.",
        f"Test: {test['cases']:,} basket cases (of {test['eligible']:,} eligible); known "
        f"customer {test['known_share']:.0%}, cold hidden item {test['cold_share']:.1%}, mean "
        f"cart {test['mean_cart']:.1f} products.",
    ]
    if report["tuned"]:
        lines.append(
            f"Tuning: peers tuned on a validation split of the training period "
            f"({val['train_orders']:,} orders fit, {val['cases']:,} cases from the last "
            f"{val['val_orders']:,}); cartwise uses its shipped defaults."
        )
    else:
        lines.append("Parameters: a priori (no tuning); cartwise uses its shipped defaults.")
    lines += [
        "Cost: fit and recommend() on one thread; latency in-process per call; memory = RSS "
        "gained during fit.",
        "",
        "| method | NDCG@10 | HR@10 | MRR@10 | coverage | HR known | HR new | HR cold item "
        "| fit s | p50 ms | p99 ms | mem MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(d: dict[str, Any], key: str = "hr") -> str:
        return f"{d[key]:.4f}" if key in d else "-"

    for name, m in methods.items():
        b, lat = m["basket"], m["basket"]["latency_ms"]
        lines.append(
            f"| {name} | {f(b['all'], 'ndcg')} | {f(b['all'])} | {f(b['all'], 'mrr')} "
            f"| {b['coverage']:.3f} | {f(b['known'])} | {f(b['new'])} | {f(b['cold_item'])} "
            f"| {m['fit_s']:.2f} | {lat['p50']:.3f} | {lat['p99']:.3f} | {m['mem_mb']:.1f} |"
        )
    ratio = report.get("ratio")
    if ratio is not None:
        lines += [
            "",
            f"cartwise NDCG@10 / best peer NDCG@10 ({ratio['best_peer']}) = {ratio['value']:.3f}",
        ]
    lines += ["", "| method | parameters | validation NDCG@10 |", "|---|---|---|"]
    for name, m in methods.items():
        params = "shipped defaults" if name == ENGINE else _params_text(m["params"]) or "-"
        val_ndcg = f"{m['val_ndcg']:.4f}" if "val_ndcg" in m else "-"
        lines.append(f"| {name} | {params} | {val_ndcg} |")
    lines.append("")
    lines.append(f"Total run time {report['elapsed_s']:.0f} s.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    parser.add_argument("--tune", action="store_true", help="tune peers on a validation split")
    parser.add_argument(
        "--methods",
        nargs="+",
        default=METHODS,
        help=f"methods to run, space- or comma-separated (default: {' '.join(METHODS)})",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="validation fits run in parallel (default 2)"
    )
    args = parser.parse_args(argv)
    names = [n for arg in args.methods for n in arg.split(",") if n]
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {METHODS}")
    names = [n for n in METHODS if n in names]

    start = time.perf_counter()
    data = _load(args.data)
    # The loaded records stay out of the cyclic GC's way in every child (a server holds none).
    gc.collect()
    gc.freeze()
    tuned = _tune(names, data, max(args.jobs, 1)) if args.tune else {}
    params = {
        name: dict(tuned[name]["params"]) if name in tuned else dict(PEERS[name].defaults)
        for name in names
        if name != ENGINE
    } | ({ENGINE: {}} if ENGINE in names else {})
    results = _run_forked([(_evaluate, (name, data, params[name])) for name in names])
    methods: dict[str, Any] = {}
    for name, result in zip(names, results, strict=True):
        methods[name] = {"params": params[name]} | result
        if name in tuned:
            methods[name] |= {"val_ndcg": tuned[name]["val_ndcg"], "trials": tuned[name]["trials"]}
    report: dict[str, Any] = {
        "protocol": "basket completion (cartwise.evaluation), k=10",
        "tuned": args.tune,
        "threads": 1,
        "info": data.info,
        "methods": methods,
    }
    peers = {n: m["basket"]["all"].get("ndcg", 0.0) for n, m in methods.items() if n != ENGINE}
    if ENGINE in methods and peers:
        best = max(peers, key=peers.__getitem__)
        engine = methods[ENGINE]["basket"]["all"].get("ndcg", 0.0)
        report["ratio"] = {"best_peer": best, "value": engine / peers[best] if peers[best] else 0}
    report["elapsed_s"] = time.perf_counter() - start
    print(_format(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
