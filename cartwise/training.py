"""Per shop: history files into storage, and storage into a new trained model version.

Layer 4: imports storage, connector and recommender (layers 0-2), never `api` or `cli`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from cartwise.connector.csv_files import RowError, read_orders, read_products
from cartwise.domain import Platform, Product, ShopRef
from cartwise.errors import DataImportError, ModelNotTrained, UnknownShop
from cartwise.recommender import HybridRecommender
from cartwise.recommender.records import cart_interactions, to_interactions, to_items

if TYPE_CHECKING:
    from cartwise.storage import Store

__all__ = [
    "ImportReport",
    "TrainReport",
    "cart_interactions",
    "import_dataset",
    "to_interactions",
    "to_items",
    "train_shop",
]

ImportProgress = Callable[[str, int], None]
"""Called with the file being read (`"products"` or `"orders"`) and its data rows read so far,
then once with `"writing"` and the number of products and orders about to be written."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What `import_dataset` read and wrote.

    `added_products` are products that orders mention but neither products.csv nor the store
    knew; they were stored with their id as title, available, priced at their last order price.
    """

    shop: str
    product_rows: int
    order_rows: int
    products: int
    orders: int
    order_lines: int
    added_products: int
    products_written: int
    orders_written: int
    product_errors: tuple[RowError, ...]
    order_errors: tuple[RowError, ...]


@dataclass(frozen=True, slots=True)
class TrainReport:
    """A trained and saved model version, with the figures stored in its meta."""

    shop: str
    version: int
    n_items: int
    n_orders: int
    n_carts: int
    n_interactions: int
    fit_seconds: float
    trained_at: datetime
    superseded: bool = False
    """Other versions were saved while this one was trained (incremental updates of orders it
    may not have read): saved on top of them, it may miss those orders until the next
    training."""


def import_dataset(
    store: Store,
    shop: ShopRef | str,
    orders_path: Path | str,
    products_path: Path | str,
    *,
    progress: ImportProgress | None = None,
) -> ImportReport:
    """Read both files, then write the shop, products and orders in one transaction.

    Bad rows are skipped and listed in the report. A file that cannot be read, or files with no
    valid row at all, raise `DataImportError` before anything is written; a storage failure
    rolls the whole import back. Re-importing the same files changes nothing.
    """
    ref = shop if isinstance(shop, ShopRef) else ShopRef(shop, Platform.CSV)
    products = read_products(products_path, _stage(progress, "products"))
    orders = read_orders(orders_path, _stage(progress, "orders"))
    if not products.records and not orders.records:
        first = (orders.errors or products.errors)[:1]
        why = f" (first problem: {first[0]})" if first else ""
        raise DataImportError(
            f"nothing to import: no valid row in {products_path} or {orders_path}{why}"
        )

    listed = {p.product_id for p in products.records}
    last_price: dict[str, float | None] = {}
    for order in orders.records:
        for line in order.lines:
            if line.product_id not in listed:
                last_price[line.product_id] = line.price
    if progress is not None:
        progress("writing", len(products.records) + len(orders.records))
    with store.transaction() as tx:
        tx.shops.ensure(ref)
        known = tx.products.get_many(ref.domain, last_price) if last_price else {}
        added = [
            Product(product_id=pid, title=pid, price=price)
            for pid, price in last_price.items()
            if pid not in known
        ]
        products_written = tx.products.upsert_many(ref.domain, [*products.records, *added])
        orders_written = tx.orders.upsert_many(ref.domain, orders.records)
    return ImportReport(
        shop=ref.domain,
        product_rows=products.rows,
        order_rows=orders.rows,
        products=len(products.records),
        orders=len(orders.records),
        order_lines=sum(len(o.lines) for o in orders.records),
        added_products=len(added),
        products_written=products_written,
        orders_written=orders_written,
        product_errors=tuple(products.errors),
        order_errors=tuple(orders.errors),
    )


DATA_FROM = "data_read_from"
DATA_UNTIL = "data_read_until"
"""Meta keys of a trained model: when its reading of the shop's orders and carts began and
ended."""


def train_shop(store: Store, shop: str) -> TrainReport:
    """Fit a model on everything stored for `shop` (catalog, orders, carts), save a new version.

    Raises `UnknownShop` for a shop never imported or installed, `ModelNotTrained` when the shop
    has no orders yet. The previous versions are kept.
    """
    if store.shops.get(shop) is None:
        raise UnknownShop(f"unknown shop {shop!r}: import or install it first")
    before = store.models.latest_version(shop) or 0
    reading_from = datetime.now(UTC)
    orders = list(store.orders.iter(shop))
    if not orders:
        raise ModelNotTrained(f"shop {shop!r} has no orders to train on: import some first")
    carts = list(store.carts.iter(shop))
    reading_until = datetime.now(UTC)
    # streamed into fit: the model keeps compact arrays, not a record per order line
    interactions = chain(to_interactions(orders), cart_interactions(carts))
    items = list(to_items(store.products.list(shop)))

    started = time.perf_counter()
    model = HybridRecommender().fit(interactions, items)
    fit_seconds = time.perf_counter() - started
    trained_at = datetime.now(UTC)
    meta = {
        "n_items": model.n_items,
        "n_orders": len(orders),
        "n_carts": len(carts),
        "n_interactions": model.n_interactions,
        "trained_at": trained_at.isoformat(),
        "fit_seconds": round(fit_seconds, 3),
        # what was stored before the first time is in this model, what was stored after the
        # second is not: how an incremental update saved meanwhile knows whether to redo itself
        DATA_FROM: reading_from.isoformat(),
        DATA_UNTIL: reading_until.isoformat(),
    }
    version = store.models.save(shop, model.to_bytes(), meta)
    return TrainReport(
        shop=shop,
        version=version,
        n_items=model.n_items,
        n_orders=len(orders),
        n_carts=len(carts),
        n_interactions=model.n_interactions,
        fit_seconds=fit_seconds,
        trained_at=trained_at,
        superseded=version > before + 1,
    )


def _stage(progress: ImportProgress | None, name: str) -> Callable[[int], None] | None:
    if progress is None:
        return None

    def report(rows: int) -> None:
        progress(name, rows)

    return report
