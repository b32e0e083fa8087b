"""Tests for `cartwise.training`: CSV import into storage (atomic) and training model versions."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cartwise import storage
from cartwise.domain import Cart, CartLine, Order, OrderLine, Platform, Product, ShopRef
from cartwise.errors import DataImportError, ModelNotTrained, StorageError, UnknownShop
from cartwise.recommender import HybridRecommender
from cartwise.training import (
    cart_interactions,
    import_dataset,
    to_interactions,
    to_items,
    train_shop,
)

SHOP = "shop.example"
ORDERS_HEADER = "order_id,customer_id,product_id,quantity,price,created_at\n"
PRODUCTS = (
    "product_id,title,category,vendor,price,tags\n"
    "mug,Blue mug,Kitchen,Acme,5.0,blue\n"
    "saucer,Blue saucer,Kitchen,Acme,3.0,blue\n"
    "pen,Pen,Office,Inkco,1.0,\n"
    "pad,Note pad,Office,Inkco,2.0,\n"
)


def _orders_text(n: int = 12) -> str:
    """Mugs go with saucers, pens with pads; one line names a product not in products.csv."""
    rows = []
    for i in range(n):
        day = f"2011-03-{i + 1:02d}T10:00:00"
        pair = ("mug", "saucer") if i % 2 == 0 else ("pen", "pad")
        rows += [f"m{i},c{i % 3},{pid},1,1.0,{day}\n" for pid in pair]
    rows.append("m0,c0,ghost,2,7.5,2011-03-01T10:00:00\n")
    rows.append("bad,c1,mug,lots,1.0,2011-03-01T10:00:00\n")
    return ORDERS_HEADER + "".join(rows)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    orders = tmp_path / "orders.csv"
    products = tmp_path / "products.csv"
    orders.write_text(_orders_text(), encoding="utf-8")
    products.write_text(PRODUCTS, encoding="utf-8")
    return orders, products


def test_import_writes_products_and_orders(store: storage.Store, files: tuple[Path, Path]) -> None:
    orders, products = files
    report = import_dataset(store, SHOP, orders, products)

    assert (report.products, report.orders, report.order_lines) == (4, 12, 25)
    assert (report.product_rows, report.order_rows) == (4, 26)
    assert [(e.line, e.message) for e in report.order_errors] == [
        (27, "quantity 'lots' is not a number")
    ]
    assert report.product_errors == ()
    assert report.added_products == 1
    assert store.shops.get(SHOP) == ShopRef(SHOP, Platform.CSV)
    assert store.products.count(SHOP) == 5
    assert store.orders.count(SHOP) == 12
    ghost = store.products.get_many(SHOP, ["ghost"])["ghost"]
    assert (ghost.title, ghost.available, ghost.price) == ("ghost", True, 7.5)


def test_reimport_adds_nothing(store: storage.Store, files: tuple[Path, Path]) -> None:
    import_dataset(store, SHOP, *files)
    again = import_dataset(store, SHOP, *files)

    assert again.orders_written == 0
    assert again.added_products == 0
    assert store.orders.count(SHOP) == 12
    assert store.products.count(SHOP) == 5


def test_import_keeps_a_stored_product_that_orders_mention(
    store: storage.Store, tmp_path: Path
) -> None:
    store.shops.ensure(ShopRef(SHOP))
    store.products.upsert_many(SHOP, [Product("ghost", "Real title", price=9.0)])
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS_HEADER + "o1,,ghost,1,1.0,2011-01-01T00:00:00\n", encoding="utf-8")
    products = tmp_path / "products.csv"
    products.write_text("product_id,title\n", encoding="utf-8")

    report = import_dataset(store, SHOP, orders, products)

    assert report.added_products == 0
    assert store.products.get_many(SHOP, ["ghost"])["ghost"].title == "Real title"


def test_fatal_read_error_writes_nothing(store: storage.Store, files: tuple[Path, Path]) -> None:
    orders, products = files
    blob = gzip.compress(_orders_text(2_000).encode())
    broken = orders.with_name("orders.csv.gz")
    broken.write_bytes(blob[: len(blob) // 2])

    with pytest.raises(DataImportError, match="not a valid gzip file"):
        import_dataset(store, SHOP, broken, products)

    assert store.shops.list() == []


def test_storage_failure_mid_import_rolls_everything_back(
    store: storage.Store, files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: Any, domain: str, orders: Any) -> int:
        raise StorageError("disk full")

    monkeypatch.setattr(type(store.orders), "upsert_many", fail)
    with pytest.raises(StorageError, match="disk full"):
        import_dataset(store, SHOP, *files)

    assert store.shops.list() == []


def test_import_of_only_bad_rows_fails_and_writes_nothing(
    store: storage.Store, tmp_path: Path
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS_HEADER + "o1,,p1,x,1.0,2011-01-01\n", encoding="utf-8")
    products = tmp_path / "products.csv"
    products.write_text("product_id,title\n,untitled\n", encoding="utf-8")

    with pytest.raises(DataImportError, match=r"nothing to import.*line 2: quantity 'x'"):
        import_dataset(store, SHOP, orders, products)
    assert store.shops.list() == []


def test_train_shop_saves_a_version_that_recommends(
    store: storage.Store, files: tuple[Path, Path]
) -> None:
    import_dataset(store, SHOP, *files)

    first = train_shop(store, SHOP)
    second = train_shop(store, SHOP)

    assert (first.version, second.version) == (1, 2)
    assert (first.n_orders, first.n_items, first.n_interactions) == (12, 5, 25)
    artifact = store.models.latest(SHOP)
    assert artifact is not None and artifact.version == 2
    assert {"n_items", "n_orders", "trained_at", "fit_seconds"} <= set(artifact.meta)
    assert artifact.meta["n_orders"] == 12
    model = HybridRecommender.from_bytes(artifact.blob)
    top = model.recommend(cart=["mug"], customer_id=None, k=3)
    assert top[0].product_id == "saucer"
    assert "mug" not in [r.product_id for r in top]


@pytest.mark.postgres
def test_import_and_train_on_postgres(postgres_url: str, files: tuple[Path, Path]) -> None:
    with storage.open(postgres_url) as store:
        report = import_dataset(store, SHOP, *files)
        trained = train_shop(store, SHOP)

        assert (report.orders, report.added_products) == (12, 1)
        assert store.orders.count(SHOP) == 12
        assert trained.version == 1


@pytest.mark.postgres
def test_postgres_import_failure_rolls_back(
    postgres_url: str, files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: Any, domain: str, orders: Any) -> int:
        raise StorageError("connection lost")

    with storage.open(postgres_url) as store:
        monkeypatch.setattr(type(store.orders), "upsert_many", fail)
        with pytest.raises(StorageError):
            import_dataset(store, SHOP, *files)
        assert store.shops.list() == []


def test_train_unknown_shop(store: storage.Store) -> None:
    with pytest.raises(UnknownShop):
        train_shop(store, "nowhere.example")


def test_train_shop_without_orders(store: storage.Store) -> None:
    store.shops.ensure(ShopRef(SHOP))
    store.products.upsert_many(SHOP, [Product("p1", "One")])
    with pytest.raises(ModelNotTrained, match="no orders"):
        train_shop(store, SHOP)
    assert store.models.latest_version(SHOP) is None


def test_to_interactions_skips_cancelled_orders() -> None:
    when = datetime(2011, 1, 1, tzinfo=UTC)
    orders = [
        Order("o1", when, (OrderLine("a", 2, 1.5), OrderLine("b")), customer_id="c"),
        Order("o2", when, (OrderLine("a"),), cancelled=True),
    ]
    got = list(to_interactions(orders))

    assert [(i.order_id, i.product_id, i.quantity, i.price) for i in got] == [
        ("o1", "a", 2.0, 1.5),
        ("o1", "b", 1.0, None),
    ]
    assert all(i.kind == "order" and i.customer_id == "c" for i in got)


def test_cart_interactions_are_keyed_apart_from_orders() -> None:
    when = datetime(2011, 1, 1, tzinfo=UTC)
    (got,) = cart_interactions([Cart("o1", when, (CartLine("a", 3),))])
    assert (got.order_id, got.kind, got.quantity, got.created_at) == ("cart:o1", "cart", 3.0, when)


def test_to_items_keeps_availability() -> None:
    (item,) = to_items([Product("p", "P", "Cat", "Ven", 2.0, ("t",), available=False)])
    assert (item.product_id, item.title, item.category, item.vendor) == ("p", "P", "Cat", "Ven")
    assert (item.price, item.tags, item.available) == (2.0, ("t",), False)


def test_a_training_stamps_when_it_read_the_shop_and_whether_others_saved_meanwhile(
    tmp_path: Path,
) -> None:
    with storage.open(f"sqlite:///{tmp_path / 'c.db'}") as db:
        shop = "stamped.example"
        db.shops.ensure(ShopRef(shop, Platform.DEMO))
        start = datetime(2026, 1, 1, tzinfo=UTC)
        lines = (OrderLine("a", 1), OrderLine("b", 1))
        db.orders.upsert_many(shop, [Order(f"o{n}", start, lines) for n in range(3)])
        before = datetime.now(UTC)
        report = train_shop(db, shop)
        after = datetime.now(UTC)
        assert not report.superseded
        saved = db.models.latest(shop)
        assert saved is not None
        read_from = datetime.fromisoformat(saved.meta["data_read_from"])
        read_until = datetime.fromisoformat(saved.meta["data_read_until"])
        assert before <= read_from <= read_until <= after
