"""The orders repository: placed orders and their lines, idempotent on (shop, order id).

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, or_, select, update

from cartwise.domain import Order, OrderLine
from cartwise.storage._base import Runner, chunked, insert_for, require_shop_id
from cartwise.storage.schema import order_lines, order_sessions, orders, shops, to_utc

__all__ = ["OrderRepository"]

_BATCH = 1_000
_PAGE = 1_000
_LINE_COLUMNS = (
    order_lines.c.order_pk,
    order_lines.c.line_no,
    order_lines.c.product_id,
    order_lines.c.quantity,
    order_lines.c.price,
    order_lines.c.variant_id,
)
_HEAD_COLUMNS = ("customer_id", "created_at", "cancelled")


class OrderRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def upsert_many(self, domain: str, items: Iterable[Order]) -> int:
        """Store orders, replacing the lines of an order seen before; returns how many orders
        were new or changed (storing the same orders again returns 0).

        When one order id appears twice, the later order wins.
        """
        written = 0
        with self._runner.write(f"saving orders of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            for batch in chunked(items, _BATCH):
                written += _upsert_batch(conn, shop_id, {o.order_id: o for o in batch})
        return written

    def iter(self, domain: str, *, since: datetime | None = None) -> Iterator[Order]:
        """Every order of the shop by `created_at` (oldest first), from `since` on (inclusive).

        Orders are read a page at a time, so a whole history never sits in memory; each page is
        its own short read, so the caller may write to the store between items.
        """
        with self._runner.read(f"reading orders of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
        return self._pages(domain, shop_id, since)

    def existing(self, domain: str, order_ids: Iterable[str]) -> set[str]:
        """Which of `order_ids` are stored for the shop."""
        found: set[str] = set()
        with self._runner.read(f"looking up orders of {domain!r}") as conn:
            shop_id = conn.execute(
                select(shops.c.id).where(shops.c.domain == domain)
            ).scalar_one_or_none()
            if shop_id is None:
                return found
            for chunk in chunked(dict.fromkeys(order_ids), 500):
                found.update(
                    str(r)
                    for r in conn.execute(
                        select(orders.c.order_id).where(
                            orders.c.shop_id == shop_id, orders.c.order_id.in_(chunk)
                        )
                    ).scalars()
                )
        return found

    def add_sessions(self, domain: str, order_id: str, session_keys: Iterable[str]) -> None:
        """Remember the storefront session keys (checkout and cart tokens) of an order; keys
        already known are kept, so every state of the order may send them again."""
        keys = [k for k in dict.fromkeys(session_keys) if k]
        if not keys:
            return
        with self._runner.write(f"saving session keys of an order of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            conn.execute(
                insert_for(conn, order_sessions).on_conflict_do_nothing(),
                [{"shop_id": shop_id, "order_id": order_id, "session_key": k} for k in keys],
            )

    def sessions_of(self, domain: str, order_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The session keys of each of `order_ids` that has any."""
        found: dict[str, list[str]] = defaultdict(list)
        with self._runner.read(f"reading session keys of orders of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            for chunk in chunked(dict.fromkeys(order_ids), 500):
                rows = conn.execute(
                    select(order_sessions.c.order_id, order_sessions.c.session_key)
                    .where(
                        order_sessions.c.shop_id == shop_id, order_sessions.c.order_id.in_(chunk)
                    )
                    .order_by(order_sessions.c.order_id, order_sessions.c.session_key)
                ).all()
                for order_id, key in rows:
                    found[str(order_id)].append(str(key))
        return {order_id: tuple(keys) for order_id, keys in found.items()}

    def count(self, domain: str) -> int:
        """Stored orders of the shop, cancelled ones included."""
        with self._runner.read(f"counting orders of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            total = conn.execute(
                select(func.count()).select_from(orders).where(orders.c.shop_id == shop_id)
            ).scalar_one()
        return int(total)

    def customers_count(self, domain: str) -> int:
        """Distinct known customers among the shop's orders (guests are not counted)."""
        with self._runner.read(f"counting customers of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            total = conn.execute(
                select(func.count(orders.c.customer_id.distinct())).where(
                    orders.c.shop_id == shop_id
                )
            ).scalar_one()
        return int(total)

    def get(self, domain: str, order_id: str) -> Order | None:
        with self._runner.read(f"reading order {order_id!r} of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            row = conn.execute(
                select(orders).where(orders.c.shop_id == shop_id, orders.c.order_id == order_id)
            ).one_or_none()
            if row is None:
                return None
            lines = _read_lines(conn, [row.id])
        return _to_order(row, lines)

    def for_customer(self, domain: str, customer_id: str) -> list[Order]:
        """Every order of one customer (by the id as stored), oldest first."""
        with self._runner.read(f"reading a customer's orders of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            rows = conn.execute(
                select(orders)
                .where(orders.c.shop_id == shop_id, orders.c.customer_id == customer_id)
                .order_by(orders.c.created_at, orders.c.id)
            ).all()
            lines = _read_lines(conn, [row.id for row in rows])
        return [_to_order(row, lines) for row in rows]

    def delete(
        self, domain: str, *, order_ids: Iterable[str] = (), customer_id: str | None = None
    ) -> list[str]:
        """Delete the orders named, and every order of `customer_id` when given; returns the
        ids of the orders deleted (their lines and session keys go with them)."""
        ids = list(dict.fromkeys(order_ids))
        deleted: list[str] = []
        with self._runner.write(f"deleting orders of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            conditions = []
            if customer_id is not None:
                conditions.append(orders.c.customer_id == customer_id)
            for batch in chunked(ids, 500):
                conditions.append(orders.c.order_id.in_(batch))
            for condition in conditions:
                rows = conn.execute(
                    select(orders.c.id, orders.c.order_id).where(
                        orders.c.shop_id == shop_id, condition
                    )
                ).all()
                if rows:
                    conn.execute(delete(orders).where(orders.c.id.in_([r.id for r in rows])))
                    deleted.extend(r.order_id for r in rows)
            for batch in chunked(deleted, 500):
                conn.execute(
                    delete(order_sessions).where(
                        order_sessions.c.shop_id == shop_id, order_sessions.c.order_id.in_(batch)
                    )
                )
        return deleted

    def _pages(self, domain: str, shop_id: int, since: datetime | None) -> Iterator[Order]:
        after: tuple[datetime, int] | None = None
        while True:
            with self._runner.read(f"reading orders of {domain!r}") as conn:
                query = select(orders).where(orders.c.shop_id == shop_id)
                if since is not None:
                    query = query.where(orders.c.created_at >= to_utc(since))
                if after is not None:
                    query = query.where(
                        or_(
                            orders.c.created_at > after[0],
                            and_(orders.c.created_at == after[0], orders.c.id > after[1]),
                        )
                    )
                heads = conn.execute(
                    query.order_by(orders.c.created_at, orders.c.id).limit(_PAGE)
                ).all()
                lines = _read_lines(conn, [row.id for row in heads])
            for row in heads:
                yield _to_order(row, lines)
            if len(heads) < _PAGE:
                return
            after = (heads[-1].created_at, heads[-1].id)


def _to_order(row: Any, lines: dict[int, tuple[OrderLine, ...]]) -> Order:
    return Order(
        order_id=row.order_id,
        created_at=row.created_at,
        lines=lines.get(row.id, ()),
        customer_id=row.customer_id,
        cancelled=row.cancelled,
    )


def _upsert_batch(conn: Connection, shop_id: int, batch: dict[str, Order]) -> int:
    digests = {order_id: _digest(order) for order_id, order in batch.items()}
    stored = {
        row.order_id: (row.id, row.digest)
        for row in conn.execute(
            select(orders.c.id, orders.c.order_id, orders.c.digest).where(
                orders.c.shop_id == shop_id, orders.c.order_id.in_(list(batch))
            )
        )
    }
    now = datetime.now(UTC)
    fresh = sorted(order_id for order_id in batch if order_id not in stored)
    changed = {
        stored[order_id][0]: order_id
        for order_id in batch
        if order_id in stored and stored[order_id][1] != digests[order_id]
    }
    pks: dict[int, str] = dict(changed)
    if fresh:
        stmt = insert_for(conn, orders).on_conflict_do_nothing(
            index_elements=[orders.c.shop_id, orders.c.order_id]
        )
        rows = [
            {
                "shop_id": shop_id,
                "order_id": order_id,
                "digest": digests[order_id],
                "updated_at": now,
            }
            | _head(batch[order_id])
            for order_id in fresh
        ]
        # An order another writer stored meanwhile is not returned here and keeps its lines.
        inserted = conn.execute(stmt.returning(orders.c.id, orders.c.order_id), rows)
        pks.update((row.id, row.order_id) for row in inserted)
    if changed:
        conn.execute(
            update(orders)
            .where(orders.c.id == bindparam("pk"))
            .values(
                {name: bindparam(f"new_{name}") for name in ("digest", *_HEAD_COLUMNS)}
                | {"updated_at": now}
            ),
            [
                {f"new_{name}": value for name, value in _head(batch[order_id]).items()}
                | {"pk": pk, "new_digest": digests[order_id]}
                for pk, order_id in changed.items()
            ],
        )
        conn.execute(delete(order_lines).where(order_lines.c.order_pk.in_(list(changed))))
    line_rows = [
        (pk, line_no, line.product_id, line.quantity, line.price, line.variant_id)
        for pk, order_id in pks.items()
        for line_no, line in enumerate(batch[order_id].lines)
    ]
    if line_rows:
        _insert_lines(conn, line_rows)
    return len(pks)


def _head(order: Order) -> dict[str, Any]:
    return {
        "customer_id": order.customer_id,
        "created_at": to_utc(order.created_at),
        "cancelled": order.cancelled,
    }


def _digest(order: Order) -> str:
    content = [
        order.customer_id,
        to_utc(order.created_at).isoformat(),
        order.cancelled,
        [[line.product_id, line.quantity, line.price, line.variant_id] for line in order.lines],
    ]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def _insert_lines(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    # Straight to the driver: hundreds of thousands of plain values need no type processing,
    # and SQLAlchemy's per-row parameter handling would dominate an import. PostgreSQL gets COPY.
    columns = ", ".join(c.name for c in _LINE_COLUMNS)
    if conn.dialect.name == "postgresql":
        driver_conn = conn.connection.driver_connection
        assert driver_conn is not None
        with (
            driver_conn.cursor() as cursor,
            cursor.copy(f"COPY {order_lines.name} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(_LINE_COLUMNS))
        conn.exec_driver_sql(f"INSERT INTO {order_lines.name} ({columns}) VALUES ({marks})", rows)  # nosec B608: names from the schema; values are bound


def _read_lines(conn: Connection, pks: list[int]) -> dict[int, tuple[OrderLine, ...]]:
    found: defaultdict[int, list[OrderLine]] = defaultdict(list)
    if pks:
        rows = conn.execute(
            select(*_LINE_COLUMNS)
            .where(order_lines.c.order_pk.in_(pks))
            .order_by(order_lines.c.order_pk, order_lines.c.line_no)
        )
        for pk, _, product_id, quantity, price, variant_id in rows:
            found[pk].append(OrderLine(product_id, quantity, price, variant_id))
    return {pk: tuple(lines) for pk, lines in found.items()}
