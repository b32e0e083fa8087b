"""Schema migrations with Alembic: which revision a database is at, and bringing it to head.

The revisions ship in `migrations/versions/`, configured here in code (no alembic.ini). A
database made by `metadata.create_all` before migrations existed is recognised and stamped at
the baseline rather than created again. Imports only `cartwise.errors` and storage modules.
"""

from __future__ import annotations

import functools
import logging
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine, inspect, text

from cartwise.errors import ConfigurationError, InvalidRequest, StorageError
from cartwise.storage.engine import make_engine, translate_errors
from cartwise.storage.schema import metadata

__all__ = [
    "BASELINE",
    "Upgraded",
    "check",
    "current",
    "ensure_current",
    "head",
    "revision",
    "upgrade",
]

BASELINE = "0001"
"""The revision that is the whole schema as `create_all` made it before migrations existed."""

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")
_VERSION_TABLE = "alembic_version"
# The advisory lock that serialises schema changes on PostgreSQL: the value the schema creation
# of earlier versions took, so their processes and these never change the schema at once.
_SCHEMA_LOCK_ID = 0x63617274
# Alembic's `op` and `context` are module globals while a command runs: one command at a time
# per process (reentrant: the baseline's scratch database is migrated inside an upgrade).
_ALEMBIC = threading.RLock()


@dataclass(frozen=True)
class Upgraded:
    """What `upgrade` did: the revision before (None: no migration history) and after, and
    whether tables made before migrations existed were adopted (stamped at BASELINE)."""

    before: str | None
    after: str | None
    adopted: bool


def head() -> str:
    """The newest revision this version of cartwise knows."""
    heads = _scripts().get_heads()
    if len(heads) != 1:
        raise ConfigurationError(f"the migrations have {len(heads)} heads, expected one: {heads}")
    return heads[0]


def current(engine: Engine) -> str | None:
    """The revision the database is at; None when it has no migration history (empty, or made
    before migrations existed). StorageError when the database cannot be read."""
    with (
        translate_errors(f"reading the schema revision of {_safe(engine)}"),
        engine.connect() as conn,
    ):
        return _revision_of(conn)


def check(engine: Engine) -> bool:
    """Whether the database is at head, so this version of cartwise can use it as it is."""
    return current(engine) == head()


def upgrade(target: str | URL | Engine, revision: str = "head") -> Upgraded:
    """Bring the database at `target` (a URL or an engine) to `revision`; a no-op when it is
    there already. Safe when several processes upgrade at once: on PostgreSQL they queue on an
    advisory lock, on SQLite on the write lock, and each looks again once it holds the lock.

    InvalidRequest for a revision that does not exist or lies behind the database;
    ConfigurationError for a database this version cannot migrate; StorageError when the
    database fails (the whole upgrade is then rolled back).
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with _locked(engine) as conn:
            config = _config(conn)
            before = _known(_revision_of(conn), engine)
            adopted = before is None and _adopt(conn, engine)
            if adopted:
                command.stamp(config, BASELINE)
            try:
                command.upgrade(config, revision)
            except (CommandError, RevisionError) as exc:
                raise InvalidRequest(
                    f"cannot upgrade {_safe(engine)} to {revision!r}: {exc}"
                ) from exc
            return Upgraded(before, _revision_of(conn), adopted)
    finally:
        if engine is not target:
            engine.dispose()


def ensure_current(engine: Engine, *, apply: bool) -> None:
    """Make sure the database is at head before cartwise uses it: upgrade it when `apply`, else
    ConfigurationError naming `cartwise db upgrade` when it is behind (or has no schema yet).

    A database a newer version already migrated is used as it is: migrations keep working with
    the release before them, so a rolling deploy or a rollback can run the older code."""
    present = current(engine)
    wanted = head()
    if present == wanted:
        return
    if _newer(present, wanted):
        log.warning(
            "%s is at schema revision %s, after this version's %s: used as it is",
            _safe(engine),
            present,
            wanted,
        )
        return
    _known(present, engine)
    if apply:
        upgrade(engine)
        return
    raise ConfigurationError(
        f"the database {_safe(engine)} is at schema revision {present or 'none'}, this version "
        f"of cartwise needs {wanted}: run `cartwise db upgrade`"
    )


def revision(message: str) -> Path:
    """Write the next revision from what `schema.metadata` has and the migrations lack, found
    by autogenerate against a scratch database at head; for developers of cartwise, in a source
    checkout. InvalidRequest when there is nothing to migrate. Review the file it returns."""
    if not message.strip():
        raise InvalidRequest("describe the change: a revision needs a message")
    engine = make_engine("sqlite://")
    try:
        with _locked(engine) as conn:
            config = _config(conn)
            command.upgrade(config, "head")
            if not compare_metadata(MigrationContext.configure(conn), metadata):
                raise InvalidRequest("schema.py matches the migrations: nothing to generate")
            _format_with_ruff(config)
            numbers = [int(rev) for rev in _scripts().get_heads() if rev.isdigit()]
            rev_id = f"{max(numbers, default=0) + 1:04d}"
            try:
                script = command.revision(config, message, autogenerate=True, rev_id=rev_id)
            except (CommandError, RevisionError) as exc:
                raise InvalidRequest(f"cannot write a revision: {exc}") from exc
    finally:
        engine.dispose()
        _scripts.cache_clear()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS).replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = conn
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS).replace("%", "%%"))
    return ScriptDirectory.from_config(config)


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the right to change the schema."""
    sqlite = engine.dialect.name == "sqlite"
    with translate_errors(f"upgrading the schema of {_safe(engine)}"), engine.connect() as conn:
        if sqlite:
            # BEGIN IMMEDIATE: a second process waits (busy timeout) rather than failing.
            conn.execution_options(cartwise_write=True)
            # SQLite changes a column by copying its table, and dropping the old copy would
            # cascade to the rows referring to it: keys are checked at the end instead (the
            # pragma is ignored inside a transaction). https://www.sqlite.org/lang_altertable.html
            _sqlite_pragma(conn, "PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
                with _ALEMBIC:
                    yield conn
                if sqlite and conn.execute(text("PRAGMA foreign_key_check")).first():
                    raise StorageError(
                        f"upgrading {_safe(engine)} would leave rows pointing at missing ones"
                    )
        finally:
            if sqlite:
                _sqlite_pragma(conn, "PRAGMA foreign_keys = ON")


def _revision_of(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _sqlite_pragma(conn: Connection, pragma: str) -> None:
    # Straight to the driver, so SQLAlchemy does not begin a transaction around it.
    conn.connection.dbapi_connection.execute(pragma)  # type: ignore[union-attr]


def _newer(present: str | None, wanted: str) -> bool:
    """Whether `present` is a revision of a later version (they are numbered in sequence)."""
    if present is None or not (present.isdigit() and wanted.isdigit()):
        return False
    return int(present) > int(wanted)


def _known(present: str | None, engine: Engine) -> str | None:
    if present is not None:
        try:
            _scripts().get_revision(present)
        except (CommandError, RevisionError):
            raise ConfigurationError(
                f"the database {_safe(engine)} is at schema revision {present!r}, which this "
                "version of cartwise does not know (did a newer version upgrade it?)"
            ) from None
    return present


def _adopt(conn: Connection, engine: Engine) -> bool:
    """Whether a database without migration history holds the baseline's tables (it was made
    by `create_all`); ConfigurationError when it holds some but they are not the baseline."""
    found = _shape(conn)
    if not found:
        return False
    expected = _baseline()
    ours = {name: columns for name, columns in found.items() if name in expected}
    if not ours:
        return False
    if ours == expected:
        return True
    problems = [f"missing table {name}" for name in sorted(expected.keys() - ours.keys())]
    problems += [
        f"table {name} has columns {sorted(ours[name])}, expected {sorted(expected[name])}"
        for name in sorted(ours)
        if ours[name] != expected[name]
    ]
    raise ConfigurationError(
        f"the database {_safe(engine)} holds cartwise tables but no migration history, and they "
        f"are not those of revision {BASELINE}, so it cannot be upgraded: {'; '.join(problems)}"
    )


@functools.cache
def _baseline() -> dict[str, frozenset[str]]:
    """The tables and columns of revision BASELINE, read back from a scratch database."""
    engine = make_engine("sqlite://")
    try:
        with _locked(engine) as conn:
            command.upgrade(_config(conn), BASELINE)
            return _shape(conn)
    finally:
        engine.dispose()


def _shape(conn: Connection) -> dict[str, frozenset[str]]:
    inspector = inspect(conn)
    return {
        name: frozenset(column["name"] for column in inspector.get_columns(name))
        for name in inspector.get_table_names()
        if name != _VERSION_TABLE
    }


def _format_with_ruff(config: Config) -> None:
    """Format new revisions with ruff, when it is installed (the dev extra), as `make lint`
    expects."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        return
    hooks = "post_write_hooks"
    config.set_section_option(hooks, "hooks", "ruff_format, ruff_fix")
    for name, options in (
        ("ruff_format", "format --quiet REVISION_SCRIPT_FILENAME"),
        ("ruff_fix", "check --fix --quiet REVISION_SCRIPT_FILENAME"),
    ):
        config.set_section_option(hooks, f"{name}.type", "exec")
        config.set_section_option(hooks, f"{name}.executable", ruff)
        config.set_section_option(hooks, f"{name}.options", options)


def _safe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
