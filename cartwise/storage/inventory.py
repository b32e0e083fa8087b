"""The variants and inventory repository: which product a variant or inventory item belongs to,
and stock per location, so cart lines and inventory_levels/update reach the right product.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select

from cartwise.storage._base import Runner, chunked, insert_for, require_shop_id
from cartwise.storage.schema import inventory_levels, variants

__all__ = ["InventoryRepository", "VariantRecord"]


@dataclass(frozen=True, slots=True)
class VariantRecord:
    """A variant; `stock` is what the product payload said (None = not tracked or unlimited)."""

    variant_id: str
    product_id: str
    inventory_item_id: str | None = None
    stock: int | None = None


class InventoryRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def replace_variants(
        self, domain: str, product_id: str, items: Iterable[VariantRecord]
    ) -> None:
        """Make `items` the product's variants (those no longer listed are removed)."""
        rows = list(items)
        with self._runner.write(f"saving variants of {product_id!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            conn.execute(
                delete(variants).where(
                    variants.c.shop_id == shop_id, variants.c.product_id == product_id
                )
            )
            if rows:
                stmt = insert_for(conn, variants)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[variants.c.shop_id, variants.c.variant_id],
                        set_={
                            "product_id": stmt.excluded.product_id,
                            "inventory_item_id": stmt.excluded.inventory_item_id,
                            "stock": stmt.excluded.stock,
                        },
                    ),
                    [
                        {
                            "shop_id": shop_id,
                            "variant_id": v.variant_id,
                            "product_id": product_id,
                            "inventory_item_id": v.inventory_item_id,
                            "stock": v.stock,
                        }
                        for v in rows
                    ],
                )

    def replace_variants_many(
        self, domain: str, by_product: dict[str, list[VariantRecord]]
    ) -> dict[str, int | None]:
        """`replace_variants` for a page of products, then their stock as `product_stock`
        gives it (None: unlimited), for products with variants: a few statements per page."""
        if not by_product:
            return {}
        with self._runner.write(f"saving variants of {len(by_product)} products") as conn:
            shop_id = require_shop_id(conn, domain)
            for chunk in chunked(by_product, 500):
                conn.execute(
                    delete(variants).where(
                        variants.c.shop_id == shop_id, variants.c.product_id.in_(chunk)
                    )
                )
            rows = {
                v.variant_id: {
                    "shop_id": shop_id,
                    "variant_id": v.variant_id,
                    "product_id": pid,
                    "inventory_item_id": v.inventory_item_id,
                    "stock": v.stock,
                }
                for pid, records in by_product.items()
                for v in records
            }
            if rows:
                stmt = insert_for(conn, variants)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[variants.c.shop_id, variants.c.variant_id],
                        set_={
                            "product_id": stmt.excluded.product_id,
                            "inventory_item_id": stmt.excluded.inventory_item_id,
                            "stock": stmt.excluded.stock,
                        },
                    ),
                    list(rows.values()),
                )
            items = [str(r["inventory_item_id"]) for r in rows.values() if r["inventory_item_id"]]
            levels: dict[str, int] = {}
            for chunk in chunked(items, 500):
                for item, available in conn.execute(
                    select(
                        inventory_levels.c.inventory_item_id, inventory_levels.c.available
                    ).where(
                        inventory_levels.c.shop_id == shop_id,
                        inventory_levels.c.inventory_item_id.in_(chunk),
                    )
                ):
                    if available is not None:
                        levels[item] = levels.get(item, 0) + max(0, available)
        return {
            pid: _stock([(v.inventory_item_id, v.stock) for v in records], levels)
            for pid, records in by_product.items()
            if records
        }

    def products_of_variants(self, domain: str, variant_ids: Iterable[str]) -> dict[str, str]:
        """variant id → product id, for the variants that are known."""
        found: dict[str, str] = {}
        with self._runner.read(f"reading variants of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            for batch in chunked(dict.fromkeys(variant_ids), 500):
                rows = conn.execute(
                    select(variants.c.variant_id, variants.c.product_id).where(
                        variants.c.shop_id == shop_id, variants.c.variant_id.in_(batch)
                    )
                )
                found.update((row.variant_id, row.product_id) for row in rows)
        return found

    def set_level(
        self, domain: str, inventory_item_id: str, location_id: str, available: int | None
    ) -> str | None:
        """Record stock of an item at a location; returns the item's product id, or None when
        no known variant uses that item (the level is kept for when the product arrives)."""
        with self._runner.write(f"saving an inventory level of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = insert_for(conn, inventory_levels).values(
                shop_id=shop_id,
                inventory_item_id=inventory_item_id,
                location_id=location_id,
                available=available,
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[
                        inventory_levels.c.shop_id,
                        inventory_levels.c.inventory_item_id,
                        inventory_levels.c.location_id,
                    ],
                    set_={"available": stmt.excluded.available},
                )
            )
            return conn.execute(
                select(variants.c.product_id)
                .where(
                    variants.c.shop_id == shop_id,
                    variants.c.inventory_item_id == inventory_item_id,
                )
                .limit(1)
            ).scalar_one_or_none()

    def product_stock(self, domain: str, product_id: str) -> tuple[int | None, bool]:
        """(stock, any_tracked) of a product: per variant, the sum of its item's known location
        levels (a level without a quantity is not known), else the stock its payload gave;
        untracked variants make the stock unlimited."""
        with self._runner.read(f"reading stock of {product_id!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            rows = conn.execute(
                select(variants.c.inventory_item_id, variants.c.stock).where(
                    variants.c.shop_id == shop_id, variants.c.product_id == product_id
                )
            ).all()
            items = [row.inventory_item_id for row in rows if row.inventory_item_id]
            levels: dict[str, int] = {}
            if items:
                for item, available in conn.execute(
                    select(
                        inventory_levels.c.inventory_item_id, inventory_levels.c.available
                    ).where(
                        inventory_levels.c.shop_id == shop_id,
                        inventory_levels.c.inventory_item_id.in_(items),
                    )
                ):
                    # None is not a quantity: the platform tracks no stock for the item.
                    if available is not None:
                        levels[item] = levels.get(item, 0) + max(0, available)
        if not rows:
            return None, False
        return _stock([(r.inventory_item_id, r.stock) for r in rows], levels), True


def _stock(variants: list[tuple[str | None, int | None]], levels: dict[str, int]) -> int | None:
    """A product's units over its (inventory item, payload stock) variants: an item's known
    location levels, else the stock its payload gave; an untracked variant makes it unlimited."""
    total = 0
    for item, stock in variants:
        if item is not None and item in levels:
            total += levels[item]
        elif stock is None:
            return None
        else:
            total += max(0, stock)
    return total
