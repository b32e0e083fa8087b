"""The tables of the cartwise database, as SQLAlchemy Core metadata, and the UTC datetime type.

Portable between SQLite and PostgreSQL; imports nothing from cartwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "api_keys",
    "carts",
    "consent_log",
    "dead_letters",
    "event_daily",
    "experiment_reports",
    "experiments",
    "exposures",
    "installs",
    "inventory_levels",
    "jobs",
    "magento_stores",
    "metadata",
    "model_artifacts",
    "order_lines",
    "order_sessions",
    "orders",
    "privacy_exports",
    "products",
    "raw_events",
    "redactions",
    "resource_versions",
    "segment_popularity",
    "shop_rules",
    "shops",
    "sync_state",
    "to_utc",
    "tracked_events",
    "variants",
]


def to_utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zones and drops the offset, so values are normalised to UTC before they
    are written and marked UTC when read; PostgreSQL stores `timestamptz` and is normalised too.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = to_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return to_utc(value)


_Json = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData()

shops = Table(
    "shops",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("domain", String(255), nullable=False, unique=True),
    Column("platform", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("category", Text, nullable=False, default=""),
    Column("vendor", Text, nullable=False, default=""),
    Column("price", Float, nullable=True),
    Column("tags", _Json, nullable=False),
    Column("available", Boolean, nullable=False, default=True),
    Column("stock", Integer, nullable=True),
    Column("image_url", Text, nullable=True),
    Column("variant_id", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_products_shop_title", "shop_id", "title"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
    Column("order_id", Text, nullable=False),
    Column("customer_id", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("cancelled", Boolean, nullable=False, default=False),
    # A fingerprint of the order's content: an upsert skips orders that did not change.
    Column("digest", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("shop_id", "order_id", name="uq_orders_shop_order"),
    Index("ix_orders_shop_created", "shop_id", "created_at", "id"),
    Index("ix_orders_shop_customer", "shop_id", "customer_id"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_pk", ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("product_id", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("price", Float, nullable=True),
    Column("variant_id", Text, nullable=True),
)

carts = Table(
    "carts",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("cart_id", Text, primary_key=True),
    Column("customer_id", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("lines", _Json, nullable=False),
    Index("ix_carts_shop_updated", "shop_id", "updated_at", "cart_id"),
)

# Keyed by the shop's domain, not its id: a verified webhook is kept even before the shop is known.
raw_events = Table(
    "raw_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_domain", String(255), nullable=False),
    Column("delivery_id", Text, nullable=False),
    Column("topic", String(255), nullable=False),
    Column("event_id", Text, nullable=True),
    Column("headers", _Json, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime, nullable=True),
    Column("status", String(32), nullable=False),
    Column("error", Text, nullable=True),
    UniqueConstraint("shop_domain", "delivery_id", name="uq_raw_events_delivery"),
    # NULL event ids are distinct in a unique constraint on both SQLite and PostgreSQL.
    UniqueConstraint("shop_domain", "topic", "event_id", name="uq_raw_events_event"),
    Index("ix_raw_events_status", "status", "id"),
)

model_artifacts = Table(
    "model_artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("meta", _Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("shop_id", "version", name="uq_model_artifacts_version"),
)

# The shop's platform credentials: one row per installed shop. Tokens are secrets: never logged.
installs = Table(
    "installs",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("access_token", Text, nullable=True),
    Column("scope", Text, nullable=False, default=""),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("refresh_token", Text, nullable=True),
    Column("refresh_expires_at", UTCDateTime, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("installed_at", UTCDateTime, nullable=False),
    Column("uninstalled_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Server-to-server keys: only a keyed hash of each key is stored, with a short prefix to name it.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("label", Text, nullable=False, default=""),
    Column("scope", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_api_keys_shop", "shop_id"),
)

# The merchant's curated defaults and business rules, as one JSON document per shop.
shop_rules = Table(
    "shop_rules",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("rules", _Json, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Signed deliveries no job could read: kept with the reason, answered 200 so Shopify stops retrying.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_domain", String(255), nullable=False),
    Column("delivery_id", Text, nullable=True),
    Column("topic", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("headers", _Json, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_dead_letters_shop", "shop_domain", "id"),
)

# The durable job queue: a job is claimed with a lease, so a killed worker's job runs again.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("shop_domain", String(255), nullable=False),
    Column("payload", _Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("run_after", UTCDateTime, nullable=False),
    Column("leased_until", UTCDateTime, nullable=True),
    Column("error", Text, nullable=True),
    # At most one queued job per key (e.g. one pending rebuild per shop); NULL keys never clash.
    Column("dedupe_key", String(255), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Index("ix_jobs_ready", "status", "run_after", "id"),
    Index("ix_jobs_shop", "shop_domain"),
)

# The platform's own timestamp of the newest state applied per resource: older retries lose.
resource_versions = Table(
    "resource_versions",
    metadata,
    Column("shop_domain", String(255), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("resource_id", Text, primary_key=True),
    Column("version_at", UTCDateTime, nullable=False),
)

# Tombstones of redacted customers and orders: late deliveries about them are dropped.
redactions = Table(
    "redactions",
    metadata,
    Column("shop_domain", String(255), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("redacted_at", UTCDateTime, nullable=False),
)

# Variants of the catalog, to map cart lines and inventory items back to their products.
variants = Table(
    "variants",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("variant_id", Text, primary_key=True),
    Column("product_id", Text, nullable=False),
    Column("inventory_item_id", Text, nullable=True),
    Column("stock", Integer, nullable=True),
    Index("ix_variants_product", "shop_id", "product_id"),
    Index("ix_variants_item", "shop_id", "inventory_item_id"),
)

# Stock per inventory item and location, as inventory_levels/update reports it.
inventory_levels = Table(
    "inventory_levels",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("inventory_item_id", Text, primary_key=True),
    Column("location_id", Text, primary_key=True),
    Column("available", Integer, nullable=True),
)

# Forward-decayed popularity per shopper segment (country, device, referrer): weight is the sum
# of 2 ** ((t - epoch) / half-life) over orders, so it grows without rewriting old rows.
segment_popularity = Table(
    "segment_popularity",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("segment", String(128), primary_key=True),
    Column("product_id", Text, primary_key=True),
    Column("weight", Float, nullable=False),
    Index("ix_segment_popularity_rank", "shop_id", "segment", "weight"),
)

# Answers to customers/data_request: the JSON export of what cartwise holds about a customer.
privacy_exports = Table(
    "privacy_exports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_domain", String(255), nullable=False),
    Column("request_id", Text, nullable=True),
    Column("document", _Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("shop_domain", "request_id", name="uq_privacy_exports_request"),
)

# What shoppers did with recommended products (impressions, clicks, add-to-carts), once per
# event id, for attribution and KPIs.
tracked_events = Table(
    "tracked_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("product_id", Text, nullable=False),
    Column("session_id", String(128), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("placement", String(16), nullable=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("shop_id", "event_id", name="uq_tracked_events_event"),
    Index("ix_tracked_events_session", "shop_id", "session_id", "occurred_at"),
)

# Progress of each shop's backfill and sync from the platform, per resource (products, orders):
# the running bulk operation and how many of its result lines are stored, so a crashed backfill
# resumes where it stopped; `synced_until` is where the next reconciliation starts.
sync_state = Table(
    "sync_state",
    metadata,
    Column("shop_domain", String(255), primary_key=True),
    Column("resource", String(32), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("operation_id", Text, nullable=True),
    Column("lines_done", Integer, nullable=False, default=0),
    Column("objects_done", Integer, nullable=False, default=0),
    Column("written", Integer, nullable=False, default=0),
    Column("window_start", UTCDateTime, nullable=True),
    Column("synced_until", UTCDateTime, nullable=True),
    Column("message", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Connected Magento stores: where to call them, the integration's credentials (secrets, never
# logged) and the secret the cartwise module signs its deliveries with.
magento_stores = Table(
    "magento_stores",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("base_url", Text, nullable=False),
    Column("store_code", String(32), nullable=True),
    Column("consumer_key", Text, nullable=True),
    Column("consumer_secret", Text, nullable=True),
    Column("access_token", Text, nullable=True),
    Column("access_token_secret", Text, nullable=True),
    Column("use_bearer", Boolean, nullable=False, default=False),
    Column("signing_secret", Text, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("connected_at", UTCDateTime, nullable=False),
    Column("disconnected_at", UTCDateTime, nullable=True),
    Column("last_synced_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The session keys an order is known by on the storefront (Shopify's checkout and cart tokens):
# what ties an order to the recommendations shown and clicked in that session.
order_sessions = Table(
    "order_sessions",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("order_id", Text, primary_key=True),
    Column("session_key", String(128), primary_key=True),
    Index("ix_order_sessions_key", "shop_id", "session_key"),
)

# Storefront events counted per day, placement and kind as they arrive, so the dashboard reads
# a few hundred rows for a year instead of every event. `placement` is "" when none was given.
event_daily = Table(
    "event_daily",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("placement", String(16), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("count", Integer, nullable=False),
)

# A shop's experiments: the arms and holdout as JSON, the planned sample size, and when it ran.
experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(64), nullable=False),
    Column("definition", _Json, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime, nullable=True),
    UniqueConstraint("shop_id", "key", name="uq_experiments_shop_key"),
)

# Who was answered under which arm: one row per visitor session, experiment and placement, with
# the first and last time. Control arms that show nothing are logged too, or their visitors
# would be invisible to the analysis.
exposures = Table(
    "exposures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
    Column("experiment", String(64), nullable=False),
    Column("session_id", String(128), nullable=False),
    Column("placement", String(16), nullable=False),
    Column("arm", String(64), nullable=False),
    Column("holdout", Boolean, nullable=False),
    Column("customer_id", Text, nullable=True),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    UniqueConstraint("shop_id", "experiment", "session_id", "placement", name="uq_exposures_visit"),
)

# The latest computed readout of each experiment (KPIs per arm, tests, the decision), so the
# dashboard shows it without reading every event.
experiment_reports = Table(
    "experiment_reports",
    metadata,
    Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
    Column("experiment", String(64), primary_key=True),
    Column("report", _Json, nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
)

# Each customer's choices about personalisation, newest last: the latest entry is the current
# choice, the rest the timestamped record of changes. Keyed by the shop's domain like the other
# privacy records, and by the customer's keyed hash (never the platform id).
consent_log = Table(
    "consent_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop_domain", String(255), nullable=False),
    Column("customer_key", String(128), nullable=False),
    Column("personalised", Boolean, nullable=False),
    Column("source", String(16), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_consent_log_customer", "shop_domain", "customer_key", "recorded_at"),
)
