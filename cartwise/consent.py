"""Shoppers' consent to personalisation: whether a customer may be personalised (answered per
request from a short in-process memory), recording a change of mind, and what of theirs the
recommendations use ("why am I seeing this").

A customer without consent is answered as an anonymous shopper and nothing is kept under their
key; withdrawing consent also takes their key off the orders and carts already stored (their
lines stay in the shop's aggregate counts) and rebuilds the model without their history.
Layer 4: imports storage, the recommender and ingestion (the rebuild job).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cachetools import TTLCache

from cartwise.ingestion import enqueue_rebuild
from cartwise.recommender import HybridRecommender
from cartwise.storage import Store
from cartwise.storage.consent import ConsentEntry, ConsentSource, personalised

__all__ = [
    "MEMORY_SECONDS",
    "ConsentMemory",
    "ConsentState",
    "HistoryProduct",
    "consent_state",
    "set_personalisation",
    "used_history",
]

log = logging.getLogger(__name__)

MEMORY_SECONDS = 5.0
"""How long a process trusts a customer's choice it has read before reading it again: what
another process changed shows in this process after at most this long."""


class ConsentMemory:
    """Each customer's latest choice, held in process for `ttl` seconds (measured with `clock`)
    so that answering a storefront costs no database round trip per request; at most `maxsize`
    customers, the oldest leaving first. A choice made through this process (`remember`) shows
    at once. Thread-safe."""

    def __init__(
        self,
        store: Store,
        *,
        consent_required: bool = False,
        ttl: float = MEMORY_SECONDS,
        maxsize: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.consent_required = consent_required
        self._held: TTLCache[tuple[str, str], tuple[bool | None]] = TTLCache(
            maxsize=maxsize, ttl=ttl, timer=clock
        )
        self._lock = threading.Lock()

    def allows(self, shop: str, customer_key: str) -> bool:
        """Whether the customer may be personalised now. When their choice can't be read (the
        database is down) the answer is no, the privacy-safe one, and it is not kept."""
        with self._lock:
            held = self._held.get((shop, customer_key))
        if held is None:
            try:
                choice = self._store.consent.current(shop, customer_key)
            except Exception:
                log.exception("the consent of a customer of %s is unavailable", shop)
                return False
            self.remember(shop, customer_key, choice)
            held = (choice,)
        return personalised(held[0], consent_required=self.consent_required)

    def remember(self, shop: str, customer_key: str, choice: bool | None) -> None:
        """Hold `choice` (None: the customer never chose) as the customer's current one."""
        with self._lock:
            self._held[shop, customer_key] = (choice,)

    def clear(self) -> None:
        with self._lock:
            self._held.clear()


@dataclass(frozen=True, slots=True)
class ConsentState:
    """Whether the customer is personalised, and their latest recorded choice (None: they never
    chose, so the regime's default applies). `detached_orders`: how many stored orders the
    change that led here took the customer's key off (a model rebuild is queued when any)."""

    personalised: bool
    latest: ConsentEntry | None
    detached_orders: int = 0


def consent_state(
    store: Store, shop: str, customer_key: str, *, consent_required: bool
) -> ConsentState:
    """The customer's state as stored (one read, not the memory: for their own view of it)."""
    latest = store.consent.latest(shop, customer_key)
    choice = None if latest is None else latest.personalised
    return ConsentState(personalised(choice, consent_required=consent_required), latest)


def set_personalisation(
    store: Store,
    shop: str,
    customer_key: str,
    allow: bool,
    *,
    source: ConsentSource,
    memory: ConsentMemory | None = None,
    at: datetime | None = None,
) -> ConsentState:
    """Record the customer's choice and answer their new state. The same choice again records
    nothing (idempotent). A withdrawal, in the same transaction, takes the customer's key off
    their stored orders and carts, forgets their experiment exposures and, when orders lost
    the key, queues a model rebuild, which leaves their history out (until then no answer uses
    it: they are answered as an anonymous shopper from this moment). Raises `UnknownShop` for
    a shop storage does not know, `StorageError` when the database fails (nothing changed)."""
    with store.transaction() as tx:
        latest = tx.consent.latest(shop, customer_key)
        if latest is None or latest.personalised != allow:
            latest = tx.consent.record(shop, customer_key, allow, source, at=at)
        detached = {"orders": 0}
        if not allow:
            detached = tx.consent.detach_history(shop, customer_key)
            tx.experiments.forget_customer(shop, customer_key)
        if detached["orders"]:
            enqueue_rebuild(tx, shop)
    if memory is not None:
        memory.remember(shop, customer_key, allow)
    if detached["orders"]:
        log.info("a customer of %s withdrew consent: %s", shop, detached)
    return ConsentState(allow, latest, detached_orders=detached["orders"])


@dataclass(frozen=True, slots=True)
class HistoryProduct:
    product_id: str
    title: str


def used_history(
    store: Store,
    shop: str,
    customer_key: str,
    model: HybridRecommender | None,
    *,
    k: int = 5,
) -> list[HistoryProduct]:
    """The customer's past purchases the shop's `model` uses to personalise their answers,
    most influential first, at most `k`, titled from the catalog (products no longer in it
    are left out). Empty without a model or for a customer it does not know; the caller
    decides whether the customer is personalised at all."""
    if model is None:
        return []
    used = [product for product, _ in model.history(customer_key, k=k)]
    products = store.products.get_many(shop, used) if used else {}
    return [HistoryProduct(pid, products[pid].title) for pid in used if pid in products]
