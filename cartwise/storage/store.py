"""`open(url)` and the `Store` it returns; `Store.transaction()` groups writes into one unit.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import URL, Engine, text

from cartwise.storage._base import BoundRunner, EngineRunner, Runner
from cartwise.storage.api_keys import ApiKeyRepository
from cartwise.storage.artifacts import ModelRepository
from cartwise.storage.carts import CartRepository
from cartwise.storage.consent import ConsentRepository
from cartwise.storage.engine import make_engine, translate_errors
from cartwise.storage.events import EventRepository
from cartwise.storage.experiments import ExperimentRepository
from cartwise.storage.exports import ExportRepository
from cartwise.storage.installs import InstallRepository
from cartwise.storage.inventory import InventoryRepository
from cartwise.storage.jobs import JobRepository
from cartwise.storage.magento import MagentoStoreRepository
from cartwise.storage.migrate import ensure_current
from cartwise.storage.orders import OrderRepository
from cartwise.storage.products import ProductRepository
from cartwise.storage.retention import RetentionRepository
from cartwise.storage.rules import RulesRepository
from cartwise.storage.segments import SegmentRepository
from cartwise.storage.shops import ShopRepository
from cartwise.storage.sync import SyncRepository
from cartwise.storage.tracking import TrackingRepository
from cartwise.storage.versions import RedactionRepository, VersionRepository

__all__ = ["Store", "Transaction", "open"]


class _Repositories:
    def __init__(self, runner: Runner) -> None:
        self.shops = ShopRepository(runner)
        self.products = ProductRepository(runner)
        self.orders = OrderRepository(runner)
        self.carts = CartRepository(runner)
        self.events = EventRepository(runner)
        self.models = ModelRepository(runner)
        self.installs = InstallRepository(runner)
        self.api_keys = ApiKeyRepository(runner)
        self.rules = RulesRepository(runner)
        self.jobs = JobRepository(runner)
        self.versions = VersionRepository(runner)
        self.redactions = RedactionRepository(runner)
        self.inventory = InventoryRepository(runner)
        self.segments = SegmentRepository(runner)
        self.exports = ExportRepository(runner)
        self.sync = SyncRepository(runner)
        self.tracking = TrackingRepository(runner)
        self.magento = MagentoStoreRepository(runner)
        self.experiments = ExperimentRepository(runner)
        self.retention = RetentionRepository(runner)
        self.consent = ConsentRepository(runner)


class Transaction(_Repositories):
    """The repositories of a `Store`, all writing into one transaction: everything or nothing."""


class Store(_Repositories):
    """A cartwise database. Repository methods called on it each run in their own short
    transaction; it is safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(EngineRunner(engine))
        self._engine = engine

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """`"sqlite"` or `"postgresql"`."""
        return self._engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One atomic unit of work: committed when the block ends, rolled back if it raises."""
        with (
            translate_errors("running a transaction"),
            self._engine.connect() as conn,
        ):
            conn.execution_options(cartwise_write=True)
            with conn.begin():
                yield Transaction(BoundRunner(conn))

    def ping(self) -> None:
        """Check that the database answers; StorageError when it does not."""
        with translate_errors(f"reaching {self.url}"), self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        """Release every pooled connection; the store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.url}>"


def open(url: str | URL, *, upgrade: bool | None = None) -> Store:
    """Open the database at `url` (`sqlite:///path.db` or `postgresql://…`), at the schema
    revision this version needs. StorageError when the URL is invalid or the database
    unreachable.

    `upgrade` says whether to migrate a database that is behind; None (the default) means yes
    for SQLite and no for PostgreSQL, which is migrated as a deployment step
    (`cartwise db upgrade`): ConfigurationError naming that command when it is behind.
    `sqlite://` (in memory) is one shared connection: for tests and single-threaded tools.
    """
    engine = make_engine(url)
    try:
        apply = engine.dialect.name == "sqlite" if upgrade is None else upgrade
        ensure_current(engine, apply=apply)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
