"""The carts repository: each cart as last seen, newest state wins.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select

from cartwise.domain import Cart, CartLine
from cartwise.storage._base import Runner, insert_for, require_shop_id
from cartwise.storage.schema import carts, to_utc

__all__ = ["CartRepository"]

_PAGE = 1_000


class CartRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def upsert(self, domain: str, cart: Cart) -> None:
        """Store `cart`, unless a state with a later `updated_at` is already stored
        (webhooks may arrive out of order)."""
        with self._runner.write(f"saving cart of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = insert_for(conn, carts).values(
                shop_id=shop_id,
                cart_id=cart.cart_id,
                customer_id=cart.customer_id,
                updated_at=to_utc(cart.updated_at),
                lines=[
                    {
                        "product_id": ln.product_id,
                        "quantity": ln.quantity,
                        "variant_id": ln.variant_id,
                    }
                    for ln in cart.lines
                ],
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[carts.c.shop_id, carts.c.cart_id],
                    set_={
                        "customer_id": stmt.excluded.customer_id,
                        "updated_at": stmt.excluded.updated_at,
                        "lines": stmt.excluded.lines,
                    },
                    where=carts.c.updated_at <= stmt.excluded.updated_at,
                )
            )

    def for_customer(self, domain: str, customer_id: str) -> list[Cart]:
        """Every cart of one customer (by the id as stored), oldest first."""
        with self._runner.read(f"reading a customer's carts of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            rows = conn.execute(
                select(carts)
                .where(carts.c.shop_id == shop_id, carts.c.customer_id == customer_id)
                .order_by(carts.c.updated_at, carts.c.cart_id)
            ).all()
        return [_to_cart(row) for row in rows]

    def delete(self, domain: str, *, customer_id: str) -> int:
        """Delete every cart of one customer; returns how many."""
        with self._runner.write(f"deleting carts of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            result = conn.execute(
                delete(carts).where(carts.c.shop_id == shop_id, carts.c.customer_id == customer_id)
            )
        return int(result.rowcount)

    def iter(self, domain: str, *, since: datetime | None = None) -> Iterator[Cart]:
        """Every cart of the shop by `updated_at` (oldest first), from `since` on (inclusive),
        read a page at a time."""
        with self._runner.read(f"reading carts of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
        return self._pages(domain, shop_id, since)

    def _pages(self, domain: str, shop_id: int, since: datetime | None) -> Iterator[Cart]:
        after: tuple[datetime, str] | None = None
        while True:
            with self._runner.read(f"reading carts of {domain!r}") as conn:
                query = select(carts).where(carts.c.shop_id == shop_id)
                if since is not None:
                    query = query.where(carts.c.updated_at >= to_utc(since))
                if after is not None:
                    query = query.where(
                        or_(
                            carts.c.updated_at > after[0],
                            and_(carts.c.updated_at == after[0], carts.c.cart_id > after[1]),
                        )
                    )
                rows = conn.execute(
                    query.order_by(carts.c.updated_at, carts.c.cart_id).limit(_PAGE)
                ).all()
            for row in rows:
                yield _to_cart(row)
            if len(rows) < _PAGE:
                return
            after = (rows[-1].updated_at, rows[-1].cart_id)


def _to_cart(row: Any) -> Cart:
    return Cart(
        cart_id=row.cart_id,
        updated_at=row.updated_at,
        lines=tuple(
            CartLine(ln["product_id"], ln["quantity"], ln["variant_id"]) for ln in row.lines
        ),
        customer_id=row.customer_id,
    )


def _line_json(line: CartLine) -> dict[str, Any]:
    return {"product_id": line.product_id, "quantity": line.quantity, "variant_id": line.variant_id}
