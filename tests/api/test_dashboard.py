"""The embedded dashboard's doors: the App Bridge token matrix for `/app` and its sections, the
shop always the token's (shop A's token never shows shop B's data), and the headers that let
only the shop's admin frame the pages.

Shops A and B are installed with catalogs, orders and models, C with a catalog only (see
`test_auth.build_world`); here each also gets storefront events, rules and an experiment of
its own, with figures that differ, so a leak would show."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from cartwise.api.auth import reset_bad_key_counts
from cartwise.domain import ShopRules
from cartwise.installs import create_api_key
from cartwise.schemas import TrackedEvent
from cartwise.storage import Store

from .shopify import CLIENT_SECRET, OTHER_SECRET, SHOP_A, SHOP_B, admin_token, checkout_token
from .test_auth import NOT_INSTALLED, SHOP_C, World, build_world

FRAGMENTS = ("overview", "kpis", "experiments", "rules", "backtest")
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def page_csp(ancestors: str) -> str:
    return (
        "default-src 'self'; script-src 'self' https://cdn.shopify.com; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        f"form-action 'self'; frame-ancestors {ancestors}"
    )


def events(
    store: Store, shop: str, day: date, placement: str, counts: dict[str, int], tag: str = ""
) -> None:
    """Store `counts` (kind → n) storefront events of one day and placement, at noon UTC."""
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    batch = [
        TrackedEvent(
            kind=kind,  # type: ignore[arg-type]
            product_id="p",
            session_id=f"s{n % 7}",
            placement=placement,  # type: ignore[arg-type]
            occurred_at=at + timedelta(seconds=n),
            event_id=f"{shop[:6]}-{tag}{day:%m%d}-{placement}-{kind}-{n}",
        )
        for kind, count in counts.items()
        for n in range(count)
    ]
    store.tracking.add_many(shop, batch)


def seed_a_and_b(world: World) -> None:
    """A: 120 impressions, 6 clicks in the cart (5.0 %); B: 300 impressions, 45 clicks at
    checkout (15.0 %). Each with its own rules and experiment."""
    today = datetime.now(UTC).date()
    store = world.store
    events(store, SHOP_A, today - timedelta(days=2), "cart", {"impression": 120, "click": 6})
    events(store, SHOP_B, today - timedelta(days=2), "checkout", {"impression": 300, "click": 45})
    store.rules.set(SHOP_A, ShopRules(defaults=("7100012",), blocked=frozenset({"7100005"})))
    store.rules.set(SHOP_B, ShopRules(defaults=("8200004",), pinned=("8200006",)))
    definition = {"arms": [{"key": "control", "kind": "no_recommendations"}, {"key": "model"}]}
    store.experiments.start(SHOP_A, "alpine-launch", definition, datetime.now(UTC))
    store.experiments.start(SHOP_B, "boreal-winter", definition, datetime.now(UTC))


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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fragment(world: World, name: str, headers: dict[str, str], query: str = "") -> TestResponse:
    return world.client.get(f"/app/fragments/{name}{query}", headers=headers)


def home(world: World, **params: str) -> TestResponse:
    return world.client.get("/app", query_string=params)


def assert_html_refusal(response: TestResponse, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    assert '"error"' not in text


# --- /app: the id_token in Shopify's URL ------------------------------------------------------


def _expired() -> str:
    return admin_token(SHOP_A, exp=int(datetime.now(UTC).timestamp()) - 120)


BAD_HOME_TOKENS = [
    pytest.param(lambda: None, 401, id="no-token"),
    pytest.param(lambda: "", 401, id="empty-token"),
    pytest.param(lambda: "not.a.jwt", 401, id="garbage"),
    pytest.param(lambda: admin_token(SHOP_A, secret=OTHER_SECRET), 401, id="bad-signature"),
    pytest.param(_expired, 401, id="expired"),
    pytest.param(lambda: admin_token(SHOP_A, aud="another-app"), 401, id="other-app"),
    pytest.param(lambda: checkout_token(SHOP_A), 401, id="checkout-token"),
    pytest.param(lambda: admin_token(SHOP_B), 403, id="other-shops-token"),
]


@pytest.mark.parametrize(("token", "status"), BAD_HOME_TOKENS)
def test_the_app_home_refuses_without_a_valid_token_of_the_named_shop(
    world: World, token: Any, status: int
) -> None:
    minted = token()
    params = {"shop": SHOP_A, "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc2hvcC1h", "embedded": "1"}
    if minted is not None:
        params["id_token"] = minted
    response = home(world, **params)
    assert_html_refusal(response, status)
    assert "cartwise can't open this page" in response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"] == page_csp(
        f"https://{SHOP_A} https://admin.shopify.com"
    )


def test_the_app_home_refuses_a_shop_that_uninstalled_the_app(world: World) -> None:
    response = home(world, shop=NOT_INSTALLED, id_token=admin_token(NOT_INSTALLED))
    assert_html_refusal(response, 401)
    assert "not installed" in response.get_data(as_text=True)


def test_the_app_home_loads_app_bridge_and_our_script_for_a_valid_token(world: World) -> None:
    response = home(world, shop=SHOP_A, id_token=admin_token(SHOP_A), host="x", embedded="1")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert '<meta name="shopify-api-key" content="cartwise-test-client-id-0001">' in text
    assert '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>' in text
    assert "/static/dashboard.js" in text and "/static/dashboard.css" in text
    for name in FRAGMENTS:
        assert f'data-src="/app/fragments/{name}"' in text
    # App Bridge is the one script from elsewhere; nothing inline.
    assert text.count("<script") == 2
    assert "style=" not in text and "<style" not in text
    assert response.headers["Content-Security-Policy"] == page_csp(
        f"https://{SHOP_A} https://admin.shopify.com"
    )
    assert response.headers["Cache-Control"] == "no-store"


def test_the_app_home_without_a_shop_parameter_takes_the_tokens_shop(world: World) -> None:
    response = home(world, id_token=admin_token(SHOP_B))
    assert response.status_code == 200
    assert SHOP_B in response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"].endswith(
        f"frame-ancestors https://{SHOP_B} https://admin.shopify.com"
    )


def test_a_refusal_page_is_framed_only_by_the_admin_when_the_shop_is_malformed(
    world: World,
) -> None:
    response = home(world, shop="evil.example.com; script-src *")
    assert_html_refusal(response, 401)
    assert response.headers["Content-Security-Policy"] == page_csp("https://admin.shopify.com")


# --- the sections: App Bridge tokens from fetch, or admin API keys -----------------------------


BAD_FRAGMENT_CREDENTIALS = [
    pytest.param(lambda w: {}, 401, id="no-credential"),
    pytest.param(lambda w: bearer("not.a.jwt"), 401, id="garbage"),
    pytest.param(lambda w: bearer(admin_token(SHOP_A, secret=OTHER_SECRET)), 401, id="bad-sig"),
    pytest.param(lambda w: bearer(_expired()), 401, id="expired"),
    pytest.param(lambda w: bearer(checkout_token(SHOP_A)), 401, id="checkout-token"),
    pytest.param(lambda w: bearer(admin_token(NOT_INSTALLED)), 401, id="uninstalled-shop"),
    pytest.param(lambda w: {"X-Cartwise-Key": w.key_a}, 403, id="storefront-key"),
    pytest.param(lambda w: {"X-Cartwise-Key": "cw_nonsense"}, 401, id="unknown-key"),
]


@pytest.mark.parametrize("name", FRAGMENTS)
@pytest.mark.parametrize(("credential", "status"), BAD_FRAGMENT_CREDENTIALS)
def test_a_section_refuses_a_bad_credential_with_an_html_notice(
    world: World, name: str, credential: Any, status: int
) -> None:
    response = fragment(world, name, credential(world))
    assert_html_refusal(response, status)
    text = response.get_data(as_text=True)
    assert "This section could not be loaded." in text
    assert f'data-status="{status}"' in text
    assert response.headers["Content-Security-Policy"] == page_csp("https://admin.shopify.com")


@pytest.mark.parametrize("name", FRAGMENTS)
@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(lambda w: bearer(admin_token(SHOP_A)), id="app-bridge-token"),
        pytest.param(lambda w: {"X-Cartwise-Key": w.admin_key_a}, id="admin-key"),
    ],
)
def test_a_section_renders_for_the_shops_token_or_admin_key(
    world: World, name: str, credential: Any
) -> None:
    response = fragment(world, name, credential(world))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == page_csp(
        f"https://{SHOP_A} https://admin.shopify.com"
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script" not in response.get_data(as_text=True)


def test_an_unknown_section_is_a_404_notice(world: World) -> None:
    response = fragment(world, "secrets", bearer(admin_token(SHOP_A)))
    assert_html_refusal(response, 404)


@pytest.mark.parametrize("path", ["/app/preview", "/app/backtest"])
def test_the_json_actions_refuse_without_a_credential_in_json(world: World, path: str) -> None:
    response = world.client.post(path, json={"cart": []})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["Content-Security-Policy"] == API_CSP
    other = world.client.post(path, json={"cart": []}, headers={"X-Cartwise-Key": world.key_a})
    assert other.status_code == 403


def test_other_routes_keep_their_own_headers(world: World) -> None:
    assert world.client.get("/healthz").headers["Content-Security-Policy"] == API_CSP
    assert world.client.get("/healthz").headers["X-Frame-Options"] == "DENY"


# --- tenant isolation -------------------------------------------------------------------------


def test_shop_as_token_never_shows_shop_bs_data(world: World) -> None:
    seed_a_and_b(world)
    shown = {
        name: fragment(world, name, bearer(admin_token(SHOP_A)), f"?shop={SHOP_B}").get_data(
            as_text=True
        )
        for name in FRAGMENTS
    }
    page = "".join(shown.values())
    assert "5.0 %" in shown["overview"]
    assert "alpine-launch" in shown["experiments"]
    assert "7100012" in shown["rules"] and "ALPINE PICNIC SET" in shown["rules"]
    for leak in ("15.0 %", "Checkout", "boreal-winter", "8200004", "8200006", "BOREAL", SHOP_B):
        assert leak not in page, leak
    b = fragment(world, "overview", bearer(admin_token(SHOP_B)), f"?shop={SHOP_A}")
    assert "15.0 %" in b.get_data(as_text=True)
    assert "Cart" not in b.get_data(as_text=True).split("Evidence per placement")[1]


def test_an_admin_key_of_c_sees_cs_empty_dashboard_only(world: World) -> None:
    seed_a_and_b(world)
    for name in FRAGMENTS:
        text = fragment(world, name, {"X-Cartwise-Key": world.admin_key_c}).get_data(as_text=True)
        for leak in ("alpine-launch", "boreal-winter", "ALPINE", "BOREAL", "5.0 %", "15.0 %"):
            assert leak not in text, (name, leak)


def test_preview_answers_from_the_tokens_shop_only(world: World) -> None:
    response = world.client.post(
        "/app/preview",
        json={"cart": ["8200001"]},
        headers=bearer(admin_token(SHOP_A)),
    )
    assert response.status_code == 200
    ids = [item["product_id"] for item in response.get_json()["items"]]
    assert ids and all(pid.startswith("71") for pid in ids)


def test_a_second_shops_admin_key_reaches_its_own_shop(world: World) -> None:
    secret = world.settings.effective_secret_key()
    _, key = create_api_key(world.store, secret, SHOP_B, label="b admin", scope="admin")
    seed_a_and_b(world)
    text = fragment(world, "experiments", {"X-Cartwise-Key": key}).get_data(as_text=True)
    assert "boreal-winter" in text and "alpine-launch" not in text


def test_tokens_signed_for_another_app_never_verify(world: World) -> None:
    assert CLIENT_SECRET != OTHER_SECRET
    response = fragment(world, "overview", bearer(admin_token(SHOP_C, secret=OTHER_SECRET)))
    assert_html_refusal(response, 401)


def test_a_shop_that_uninstalled_the_app_is_refused_everywhere(world: World) -> None:
    assert world.store.installs.deactivate(SHOP_C)
    token = admin_token(SHOP_C)
    assert_html_refusal(home(world, shop=SHOP_C, id_token=token), 401)
    for name in FRAGMENTS:
        assert_html_refusal(fragment(world, name, bearer(token)), 401)
    assert world.client.post("/app/preview", json={}, headers=bearer(token)).status_code == 401
