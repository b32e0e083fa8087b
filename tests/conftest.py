"""Fixtures shared by the whole suite: a SQLite store, a throwaway PostgreSQL database, and the
local Redis server's URL.

Server-only packages are imported inside the fixtures, so the SDK's tests run without them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cartwise.domain import Platform, ShopRef

if TYPE_CHECKING:
    from sqlalchemy import URL

    from cartwise.storage import Store

# Apps made in tests work their job queue explicitly (worker.drain()) unless a test starts it.
os.environ.setdefault("CARTWISE_JOBS__IN_PROCESS", "false")

REDIS_URL = os.environ.get("CARTWISE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

POSTGRES_ADMIN_URL = os.environ.get(
    "CARTWISE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis server's URL; its tests are skipped when it does not answer, and fail
    under CI=true, where it must."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        reason = f"Redis at {REDIS_URL} does not answer: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture
def shop() -> ShopRef:
    return ShopRef("test-shop.myshopify.com", Platform.SHOPIFY)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cartwise.db'}"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    """An empty SQLite store in the test's temporary directory."""
    from cartwise import storage

    opened = storage.open(sqlite_url)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[URL]:
    """A database created for this test session on the local server, dropped at the end.

    Skipped when the server does not answer, unless CI=true: then the run fails.
    """
    import psycopg
    from sqlalchemy import make_url

    admin = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql")
    name = f"cartwise_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(
            admin.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {admin.render_as_string()} does not answer: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin.set(drivername="postgresql+psycopg", database=name)
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(empty_postgres_url: str) -> str:
    """A URL whose tables live in a schema of their own, so each test starts empty; migrated
    as a deployment does (`cartwise db upgrade`): stores do not migrate PostgreSQL by default."""
    from cartwise.storage import migrate

    migrate.upgrade(empty_postgres_url)
    return empty_postgres_url


@pytest.fixture
def empty_postgres_url(postgres_database: URL) -> Iterator[str]:
    """A URL whose schema of its own holds nothing yet, not even cartwise's tables."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_database.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = postgres_database.update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
