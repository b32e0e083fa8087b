"""A shop's history from the platform: the backfill on install and the periodic reconciliation.

Backfill runs one bulk query per resource (products, then orders), streams its JSONL result and
stores it page by page, recording after each page how many result lines are stored, so a
backfill that crashed resumes from its running bulk operation at that line; then the shop's
model is trained. Orders go back 60 days unless the shop granted `read_all_orders` (Shopify's
rule), and the sync state says so for the merchant. Reconciliation fetches, page by page, what
changed since the last sync (webhooks can be lost or late) and upserts it: every write is
guarded by the platform's `updatedAt`, so a second run writes nothing.

Records go through the same ingestion as webhooks (payload models, keyed customer hashes,
redaction tombstones, version guards), so the model cannot tell where an order came from.
Layer 4: imports storage, the Shopify connector, ingestion and training.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from cartwise.connector.magento.client import MagentoClient
from cartwise.connector.magento.records import order_record
from cartwise.connector.shopify.admin import BulkOperation, ShopifyAdmin
from cartwise.connector.shopify.bulk import (
    AssemblyStats,
    assemble,
    orders_query,
    products_query,
    search_date,
)
from cartwise.connector.shopify.payloads import OrderPayload, ProductPayload
from cartwise.domain import Order, Platform, ShopRef
from cartwise.errors import ModelNotTrained, UpstreamError, UpstreamRejected
from cartwise.ingestion import (
    EventProcessor,
    ShopBatch,
    order_segments,
    segment_keys,
    variant_stock,
)
from cartwise.storage import Store, SyncState, VariantRecord
from cartwise.training import train_shop

__all__ = [
    "BACKFILL",
    "ORDER_WINDOW_DAYS",
    "RECONCILE",
    "BackfillReport",
    "Progress",
    "backfill_magento",
    "backfill_shopify",
    "reconcile_shopify",
]

log = logging.getLogger(__name__)

BACKFILL = "backfill_shop"
"""The job kind that brings a newly installed shop's history in."""

RECONCILE = "reconcile_shop"
"""The job kind that syncs what changed in a shop since its last sync."""

ORDER_WINDOW_DAYS = 60
"""How far back Shopify lets an app read orders without the `read_all_orders` scope."""

RECONCILE_OVERLAP = timedelta(minutes=10)
"""Each reconciliation starts this much before the last one ended: clocks and Shopify's search
index lag a little, and re-reading is free (unchanged records are not written)."""

PAGE = 500

Progress = Callable[[str, int, int], None]
"""`progress(resource, lines_stored, lines_in_all)`: lines of the bulk result (objects and
their children); `lines_in_all` is 0 when not known yet."""


@dataclass(slots=True)
class ResourceCount:
    objects: int = 0
    written: int = 0
    skipped: int = 0
    orphans: int = 0


@dataclass(slots=True)
class BackfillReport:
    """What a backfill or reconciliation did, per resource; `window_start` is the oldest
    order it could read (None: all history)."""

    shop: str
    counts: dict[str, ResourceCount] = field(default_factory=dict)
    window_start: datetime | None = None
    trained: bool = False

    def count(self, resource: str) -> ResourceCount:
        return self.counts.setdefault(resource, ResourceCount())


# -- writing pages --------------------------------------------------------------------------


class _Writer:
    """Stores pages of platform objects through the webhook path's rules, in bulk."""

    def __init__(self, store: Store, shop: str, processor: EventProcessor) -> None:
        self.store = store
        self.shop = shop
        self.processor = processor
        self.batch = ShopBatch()

    def products(self, nodes: list[dict[str, Any]], count: ResourceCount) -> None:
        parsed: dict[str, ProductPayload] = {}
        for node in nodes:
            try:
                payload = ProductPayload.model_validate(node)
            except ValidationError:
                count.skipped += 1
                continue
            parsed[payload.id] = payload
        now = datetime.now(UTC)
        with self.store.transaction() as tx:
            accepted = tx.versions.accept_many(
                self.shop, "product", {pid: p.version_at() or now for pid, p in parsed.items()}
            )
            held = {pid: parsed[pid] for pid in parsed if pid in accepted}
            stocks = tx.inventory.replace_variants_many(
                self.shop, {pid: _variants(p) for pid, p in held.items()}
            )
            records = []
            for pid, payload in held.items():
                product = payload.to_product()
                if pid in stocks:
                    stock = stocks[pid]
                    product = replace(
                        product,
                        stock=stock,
                        available=product.available and (stock is None or stock > 0),
                    )
                records.append(product)
            count.written += tx.products.upsert_many(self.shop, records) if records else 0

    def orders(self, nodes: list[dict[str, Any]], count: ResourceCount) -> None:
        shop, processor = self.shop, self.processor
        parsed: dict[str, tuple[Order, datetime, list[str]]] = {}
        for node in nodes:
            try:
                payload = OrderPayload.model_validate(node)
            except ValidationError:
                count.skipped += 1
                continue
            if payload.test:
                continue
            order = payload.to_order(customer_key=lambda cid: processor.customer_key(shop, cid))
            parsed[order.order_id] = (order, payload.version_at(), order_segments(payload))
        self.store_orders(parsed, count)

    def store_orders(
        self, parsed: dict[str, tuple[Order, datetime, list[str]]], count: ResourceCount
    ) -> None:
        """Store a page of orders (customers already keyed hashes): new ones in a few bulk
        statements, changes to orders already held through the webhook path one by one."""
        shop, processor = self.shop, self.processor
        parsed = self._not_redacted(parsed)
        for order in processor.consented_orders(shop, [entry[0] for entry in parsed.values()]):
            _, version, segments = parsed[order.order_id]
            parsed[order.order_id] = (order, version, segments)
        known = self.store.orders.existing(shop, parsed)
        for order_id in known:
            order, version, segments = parsed.pop(order_id)
            if processor.apply_order(shop, order, version, segments, self.batch) == "processed":
                count.written += 1
        if not parsed:
            return
        with self.store.transaction() as tx:
            accepted = tx.versions.accept_many(
                shop, "order", {oid: version for oid, (_, version, _) in parsed.items()}
            )
            new = [parsed[oid] for oid in accepted]
            count.written += tx.orders.upsert_many(shop, [order for order, _, _ in new])
            tx.segments.add_many(
                shop,
                [
                    (segments, [ln.product_id for ln in order.lines], order.created_at)
                    for order, _, segments in new
                    if not order.cancelled
                ],
            )
        self.batch.orders += len(new)

    def _not_redacted(
        self, parsed: dict[str, tuple[Order, datetime, list[str]]]
    ) -> dict[str, tuple[Order, datetime, list[str]]]:
        """Leave out orders a privacy request removed, and orders of a redacted customer
        from before the redaction: history must not bring them back."""
        redactions = self.store.redactions
        gone = redactions.redacted_among(self.shop, "order", parsed)
        tombstones = {
            self.processor.tombstone(order.customer_id): order.customer_id
            for order, _, _ in parsed.values()
            if order.customer_id
        }
        redacted = {
            tombstones[key]: at
            for key, at in redactions.redacted_among(self.shop, "customer", tombstones).items()
        }
        return {
            oid: entry
            for oid, entry in parsed.items()
            if oid not in gone
            and not (
                entry[0].customer_id in redacted
                and entry[0].created_at <= redacted[entry[0].customer_id]
            )
        }


def _variants(payload: ProductPayload) -> list[VariantRecord]:
    return [
        VariantRecord(
            variant_id=v.id,
            product_id=payload.id,
            inventory_item_id=v.inventory_item_id,
            stock=variant_stock(v),
        )
        for v in payload.variants
    ]


# -- backfill -------------------------------------------------------------------------------


async def backfill_shopify(
    store: Store,
    shop: str,
    admin: ShopifyAdmin,
    processor: EventProcessor,
    *,
    full_history: bool,
    progress: Progress | None = None,
    poll: float = 2.0,
    now: datetime | None = None,
    train: bool = True,
    again: bool = False,
) -> BackfillReport:
    """Bring `shop`'s catalog and order history in through bulk queries, resuming a backfill
    that stopped half-way (a resource already done is skipped unless `again`), then train
    its model.

    Raises UpstreamRejected/UpstreamError/UpstreamTimeout when Shopify refuses or fails (the
    sync state keeps what was stored, and the next run resumes).
    """
    started = now or datetime.now(UTC)
    store.shops.ensure(ShopRef(shop, Platform.SHOPIFY))
    window_start = None if full_history else started - timedelta(days=ORDER_WINDOW_DAYS)
    report = BackfillReport(shop, window_start=window_start)
    writer = _Writer(store, shop, processor)
    for resource, query in (
        ("products", products_query()),
        ("orders", orders_query(created_since=window_start)),
    ):
        state = store.sync.get(shop, resource)
        if state is not None and state.status == "done" and not again:
            report.count(resource).objects = state.objects_done
            continue
        await _bulk_resource(
            store,
            admin,
            writer,
            resource,
            query,
            report,
            progress,
            poll,
            started,
            window_start=window_start if resource == "orders" else None,
        )
    if train:
        report.trained = _train(store, shop, processor)
    return report


async def _bulk_resource(
    store: Store,
    admin: ShopifyAdmin,
    writer: _Writer,
    resource: str,
    query: str,
    report: BackfillReport,
    progress: Progress | None,
    poll: float,
    started: datetime,
    *,
    window_start: datetime | None = None,
) -> None:
    shop = writer.shop
    count = report.count(resource)
    state = store.sync.get(shop, resource)
    operation: BulkOperation | None = None
    if state is not None and state.status == "running" and state.operation_id:
        try:
            operation = await admin.bulk_operation(state.operation_id)
            log.info("resuming the %s backfill of %s at line %d", resource, shop, state.lines_done)
        except UpstreamRejected:
            operation = None
        if operation is not None and operation.status in ("EXPIRED", "CANCELED", "FAILED"):
            operation = None
    if operation is None or state is None:
        operation = await admin.start_bulk_query(query)
        state = store.sync.save(
            SyncState(
                shop,
                resource,
                "running",
                operation_id=operation.id,
                window_start=window_start,
                message=_window_message(resource, window_start),
            )
        )
    if not operation.finished:
        operation = await admin.wait_for_bulk(operation.id, poll=poll)
    if operation.status != "COMPLETED":
        store.sync.save(
            state.but(status="failed", message=f"bulk query {operation.status.lower()}")
        )
        raise UpstreamError(
            f"The {resource} bulk query of {shop} ended {operation.status} "
            f"({operation.error_code or 'no reason given'}).",
            shop=shop,
            reason="bulk_query_failed",
        )
    expected = operation.object_count
    count.objects = state.objects_done
    if operation.url:
        stats = AssemblyStats()
        lines = admin.stream_lines(operation.url, skip=state.lines_done)
        async for page, safe in _pages(assemble(lines, start_line=state.lines_done, stats=stats)):
            if resource == "products":
                writer.products(page, count)
            else:
                writer.orders(page, count)
            count.objects += len(page)
            state = store.sync.save(
                state.but(lines_done=safe, objects_done=count.objects, written=count.written)
            )
            if progress is not None:
                progress(resource, safe, expected)
        count.orphans = stats.orphans
    store.sync.save(
        state.but(
            status="done",
            synced_until=started,
            message=_window_message(resource, window_start),
        )
    )


async def _pages(items: AsyncIterator[Any]) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
    page: list[dict[str, Any]] = []
    safe = 0
    async for item in items:
        page.append(item.node)
        safe = item.safe_lines
        if len(page) >= PAGE:
            yield page, safe
            page = []
    if page:
        yield page, safe


def _window_message(resource: str, window_start: datetime | None) -> str | None:
    if resource != "orders" or window_start is None:
        return None
    return (
        f"Orders from {window_start:%Y-%m-%d} on only: Shopify lets apps read older orders "
        "once the store grants the read_all_orders scope."
    )


def _train(store: Store, shop: str, processor: EventProcessor) -> bool:
    try:
        train_shop(store, shop)
    except ModelNotTrained:
        return False
    processor.forget(shop)
    processor.saved(shop)
    return True


# -- reconciliation -------------------------------------------------------------------------

_PRODUCTS_PAGE = """
query cartwiseProductsSince($first: Int!, $after: String, $search: String!) {
  products(first: $first, after: $after, query: $search, sortKey: UPDATED_AT) {
    nodes {
      id title handle productType vendor tags status updatedAt publishedAt
      featuredImage { url }
      variants(first: 100) { nodes {
        id sku price inventoryQuantity inventoryPolicy inventoryItem { id tracked }
      } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

_ORDERS_PAGE = """
query cartwiseOrdersSince($first: Int!, $after: String, $search: String!) {
  orders(first: $first, after: $after, query: $search, sortKey: UPDATED_AT) {
    nodes {
      id createdAt updatedAt cancelledAt test
      customer { id }
      shippingAddress { countryCodeV2 }
      lineItems(first: 100) { nodes {
        id quantity variant { id } product { id } originalUnitPriceSet { shopMoney { amount } }
      } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def reconcile_shopify(
    store: Store,
    shop: str,
    admin: ShopifyAdmin,
    processor: EventProcessor,
    *,
    now: datetime | None = None,
    page_size: int = 100,
) -> BackfillReport:
    """Fetch products and orders changed since the last sync and store what is newer than
    what is held; retrain when anything was written. A shop never backfilled has nothing to
    reconcile from: an empty report (backfill it first)."""
    started = now or datetime.now(UTC)
    report = BackfillReport(shop)
    writer = _Writer(store, shop, processor)
    for resource, document in (("products", _PRODUCTS_PAGE), ("orders", _ORDERS_PAGE)):
        state = store.sync.get(shop, resource)
        if state is None or state.synced_until is None:
            continue
        count = report.count(resource)
        since = state.synced_until - RECONCILE_OVERLAP
        search = f"updated_at:>='{search_date(since)}'"
        page: list[dict[str, Any]] = []
        async for node in admin.paginate(
            document, [resource], {"search": search}, page_size=page_size
        ):
            page.append(node)
            if len(page) >= PAGE:
                _write(writer, resource, page, count)
                page = []
        if page:
            _write(writer, resource, page, count)
        store.sync.save(state.but(synced_until=started, written=state.written + count.written))
    if any(c.written for c in report.counts.values()):
        report.trained = _train(store, shop, processor)
    return report


def _write(
    writer: _Writer, resource: str, page: list[dict[str, Any]], count: ResourceCount
) -> None:
    count.objects += len(page)
    if resource == "products":
        writer.products(page, count)
    else:
        writer.orders(page, count)


# -- Magento --------------------------------------------------------------------------------


async def backfill_magento(
    store: Store,
    shop: str,
    client: MagentoClient,
    processor: EventProcessor,
    *,
    reconcile: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> BackfillReport:
    """Bring a connected Magento store's catalog and orders in through its REST API, then
    train; with `reconcile`, only what changed since the last run (less ten minutes).

    Listings come oldest change first, and after each page the sync state records the newest
    change stored, so a run that stopped half-way is taken up from there by the next one.
    """
    started = now or datetime.now(UTC)
    store.shops.ensure(ShopRef(shop, Platform.MAGENTO))
    report = BackfillReport(shop)
    writer = _Writer(store, shop, processor)
    for resource in ("products", "orders"):
        state = store.sync.get(shop, resource)
        since: datetime | None = None
        if state is not None and state.synced_until is not None:
            if state.status == "done" and not reconcile:
                report.count(resource).objects = state.objects_done
                continue
            since = state.synced_until - RECONCILE_OVERLAP
        if state is None:
            state = SyncState(shop, resource, "running")
        state = store.sync.save(state.but(status="running"))
        count = report.count(resource)
        if resource == "products":
            items: AsyncIterator[Any] = client.products(updated_since=since)
        else:
            items = client.orders(updated_since=since)
        page: list[Any] = []
        async for item in items:
            page.append(item)
            if len(page) >= PAGE:
                state = _magento_page(writer, resource, page, count, state, store)
                if progress is not None:
                    progress(resource, count.objects, 0)
                page = []
        if page:
            state = _magento_page(writer, resource, page, count, state, store)
            if progress is not None:
                progress(resource, count.objects, 0)
        store.sync.save(
            state.but(status="done", synced_until=started, objects_done=state.objects_done)
        )
    if any(c.written for c in report.counts.values()):
        report.trained = _train(store, shop, processor)
    store.magento.mark_synced(shop, started)
    return report


def _magento_page(
    writer: _Writer,
    resource: str,
    page: list[Any],
    count: ResourceCount,
    state: SyncState,
    store: Store,
) -> SyncState:
    shop, processor = writer.shop, writer.processor
    newest: datetime | None = None
    if resource == "products":
        for record in page:
            variants = [
                VariantRecord(v.variant_id, v.product_id, inventory_item_id=v.sku, stock=v.stock)
                for v in record.variants
            ]
            version = record.version or datetime.now(UTC)
            newest = max(newest, version) if newest else version
            status = processor.apply_product(shop, record.product, variants, version)
            count.written += status == "processed"
    else:
        parsed: dict[str, tuple[Order, datetime, list[str]]] = {}
        for payload in page:
            record = order_record(payload, lambda cid: processor.customer_key(shop, cid))
            parsed[record.order.order_id] = (
                record.order,
                record.version,
                segment_keys(country=record.country),
            )
            newest = max(newest, record.version) if newest else record.version
        writer.store_orders(parsed, count)
    count.objects += len(page)
    return store.sync.save(
        state.but(
            objects_done=state.objects_done + len(page),
            written=state.written + count.written,
            synced_until=newest if newest is not None else state.synced_until,
        )
    )
