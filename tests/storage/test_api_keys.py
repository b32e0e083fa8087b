from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartwise import storage
from cartwise.domain import ShopRef
from cartwise.errors import NotFound, StorageError, UnknownShop

OTHER = "other.example"


def add(db: storage.Store, domain: str, n: int, *, scope: str = "read") -> int:
    return db.api_keys.add(
        domain, key_hash=f"{n:064x}", prefix=f"cw_{n:04}", label=f"key {n}", scope=scope
    )


def test_add_find_and_list(db: storage.Store, domain: str) -> None:
    before = datetime.now(UTC)
    first = add(db, domain, 1)
    second = add(db, domain, 2, scope="write")
    assert first != second
    found = db.api_keys.find(f"{2:064x}")
    assert found is not None
    assert (found.id, found.shop, found.prefix, found.label, found.scope, found.revoked_at) == (
        second,
        domain,
        "cw_0002",
        "key 2",
        "write",
        None,
    )
    assert found.created_at.tzinfo == UTC
    assert found.created_at >= before - timedelta(seconds=1)
    assert db.api_keys.find(f"{3:064x}") is None
    assert [k.id for k in db.api_keys.list(domain)] == [first, second]


def test_a_revoked_key_is_not_found_but_still_listed(db: storage.Store, domain: str) -> None:
    revoked, live = add(db, domain, 1), add(db, domain, 2)
    db.api_keys.revoke(domain, revoked)
    assert db.api_keys.find(f"{1:064x}") is None
    assert db.api_keys.find(f"{2:064x}") is not None
    listed = {k.id: k for k in db.api_keys.list(domain)}
    first_revocation = listed[revoked].revoked_at
    assert first_revocation is not None and first_revocation.tzinfo == UTC
    assert listed[live].revoked_at is None
    # Revoking again changes nothing.
    db.api_keys.revoke(domain, revoked)
    assert {k.id: k for k in db.api_keys.list(domain)}[revoked].revoked_at == first_revocation


def test_a_shop_cannot_revoke_another_shops_key(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    theirs = add(db, OTHER, 1)
    with pytest.raises(NotFound):
        db.api_keys.revoke(domain, theirs)
    with pytest.raises(NotFound):
        db.api_keys.revoke(domain, theirs + 1000)
    found = db.api_keys.find(f"{1:064x}")
    assert found is not None and found.shop == OTHER
    assert db.api_keys.list(domain) == []


def test_revoke_all_revokes_only_the_shops_live_keys(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    one = add(db, domain, 1)
    add(db, domain, 2)
    add(db, domain, 3)
    add(db, OTHER, 4)
    db.api_keys.revoke(domain, one)
    assert db.api_keys.revoke_all(domain) == 2
    assert db.api_keys.revoke_all(domain) == 0
    assert all(db.api_keys.find(f"{n:064x}") is None for n in (1, 2, 3))
    assert db.api_keys.find(f"{4:064x}") is not None
    assert db.api_keys.revoke_all("nowhere.example") == 0


def test_a_key_hash_is_unique(db: storage.Store, domain: str) -> None:
    db.shops.ensure(ShopRef(OTHER))
    first = add(db, domain, 1)
    with pytest.raises(StorageError):
        add(db, OTHER, 1)
    found = db.api_keys.find(f"{1:064x}")
    assert found is not None and (found.id, found.shop) == (first, domain)
    assert db.api_keys.list(OTHER) == []


def test_unknown_shop(db: storage.Store) -> None:
    with pytest.raises(UnknownShop):
        add(db, "nowhere.example", 1)
    with pytest.raises(UnknownShop):
        db.api_keys.list("nowhere.example")
    with pytest.raises(UnknownShop):
        db.api_keys.revoke("nowhere.example", 1)
