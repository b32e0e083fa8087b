"""Fixtures of the fault tests: the local PostgreSQL and Redis servers, skipped when they do not
answer (failed under CI=true, where they must)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import POSTGRES_ADMIN_URL, postgres_reachable
from .private_postgres import PrivatePostgres, missing_reason, private_postgres


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    """The admin URL of the local PostgreSQL server (each run makes its own database)."""
    reason = postgres_reachable(POSTGRES_ADMIN_URL)
    if reason:
        _missing(reason)
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def redis_server(redis_url: str) -> tuple[str, int]:
    """(host, port) of the local Redis server."""
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the test's own, which it may stop and start again."""
    reason = missing_reason()
    if reason:
        _missing(reason)
    with private_postgres(tmp_path / "server") as server:
        yield server
