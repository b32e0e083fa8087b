"""What every repository shares: how it gets a connection, the shop lookup, dialect-aware inserts.

Imports only `cartwise.errors` and the storage modules below it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import islice
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cartwise.errors import InvalidRequest, UnknownShop
from cartwise.storage.engine import translate_errors
from cartwise.storage.schema import shops

__all__ = [
    "BoundRunner",
    "EngineRunner",
    "Runner",
    "check_limit",
    "chunked",
    "insert_for",
    "prepared",
    "require_shop_id",
    "sqlite_insert_returning_id",
]

T = TypeVar("T")


class Runner(Protocol):
    """Hands out the connection a repository method runs on, with errors translated."""

    def read(self, action: str) -> AbstractContextManager[Connection]: ...

    def write(self, action: str) -> AbstractContextManager[Connection]: ...


class EngineRunner:
    """Each call is its own short transaction on a pooled connection (the `Store` itself)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def read(self, action: str) -> Iterator[Connection]:
        with translate_errors(action), self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, action: str) -> Iterator[Connection]:
        with translate_errors(action), self._engine.connect() as conn:
            conn.execution_options(cartwise_write=True)
            with conn.begin():
                yield conn


class BoundRunner:
    """Every call runs on one connection inside a transaction someone else commits."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @contextmanager
    def read(self, action: str) -> Iterator[Connection]:
        with translate_errors(action):
            yield self._conn

    def write(self, action: str) -> AbstractContextManager[Connection]:
        return self.read(action)


def require_shop_id(conn: Connection, domain: str) -> int:
    """The row id of the shop `domain`; UnknownShop when `shops.ensure` was never called for it."""
    shop_id = conn.execute(select(shops.c.id).where(shops.c.domain == domain)).scalar_one_or_none()
    if shop_id is None:
        raise UnknownShop(f"unknown shop {domain!r}", shop=domain)
    return int(shop_id)


def insert_for(conn: Connection, table: Table) -> PgInsert | SqliteInsert:
    """An INSERT that supports ON CONFLICT on the connection's dialect (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


_PREPARED: dict[tuple[str, str], Any] = {}


def prepared(conn: Connection, name: str, build: Callable[[Connection], Any]) -> Any:
    """A statement built once per dialect and reused: executing the same statement object with
    fresh parameters skips SQLAlchemy's per-call construction and cache-key work, which is
    most of the cost of a one-row write on the hot paths (webhook intake)."""
    key = (conn.dialect.name, name)
    stmt = _PREPARED.get(key)
    if stmt is None:
        stmt = _PREPARED[key] = build(conn)
    return stmt


SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy stores a (naive UTC) datetime in SQLite: driver-level writes must match it."""


def sqlite_insert_returning_id(
    conn: Connection, table: Table, values: dict[str, Any]
) -> int | None:
    """`INSERT … ON CONFLICT DO NOTHING RETURNING id` straight to the SQLite driver: a fraction
    of the cost of the same statement through SQLAlchemy, for the webhook intake's two rows.
    `values` must already be in stored form (JSON as text, datetimes as `SQLITE_DATETIME`)."""
    names = list(values)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "  # nosec B608: names from the schema and callers' literal keys; values are bound
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        row = cursor.execute(sql, tuple(values[n] for n in names)).fetchone()
    finally:
        cursor.close()
    return None if row is None else int(row[0])


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, without reading more than one list ahead."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def check_limit(limit: int | None, offset: int = 0) -> None:
    """InvalidRequest for a negative offset or a limit below 1."""
    if limit is not None and limit < 1:
        raise InvalidRequest(f"limit must be at least 1, got {limit}")
    if offset < 0:
        raise InvalidRequest(f"offset must not be negative, got {offset}")
