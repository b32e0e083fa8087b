"""Stored webhook deliveries → domain records → model updates: the work behind `process_event`.

Every write is idempotent and guarded by the platform's own timestamps, so duplicates, shuffled
deliveries and stale retries (Shopify retries carry the payload as it was when the event fired)
never double-count an order or overwrite newer state. New orders and carts are folded into the
shop's model at once (`HybridRecommender.update`); changes to orders already counted (edits,
cancellations) schedule a rebuild from storage, which takes them back out. Orders and carts of
a customer without consent to personalisation are stored without their customer key: their
lines still count for the shop, but no history is kept about them.
Layer 4: imports storage, the Shopify payload models, the Magento records, the recommender,
training and privacy.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cartwise.connector.magento.records import CatalogRecord, OrderRecord, event_record
from cartwise.connector.shopify.payloads import (
    CartPayload,
    CheckoutPayload,
    CustomersDataRequestPayload,
    CustomersRedactPayload,
    InventoryLevelPayload,
    OrderPayload,
    ProductDeletePayload,
    ProductPayload,
    parse,
)
from cartwise.domain import Cart, Order, Platform, Product, ShopRef
from cartwise.errors import Conflict, InvalidPayload, NotFound
from cartwise.privacy import export_customer, redact_customer, redact_shop
from cartwise.pseudonyms import customer_key, tombstone_key
from cartwise.recommender import HybridRecommender, Interaction
from cartwise.recommender.records import cart_interactions, to_interactions
from cartwise.settings import JobSettings
from cartwise.storage import Job, RawEvent, Store, Transaction, VariantRecord
from cartwise.storage.consent import ConsentRepository, keeps_history
from cartwise.training import DATA_FROM, DATA_UNTIL
from cartwise.webhooks.magento import MAGENTO_TOPIC_PREFIX

__all__ = [
    "REBUILD",
    "EventProcessor",
    "ShopBatch",
    "enqueue_rebuild",
    "order_segments",
    "segment_keys",
    "variant_stock",
]

log = logging.getLogger(__name__)

REBUILD = "rebuild_model"
"""The job kind that retrains a shop's model from storage."""


def segment_keys(
    country: str | None = None, device: str | None = None, referrer: str | None = None
) -> list[str]:
    """The segment names a shopper belongs to, most specific signal first."""
    keys = []
    if country:
        keys.append(f"country:{country.upper()}")
    if referrer:
        keys.append(f"referrer:{referrer.lower()}")
    if device:
        keys.append(f"device:{device.lower()}")
    return keys


def order_segments(payload: OrderPayload) -> list[str]:
    return segment_keys(payload.country, payload.device, payload.referrer)


def enqueue_rebuild(store: Store | Transaction, shop: str, *, delay: float = 0.0) -> None:
    """Queue a rebuild of `shop`'s model from storage in `delay` seconds (in `store`'s
    transaction when it is one); one waits per shop."""
    at = datetime.now(UTC) + timedelta(seconds=delay)
    store.jobs.enqueue(REBUILD, shop, dedupe_key=f"{REBUILD}:{shop}", run_after=at)


@dataclass
class ShopBatch:
    """What one batch of events did to a shop: interactions to fold into its model, how many
    orders they came from, and whether a rebuild is needed (a counted order changed)."""

    interactions: list[Interaction] = field(default_factory=list)
    orders: int = 0
    rebuild: bool = False
    stored_from: datetime | None = None
    """Before the first of its interactions' records began to be stored."""
    stored_until: datetime | None = None
    """After the last of them was committed."""

    def stored(self, began: datetime) -> None:
        """Interactions were just added from records whose transaction began at `began`."""
        if self.stored_from is None:
            self.stored_from = began
        self.stored_until = datetime.now(UTC)


class EventProcessor:
    """Applies batches of `process_event` jobs. `on_model_saved(shop)` is called after a new
    model version is stored, so an in-process registry can pick it up at once.
    `consent_required` is `Settings.consent_required`: customers who never chose are then
    stored without their key."""

    def __init__(
        self,
        store: Store,
        *,
        secret: bytes,
        settings: JobSettings | None = None,
        on_model_saved: Callable[[str], None] | None = None,
        consent_required: bool = False,
    ) -> None:
        self._store = store
        self._secret = secret
        self._settings = settings or JobSettings()
        self._on_model_saved = on_model_saved
        self._consent_required = consent_required
        self._models: dict[str, tuple[int, HybridRecommender, int, dict[str, str]]] = {}
        self._ensured: set[ShopRef] = set()
        """Shops recorded during the current batch: once per batch, not once per event."""

    def customer_key(self, shop: str, customer_id: str) -> str:
        return customer_key(self._secret, shop, customer_id)

    def tombstone(self, key: str) -> str:
        """The redaction tombstone of a customer key."""
        return tombstone_key(key)

    def consented_orders(self, shop: str, orders: Sequence[Order]) -> list[Order]:
        """`orders` as they may be stored: an order whose customer had not consented when it
        was placed, or has withdrawn since, loses its customer key (one query for them all)."""
        keys = {o.customer_id for o in orders if o.customer_id is not None}
        logs = self._store.consent.histories(shop, keys) if keys else {}
        if not logs and not self._consent_required:
            return list(orders)
        return [
            o
            if o.customer_id is None
            or keeps_history(
                logs.get(o.customer_id, []), o.created_at, consent_required=self._consent_required
            )
            else replace(o, customer_id=None)
            for o in orders
        ]

    def _keeps_history(self, consent: ConsentRepository, shop: str, key: str, at: datetime) -> bool:
        log_of = consent.history(shop, key)
        return keeps_history(log_of, at, consent_required=self._consent_required)

    def handle(self, jobs: Iterable[Job]) -> None:
        """Apply every job's event; a failure raises (the worker retries), after the events
        already applied were marked processed."""
        batches: defaultdict[str, ShopBatch] = defaultdict(ShopBatch)
        jobs = list(jobs)
        # A job taken up again: whoever had it before may have died between storing its
        # records and counting them in the model (events are marked as they are stored, so
        # they are not applied twice); a training from storage counts whatever was missed.
        for shop in dict.fromkeys(job.shop for job in jobs if job.attempts > 1):
            self.schedule_rebuild(shop)
        self._ensured.clear()
        try:
            events = self._store.events.get_many(int(job.payload["event"]) for job in jobs)
            for job in jobs:
                event = events.get(int(job.payload["event"]))
                if event is None or event.status != "pending":
                    continue  # handled before (a retried job) or redacted meanwhile
                self._apply(event, batches[event.shop])
        finally:
            for shop, batch in batches.items():
                self._finish_shop(shop, batch)

    # -- one event ------------------------------------------------------------------------

    def _apply(self, event: RawEvent, batch: ShopBatch) -> None:
        try:
            if event.topic.startswith(MAGENTO_TOPIC_PREFIX):
                status = self._magento(event, batch)
            else:
                payload = parse(event.topic, event.body)
                status = self._dispatch(event, payload, batch)
        except InvalidPayload as exc:
            self._store.events.dead_letter(
                event.shop,
                topic=event.topic,
                reason=exc.message,
                body=event.body,
                headers=event.headers,
                delivery_id=event.delivery_id,
            )
            status = "failed"
        try:
            self._store.events.mark(event.id, status, clear_body=True)  # type: ignore[arg-type]
        except NotFound:
            return  # the event went with the rest of its shop's data (shop/redact)

    def _ensure(self, shop: ShopRef) -> None:
        if shop not in self._ensured:
            self._store.shops.ensure(shop)
            self._ensured.add(shop)

    def _magento(self, event: RawEvent, batch: ShopBatch) -> str:
        """A delivery of the cartwise Magento module, applied through the same platform-neutral
        methods as Shopify's deliveries."""
        shop = event.shop
        event_name = event.topic.removeprefix(MAGENTO_TOPIC_PREFIX)
        record = event_record(event_name, event.body, lambda cid: self.customer_key(shop, cid))
        if record is None:
            return "ignored"
        self._ensure(ShopRef(shop, Platform.MAGENTO))
        if isinstance(record, OrderRecord):
            segments = segment_keys(country=record.country)
            return self.apply_order(shop, record.order, record.version, segments, batch)
        if isinstance(record, CatalogRecord):
            variants = [
                VariantRecord(v.variant_id, v.product_id, inventory_item_id=v.sku, stock=v.stock)
                for v in record.variants
            ]
            version = record.version or event.received_at
            return self.apply_product(shop, record.product, variants, version)
        return self.apply_cart(shop, record, batch)

    def _dispatch(self, event: RawEvent, payload: Any, batch: ShopBatch) -> str:
        shop, topic = event.shop, event.topic
        if topic == "shop/redact":
            redact_shop(self._store, shop)
            self._ensured -= {ref for ref in self._ensured if ref.domain == shop}
            self._forget_batch(shop, batch)
            return "processed"
        if topic == "customers/redact":
            assert isinstance(payload, CustomersRedactPayload)
            redact_customer(self._store, shop, payload, self.customer_key)
            # The rebuild it ran read every order this batch stored before it: nothing of the
            # batch is left to fold in (and folding would bring the customer back).
            self._forget_batch(shop, batch)
            return "processed"
        if topic == "customers/data_request":
            assert isinstance(payload, CustomersDataRequestPayload)
            export_customer(self._store, shop, payload, self.customer_key)
            return "processed"
        if topic == "app/uninstalled":
            self._store.installs.deactivate(shop)
            self.saved(shop)
            return "processed"
        self._ensure(ShopRef(shop, Platform.SHOPIFY))
        fired = _triggered_at(event)
        if isinstance(payload, OrderPayload):
            return self._order(shop, payload, batch)
        if isinstance(payload, CheckoutPayload | CartPayload):
            return self._cart(shop, payload, fired, batch)
        if isinstance(payload, ProductPayload):
            return self._product(shop, payload, fired)
        if isinstance(payload, ProductDeletePayload):
            return self._product_deleted(shop, payload, fired)
        if isinstance(payload, InventoryLevelPayload):
            return self._inventory(shop, payload, fired)
        return "ignored"

    def _order(self, shop: str, p: OrderPayload, batch: ShopBatch) -> str:
        if p.test:
            return "ignored"
        order = p.to_order(customer_key=lambda cid: self.customer_key(shop, cid))
        sessions = [t for t in (p.checkout_token, p.cart_token) if t]
        return self.apply_order(shop, order, p.version_at(), order_segments(p), batch, sessions)

    def apply_order(
        self,
        shop: str,
        order: Order,
        version: datetime,
        segments: list[str],
        batch: ShopBatch,
        sessions: Sequence[str] = (),
    ) -> str:
        """Store one state of an order (its customer already a keyed hash), whatever platform
        it came from: a new order is folded into the model with the batch, a change to one
        already counted schedules a rebuild, an older state than the stored one is dropped.
        `sessions` are the storefront keys the order is known by (checkout and cart tokens),
        which attribute it to the recommendations of those sessions. The order of a customer
        without consent (then or since) is stored without their key."""
        store = self._store
        began = datetime.now(UTC)
        key = order.customer_id
        with store.transaction() as tx:
            if tx.redactions.redacted_at(shop, "order", order.order_id) is not None:
                return "ignored"
            if key is not None and self._redacted_before(tx, shop, key, order.created_at):
                return "ignored"
            if not tx.versions.accept(shop, "order", order.order_id, version):
                return "ignored"  # a stale retry or a duplicate state
            if key is not None and not self._keeps_history(tx.consent, shop, key, order.created_at):
                order = replace(order, customer_id=None)
            previous = tx.orders.get(shop, order.order_id)
            tx.orders.upsert_many(shop, [order])
            tx.orders.add_sessions(shop, order.order_id, sessions)
            if previous is None:
                if not order.cancelled:
                    _count_segments(tx, shop, segments, order, +1)
            elif previous.cancelled != order.cancelled or previous.lines != order.lines:
                if not previous.cancelled:
                    _count_segments(tx, shop, segments, previous, -1)
                if not order.cancelled:
                    _count_segments(tx, shop, segments, order, +1)
                batch.rebuild = True
        if previous is None and not order.cancelled:
            batch.interactions.extend(to_interactions([order]))
            batch.orders += 1
            batch.stored(began)
        return "processed"

    def _cart(
        self, shop: str, p: CartPayload | CheckoutPayload, fired: datetime | None, batch: ShopBatch
    ) -> str:
        store = self._store
        variant_ids = [ln.variant_id for ln in p.line_items if ln.variant_id and not ln.product_id]
        products = store.inventory.products_of_variants(shop, variant_ids) if variant_ids else {}
        cart = p.to_cart(
            customer_key=lambda cid: self.customer_key(shop, cid),
            product_of_variant=products.get,
        )
        if isinstance(p, CheckoutPayload) and p.completed_at is not None:
            return "ignored"  # the order it became is counted instead
        return self.apply_cart(shop, cart, batch)

    def apply_cart(self, shop: str, cart: Cart, batch: ShopBatch) -> str:
        """Store a cart as last seen (its customer already a keyed hash; none for a customer
        without consent); a cart seen for the first time adds its co-occurrences to the batch."""
        store = self._store
        began = datetime.now(UTC)
        with store.transaction() as tx:
            if cart.customer_id is not None and self._redacted_before(
                tx, shop, cart.customer_id, cart.updated_at
            ):
                return "ignored"
            first_seen = tx.versions.get(shop, "cart", cart.cart_id) is None
            if not tx.versions.accept(shop, "cart", cart.cart_id, cart.updated_at):
                return "ignored"
            key = cart.customer_id
            if key is not None and not self._keeps_history(tx.consent, shop, key, cart.updated_at):
                cart = replace(cart, customer_id=None)
            tx.carts.upsert(shop, cart)
        if first_seen and cart.lines:
            batch.interactions.extend(cart_interactions([cart]))
            batch.stored(began)
        return "processed"

    def _product(self, shop: str, p: ProductPayload, fired: datetime | None) -> str:
        version = p.version_at() or fired or datetime.now(UTC)
        variants = [
            VariantRecord(
                variant_id=v.id,
                product_id=p.id,
                inventory_item_id=v.inventory_item_id,
                stock=variant_stock(v),
            )
            for v in p.variants
        ]
        return self.apply_product(shop, p.to_product(), variants, version)

    def apply_product(
        self, shop: str, product: Product, variants: list[VariantRecord], version: datetime
    ) -> str:
        """Store one state of a product and its variants; with variants, its stock is theirs
        and a product with none left is not recommended. An older state is dropped."""
        with self._store.transaction() as tx:
            if not tx.versions.accept(shop, "product", product.product_id, version):
                return "ignored"
            tx.inventory.replace_variants(shop, product.product_id, variants)
            if variants:
                stock, _ = tx.inventory.product_stock(shop, product.product_id)
                available = product.available and (stock is None or stock > 0)
                product = replace(product, stock=stock, available=available)
            tx.products.upsert_many(shop, [product])
        return "processed"

    def _product_deleted(self, shop: str, p: ProductDeletePayload, fired: datetime | None) -> str:
        version = fired or datetime.now(UTC)
        with self._store.transaction() as tx:
            if not tx.versions.accept(shop, "product", p.id, version):
                return "ignored"
            tx.inventory.replace_variants(shop, p.id, [])
            tx.products.delete(shop, p.id)
        return "processed"

    def _inventory(self, shop: str, p: InventoryLevelPayload, fired: datetime | None) -> str:
        version = p.updated_at or fired or datetime.now(UTC)
        location = p.location_id or "-"
        with self._store.transaction() as tx:
            level_key = f"{p.inventory_item_id}@{location}"
            if not tx.versions.accept(shop, "inventory", level_key, version):
                return "ignored"
            product_id = tx.inventory.set_level(shop, p.inventory_item_id, location, p.available)
            if product_id is None:
                return "processed"
            current = tx.products.get_many(shop, [product_id]).get(product_id)
            if current is None:
                return "processed"
            stock, _ = tx.inventory.product_stock(shop, product_id)
            held_back = not current.available and (current.stock is None or current.stock > 0)
            available = not held_back and (stock is None or stock > 0)
            tx.products.set_stock(shop, product_id, stock, available)
        return "processed"

    # -- the model ----------------------------------------------------------------------

    def _finish_shop(self, shop: str, batch: ShopBatch) -> None:
        store = self._store
        if store.shops.get(shop) is None:
            return
        if batch.rebuild:
            self.schedule_rebuild(shop, delay=self._settings.rebuild_delay_seconds)
        if not batch.interactions:
            return
        for _ in range(_FOLD_ATTEMPTS):
            base = self._base(shop)
            if base is None:
                self.schedule_rebuild(shop)
                return
            on_version, model, meta_updates, stamps = base
            seen = _counted_in(stamps, batch)
            if seen is not False:
                # the latest training read the shop after (True) or while (None) this batch
                # was stored: counted already, or partly — then a new training counts it all
                self._models.pop(shop, None)
                if seen is None:
                    self.schedule_rebuild(shop)
                return
            model.update(batch.interactions)
            meta_updates += batch.orders
            meta = {
                "n_items": model.n_items,
                "n_interactions": model.n_interactions,
                "updated_at": datetime.now(UTC).isoformat(),
                "orders_since_fit": meta_updates,
                **stamps,
            }
            try:
                version = store.models.save(shop, model.to_bytes(), meta, after=on_version)
            except Conflict:
                # another process saved a version meanwhile: build on that one instead
                self._models.pop(shop, None)
                continue
            store.models.prune(shop, keep=self._settings.keep_model_versions)
            self._models[shop] = (version, model, meta_updates, stamps)
            self.saved(shop)
            if meta_updates >= self._settings.rebuild_after_events:
                self.schedule_rebuild(shop)
            return
        log.warning("the model of %s kept changing under an update; rebuilding it", shop)
        self.schedule_rebuild(shop)

    def _base(self, shop: str) -> tuple[int, HybridRecommender, int, dict[str, str]] | None:
        """The shop's latest model to update: (version, model, orders since its training, the
        stamps of that training), from this process's memory while still the latest."""
        latest = self._store.models.latest_version(shop)
        if latest is None:
            return None
        cached = self._models.get(shop)
        if cached is not None and cached[0] == latest:
            return cached
        artifact = self._store.models.latest(shop)
        if artifact is None:
            return None
        stamps = {k: str(artifact.meta[k]) for k in (DATA_FROM, DATA_UNTIL) if k in artifact.meta}
        model = HybridRecommender.from_bytes(artifact.blob)
        return artifact.version, model, int(artifact.meta.get("orders_since_fit", 0)), stamps

    def _redacted_before(self, tx: Transaction, shop: str, key: str, at: datetime) -> bool:
        """Whether customer `key` (a keyed hash) was redacted after `at`: data from before a
        redaction that arrives late is dropped."""
        redacted = tx.redactions.redacted_at(shop, "customer", tombstone_key(key))
        return redacted is not None and at <= redacted

    def _forget_batch(self, shop: str, batch: ShopBatch) -> None:
        batch.interactions.clear()
        batch.orders = 0
        self._models.pop(shop, None)
        self.saved(shop)

    def schedule_rebuild(self, shop: str, *, delay: float = 0.0) -> None:
        enqueue_rebuild(self._store, shop, delay=delay)

    def forget(self, shop: str) -> None:
        """Drop the cached model of `shop` (after a rebuild replaced it)."""
        self._models.pop(shop, None)

    def saved(self, shop: str) -> None:
        """Tell the in-process registry that `shop` has a new model version."""
        if self._on_model_saved is not None:
            self._on_model_saved(shop)


_FOLD_ATTEMPTS = 5


def _counted_in(stamps: dict[str, str], batch: ShopBatch) -> bool | None:
    """Whether the training behind a model (its read of the shop, `stamps`) counted `batch`:
    True when the batch was stored before the read began, False when after it ended or when
    the model has no stamps (trained before they were kept), None when the two overlap."""
    if DATA_FROM not in stamps or DATA_UNTIL not in stamps or batch.stored_from is None:
        return False
    assert batch.stored_until is not None
    if batch.stored_until <= datetime.fromisoformat(stamps[DATA_FROM]):
        return True
    if batch.stored_from >= datetime.fromisoformat(stamps[DATA_UNTIL]):
        return False
    return None


def _count_segments(tx: Any, shop: str, segments: list[str], order: Order, sign: int) -> None:
    products = [line.product_id for line in order.lines]
    tx.segments.add(shop, segments, products, order.created_at, sign=float(sign))


def variant_stock(v: Any) -> int | None:
    """A variant's units left when its stock limits sales, else None (unlimited)."""
    tracked = v.inventory_management is not None and v.inventory_policy != "continue"
    if not tracked or v.inventory_quantity is None:
        return None
    return max(0, int(v.inventory_quantity))


def _triggered_at(event: RawEvent) -> datetime | None:
    raw = event.headers.get("x-shopify-triggered-at") or event.headers.get("shopify-triggered-at")
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
