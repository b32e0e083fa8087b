"""The products repository: each shop's catalog with stock and availability.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, delete, func, or_, select, update

from cartwise.domain import Product
from cartwise.errors import NotFound
from cartwise.storage._base import Runner, check_limit, chunked, insert_for, require_shop_id
from cartwise.storage.schema import products

__all__ = ["ProductRepository"]

_BATCH = 2_000
_REPLACED = tuple(c.name for c in products.c if c.name not in ("shop_id", "product_id"))
_COLUMNS = (
    products.c.product_id,
    products.c.title,
    products.c.category,
    products.c.vendor,
    products.c.price,
    products.c.tags,
    products.c.available,
    products.c.stock,
    products.c.image_url,
    products.c.variant_id,
)


class ProductRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def upsert_many(self, domain: str, items: Iterable[Product]) -> int:
        """Insert or replace products by id; returns the number of rows written.

        When one id appears twice, the later product wins.
        """
        written = 0
        with self._runner.write(f"saving products of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            now = datetime.now(UTC)
            for batch in chunked(items, _BATCH):
                rows = {p.product_id: _to_row(shop_id, p, now) for p in batch}
                stmt = insert_for(conn, products)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[products.c.shop_id, products.c.product_id],
                        set_={name: stmt.excluded[name] for name in _REPLACED},
                    ),
                    # Sorted, so concurrent imports lock rows in the same order on PostgreSQL.
                    [rows[product_id] for product_id in sorted(rows)],
                )
                written += len(rows)
        return written

    def get_many(self, domain: str, product_ids: Iterable[str]) -> dict[str, Product]:
        """The products among `product_ids` that exist, by id; unknown ids are left out."""
        found: dict[str, Product] = {}
        with self._runner.read(f"reading products of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            for batch in chunked(dict.fromkeys(product_ids), 500):
                rows = conn.execute(
                    select(*_COLUMNS).where(
                        products.c.shop_id == shop_id, products.c.product_id.in_(batch)
                    )
                ).mappings()
                found.update((row["product_id"], _to_product(row)) for row in rows)
        return found

    def list(
        self, domain: str, *, limit: int | None = None, offset: int = 0
    ) -> builtins.list[Product]:
        """A page of the catalog ordered by title (then id, so pages are stable)."""
        check_limit(limit, offset)
        with self._runner.read(f"listing products of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            query = (
                select(*_COLUMNS)
                .where(products.c.shop_id == shop_id)
                .order_by(products.c.title, products.c.product_id)
                .limit(limit)
                .offset(offset)
            )
            return [_to_product(row) for row in conn.execute(query).mappings()]

    def search(self, domain: str, query: str, limit: int = 20) -> builtins.list[Product]:
        """Products whose title or id contains `query`, ignoring case, ordered by title."""
        check_limit(limit)
        needle = query.strip().lower()
        with self._runner.read(f"searching products of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = (
                select(*_COLUMNS)
                .where(
                    products.c.shop_id == shop_id,
                    or_(
                        func.lower(products.c.title).contains(needle, autoescape=True),
                        func.lower(products.c.product_id).contains(needle, autoescape=True),
                    ),
                )
                .order_by(products.c.title, products.c.product_id)
                .limit(limit)
            )
            return [_to_product(row) for row in conn.execute(stmt).mappings()]

    def count(self, domain: str) -> int:
        with self._runner.read(f"counting products of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            total = conn.execute(
                select(func.count()).select_from(products).where(products.c.shop_id == shop_id)
            ).scalar_one()
        return int(total)

    def delete(self, domain: str, product_id: str) -> bool:
        """Remove a product from the catalog; False when it was not there."""
        with self._runner.write(f"deleting product {product_id!r} of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            result = conn.execute(
                delete(products).where(
                    products.c.shop_id == shop_id, products.c.product_id == product_id
                )
            )
        return bool(result.rowcount)

    def set_stock(self, domain: str, product_id: str, stock: int | None, available: bool) -> None:
        """Record a stock level (None = untracked); NotFound when the product is not stored."""
        with self._runner.write(f"updating stock of {product_id!r} in {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            result = conn.execute(
                update(products)
                .where(products.c.shop_id == shop_id, products.c.product_id == product_id)
                .values(stock=stock, available=available, updated_at=datetime.now(UTC))
            )
            if result.rowcount == 0:
                raise NotFound(
                    f"unknown product {product_id!r} in shop {domain!r}",
                    shop=domain,
                    product_id=product_id,
                )


def _to_row(shop_id: int, product: Product, now: datetime) -> dict[str, Any]:
    return {
        "shop_id": shop_id,
        "product_id": product.product_id,
        "title": product.title,
        "category": product.category,
        "vendor": product.vendor,
        "price": product.price,
        "tags": list(product.tags),
        "available": product.available,
        "stock": product.stock,
        "image_url": product.image_url,
        "variant_id": product.variant_id,
        "updated_at": now,
    }


def _to_product(row: RowMapping) -> Product:
    return Product(
        product_id=row["product_id"],
        title=row["title"],
        category=row["category"],
        vendor=row["vendor"],
        price=row["price"],
        tags=tuple(row["tags"]),
        available=row["available"],
        stock=row["stock"],
        image_url=row["image_url"],
        variant_id=row["variant_id"],
    )
