"""Persistence for cartwise: shops, catalog, orders, carts, raw webhook events and trained models,
on SQLite (WAL, the default) or PostgreSQL, through SQLAlchemy.

`open(url)` returns a `Store`; database failures surface as `cartwise.errors.StorageError`.
Layer 2: imports only layer 0 (`errors`, `domain`).
"""

from cartwise.storage.api_keys import ApiKeyRecord as ApiKeyRecord
from cartwise.storage.artifacts import ModelArtifact as ModelArtifact
from cartwise.storage.events import DeadLetter as DeadLetter
from cartwise.storage.events import RawEvent as RawEvent
from cartwise.storage.installs import Install as Install
from cartwise.storage.inventory import VariantRecord as VariantRecord
from cartwise.storage.jobs import Job as Job
from cartwise.storage.magento import MagentoStore as MagentoStore
from cartwise.storage.store import Store as Store
from cartwise.storage.store import Transaction as Transaction
from cartwise.storage.store import open as open
from cartwise.storage.sync import SyncState as SyncState

__all__ = [
    "ApiKeyRecord",
    "DeadLetter",
    "Install",
    "Job",
    "MagentoStore",
    "ModelArtifact",
    "RawEvent",
    "Store",
    "SyncState",
    "Transaction",
    "VariantRecord",
    "open",
]
