"""Installs, and what deleting a shop takes with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cartwise import storage
from cartwise.domain import Cart, CartLine, Order, OrderLine, Product, ShopRef, ShopRules
from cartwise.errors import UnknownShop
from cartwise.storage import VariantRecord

EXPIRES = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
OTHER = "other.example"


def save(db: storage.Store, domain: str, token: str = "shpat_secret") -> None:
    db.installs.save_token(
        domain,
        access_token=token,
        scope="read_orders,read_products",
        expires_at=EXPIRES.astimezone(timezone(timedelta(hours=-7))),
        refresh_token="refresh-secret",
        refresh_expires_at=EXPIRES + timedelta(days=30),
    )


def test_save_token_then_get(db: storage.Store, domain: str) -> None:
    assert db.installs.get(domain) is None
    assert db.installs.is_active(domain) is False
    before = datetime.now(UTC)
    save(db, domain)
    install = db.installs.get(domain)
    assert install is not None
    assert (install.shop, install.active, install.scope) == (
        domain,
        True,
        "read_orders,read_products",
    )
    assert (install.access_token, install.refresh_token) == ("shpat_secret", "refresh-secret")
    assert install.expires_at == EXPIRES
    assert install.expires_at is not None and install.expires_at.tzinfo == UTC
    assert install.refresh_expires_at == EXPIRES + timedelta(days=30)
    assert install.installed_at >= before - timedelta(seconds=1)
    assert install.uninstalled_at is None
    assert db.installs.is_active(domain) is True


def test_the_repr_hides_the_tokens(db: storage.Store, domain: str) -> None:
    save(db, domain)
    install = db.installs.get(domain)
    assert install is not None
    text = repr(install)
    assert domain in text
    assert "shpat_secret" not in text
    assert "refresh-secret" not in text


def test_deactivate_forgets_the_tokens(db: storage.Store, domain: str) -> None:
    save(db, domain)
    assert db.installs.deactivate(domain) is True
    install = db.installs.get(domain)
    assert install is not None
    assert install.active is False
    assert (install.access_token, install.refresh_token) == (None, None)
    assert (install.expires_at, install.refresh_expires_at) == (None, None)
    assert install.uninstalled_at is not None and install.uninstalled_at.tzinfo == UTC
    assert db.installs.is_active(domain) is False


def test_saving_a_token_again_reinstalls(db: storage.Store, domain: str) -> None:
    save(db, domain, "first")
    db.installs.deactivate(domain)
    save(db, domain, "second")
    install = db.installs.get(domain)
    assert install is not None
    assert (install.active, install.access_token, install.uninstalled_at) == (
        True,
        "second",
        None,
    )
    assert db.installs.is_active(domain) is True


def test_deactivate_without_an_install(db: storage.Store, domain: str) -> None:
    assert db.installs.deactivate(domain) is False
    assert db.installs.deactivate("nowhere.example") is False
    assert db.installs.get(domain) is None


def test_installs_are_per_shop(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    save(db, domain, "mine")
    save(db, OTHER, "theirs")
    db.installs.deactivate(OTHER)
    assert db.installs.is_active(domain) is True
    mine = db.installs.get(domain)
    assert mine is not None and mine.access_token == "mine"
    assert db.installs.is_active(OTHER) is False


def test_unknown_shop(db: storage.Store) -> None:
    with pytest.raises(UnknownShop):
        save(db, "nowhere.example")
    assert db.installs.get("nowhere.example") is None
    assert db.installs.is_active("nowhere.example") is False


def _fill(db: storage.Store, domain: str, marker: str) -> None:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    db.products.upsert_many(domain, [Product("p1", f"Mug {marker}")])
    db.orders.upsert_many(domain, [Order("o1", at, (OrderLine("p1"),), customer_id="c1")])
    db.carts.upsert(domain, Cart("cart1", at, (CartLine("p1"),), customer_id="c1"))
    db.models.save(domain, marker.encode(), {})
    save(db, domain, marker)
    db.api_keys.add(domain, key_hash=marker * 64, prefix="cw", label="", scope="read")
    db.rules.set(domain, ShopRules(pinned=("p1",)))
    db.inventory.replace_variants(domain, "p1", [VariantRecord("v1", "p1", "i1", 3)])
    db.inventory.set_level(domain, "i1", "loc", 4)
    db.segments.add(domain, ["country:DE"], ["p1"], datetime.now(UTC))


def test_deleting_a_shop_deletes_everything_stored_under_it(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    _fill(db, domain, "a")
    _fill(db, OTHER, "b")
    assert db.shops.delete(domain) is True
    assert db.shops.get(domain) is None
    assert db.shops.delete(domain) is False
    assert db.installs.get(domain) is None
    assert db.api_keys.find("a" * 64) is None
    assert db.rules.get(domain) == ShopRules()

    # Known again, the shop starts empty.
    db.shops.ensure(ShopRef(domain))
    assert db.products.count(domain) == 0
    assert db.orders.count(domain) == 0
    assert list(db.carts.iter(domain)) == []
    assert db.models.latest_version(domain) is None
    assert db.api_keys.list(domain) == []
    assert db.inventory.products_of_variants(domain, ["v1"]) == {}
    assert db.inventory.set_level(domain, "i1", "loc", 1) is None
    assert db.segments.top(domain, "country:DE") == []

    # The other shop is untouched.
    assert db.products.get_many(OTHER, ["p1"])["p1"].title == "Mug b"
    assert [o.lines for o in db.orders.iter(OTHER)] == [(OrderLine("p1"),)]
    assert [c.cart_id for c in db.carts.iter(OTHER)] == ["cart1"]
    assert db.models.latest_version(OTHER) == 1
    theirs = db.installs.get(OTHER)
    assert theirs is not None and theirs.access_token == "b"
    found = db.api_keys.find("b" * 64)
    assert found is not None and found.shop == OTHER
    assert db.rules.get(OTHER) == ShopRules(pinned=("p1",))
    assert db.inventory.product_stock(OTHER, "p1") == (4, True)
    assert db.segments.top(OTHER, "country:DE") == ["p1"]
