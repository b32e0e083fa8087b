"""The Magento store registry on SQLite and PostgreSQL, and connecting a store through it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cartwise import storage
from cartwise.connector.magento.auth import IntegrationCredentials
from cartwise.domain import Platform, ShopRef
from cartwise.errors import Conflict, InvalidRequest, UnknownShop
from cartwise.magento_stores import connect_store, disconnect_store

KEY = "shop.example.com"
CREDS = IntegrationCredentials(
    consumer_key="x2fl2ad8tbofr2o3v6l3iwhw1v4t3wmj",
    consumer_secret="k8q3t0pjyswtkxkz1rk0ozbmqsvy1zyc",
    access_token="wd8s6u2kd5ya4ndqh8t3cthfoxxdjqnn",
    access_token_secret="3zqcmj1idr2fw7r4ahsxnwh3oovoy5fy",
)
SECRETS = (CREDS.consumer_secret, CREDS.access_token, CREDS.access_token_secret)


def public(host: str) -> Iterable[str]:
    return ["93.184.215.14"]


def save(
    db: storage.Store | storage.Transaction, key: str = KEY, *, signing_secret: str = "sign-1"
) -> None:
    db.magento.save(
        key,
        base_url=f"https://{key.split('/')[0]}",
        store_code=key.partition("/")[2] or None,
        consumer_key=CREDS.consumer_key,
        consumer_secret=CREDS.consumer_secret,
        access_token=CREDS.access_token,
        access_token_secret=CREDS.access_token_secret,
        use_bearer=False,
        signing_secret=signing_secret,
    )


@pytest.fixture
def known(db: storage.Store) -> str:
    db.shops.ensure(ShopRef(KEY, Platform.MAGENTO))
    return KEY


def test_save_then_get(db: storage.Store, known: str) -> None:
    assert db.magento.get(known) is None
    before = datetime.now(UTC)
    save(db)
    found = db.magento.get(known)
    assert found is not None
    assert (found.shop, found.base_url, found.store_code, found.active) == (
        KEY,
        "https://shop.example.com",
        None,
        True,
    )
    assert (found.consumer_key, found.consumer_secret) == (
        CREDS.consumer_key,
        CREDS.consumer_secret,
    )
    assert (found.access_token, found.access_token_secret) == (
        CREDS.access_token,
        CREDS.access_token_secret,
    )
    assert (found.use_bearer, found.signing_secret) == (False, "sign-1")
    assert found.connected_at >= before - timedelta(seconds=1)
    assert found.connected_at.tzinfo == UTC
    assert (found.disconnected_at, found.last_synced_at) == (None, None)


def test_the_repr_hides_the_secrets(db: storage.Store, known: str) -> None:
    save(db)
    shown = repr(db.magento.get(known))
    assert CREDS.consumer_key in shown
    for secret in (*SECRETS, "sign-1"):
        assert secret not in shown


def test_the_shop_must_be_known(db: storage.Store) -> None:
    with pytest.raises(UnknownShop):
        save(db, "nobody.example.com")


def test_reconnecting_replaces_the_credentials(db: storage.Store, known: str) -> None:
    save(db)
    assert db.magento.deactivate(known) is True
    save(db, signing_secret="sign-2")
    found = db.magento.get(known)
    assert found is not None
    assert (found.active, found.signing_secret, found.disconnected_at) == (True, "sign-2", None)


def test_deactivating_forgets_every_secret(db: storage.Store, known: str) -> None:
    save(db)
    assert db.magento.deactivate(known) is True
    found = db.magento.get(known)
    assert found is not None
    assert found.active is False
    assert found.disconnected_at is not None
    assert found.base_url == "https://shop.example.com"
    assert (
        found.consumer_key,
        found.consumer_secret,
        found.access_token,
        found.access_token_secret,
        found.signing_secret,
    ) == (None, None, None, None, None)
    assert db.magento.deactivate("nobody.example.com") is False


def test_mark_synced_and_list(db: storage.Store, known: str) -> None:
    db.shops.ensure(ShopRef(f"{KEY}/de", Platform.MAGENTO))
    save(db)
    save(db, f"{KEY}/de")
    at = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert db.magento.mark_synced(known, at) is True
    assert db.magento.mark_synced("nobody.example.com", at) is False
    found = db.magento.get(known)
    assert found is not None and found.last_synced_at == at
    db.magento.deactivate(f"{KEY}/de")
    assert [s.shop for s in db.magento.list()] == [KEY]
    assert [s.shop for s in db.magento.list(active_only=False)] == [KEY, f"{KEY}/de"]


def test_deleting_the_shop_deletes_the_store(db: storage.Store, known: str) -> None:
    save(db)
    assert db.shops.delete(known) is True
    assert db.magento.get(known) is None


def test_a_transaction_saves_shop_and_store_together(db: storage.Store) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.shops.ensure(ShopRef(KEY, Platform.MAGENTO))
        save(tx)
        raise RuntimeError("boom")
    assert db.shops.get(KEY) is None
    assert db.magento.get(KEY) is None


# -- connect_store ------------------------------------------------------------------------


def test_connect_store_saves_it_and_shows_the_secret_once(db: storage.Store) -> None:
    key, secret = connect_store(db, "https://Shop.Example.com/", CREDS, resolve=public)
    assert key == KEY
    assert len(secret) >= 43
    assert db.shops.get(KEY) == ShopRef(KEY, Platform.MAGENTO)
    found = db.magento.get(KEY)
    assert found is not None
    assert (found.base_url, found.signing_secret, found.active) == (
        "https://shop.example.com",
        secret,
        True,
    )


def test_connect_store_with_a_store_code_and_bearer(db: storage.Store) -> None:
    bearer = IntegrationCredentials("", "", CREDS.access_token, "", bearer=True)
    key, _ = connect_store(db, "https://shop.example.com", bearer, store_code="de", resolve=public)
    assert key == f"{KEY}/de"
    found = db.magento.get(key)
    assert found is not None
    assert (found.store_code, found.use_bearer, found.access_token) == (
        "de",
        True,
        CREDS.access_token,
    )


def test_connecting_again_issues_a_new_secret(db: storage.Store) -> None:
    _, first = connect_store(db, "https://shop.example.com", CREDS, resolve=public)
    _, second = connect_store(db, "https://shop.example.com", CREDS, resolve=public)
    assert first != second
    found = db.magento.get(KEY)
    assert found is not None and found.signing_secret == second


@pytest.mark.parametrize(
    ("url", "code", "reason"),
    [
        pytest.param("http://shop.example.com", None, "https_required", id="http"),
        pytest.param("https://10.0.0.8", None, "private_address", id="private"),
        pytest.param("https://shop.example.com", "DE", "invalid_store_code", id="code"),
    ],
)
def test_a_bad_store_is_refused_and_nothing_stored(
    db: storage.Store, url: str, code: str | None, reason: str
) -> None:
    with pytest.raises(InvalidRequest) as exc:
        connect_store(db, url, CREDS, store_code=code, resolve=public)
    assert exc.value.details["reason"] == reason
    assert db.shops.list() == []


def test_a_host_resolving_to_a_private_address_is_refused(db: storage.Store) -> None:
    with pytest.raises(InvalidRequest) as exc:
        connect_store(db, "https://shop.example.com", CREDS, resolve=lambda host: ["10.0.0.8"])
    assert exc.value.details["reason"] == "private_address"
    connect_store(
        db,
        "https://shop.example.com",
        CREDS,
        allow_private=True,
        resolve=lambda host: ["10.0.0.8"],
    )
    assert db.magento.get(KEY) is not None


def test_a_shop_of_another_platform_is_not_taken_over(db: storage.Store) -> None:
    db.shops.ensure(ShopRef(KEY, Platform.SHOPIFY))
    with pytest.raises(Conflict):
        connect_store(db, "https://shop.example.com", CREDS, resolve=public)
    assert db.shops.get(KEY) == ShopRef(KEY, Platform.SHOPIFY)
    assert db.magento.get(KEY) is None


def test_disconnect_store(db: storage.Store) -> None:
    connect_store(db, "https://shop.example.com", CREDS, resolve=public)
    assert disconnect_store(db, KEY) is True
    found = db.magento.get(KEY)
    assert found is not None and found.signing_secret is None
