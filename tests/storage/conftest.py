"""Storage fixtures: every repository test runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cartwise import storage
from cartwise.domain import ShopRef


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty database of each kind."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[storage.Store]:
    opened = storage.open(db_url)
    yield opened
    opened.close()


@pytest.fixture
def domain(db: storage.Store, shop: ShopRef) -> str:
    """The domain of a shop already known to `db`."""
    db.shops.ensure(shop)
    return shop.domain
