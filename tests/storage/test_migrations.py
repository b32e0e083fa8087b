"""Schema migrations on SQLite and PostgreSQL: the revisions build exactly schema.py, a database
made by `create_all` is adopted with its data, and concurrent upgrades change the schema once."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    MetaData,
    String,
    Table,
    Text,
    event,
    text,
)

from cartwise import storage
from cartwise.domain import ShopRef
from cartwise.errors import ConfigurationError, InvalidRequest
from cartwise.storage import migrate
from cartwise.storage.engine import make_engine
from cartwise.storage.schema import metadata, shops

HOW_TO_MIGRATE = (
    "add a migration: cartwise db revision -m 'what changed' (it compares schema.py with the "
    "migrations and writes the difference under cartwise/storage/migrations/versions; review it)"
)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def empty_url(request: pytest.FixtureRequest) -> str:
    """The URL of a database of each kind without any table."""
    fixture = "sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def engine(empty_url: str) -> Iterator[Engine]:
    made = make_engine(empty_url)
    yield made
    made.dispose()


def differences(engine: Engine, target: MetaData = metadata) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), target))


def ddl_of(engine: Engine) -> list[str]:
    """The CREATE/ALTER/DROP statements `engine` runs from now on."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("CREATE", "ALTER", "DROP")):
            seen.append(statement.strip())

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_the_migrations_build_exactly_schema_py(engine: Engine) -> None:
    done = migrate.upgrade(engine)

    assert done == migrate.Upgraded(before=None, after=migrate.head(), adopted=False)
    found = differences(engine)
    assert found == [], f"storage/schema.py and the migrations differ: {found}\n{HOW_TO_MIGRATE}"
    with engine.connect() as conn:
        tables = set(conn.dialect.get_table_names(conn))
    assert tables == {*metadata.tables, "alembic_version"}


def test_the_comparison_notices_a_table_or_column_without_a_migration(engine: Engine) -> None:
    migrate.upgrade(engine)
    changed = _schema_with_a_new_table_and_column()

    kinds = sorted(diff[0] for diff in differences(engine, changed))

    assert kinds == ["add_column", "add_table"]


def test_a_database_made_by_create_all_is_stamped_with_its_data(
    engine: Engine, shop: ShopRef
) -> None:
    _create_all_as_before_migrations(engine)
    with engine.begin() as conn:
        conn.execute(
            shops.insert().values(
                domain=shop.domain, platform=shop.platform, created_at=datetime.now(UTC)
            )
        )
    with engine.connect() as conn:
        made = set(conn.dialect.get_table_names(conn))
    ddl = ddl_of(engine)

    done = migrate.upgrade(engine)

    assert done == migrate.Upgraded(before=None, after=migrate.head(), adopted=True)
    # the tables made before are left as they are (but for how PostgreSQL stores the model
    # blobs, revision 0003); only later revisions' own tables are added
    touched = [s for s in ddl if "alembic_version" not in s and _tables_in(s) & made]
    assert [s for s in touched if "SET STORAGE EXTERNAL" not in s] == []
    assert differences(engine) == []
    with storage.open(engine.url, upgrade=False) as store:
        assert store.shops.get(shop.domain) == shop


def test_a_database_with_other_cartwise_tables_is_refused_untouched(engine: Engine) -> None:
    with engine.begin() as conn:
        shops.create(conn)

    with pytest.raises(ConfigurationError) as caught:
        migrate.upgrade(engine)

    assert "no migration history" in caught.value.message
    assert "missing table products" in caught.value.message
    assert migrate.current(engine) is None
    with engine.connect() as conn:
        assert conn.dialect.get_table_names(conn) == ["shops"]


def test_upgrading_twice_changes_nothing(engine: Engine) -> None:
    migrate.upgrade(engine)
    ddl = ddl_of(engine)

    done = migrate.upgrade(engine)

    assert done == migrate.Upgraded(migrate.head(), migrate.head(), adopted=False)
    assert ddl == []


def test_model_blobs_are_stored_without_postgresql_compression(engine: Engine) -> None:
    migrate.upgrade(engine)
    if engine.dialect.name != "postgresql":
        return  # SQLite never compresses
    with engine.connect() as conn:
        storage_kind = conn.execute(
            text(
                "SELECT attstorage FROM pg_attribute "
                "WHERE attrelid = 'model_artifacts'::regclass AND attname = 'blob'"
            )
        ).scalar_one()
    assert storage_kind == "e"  # external: out of line, uncompressed


def test_current_and_check(engine: Engine) -> None:
    assert (migrate.current(engine), migrate.check(engine)) == (None, False)
    migrate.upgrade(engine)
    assert (migrate.current(engine), migrate.check(engine)) == (migrate.head(), True)


def test_an_unknown_target_revision_is_refused(engine: Engine) -> None:
    with pytest.raises(InvalidRequest) as caught:
        migrate.upgrade(engine, "nosuch")
    assert "nosuch" in caught.value.message
    assert migrate.current(engine) is None


def _set_revision(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_a_database_a_newer_version_migrated_opens_but_is_not_upgraded(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    migrate.upgrade(engine)
    _set_revision(engine, "9999")

    with storage.open(engine.url, upgrade=True) as store:
        store.ping()
    assert "at schema revision 9999, after this version's" in caplog.text
    with pytest.raises(ConfigurationError) as caught:
        migrate.upgrade(engine)
    assert "'9999', which this version of cartwise does not know" in caught.value.message
    assert migrate.current(engine) == "9999"


def test_a_database_at_a_foreign_revision_is_refused(engine: Engine) -> None:
    migrate.upgrade(engine)
    _set_revision(engine, "abc123")

    with pytest.raises(ConfigurationError) as caught:
        storage.open(engine.url)
    assert "'abc123', which this version of cartwise does not know" in caught.value.message


def test_concurrent_upgrades_change_the_schema_once(empty_url: str) -> None:
    """Both upgrades wait for the schema lock someone else holds, then run one after the other:
    the first creates the tables, the second finds them there."""
    engines = [make_engine(empty_url) for _ in range(2)]
    ddl = [ddl_of(engine) for engine in engines]
    began = [threading.Event() for _ in engines]
    for engine, flag in zip(engines, began, strict=True):
        event.listen(engine, "engine_connect", _setter(flag))
    holder = make_engine(empty_url)
    try:
        with ThreadPoolExecutor(2) as pool:
            with _schema_lock(holder):
                results = [pool.submit(migrate.upgrade, engine) for engine in engines]
                _wait_until_both_wait(holder, began)
                assert not any(result.done() for result in results)
            done = [result.result(timeout=60) for result in results]
    finally:
        holder.dispose()
        for engine in engines:
            engine.dispose()

    head = migrate.head()
    assert sorted(done, key=lambda d: d.before or "") == [
        migrate.Upgraded(None, head, adopted=False),
        migrate.Upgraded(head, head, adopted=False),
    ]
    creates = [s for s in ddl[0] + ddl[1] if s.upper().startswith("CREATE TABLE")]
    assert len(creates) == len(metadata.tables) + 1  # and alembic_version


def test_storage_open_migrates_sqlite_and_asks_for_the_command_on_postgresql(
    empty_url: str,
) -> None:
    if empty_url.startswith("sqlite"):
        with storage.open(empty_url) as store:
            store.ping()
    else:
        with pytest.raises(ConfigurationError) as caught:
            storage.open(empty_url)
        message = caught.value.message
        assert "schema revision none" in message and "run `cartwise db upgrade`" in message
        with storage.open(empty_url, upgrade=True) as store:
            store.ping()
    engine = make_engine(empty_url)
    try:
        assert migrate.check(engine)
    finally:
        engine.dispose()


def test_storage_open_without_upgrade_refuses_a_database_behind(sqlite_url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        storage.open(sqlite_url, upgrade=False)
    assert "run `cartwise db upgrade`" in caught.value.message


def test_sqlite_connections_get_their_foreign_keys_back(sqlite_url: str) -> None:
    with storage.open(sqlite_url) as store, store._engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_revision_says_when_there_is_nothing_to_generate() -> None:
    with pytest.raises(InvalidRequest) as caught:
        migrate.revision("nothing changed")
    assert "nothing to generate" in caught.value.message


def test_revision_writes_the_next_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate._MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    changed = _schema_with_a_new_table_and_column()
    monkeypatch.setattr(migrate, "_MIGRATIONS", scripts)
    monkeypatch.setattr(migrate, "metadata", changed)
    monkeypatch.setattr("cartwise.storage.schema.metadata", changed)  # what env.py compares
    migrate._scripts.cache_clear()
    try:
        head = migrate.head()
        following = f"{int(head) + 1:04d}"
        path = migrate.revision("notes and GTINs")
        source = path.read_text(encoding="utf-8")
        assert path.name == f"{following}_notes_and_gtins.py"
        assert f'down_revision: str | Sequence[str] | None = "{head}"' in source
        assert 'op.create_table(\n        "shop_notes"' in source
        assert "add_column(sa.Column(" in source and '"gtin"' in source
        engine = make_engine(sqlite_url)
        try:
            assert migrate.upgrade(engine).after == following
            assert differences(engine, changed) == []
        finally:
            engine.dispose()
    finally:
        migrate._scripts.cache_clear()


def _create_all_as_before_migrations(engine: Engine) -> None:
    """The tables as cartwise made them before migrations: `create_all` of schema.py as it was
    then, which is revision BASELINE (so, once schema.py has moved on, that revision's)."""
    if migrate.head() == migrate.BASELINE:
        metadata.create_all(engine)
        return
    migrate.upgrade(engine, migrate.BASELINE)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))


def _tables_in(statement: str) -> set[str]:
    """The tables a CREATE/ALTER/DROP statement names (`TABLE x`, `INDEX … ON x`)."""
    return set(re.findall(r'\b(?:TABLE|ON)\s+"?(\w+)', statement, flags=re.IGNORECASE))


def _schema_with_a_new_table_and_column() -> MetaData:
    changed = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    Table(
        "shop_notes",
        changed,
        Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
        Column("note", Text, nullable=False),
    )
    changed.tables["products"].append_column(Column("gtin", String(14), nullable=True))
    return changed


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """Holds the lock `migrate.upgrade` takes, from a connection of its own."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(cartwise_write=True)
            with conn.begin():  # BEGIN IMMEDIATE: the write lock
                yield
            return
        lock = {"id": migrate._SCHEMA_LOCK_ID}
        conn.execute(text("SELECT pg_advisory_lock(:id)"), lock)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), lock)


def _setter(flag: threading.Event) -> Any:
    # One positional argument: SQLAlchemy reads a listener's signature to choose what to pass.
    return lambda conn: flag.set()


def _wait_until_both_wait(holder: Engine, began: list[threading.Event]) -> None:
    for flag in began:
        assert flag.wait(30)
    if holder.dialect.name == "sqlite":
        time.sleep(0.2)  # connected, both are in BEGIN IMMEDIATE's busy wait by now
        return
    deadline = time.monotonic() + 30
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND objid = :id AND database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())"
    )
    while time.monotonic() < deadline:
        with holder.connect() as conn:
            if conn.execute(query, {"id": migrate._SCHEMA_LOCK_ID}).scalar() == 2:
                return
        time.sleep(0.02)
    raise AssertionError("the upgrades never waited for the schema lock")
