"""`process_event` jobs worked by the real worker (`build_worker`) on deliveries stored as the
webhook edge stores them: catalog, stock, carts, orders, uninstalls, and the guarantees that make
ingestion safe to replay (stale retries dropped, duplicates applied once, any arrival order giving
the same stored state and, once rebuilt, the same model).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import chain
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from cartwise import storage
from cartwise.connector.shopify.tokens import OfflineToken
from cartwise.domain import Cart, CartLine, Order, OrderLine, Product, ShopRules
from cartwise.ingestion import REBUILD
from cartwise.installs import save_install
from cartwise.jobs import Worker, build_worker
from cartwise.pseudonyms import customer_key
from cartwise.recommender import HybridRecommender
from cartwise.recommender.records import cart_interactions, to_interactions, to_items
from cartwise.schemas import CartItem, RecommendationRequest
from cartwise.serving import ModelRegistry, in_stock, recommend
from cartwise.settings import JobSettings, Settings
from cartwise.storage import Store
from cartwise.webhooks.topics import PROCESS_EVENT

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "shopify"
SHOP = "ingest-shop.myshopify.com"
SECRET_KEY = "ingestion-test-secret-key-0123456789abcdef"
EST = timezone(timedelta(hours=-5))
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def app_settings(**jobs: Any) -> Settings:
    return Settings(
        demo_mode=False,
        secret_key=SecretStr(SECRET_KEY),
        jobs=JobSettings(**{"rebuild_delay_seconds": 0, **jobs}),
    )


@pytest.fixture
def worker(store: Store) -> Worker:
    return build_worker(store, app_settings())


def fixture(name: str) -> dict[str, Any]:
    path = FIXTURES / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"the Shopify fixture {path} is missing")
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def deliver(
    store: Store,
    topic: str,
    payload: dict[str, Any],
    *,
    triggered_at: datetime | None = None,
    shop: str = SHOP,
) -> int:
    """Store a delivery and queue its job, as the webhook edge does once the HMAC checked out."""
    headers = {"x-shopify-topic": topic, "x-shopify-shop-domain": shop}
    if triggered_at is not None:
        headers["x-shopify-triggered-at"] = triggered_at.isoformat()
    pk = store.events.add_raw_returning(
        shop,
        delivery_id=str(uuid.uuid4()),
        topic=topic,
        body=json.dumps(payload).encode(),
        headers=headers,
        event_id=str(uuid.uuid4()),
    )
    assert pk is not None
    store.jobs.enqueue(PROCESS_EVENT, shop, {"event": pk})
    return pk


def status_of(store: Store, pk: int) -> str:
    event = store.events.get(pk)
    assert event is not None
    return event.status


def shopify_time(moment: datetime) -> str:
    return moment.astimezone(EST).replace(microsecond=0).isoformat()


def product_payload(
    product: int,
    *,
    updated: datetime = START,
    price: str = "12.50",
    stock: int = 5,
    variant: int | None = None,
    status: str = "active",
) -> dict[str, Any]:
    """A products/* body in the current shape: GIDs, prices as strings, a tracked variant."""
    variant_id = variant if variant is not None else product * 10 + 1
    return {
        "id": product,
        "admin_graphql_api_id": f"gid://shopify/Product/{product}",
        "title": f"Product {product}",
        "product_type": "gifts",
        "vendor": "Acme",
        "status": status,
        "published_at": shopify_time(START - timedelta(days=30)),
        "updated_at": shopify_time(updated),
        "tags": "gift, bestseller",
        "variants": [
            {
                "id": variant_id,
                "admin_graphql_api_id": f"gid://shopify/ProductVariant/{variant_id}",
                "product_id": product,
                "price": price,
                "inventory_item_id": product * 10 + 7,
                "inventory_quantity": stock,
                "inventory_management": "shopify",
                "inventory_policy": "deny",
            }
        ],
    }


def order_payload(
    order_id: int,
    *,
    created: datetime,
    updated: datetime,
    products: tuple[int, ...],
    cancelled: datetime | None = None,
    country: str = "DE",
    test: bool = False,
    customer: int | None = None,
) -> dict[str, Any]:
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "created_at": shopify_time(created),
        "updated_at": shopify_time(updated),
        "cancelled_at": shopify_time(cancelled) if cancelled else None,
        "test": test,
        "customer": None if customer is None else {"id": customer},
        "shipping_address": {"country_code": country},
        "line_items": [
            {
                "id": order_id * 100 + n,
                "product_id": product,
                "variant_id": product * 10 + 1,
                "quantity": 1,
                "price": "12.50",
            }
            for n, product in enumerate(products)
        ],
    }


def cart_payload(token: str, *, updated: datetime, products: tuple[int, ...]) -> dict[str, Any]:
    return {
        "id": token,
        "token": token,
        "updated_at": shopify_time(updated),
        "line_items": [
            {"id": n + 1, "product_id": p, "variant_id": p * 10 + 1, "quantity": 1, "price": "1.00"}
            for n, p in enumerate(products)
        ],
    }


def install(store: Store, shop: str = SHOP) -> None:
    save_install(
        store,
        OfflineToken(
            shop=shop,
            access_token="shpat_" + uuid.uuid4().hex,
            scope="read_orders,read_products",
            expires_at=None,
            refresh_token=None,
            refresh_expires_at=None,
        ),
    )


def product(store: Store, product_id: str) -> Product | None:
    return store.products.get_many(SHOP, [product_id]).get(product_id)


def test_product_fixture_is_stored_with_price_stock_and_variant(
    store: Store, worker: Worker
) -> None:
    payload = fixture("products_update")
    pk = deliver(store, "products/update", payload)
    worker.drain()

    assert status_of(store, pk) == "processed"
    stored = product(store, str(payload["id"]))
    assert stored is not None
    first_variant = payload["variants"][0]
    assert stored.title == payload["title"]
    assert stored.category == payload["product_type"]
    assert stored.vendor == payload["vendor"]
    assert stored.price == float(first_variant["price"])
    assert stored.variant_id == str(first_variant["id"])
    assert stored.tags == ("Emotive", "Flash Memory", "MP3", "Music")
    assert stored.image_url == payload["images"][0]["src"]
    # every variant keeps selling when out of stock ("continue"): stock is unlimited
    assert stored.stock is None
    assert stored.available
    variant_ids = [str(v["id"]) for v in payload["variants"]]
    assert store.inventory.products_of_variants(SHOP, variant_ids) == dict.fromkeys(
        variant_ids, str(payload["id"])
    )


def test_tracked_product_gets_its_stock_and_gid_ids_are_numeric(
    store: Store, worker: Worker
) -> None:
    payload = product_payload(555, price="19.99", stock=7)
    payload["id"] = payload.pop("admin_graphql_api_id")  # some backfills send only the GID
    deliver(store, "products/create", payload)
    worker.drain()
    stored = product(store, "555")
    assert stored is not None
    assert (stored.price, stored.stock, stored.variant_id, stored.available) == (
        19.99,
        7,
        "5551",
        True,
    )


def test_stale_product_update_is_dropped(store: Store, worker: Worker) -> None:
    deliver(store, "products/update", product_payload(7, updated=START, price="10.00"))
    deliver(
        store,
        "products/update",
        product_payload(7, updated=START + timedelta(hours=2), price="30.00"),
    )
    stale = deliver(
        store, "products/update", product_payload(7, updated=START + timedelta(hours=1))
    )
    worker.drain()
    assert status_of(store, stale) == "ignored"
    stored = product(store, "7")
    assert stored is not None
    assert stored.price == 30.0


def test_product_delete_removes_product_and_variants(store: Store, worker: Worker) -> None:
    payload = fixture("products_update")
    deliver(store, "products/update", payload)
    worker.drain()
    product_id = str(payload["id"])
    assert product(store, product_id) is not None

    deleted = deliver(
        store, "products/delete", {"id": payload["id"]}, triggered_at=datetime.now(UTC)
    )
    # the update's retry arrives after the delete and must not bring the product back
    retry = deliver(store, "products/update", payload)
    worker.drain()

    assert status_of(store, deleted) == "processed"
    assert status_of(store, retry) == "ignored"
    assert product(store, product_id) is None
    variant_ids = [str(v["id"]) for v in payload["variants"]]
    assert store.inventory.products_of_variants(SHOP, variant_ids) == {}


def level(item: int, available: int, at: datetime, location: int = 655441491) -> dict[str, Any]:
    return {
        "inventory_item_id": item,
        "location_id": location,
        "available": available,
        "updated_at": shopify_time(at),
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
    }


def answer_ids(store: Store, cart: list[str]) -> list[str]:
    answer = recommend(
        store,
        ModelRegistry(store),
        SHOP,
        RecommendationRequest(cart=[CartItem(product_id=p) for p in cart], k=10),
        rules=ShopRules(),
    )
    return [item.product_id for item in answer.items]


def test_inventory_level_changes_stock_and_availability(store: Store, worker: Worker) -> None:
    for pid in (1, 2, 3):
        deliver(store, "products/create", product_payload(pid, stock=5))
    for n in range(3):
        at = START + timedelta(hours=n)
        deliver(
            store,
            "orders/create",
            order_payload(10 + n, created=at, updated=at, products=(1, 2, 3)),
        )
    worker.drain()
    assert "2" in answer_ids(store, ["1"])

    item = 2 * 10 + 7
    sold_out = deliver(store, "inventory_levels/update", level(item, 0, START + timedelta(days=1)))
    worker.drain()
    assert status_of(store, sold_out) == "processed"
    stored = product(store, "2")
    assert stored is not None
    assert (stored.stock, stored.available) == (0, False)
    assert not in_stock(stored)
    assert "2" not in answer_ids(store, ["1"])
    assert "2" not in answer_ids(store, [])

    # a late retry of an older level does not undo the newer one
    stale = deliver(store, "inventory_levels/update", level(item, 9, START + timedelta(hours=20)))
    restocked = deliver(store, "inventory_levels/update", level(item, 4, START + timedelta(days=2)))
    second_location = deliver(
        store, "inventory_levels/update", level(item, 3, START + timedelta(days=2), location=2)
    )
    worker.drain()
    assert status_of(store, stale) == "ignored"
    assert status_of(store, restocked) == "processed"
    assert status_of(store, second_location) == "processed"
    stored = product(store, "2")
    assert stored is not None
    assert (stored.stock, stored.available) == (7, True)
    assert "2" in answer_ids(store, ["1"])


@pytest.mark.xfail(
    strict=True,
    reason=(
        "cartwise.ingestion.EventProcessor._inventory infers why a product is unavailable "
        "from its stored row alone: a draft (or unpublished) product stored with stock 0 looks "
        "sold out, so a restock makes it available and recommendable; the listing state "
        "(status, published) is not stored apart from stock"
    ),
)
def test_restock_does_not_publish_a_product_held_back_for_another_reason(
    store: Store, worker: Worker
) -> None:
    deliver(store, "products/update", product_payload(4, stock=0, status="draft"))
    deliver(store, "inventory_levels/update", level(47, 12, START + timedelta(days=1)))
    worker.drain()
    stored = product(store, "4")
    assert stored is not None
    assert stored.stock == 12
    assert not stored.available


def test_level_for_an_item_not_yet_known_applies_when_the_product_arrives(
    store: Store, worker: Worker
) -> None:
    deliver(store, "inventory_levels/update", level(97, 0, START + timedelta(days=1)))
    deliver(store, "products/create", product_payload(9, stock=25))
    worker.drain()
    stored = product(store, "9")
    assert stored is not None
    assert (stored.stock, stored.available) == (0, False)


def test_cart_with_variant_only_lines_maps_to_products_through_stored_variants(
    store: Store, worker: Worker
) -> None:
    cart = fixture("carts_create")
    variant = cart["line_items"][0]["variant_id"]
    assert "product_id" not in cart["line_items"][0]
    deliver(store, "products/create", product_payload(321, variant=variant))
    worker.drain()
    unknown = {**cart["line_items"][0], "id": 2, "variant_id": 999_999}
    pk = deliver(store, "carts/create", {**cart, "line_items": [*cart["line_items"], unknown]})
    worker.drain()

    assert status_of(store, pk) == "processed"
    (stored,) = list(store.carts.iter(SHOP))
    assert stored == Cart(
        cart_id=cart["token"],
        updated_at=datetime(2012, 2, 13, 19, 39, 12, tzinfo=UTC),
        lines=(CartLine("321", 1, str(variant)),),
    )


def test_checkout_updates_the_cart_it_was_made_from(store: Store, worker: Worker) -> None:
    checkout = fixture("checkouts_create")
    earlier = START - timedelta(days=5000)
    deliver(
        store, "carts/create", cart_payload(checkout["cart_token"], updated=earlier, products=(1,))
    )
    pk = deliver(store, "checkouts/create", checkout)
    worker.drain()
    assert status_of(store, pk) == "processed"
    (stored,) = list(store.carts.iter(SHOP))
    assert stored.cart_id == checkout["cart_token"]
    assert [line.product_id for line in stored.lines] == [
        str(line["product_id"]) for line in checkout["line_items"]
    ]
    raw = str(checkout["customer"]["id"]) if checkout.get("customer") else None
    if raw is not None:
        assert stored.customer_id == customer_key(SECRET_KEY.encode(), SHOP, raw)


def test_completed_checkout_is_not_a_cart(store: Store, worker: Worker) -> None:
    checkout = {**fixture("checkouts_create"), "completed_at": "2012-10-12T07:15:27-04:00"}
    pk = deliver(store, "checkouts/update", checkout)
    worker.drain()
    assert status_of(store, pk) == "ignored"
    assert list(store.carts.iter(SHOP)) == []


def test_order_versions_keep_the_newest_state(store: Store, worker: Worker) -> None:
    created = START
    create = deliver(
        store, "orders/create", order_payload(1, created=created, updated=created, products=(1, 2))
    )
    edited_at = created + timedelta(hours=1)
    edit = deliver(
        store,
        "orders/updated",
        order_payload(1, created=created, updated=edited_at, products=(1, 3)),
    )
    cancelled_at = created + timedelta(hours=2)
    cancel = deliver(
        store,
        "orders/cancelled",
        order_payload(
            1, created=created, updated=cancelled_at, products=(1, 3), cancelled=cancelled_at
        ),
    )
    # Shopify's retry of the first delivery carries the payload as it was then
    retry = deliver(
        store, "orders/create", order_payload(1, created=created, updated=created, products=(1, 2))
    )
    worker.drain()

    assert [status_of(store, pk) for pk in (create, edit, cancel, retry)] == [
        "processed",
        "processed",
        "processed",
        "ignored",
    ]
    assert store.orders.get(SHOP, "1") == Order(
        "1",
        created,
        (OrderLine("1", 1, 12.5, "11"), OrderLine("3", 1, 12.5, "31")),
        cancelled=True,
    )


def test_versions_compare_instants_not_the_offsets_they_were_written_in(
    store: Store, worker: Worker
) -> None:
    created = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    newer = order_payload(1, created=created, updated=created, products=(1, 2))
    newer["updated_at"] = "2026-03-02T10:30:00-05:00"  # 15:30 UTC
    older = order_payload(1, created=created, updated=created, products=(3,))
    older["updated_at"] = "2026-03-02T16:00:00+01:00"  # 15:00 UTC, and the larger string
    first = deliver(store, "orders/updated", newer)
    late = deliver(store, "orders/updated", older)
    worker.drain()
    assert (status_of(store, first), status_of(store, late)) == ("processed", "ignored")
    order = store.orders.get(SHOP, "1")
    assert order is not None
    assert [line.product_id for line in order.lines] == ["1", "2"]


def test_test_orders_are_ignored(store: Store, worker: Worker) -> None:
    pk = deliver(store, "orders/create", {**fixture("orders_create"), "test": True})
    worker.drain()
    assert status_of(store, pk) == "ignored"
    assert store.orders.count(SHOP) == 0
    assert store.models.latest_version(SHOP) is None


def test_order_customer_is_stored_only_as_a_keyed_hash(store: Store, worker: Worker) -> None:
    payload = fixture("orders_create")
    deliver(store, "orders/create", payload)
    worker.drain()
    order = store.orders.get(SHOP, str(payload["id"]))
    assert order is not None
    raw = str(payload["customer"]["id"])
    assert order.customer_id == customer_key(SECRET_KEY.encode(), SHOP, raw)
    event = store.events.for_shop(SHOP)[0]
    assert event.body == b""


def test_app_uninstalled_deactivates_the_install(store: Store, worker: Worker) -> None:
    install(store)
    assert store.installs.is_active(SHOP)
    pk = deliver(store, "app/uninstalled", fixture("app_uninstalled"))
    worker.drain()
    assert status_of(store, pk) == "processed"
    assert not store.installs.is_active(SHOP)
    record = store.installs.get(SHOP)
    assert record is not None
    assert record.access_token is None


def test_shop_redact_runs_without_a_job_failure(
    store: Store, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    other = "other-shop.myshopify.com"
    install(store)
    deliver(store, "orders/create", order_payload(1, created=START, updated=START, products=(1,)))
    worker.drain()
    redact = {"shop_id": 954889, "shop_domain": SHOP}
    deliver(store, "shop/redact", redact)
    # a delivery of another shop is worked in the same batch
    later = deliver(
        store,
        "orders/create",
        order_payload(2, created=START, updated=START, products=(1, 2)),
        shop=other,
    )
    with caplog.at_level(logging.INFO, logger="cartwise"):
        worker.drain()

    assert store.shops.get(SHOP) is None
    assert store.events.for_shop(SHOP) == []
    assert status_of(store, later) == "processed"
    assert store.orders.count(other) == 1
    assert store.jobs.counts(SHOP) == {}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_job_run_twice_applies_its_event_once(store: Store, worker: Worker) -> None:
    deliver(store, "orders/create", order_payload(1, created=START, updated=START, products=(1, 2)))
    worker.drain()
    version = store.models.latest_version(SHOP)
    assert version is not None
    before = HybridRecommender.from_bytes(model_blob(store)).n_interactions

    at = START + timedelta(hours=1)
    pk = deliver(store, "orders/create", order_payload(2, created=at, updated=at, products=(2, 3)))
    # the worker died after running the job; the job is queued again
    store.jobs.enqueue(PROCESS_EVENT, SHOP, {"event": pk})
    # and the same order state arrives once more under other ids (another subscription)
    again = deliver(store, "orders/paid", order_payload(2, created=at, updated=at, products=(2, 3)))
    worker.drain()

    assert status_of(store, again) == "ignored"
    model = HybridRecommender.from_bytes(model_blob(store))
    assert model.n_interactions == before + 2
    assert store.jobs.counts(SHOP) == {"done": store.jobs.counts(SHOP)["done"]}


def model_blob(store: Store) -> bytes:
    artifact = store.models.latest(SHOP)
    assert artifact is not None
    return artifact.blob


def test_new_order_updates_the_model_at_once_and_a_change_queues_a_rebuild(store: Store) -> None:
    worker = build_worker(store, app_settings(rebuild_delay_seconds=30))
    deliver(store, "orders/create", order_payload(1, created=START, updated=START, products=(1, 2)))
    worker.drain()
    first = store.models.latest_version(SHOP)
    assert first is not None

    at = START + timedelta(hours=1)
    deliver(store, "orders/create", order_payload(2, created=at, updated=at, products=(3, 4)))
    worker.drain()
    artifact = store.models.latest(SHOP)
    assert artifact is not None
    assert artifact.version == first + 1
    assert artifact.meta["orders_since_fit"] == 1
    model = HybridRecommender.from_bytes(artifact.blob)
    assert [r.product_id for r in model.recommend(["3"], k=1)] == ["4"]
    assert store.jobs.counts(SHOP).get("queued", 0) == 0

    changed = at + timedelta(hours=1)
    deliver(store, "orders/updated", order_payload(2, created=at, updated=changed, products=(3, 5)))
    worker.drain()
    # the rebuild waits for the delay, gathering further changes
    assert store.jobs.counts(SHOP).get("queued") == 1
    assert store.models.latest_version(SHOP) == first + 1


@pytest.mark.xfail(
    strict=True,
    reason=(
        "cartwise.ingestion.EventProcessor._order takes a changed order's previous counts out "
        "of the segments of the new payload (it has no record of the segments it counted the "
        "previous state in), and does not move the counts at all when only the shipping "
        "country changed: an order edited from DE to FR stays counted under country:DE"
    ),
)
def test_order_moved_to_another_country_moves_its_segment_counts(
    store: Store, worker: Worker
) -> None:
    deliver(
        store,
        "orders/create",
        order_payload(1, created=START, updated=START, products=(10, 11), country="DE"),
    )
    later = START + timedelta(hours=1)
    deliver(
        store,
        "orders/updated",
        order_payload(1, created=START, updated=later, products=(10, 11), country="FR"),
    )
    worker.drain()
    assert store.segments.top(SHOP, "country:DE") == []
    assert store.segments.top(SHOP, "country:FR") == ["10", "11"]


def test_product_whose_orders_were_all_cancelled_leaves_its_segment(
    store: Store, worker: Worker
) -> None:
    times = [START, START + timedelta(minutes=67)]
    for n, at in enumerate(times):
        deliver(
            store,
            "orders/create",
            order_payload(n + 1, created=at, updated=at, products=(20,), country="US"),
        )
    for n, at in enumerate(times):
        gone = at + timedelta(days=1)
        deliver(
            store,
            "orders/cancelled",
            order_payload(
                n + 1, created=at, updated=gone, products=(20,), cancelled=gone, country="US"
            ),
        )
    worker.drain()
    assert store.segments.top(SHOP, "country:US") == []


def test_cancelled_order_leaves_its_segment(store: Store, worker: Worker) -> None:
    deliver(
        store,
        "orders/create",
        order_payload(1, created=START, updated=START, products=(20, 21), country="US"),
    )
    later = START + timedelta(hours=3)
    deliver(
        store,
        "orders/create",
        order_payload(2, created=later, updated=later, products=(21,), country="US"),
    )
    gone = START + timedelta(days=1)
    deliver(
        store,
        "orders/cancelled",
        order_payload(
            1, created=START, updated=gone, products=(20, 21), cancelled=gone, country="US"
        ),
    )
    worker.drain()
    assert store.segments.top(SHOP, "country:US") == ["21"]


@dataclass(frozen=True)
class Event:
    topic: str
    payload: dict[str, Any]
    key: tuple[str, str]
    """(kind, id) of the resource."""
    at: datetime
    """When this state was produced."""


def lines_strategy() -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(1, 6), min_size=1, max_size=3, unique=True).map(tuple)


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    """Events of a few orders, carts and products, each resource's states in time order."""
    events: list[Event] = []
    for n in range(draw(st.integers(1, 4))):
        created = START + timedelta(hours=n, minutes=n * 7)
        at = created
        versions = draw(st.lists(lines_strategy(), min_size=1, max_size=3))
        for v, lines in enumerate(versions):
            topic = "orders/create" if v == 0 else "orders/updated"
            payload = order_payload(100 + n, created=created, updated=at, products=lines)
            events.append(Event(topic, payload, ("order", str(100 + n)), at))
            at += timedelta(minutes=draw(st.integers(1, 120)))
        if draw(st.booleans()):
            payload = order_payload(
                100 + n, created=created, updated=at, products=versions[-1], cancelled=at
            )
            events.append(Event("orders/cancelled", payload, ("order", str(100 + n)), at))
    for n in range(draw(st.integers(0, 2))):
        at = START + timedelta(days=1, hours=n)
        for lines in draw(st.lists(lines_strategy(), min_size=1, max_size=2)):
            token = f"cart{n}"
            payload = cart_payload(token, updated=at, products=lines)
            events.append(Event("carts/update", payload, ("cart", token), at))
            at += timedelta(minutes=draw(st.integers(1, 60)))
    for pid in draw(st.lists(st.integers(1, 6), max_size=2, unique=True)):
        at = START - timedelta(days=1)
        for price in draw(
            st.lists(st.sampled_from(["5.00", "7.50", "9.99"]), min_size=1, max_size=2)
        ):
            payload = product_payload(pid, updated=at, price=price)
            events.append(Event("products/update", payload, ("product", str(pid)), at))
            at += timedelta(hours=1)
    return events[:20]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    """A history, and its events shuffled with some of them delivered more than once."""
    events = draw(histories())
    again = draw(st.lists(st.sampled_from(events), max_size=6))
    return events, draw(st.permutations(events + again))


def newest(events: list[Event]) -> dict[tuple[str, str], Event]:
    latest: dict[tuple[str, str], Event] = {}
    for event in events:
        if event.key not in latest or latest[event.key].at < event.at:
            latest[event.key] = event
    return latest


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One database for every example: each example works on a shop of its own."""
    opened = storage.open(f"sqlite:///{tmp_path_factory.mktemp('property') / 'cartwise.db'}")
    yield opened
    opened.close()


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=deliveries())
def test_any_arrival_order_gives_the_same_state(
    case: tuple[list[Event], list[Event]], shared_store: Store
) -> None:
    events, arrived = case
    store = shared_store
    shop = f"shop-{uuid.uuid4().hex[:12]}.myshopify.com"
    worker = build_worker(store, app_settings())
    for event in arrived:
        deliver(store, event.topic, event.payload, shop=shop)
    worker.drain()

    truth = newest(events)
    expected_orders = {
        key[1]: expected_order(event) for key, event in truth.items() if key[0] == "order"
    }
    expected_carts = sorted(
        (expected_cart(event) for key, event in truth.items() if key[0] == "cart"),
        key=lambda c: (c.updated_at, c.cart_id),
    )
    expected_products = {
        key[1]: (float(event.payload["variants"][0]["price"]), 5)
        for key, event in truth.items()
        if key[0] == "product"
    }
    assert store.orders.count(shop) == len(expected_orders)
    for order_id, expected in expected_orders.items():
        assert store.orders.get(shop, order_id) == expected
    assert list(store.carts.iter(shop)) == expected_carts
    catalog = store.products.list(shop)
    assert {p.product_id: (p.price, p.stock) for p in catalog} == expected_products
    assert set(store.jobs.counts(shop)) <= {"done"}

    # once rebuilt, the model is the one fitted on the true final state
    store.jobs.enqueue(REBUILD, shop)
    worker.drain()
    artifact = store.models.latest(shop)
    assert artifact is not None
    live = sorted(expected_orders.values(), key=lambda o: o.created_at)
    offline = HybridRecommender().fit(
        chain(to_interactions(live), cart_interactions(expected_carts)), to_items(catalog)
    )
    served = HybridRecommender.from_bytes(artifact.blob)
    assert served.n_interactions == offline.n_interactions
    for cart in ([], ["1"], ["2", "3"], ["6"]):
        left, right = served.recommend(cart, k=6), offline.recommend(cart, k=6)
        assert [r.product_id for r in left] == [r.product_id for r in right]
        assert [r.score for r in left] == pytest.approx([r.score for r in right], rel=1e-6)


def expected_order(event: Event) -> Order:
    payload = event.payload
    return Order(
        order_id=str(payload["id"]),
        created_at=datetime.fromisoformat(payload["created_at"]).astimezone(UTC),
        lines=tuple(
            OrderLine(str(line["product_id"]), 1, 12.5, str(line["variant_id"]))
            for line in payload["line_items"]
        ),
        cancelled=payload["cancelled_at"] is not None,
    )


def expected_cart(event: Event) -> Cart:
    payload = event.payload
    return Cart(
        cart_id=payload["token"],
        updated_at=datetime.fromisoformat(payload["updated_at"]).astimezone(UTC),
        lines=tuple(
            CartLine(str(line["product_id"]), 1, str(line["variant_id"]))
            for line in payload["line_items"]
        ),
    )


def test_an_order_keeps_its_checkout_and_cart_tokens_for_attribution(
    store: Store, worker: Worker
) -> None:
    payload = fixture("orders_create")  # a cart token, no checkout token
    deliver(store, "orders/create", payload)
    later = {
        **payload,
        "checkout_token": "gid://shopify/Checkout/5e1b7c?key=abc",
        "updated_at": "2099-01-01T00:00:00-05:00",
    }
    deliver(store, "orders/updated", later)
    worker.drain()
    order_id = str(payload["id"])
    assert store.orders.sessions_of(SHOP, [order_id]) == {
        order_id: tuple(sorted([payload["cart_token"], "5e1b7c"]))
    }
