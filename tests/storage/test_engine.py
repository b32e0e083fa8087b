from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cartwise import storage
from cartwise.domain import Product, ShopRef
from cartwise.errors import StorageError
from cartwise.storage.engine import SQLITE_BUSY_TIMEOUT_MS, parse_url


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("not a url", id="garbage"),
        pytest.param("mysql://user@localhost/db", id="unsupported-dialect"),
        pytest.param("nosuchdb+driver://x/y", id="unknown-dialect"),
        pytest.param("postgresql+nosuchdriver://postgres@127.0.0.1/test", id="unknown-driver"),
    ],
)
def test_open_rejects_bad_urls_with_a_storage_error(url: str) -> None:
    with pytest.raises(StorageError) as caught:
        storage.open(url)
    assert caught.value.code == "storage_unavailable"
    assert "URL" in caught.value.message or "database" in caught.value.message


def test_open_unreachable_server_is_a_storage_error_without_the_password() -> None:
    with pytest.raises(StorageError) as caught:
        storage.open("postgresql://user:hunter2@127.0.0.1:1/nothing?connect_timeout=2")
    assert "reading the schema revision" in caught.value.message
    assert "hunter2" not in caught.value.message


def test_postgres_urls_use_psycopg_3() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_file_and_its_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "cartwise.db"
    with storage.open(f"sqlite:///{path}") as store:
        store.ping()
    assert path.is_file()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    with storage.open(sqlite_url) as store, store._engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS


def test_reopening_keeps_the_data(sqlite_url: str, shop: ShopRef) -> None:
    with storage.open(sqlite_url) as store:
        store.shops.ensure(shop)
        store.products.upsert_many(shop.domain, [Product("p1", "Mug")])
    with storage.open(sqlite_url) as store:
        assert store.products.count(shop.domain) == 1


def test_in_memory_sqlite_is_one_database(shop: ShopRef) -> None:
    with storage.open("sqlite://") as store:
        store.shops.ensure(shop)
        assert store.shops.get(shop.domain) == shop


def test_database_failures_become_storage_errors(db: storage.Store, domain: str) -> None:
    with db._engine.begin() as conn:
        conn.execute(text("DROP TABLE order_lines"))
        conn.execute(text("DROP TABLE orders"))
    with pytest.raises(StorageError) as caught:
        db.orders.count(domain)
    assert caught.value.status == 503
    assert "counting orders" in caught.value.message


def test_store_reports_its_dialect_and_hides_the_password(db: storage.Store) -> None:
    assert db.dialect in ("sqlite", "postgresql")
    assert db.url.startswith(db.dialect)
    db.ping()


def test_an_sqlite_path_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError) as caught:
        storage.open(f"sqlite:///{blocker / 'sub' / 'cartwise.db'}")
    assert "cannot create the directory" in caught.value.message
    assert blocker.read_text() == "not a directory"
