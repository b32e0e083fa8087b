"""Turning a database URL into a ready SQLAlchemy engine, and database errors into StorageError.

SQLite gets WAL, foreign keys, a busy timeout and `BEGIN IMMEDIATE` for writes; PostgreSQL is
used as it is. The schema itself is `migrate`'s. Imports only `cartwise.errors`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    NoSuchModuleError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import StaticPool

from cartwise.errors import StorageError

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "make_engine",
    "parse_url",
    "translate_errors",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another writer to finish before giving up."""

_SUPPORTED = ("sqlite", "postgresql")


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Re-raise a failure of the database (driver errors, lost connections, an exhausted pool) as
    StorageError, naming what was being done; mistakes in our own SQL stay bugs."""
    try:
        yield
    except (DBAPIError, DisconnectionError, PoolTimeoutError, sqlite3.Error) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageError(f"database error while {action}: {detail}") from exc


def parse_url(url: str | URL) -> URL:
    """The SQLAlchemy URL for `url`, with a bare `postgresql://` mapped to psycopg 3 (installed
    with the server extra) rather than the dialect's default driver.

    Raises StorageError for a URL that cannot be parsed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StorageError(f"invalid database URL {str(url)!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgres":
        parsed = parsed.set(drivername="postgresql")
        backend = "postgresql"
    if backend not in _SUPPORTED:
        raise StorageError(
            f"unsupported database {backend!r} in URL {_safe(parsed)!r}: "
            "use sqlite:///path/to/file.db or postgresql://user@host/dbname"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL) -> Engine:
    """A configured engine for `url`; the SQLite file's parent directory is created if missing."""
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed)
        else:
            engine = create_engine(parsed, pool_pre_ping=True, connect_args=_pg_defaults(parsed))
    except (ArgumentError, NoSuchModuleError, ImportError, TypeError) as exc:
        raise StorageError(f"cannot use database URL {_safe(parsed)!r}: {exc}") from exc
    return engine


PG_CONNECT_TIMEOUT = 3
"""Seconds to open a PostgreSQL connection unless the URL says otherwise: an unreachable
server fails a request (503) instead of holding a worker until gunicorn's own timeout."""
PG_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}
"""TCP keepalives on PostgreSQL connections: one whose server vanished is found dead within
about 20 s instead of the system's two hours."""


def _pg_defaults(url: URL) -> dict[str, object]:
    given = set(url.query)
    defaults: dict[str, object] = {"connect_timeout": PG_CONNECT_TIMEOUT, **PG_KEEPALIVE}
    return {k: v for k, v in defaults.items() if k not in given}


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_engine(url: URL) -> Engine:
    if _is_memory(url):
        # One shared connection, so every caller sees the same in-memory database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        database = url.database or ""
        if not database.startswith("file:"):
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the directory for {database!r}: {exc}") from exc
        engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins (see
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    # A writer takes the write lock up front: a deferred transaction that reads and then writes
    # fails at once under WAL when another writer got in between, busy timeout or not.
    # Straight to the driver: the statement needs none of SQLAlchemy's execution machinery,
    # which would cost more than the BEGIN itself on every transaction.
    immediate = conn.get_execution_options().get("cartwise_write", False)
    conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
        "BEGIN IMMEDIATE" if immediate else "BEGIN"
    )
