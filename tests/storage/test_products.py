from __future__ import annotations

import pytest

from cartwise import storage
from cartwise.domain import Product
from cartwise.errors import InvalidRequest, NotFound, UnknownShop

MUG = Product(
    "p1",
    "Ceramic Mug",
    category="Kitchen",
    vendor="Acme",
    price=9.5,
    tags=("gift", "blue"),
    stock=12,
    image_url="https://cdn.example/mug.png",
    variant_id="v1",
)


def test_upsert_round_trips_every_field(db: storage.Store, domain: str) -> None:
    assert db.products.upsert_many(domain, [MUG]) == 1
    assert db.products.get_many(domain, ["p1"]) == {"p1": MUG}


def test_upsert_is_idempotent_and_replaces(db: storage.Store, domain: str) -> None:
    db.products.upsert_many(domain, [MUG, Product("p2", "Teapot")])
    db.products.upsert_many(domain, [MUG, Product("p2", "Teapot")])
    renamed = Product("p1", "Big Mug", price=11.0, available=False)
    db.products.upsert_many(domain, [renamed])
    assert db.products.count(domain) == 2
    assert db.products.get_many(domain, ["p1"])["p1"] == renamed


def test_the_later_duplicate_wins(db: storage.Store, domain: str) -> None:
    written = db.products.upsert_many(domain, [Product("p1", "Old"), Product("p1", "New")])
    assert written == 1
    assert db.products.get_many(domain, ["p1"])["p1"].title == "New"


def test_get_many_leaves_out_unknown_ids(db: storage.Store, domain: str) -> None:
    db.products.upsert_many(domain, [MUG])
    assert set(db.products.get_many(domain, ["p1", "nope", "p1"])) == {"p1"}
    assert db.products.get_many(domain, []) == {}


def test_list_is_ordered_by_title_and_pages(db: storage.Store, domain: str) -> None:
    db.products.upsert_many(
        domain, [Product(f"p{i}", title) for i, title in enumerate(["Cup", "Apron", "Bowl"])]
    )
    assert [p.title for p in db.products.list(domain)] == ["Apron", "Bowl", "Cup"]
    assert [p.title for p in db.products.list(domain, limit=2)] == ["Apron", "Bowl"]
    assert [p.title for p in db.products.list(domain, limit=2, offset=2)] == ["Cup"]


def test_search_ignores_case_and_matches_ids(db: storage.Store, domain: str) -> None:
    db.products.upsert_many(
        domain,
        [MUG, Product("TEA-1", "Teapot"), Product("p3", "100% Cotton Apron")],
    )
    assert [p.product_id for p in db.products.search(domain, "mUG")] == ["p1"]
    assert [p.product_id for p in db.products.search(domain, "tea-")] == ["TEA-1"]
    assert [p.product_id for p in db.products.search(domain, "0%")] == ["p3"]
    assert db.products.search(domain, "_") == []
    assert len(db.products.search(domain, "", limit=2)) == 2


def test_set_stock(db: storage.Store, domain: str) -> None:
    db.products.upsert_many(domain, [MUG])
    db.products.set_stock(domain, "p1", 0, available=False)
    stored = db.products.get_many(domain, ["p1"])["p1"]
    assert (stored.stock, stored.available, stored.title) == (0, False, MUG.title)
    db.products.set_stock(domain, "p1", None, available=True)
    stored = db.products.get_many(domain, ["p1"])["p1"]
    assert (stored.stock, stored.available) == (None, True)


def test_set_stock_of_an_unknown_product_is_not_found(db: storage.Store, domain: str) -> None:
    with pytest.raises(NotFound):
        db.products.set_stock(domain, "ghost", 3, available=True)


def test_unknown_shop(db: storage.Store) -> None:
    with pytest.raises(UnknownShop) as caught:
        db.products.upsert_many("nowhere.example", [MUG])
    assert caught.value.status == 404
    with pytest.raises(UnknownShop):
        db.products.count("nowhere.example")


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-1, 0), (10, -1)])
def test_bad_paging_is_invalid_request(
    db: storage.Store, domain: str, limit: int, offset: int
) -> None:
    with pytest.raises(InvalidRequest):
        db.products.list(domain, limit=limit, offset=offset)
