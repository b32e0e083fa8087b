"""The dashboard's back-test: `cartwise.evaluation.evaluate_orders` on the shop's own most recent
orders, run in the request (a merchant clicks and waits), and kept in process per shop and model
version, so a second click, or a double click, costs nothing until the model is rebuilt.
Imports layers 0-4 and pydantic; no Flask."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cachetools import LRUCache
from pydantic import BaseModel

from cartwise.evaluation import evaluate_orders
from cartwise.storage import Store

__all__ = [
    "ORDER_CAP",
    "BacktestCache",
    "BacktestResponse",
    "BacktestRun",
    "MethodFigures",
    "run_backtest",
]

ORDER_CAP: Final = 20_000
"""The most recent orders a back-test reads: enough for a stable hit rate, small enough to answer
within the web server's 30-second request timeout."""


class MethodFigures(BaseModel):
    """One method's basket-completion figures at 10 (None where no case supports them)."""

    hit_rate: float | None
    ndcg: float | None
    mrr: float | None
    coverage: float
    next_basket_hit_rate: float | None
    fit_seconds: float


class BacktestResponse(BaseModel):
    """`POST /app/backtest`: cartwise against the popularity baseline on the shop's orders."""

    model_version: int | None
    orders_used: int
    orders_cap: int
    capped: bool
    cases: int
    train_orders: int
    test_orders: int
    catalog_size: int
    methods: dict[str, MethodFigures]
    seconds: float
    cached: bool
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """A finished back-test: the evaluation's report and what it cost, in seconds."""

    report: Mapping[str, Any]
    orders_used: int
    capped: bool
    seconds: float
    computed_at: datetime

    def response(self, model_version: int | None, *, cached: bool) -> BacktestResponse:
        split, cases = self.report["split"], self.report["cases"]
        return BacktestResponse(
            model_version=model_version,
            orders_used=self.orders_used,
            orders_cap=ORDER_CAP,
            capped=self.capped,
            cases=int(cases["basket"]),
            train_orders=int(split["train_orders"]),
            test_orders=int(split["test_orders"]),
            catalog_size=int(self.report["catalog_size"]),
            methods={
                name: _figures(method) for name, method in dict(self.report["methods"]).items()
            },
            seconds=round(self.seconds, 3),
            cached=cached,
            computed_at=self.computed_at,
        )


def _figures(method: Mapping[str, Any]) -> MethodFigures:
    basket = method["basket"]
    overall = basket["all"]
    return MethodFigures(
        hit_rate=overall.get("hr"),
        ndcg=overall.get("ndcg"),
        mrr=overall.get("mrr"),
        coverage=float(basket["coverage"]),
        next_basket_hit_rate=method["next_basket"].get("hr"),
        fit_seconds=round(float(method["fit_s"]), 3),
    )


def run_backtest(
    store: Store, shop: str, *, clock: Callable[[], float] = time.perf_counter
) -> BacktestRun:
    """Evaluate on the shop's newest `ORDER_CAP` orders and its catalog; the time counts the
    reading too. Raises `DataImportError` when the orders cannot support a back-test (none, or
    no test order with two products)."""
    start = clock()
    newest: deque[Any] = deque(maxlen=ORDER_CAP)
    seen = 0
    for order in store.orders.iter(shop):
        newest.append(order)
        seen += 1
    report = evaluate_orders(list(newest), store.products.list(shop))
    return BacktestRun(
        report=report,
        orders_used=len(newest),
        capped=seen > ORDER_CAP,
        seconds=clock() - start,
        computed_at=datetime.now(UTC),
    )


class BacktestCache:
    """Finished runs by key (shop and model stamp), the least recently used leaving first.

    A second request for a key being computed waits for the first instead of starting its own
    run. A failed run is not kept. Thread-safe."""

    def __init__(self, maxsize: int = 64) -> None:
        self._runs: LRUCache[Hashable, BacktestRun] = LRUCache(maxsize=maxsize)
        self._running: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get_or_run(
        self, key: Hashable, compute: Callable[[], BacktestRun]
    ) -> tuple[BacktestRun, bool]:
        """The run for `key` and whether it was already there."""
        with self._lock:
            held = self._runs.get(key)
            if held is not None:
                return held, True
            gate = self._running.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                held = self._runs.get(key)
            if held is not None:
                return held, True
            try:
                run = compute()
                with self._lock:
                    self._runs[key] = run
            finally:
                with self._lock:
                    if self._running.get(key) is gate:
                        del self._running[key]
            return run, False
