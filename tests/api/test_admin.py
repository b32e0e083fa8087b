"""The admin API and API keys: keys stored only as keyed hashes, revocable, bound to one shop,
rate-limited when guessed; the merchant's rules (blocked, pinned, price band, diversity caps,
curated defaults) applied to every answer; invalid rules refused with 422."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from cartwise.api import create_app
from cartwise.api.auth import BAD_KEYS_PER_MINUTE, reset_bad_key_counts

from .shopify import SHOP_A, SHOP_B, admin_token, checkout_token, delivery, shopify_settings
from .test_auth import (
    CATALOG_A,
    CATALOG_B,
    CATALOG_C,
    SHOP_C,
    World,
    assert_rejected,
    build_world,
    cart,
    ids,
)

PRODUCTS_A = {p.product_id: p for p in CATALOG_A}
A_IDS = tuple(PRODUCTS_A)


@pytest.fixture(autouse=True)
def _forget_bad_keys() -> Iterator[None]:
    reset_bad_key_counts()
    yield
    reset_bad_key_counts()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db")
    yield built
    built.store.close()


def admin_a() -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token(SHOP_A)}"}


def key_header(key: str) -> dict[str, str]:
    return {"X-Cartwise-Key": key}


def create_key(world: World, headers: dict[str, str], scope: str = "storefront") -> dict[str, Any]:
    response = world.client.post(
        "/v1/admin/api-keys", json={"label": f"{scope} from test", "scope": scope}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.get_json()
    return body


def recommend(world: World, key: str, *products: str, k: int = 20) -> TestResponse:
    response = world.client.post(
        "/v1/recommendations",
        json={"cart": [{"product_id": p} for p in products], "k": k},
        headers=key_header(key),
    )
    assert response.status_code == 200, response.get_json()
    return response


def every_cell(db_path: Path) -> Iterator[tuple[str, bytes]]:
    """(table, raw bytes) of every value of every row of every table of the SQLite file."""
    conn = sqlite3.connect(db_path)
    try:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        assert "api_keys" in tables
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if value is None:
                        continue
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    yield table, raw
    finally:
        conn.close()


# --- API keys ----------------------------------------------------------------------------------


def test_keys_are_stored_only_as_keyed_hashes(world: World) -> None:
    made = [create_key(world, admin_a(), scope) for scope in ("storefront", "admin")]
    keys = [m["key"] for m in made] + [world.key_a, world.admin_key_a, world.key_b]
    for key in keys:
        assert key.startswith("cw_") and len(key) >= 40
        recommend(world, key)  # each one works
    listing = world.client.get("/v1/admin/api-keys", headers=admin_a())
    assert listing.status_code == 200
    listed = listing.get_data(as_text=True)

    needles: list[bytes] = []
    for key in keys:
        secret_part = key[10:]  # what the stored 10-character prefix does not show
        assert secret_part not in listed
        needles += [
            key.encode(),
            secret_part.encode(),
            hashlib.sha256(key.encode()).hexdigest().encode(),  # an unkeyed hash is not enough
            hashlib.sha256(key.encode()).digest(),
        ]
    cells = list(every_cell(world.db_path))
    assert any(table == "api_keys" for table, _ in cells)
    for table, raw in cells:
        for needle in needles:
            assert needle not in raw, f"an API key is readable in table {table}"


def test_a_key_hash_depends_on_the_secret_key(world: World) -> None:
    """The same database under another secret key knows none of the keys."""
    other = create_app(
        shopify_settings(secret_key="another-secret-key-for-this-test-0123456789"),
        store=world.store,
        start_worker=False,
    )
    response = other.test_client().post(
        "/v1/recommendations", json=cart(), headers=key_header(world.key_a)
    )
    assert_rejected(response)


def test_a_revoked_key_is_refused_on_the_next_request(world: World) -> None:
    made = create_key(world, admin_a())
    key = made["key"]
    recommend(world, key)
    revoked = world.client.delete(f"/v1/admin/api-keys/{made['id']}", headers=admin_a())
    assert revoked.status_code == 204
    assert_rejected(world.client.post("/v1/recommendations", json=cart(), headers=key_header(key)))
    listing = world.client.get("/v1/admin/api-keys", headers=admin_a()).get_json()["keys"]
    entry = next(k for k in listing if k["id"] == made["id"])
    assert entry["revoked_at"] is not None
    again = world.client.delete(f"/v1/admin/api-keys/{made['id']}", headers=admin_a())
    assert again.status_code == 204
    recommend(world, world.key_a)  # the shop's other keys still work


def test_a_revoked_admin_key_loses_the_admin_routes(world: World) -> None:
    made = create_key(world, admin_a(), scope="admin")
    assert world.client.get("/v1/admin/rules", headers=key_header(made["key"])).status_code == 200
    world.client.delete(f"/v1/admin/api-keys/{made['id']}", headers=admin_a())
    assert_rejected(world.client.get("/v1/admin/rules", headers=key_header(made["key"])))


def test_an_admin_key_cannot_revoke_itself_into_another_shop(world: World) -> None:
    """Key ids of another shop are unknown (404), whoever asks."""
    b_id = world.key_id(SHOP_B, world.key_b)
    for headers in (admin_a(), key_header(world.admin_key_a)):
        response = world.client.delete(f"/v1/admin/api-keys/{b_id}", headers=headers)
        assert response.status_code == 404
    assert world.client.delete("/v1/admin/api-keys/999999", headers=admin_a()).status_code == 404
    recommend(world, world.key_b)


@pytest.mark.parametrize("key_id", [2**31, 2**64], ids=["past-32-bit", "past-64-bit"])
def test_key_ids_past_the_column_are_not_found(world: World, key_id: int) -> None:
    """Found by schemathesis: an id past 64 bits reached SQLite's driver and answered 500."""
    response = world.client.delete(f"/v1/admin/api-keys/{key_id}", headers=admin_a())
    assert_rejected(response, 404)
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_key_is_bound_to_its_shop(world: World) -> None:
    b_titles = {p.title for p in CATALOG_B}
    response = world.client.post(
        f"/v1/recommendations?shop={SHOP_B}",
        json={"cart": [{"product_id": p.product_id} for p in CATALOG_B[:3]], "k": 20},
        headers={**key_header(world.key_a), "X-Shopify-Shop-Domain": SHOP_B},
    )
    assert response.status_code == 200
    assert set(ids(response)) <= set(A_IDS)
    assert not b_titles & {i["title"] for i in response.get_json()["items"]}
    a_keys = world.client.get("/v1/admin/api-keys", headers=key_header(world.admin_key_a))
    b_keys = world.client.get("/v1/admin/api-keys", headers=key_header(world.admin_key_b))
    a_ids = {k["id"] for k in a_keys.get_json()["keys"]}
    b_ids = {k["id"] for k in b_keys.get_json()["keys"]}
    assert a_ids == {r.id for r in world.store.api_keys.list(SHOP_A)}
    assert b_ids == {r.id for r in world.store.api_keys.list(SHOP_B)}
    assert not a_ids & b_ids


def test_a_key_made_through_the_admin_api_belongs_to_the_callers_shop(world: World) -> None:
    made = world.client.post(
        f"/v1/admin/api-keys?shop={SHOP_B}",
        json={"label": "x", "scope": "storefront"},
        headers={**admin_a(), "X-Shopify-Shop-Domain": SHOP_B},
    ).get_json()
    assert made["id"] in {r.id for r in world.store.api_keys.list(SHOP_A)}
    assert made["id"] not in {r.id for r in world.store.api_keys.list(SHOP_B)}
    assert set(ids(recommend(world, made["key"]))) <= set(A_IDS)


def test_keys_of_an_uninstalled_shop_stop_working(world: World) -> None:
    headers, body = delivery("app/uninstalled", {"id": 1, "myshopify_domain": SHOP_A}, shop=SHOP_A)
    assert world.client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    world.app.extensions["cartwise_worker"].drain()
    assert not world.store.installs.is_active(SHOP_A)
    assert_rejected(
        world.client.post("/v1/recommendations", json=cart(), headers=key_header(world.key_a))
    )
    assert_rejected(world.client.get("/v1/admin/rules", headers=key_header(world.admin_key_a)))
    recommend(world, world.key_b)


def test_guessing_keys_is_slowed_down_per_address(world: World) -> None:
    attacker = {"REMOTE_ADDR": "203.0.113.7"}
    for n in range(BAD_KEYS_PER_MINUTE):
        response = world.client.post(
            "/v1/recommendations",
            json=cart(),
            headers=key_header(f"cw_guess-{n:04d}-0123456789abcdef"),
            environ_base=attacker,
        )
        assert_rejected(response)
    assert BAD_KEYS_PER_MINUTE == 20
    blocked = world.client.post(
        "/v1/recommendations",
        json=cart(),
        headers=key_header("cw_guess-one-more-0123456789abcdef"),
        environ_base=attacker,
    )
    assert_rejected(blocked, 429)
    assert blocked.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(blocked.headers["Retry-After"]) <= 60
    # Still blocked on the admin routes, even with a real key, from that address ...
    admin = world.client.get(
        "/v1/admin/rules", headers=key_header(world.admin_key_a), environ_base=attacker
    )
    assert_rejected(admin, 429)
    assert "Retry-After" in admin.headers
    # ... but not from another address.
    other = world.client.post(
        "/v1/recommendations",
        json=cart(),
        headers=key_header(world.key_a),
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    assert other.status_code == 200
    stranger = world.client.post(
        "/v1/recommendations",
        json=cart(),
        headers=key_header("cw_guess-from-elsewhere-0123456789"),
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    assert_rejected(stranger, 401)


def test_good_keys_do_not_count_as_guesses(world: World) -> None:
    address = {"REMOTE_ADDR": "192.0.2.10"}
    for _ in range(BAD_KEYS_PER_MINUTE + 5):
        response = world.client.post(
            "/v1/recommendations",
            json=cart(),
            headers=key_header(world.key_a),
            environ_base=address,
        )
        assert response.status_code == 200
    for _ in range(BAD_KEYS_PER_MINUTE - 1):
        assert_rejected(
            world.client.post(
                "/v1/recommendations",
                json=cart(),
                headers=key_header("cw_wrong-0123456789abcdef"),
                environ_base=address,
            )
        )
    ok = world.client.post(
        "/v1/recommendations", json=cart(), headers=key_header(world.key_a), environ_base=address
    )
    assert ok.status_code == 200


ADMIN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/admin/rules", None),
    ("PUT", "/v1/admin/rules", {"pinned": []}),
    ("GET", "/v1/admin/api-keys", None),
    ("POST", "/v1/admin/api-keys", {"label": "x", "scope": "admin"}),
    ("DELETE", "/v1/admin/api-keys/1", None),
    ("GET", "/v1/admin/data-exports", None),
    ("GET", "/v1/admin/sync", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_storefront_keys_may_not_use_admin_routes(
    world: World, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = world.store.rules.get(SHOP_A)
    keys_before = world.store.api_keys.list(SHOP_A)
    response = world.client.open(path, method=method, json=body, headers=key_header(world.key_a))
    assert_rejected(response, 403)
    assert response.get_json()["error"]["code"] == "forbidden"
    assert world.store.rules.get(SHOP_A) == before
    assert world.store.api_keys.list(SHOP_A) == keys_before


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_need_an_admin_credential(
    world: World, method: str, path: str, body: dict[str, Any] | None
) -> None:
    for headers in (
        {},
        {"Authorization": f"Bearer {checkout_token(SHOP_A)}"},  # a checkout token is not one
        {"Authorization": f"Bearer {admin_token('shop-z.myshopify.com')}"},  # not installed
        {"Authorization": f"Bearer {admin_token(SHOP_A, iss=f'https://{SHOP_B}/admin')}"},
        {"Authorization": f"Bearer {admin_token(SHOP_A, dest=SHOP_A)}"},  # dest without https
        key_header("cw_not-a-real-key-0123456789abcdef"),
    ):
        response = world.client.open(path, method=method, json=body, headers=headers)
        assert_rejected(response, 401)


# --- rules ---------------------------------------------------------------------------------------


def put_rules(world: World, rules: dict[str, Any], key: str | None = None) -> TestResponse:
    headers = key_header(key) if key else admin_a()
    return world.client.put("/v1/admin/rules", json=rules, headers=headers)


CARTS: tuple[tuple[str, ...], ...] = ((), *((pid,) for pid in A_IDS), ("7100001", "7100006"))


def answers(world: World, k: int = 20) -> list[list[str]]:
    return [ids(recommend(world, world.key_a, *c, k=k)) for c in CARTS]


def test_rules_round_trip(world: World) -> None:
    rules = {
        "defaults": ["7100012", "7100011", "7100012"],
        "pinned": ["7100010"],
        "blocked": ["7100002", "7100003"],
        "min_price": 1.0,
        "max_price": 50.0,
        "max_per_vendor": 3,
        "max_per_category": 4,
        "exploration_share": 0.2,
    }
    response = put_rules(world, rules)
    assert response.status_code == 200, response.get_json()
    expected = {**rules, "defaults": ["7100012", "7100011"]}
    assert response.get_json() == expected
    assert world.client.get("/v1/admin/rules", headers=admin_a()).get_json() == expected
    via_key = world.client.get("/v1/admin/rules", headers=key_header(world.admin_key_a))
    assert via_key.get_json() == expected


def test_blocked_products_are_never_recommended(world: World) -> None:
    before = answers(world)
    top = list(dict.fromkeys(pid for answer in before for pid in answer[:2]))[:4]
    assert top
    assert put_rules(world, {"blocked": top, "pinned": [top[0]]}).status_code == 200
    for answer in answers(world):
        assert answer, "the rules must not empty the answer"
        assert not set(answer) & set(top)
    proxied = world.client.post(
        "/v1/recommendations",
        json=cart("7100001"),
        headers={"Authorization": f"Bearer {checkout_token(SHOP_A)}"},
    )
    assert not set(ids(proxied)) & set(top)


def test_pinned_products_come_first(world: World) -> None:
    pinned = ["7100012", "7100011", "7100005"]
    assert put_rules(world, {"pinned": pinned}).status_code == 200
    for c, answer in zip(CARTS, answers(world), strict=True):
        expected = [p for p in pinned if p not in c]
        assert answer[: len(expected)] == expected, (c, answer)
        assert len(answer) == len(set(answer))
    token_answer = world.client.post(
        "/v1/recommendations",
        json=cart("7100001"),
        headers={"Authorization": f"Bearer {checkout_token(SHOP_A)}"},
    )
    assert ids(token_answer)[:3] == pinned


def test_the_price_band_holds(world: World) -> None:
    assert put_rules(world, {"min_price": 2.0, "max_price": 5.0}).status_code == 200
    for answer in answers(world):
        assert answer
        for pid in answer:
            price = PRODUCTS_A[pid].price
            assert price is not None and 2.0 <= price <= 5.0, (pid, price)


def test_the_price_band_applies_to_pinned_products_too(world: World) -> None:
    assert put_rules(world, {"pinned": ["7100012"], "max_price": 10.0}).status_code == 200
    for answer in answers(world):
        assert "7100012" not in answer


@pytest.mark.parametrize("cap", [1, 2])
def test_per_vendor_and_per_category_caps_hold(world: World, cap: int) -> None:
    assert put_rules(world, {"max_per_vendor": cap}).status_code == 200
    for answer in answers(world):
        vendors = [PRODUCTS_A[p].vendor for p in answer]
        assert answer and max(vendors.count(v) for v in vendors) <= cap, answer
    assert put_rules(world, {"max_per_category": cap}).status_code == 200
    for answer in answers(world):
        categories = [PRODUCTS_A[p].category for p in answer]
        assert answer and max(categories.count(c) for c in categories) <= cap, answer


def test_defaults_answer_when_the_shop_has_no_model(world: World) -> None:
    assert world.store.models.latest_version(SHOP_C) is None
    plain = recommend(world, world.admin_key_c, k=3).get_json()
    assert plain["source"] == "fallback"
    defaults = ["9300003", "9300004"]
    assert put_rules(world, {"defaults": defaults}, key=world.admin_key_c).status_code == 200
    answer = recommend(world, world.admin_key_c, k=3).get_json()
    assert answer["source"] == "defaults"
    returned = [i["product_id"] for i in answer["items"]]
    assert returned[:2] == defaults
    assert set(returned) <= {p.product_id for p in CATALOG_C}
    # A default already in the cart is skipped, the next one moves up.
    in_cart = recommend(world, world.admin_key_c, "9300003", k=3).get_json()
    assert in_cart["items"][0]["product_id"] == "9300004"


def test_defaults_of_another_shop_are_ignored(world: World) -> None:
    """Ids that are not products of the shop are skipped, whoever put them there."""
    response = put_rules(
        world, {"defaults": ["8200001", "9300001"], "pinned": ["8200002"]}, key=world.admin_key_c
    )
    assert response.status_code == 200
    answer = recommend(world, world.admin_key_c, k=4).get_json()
    assert answer["items"][0]["product_id"] == "9300001"
    assert {i["product_id"] for i in answer["items"]} <= {p.product_id for p in CATALOG_C}


INVALID_RULES = {
    "min above max": {"min_price": 10.0, "max_price": 5.0},
    "extra field": {"pinned": [], "shop": SHOP_B},
    "unknown rule": {"max_per_brand": 2},
    "negative price": {"min_price": -1},
    "zero vendor cap": {"max_per_vendor": 0},
    "huge category cap": {"max_per_category": 1000},
    "empty product id": {"blocked": [""]},
    "overlong product id": {"pinned": ["x" * 129]},
    "too many pinned": {"pinned": [str(n) for n in range(21)]},
    "ids not a list": {"blocked": "7100001"},
    "id not a string": {"defaults": [7100001]},
    "price not a number": {"max_price": "cheap"},
    "price as a string": {"max_price": "5"},
    "share as a boolean": {"exploration_share": False},
    "not an object": ["7100001"],
}


@pytest.mark.parametrize("name", sorted(INVALID_RULES))
def test_invalid_rules_are_refused(world: World, name: str) -> None:
    assert put_rules(world, {"blocked": ["7100002"]}).status_code == 200
    before = world.store.rules.get(SHOP_A)
    response = world.client.put("/v1/admin/rules", json=INVALID_RULES[name], headers=admin_a())
    assert_rejected(response, 422)
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert world.store.rules.get(SHOP_A) == before


def test_rules_need_a_json_body(world: World) -> None:
    response = world.client.put(
        "/v1/admin/rules",
        data="min_price=1",
        headers={**admin_a(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_rejected(response, 422)
    broken = world.client.put(
        "/v1/admin/rules",
        data="{not json",
        headers={**admin_a(), "Content-Type": "application/json"},
    )
    assert_rejected(broken, 422)


def test_the_sync_status_tells_the_merchant_about_the_order_window(world: World) -> None:
    from datetime import UTC, datetime

    from cartwise.storage import SyncState

    start = datetime(2026, 9, 27, tzinfo=UTC)
    world.store.sync.save(
        SyncState(
            SHOP_A,
            "orders",
            "done",
            objects_done=120,
            written=120,
            window_start=start,
            message="Orders from 2026-09-27 on only: ... read_all_orders scope.",
        )
    )
    world.store.sync.save(SyncState(SHOP_B, "orders", "running"))
    body = world.client.get("/v1/admin/sync", headers=admin_a()).get_json()
    assert body == {
        "resources": [
            {
                "resource": "orders",
                "status": "done",
                "objects": 120,
                "written": 120,
                "orders_from": start.isoformat(),
                "synced_until": None,
                "updated_at": body["resources"][0]["updated_at"],
                "message": "Orders from 2026-09-27 on only: ... read_all_orders scope.",
            }
        ]
    }
