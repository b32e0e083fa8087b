"""Tenant isolation: with any credential of shop A, requests that name shop B's products,
customers, domain or API keys never see or change anything of B.

Hypothesis builds the requests: carts mixing A's and B's product ids, B's customers in the
body, the token subject or the signed proxy query, `shop=B` in the query string and B's domain
in headers such as `X-Shopify-Shop-Domain`. The shop must always come from the credential."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from cartwise.api.auth import reset_bad_key_counts
from cartwise.domain import ShopRules
from cartwise.installs import authenticate_api_key
from cartwise.settings import RateLimitSettings

from .shopify import SHOP_A, SHOP_B, admin_token, checkout_token, proxy_query
from .test_auth import CATALOG_A, CATALOG_B, CUSTOMER_A, CUSTOMERS_B, World, build_world

A_IDS = tuple(p.product_id for p in CATALOG_A)
B_IDS = tuple(p.product_id for p in CATALOG_B)
B_SECRET_LABEL = "bravo-private-label"
B_RULES = ShopRules(
    defaults=("8200007", "8200008"),
    pinned=("8200004",),
    blocked=frozenset({"8200005"}),
    min_price=5.0,
    max_per_vendor=2,
)
B_WORDS = (
    *(p.title for p in CATALOG_B),
    *{p.vendor for p in CATALOG_B},
    B_SECRET_LABEL,
)
"""What only B knows: its titles, vendors and key labels never appear in A's answers."""

EXAMPLES = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- generated request parts ---------------------------------------------------------------------

b_shop_names = st.one_of(
    st.just(SHOP_B),
    st.sampled_from(
        [
            SHOP_B.upper(),
            "shop-b",
            f"https://{SHOP_B}",
            f"https://{SHOP_B}/admin",
            f" {SHOP_B}",
        ]
    ),
)
product_ids = st.sampled_from([*A_IDS, *B_IDS, *(f"gid://shopify/Product/{pid}" for pid in B_IDS)])
b_customer_ids = st.sampled_from(
    [*CUSTOMERS_B, *(f"gid://shopify/Customer/{c}" for c in CUSTOMERS_B), CUSTOMER_A]
)
# Each key is present in about half the examples, so every one of them is tried often.
spoofed_headers = st.fixed_dictionaries(
    {},
    optional={
        name: b_shop_names
        for name in (
            "X-Shopify-Shop-Domain",
            "Shopify-Shop-Domain",
            "X-Shop-Domain",
            "X-Cartwise-Shop",
            "Shop",
            "Origin",
            "Referer",
            "X-Forwarded-Host",
        )
    },
)
spoofed_query = st.fixed_dictionaries(
    {},
    optional={
        "shop": b_shop_names,
        "shop_domain": b_shop_names,
        "dest": b_shop_names,
        "customer_id": b_customer_ids,
        "logged_in_customer_id": b_customer_ids,
    },
)


@st.composite
def recommendation_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cart": [{"product_id": pid} for pid in draw(st.lists(product_ids, max_size=6))],
        "k": draw(st.integers(min_value=1, max_value=20)),
    }
    if draw(st.booleans()):
        body["customer_id"] = draw(b_customer_ids)
    if draw(st.booleans()):
        body["session_id"] = draw(st.sampled_from(["s-1", "s-2"]))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        body["shop"] = draw(b_shop_names)  # an unknown field: refused, never obeyed
    return body


@dataclass(frozen=True)
class Probe:
    """One generated request, and what it said about B (which its answer may echo)."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def send(self, world: World) -> TestResponse:
        url = f"{self.path}?{self.query}" if self.query else self.path
        return world.client.open(url, method=self.method, headers=self.headers, json=self.body)

    def mentions(self) -> str:
        return f"{self.path} {self.query} {self.headers} {self.body}"


def _query(extra: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(extra)


# --- the checks -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Hypothesis sends A's calls by the hundred a minute; the limits have their own tests.
    built = build_world(
        tmp_path_factory.mktemp("isolation") / "cartwise.db",
        rate_limits=RateLimitSettings(enabled=False),
    )
    built.store.rules.set(SHOP_B, B_RULES)
    built.store.api_keys.add(
        SHOP_B, key_hash="0" * 64, prefix="cw_bravo00", label=B_SECRET_LABEL, scope="storefront"
    )
    reset_bad_key_counts()
    yield built
    built.store.close()


@pytest.fixture(autouse=True)
def _forget_bad_keys() -> Iterator[None]:
    reset_bad_key_counts()
    yield
    reset_bad_key_counts()


@dataclass
class Tally:
    statuses: list[int] = field(default_factory=list)

    def ok(self) -> int:
        return sum(1 for s in self.statuses if s == 200)


def assert_nothing_of_b(world: World, probe: Probe, response: TestResponse, tally: Tally) -> None:
    tally.statuses.append(response.status_code)
    text = response.get_data(as_text=True)
    assert response.status_code < 500, text
    for word in B_WORDS:
        assert word not in text, (probe, text)
    # B's ids may come back only as an echo: of this request, or of ids A itself put in its
    # own rules (A may name any id there; they never match a product of A).
    echoed = f"{probe.mentions()} {world.store.rules.get(SHOP_A)}"
    for pid in B_IDS:
        if pid in text:
            assert pid in echoed, (probe, text)
    if response.status_code == 200 and probe.path.endswith("/recommendations"):
        returned = [item["product_id"] for item in response.get_json()["items"]]
        assert set(returned) <= set(A_IDS), (probe, returned)
    assert world.store.rules.get(SHOP_B) == B_RULES
    live_b = [r for r in world.store.api_keys.list(SHOP_B) if r.revoked_at is None]
    assert len(live_b) == 3


def _run(
    world: World, probes: st.SearchStrategy[Probe], check: Callable[[Probe, TestResponse], None]
) -> Tally:
    tally = Tally()

    @EXAMPLES
    @given(probe=probes)
    def run(probe: Probe) -> None:
        response = probe.send(world)
        assert_nothing_of_b(world, probe, response, tally)
        check(probe, response)

    run()
    return tally


def _no_extra_check(probe: Probe, response: TestResponse) -> None:
    return None


def test_checkout_tokens_of_a_see_only_a(world: World) -> None:
    @st.composite
    def probes(draw: st.DrawFn) -> Probe:
        claims: dict[str, Any] = {}
        if draw(st.booleans()):
            claims["sub"] = f"gid://shopify/Customer/{draw(st.sampled_from(CUSTOMERS_B))}"
        token = checkout_token(SHOP_A, **claims)
        headers = {**draw(spoofed_headers), "Authorization": f"Bearer {token}"}
        return Probe(
            "POST",
            "/v1/recommendations",
            query=_query(draw(spoofed_query)),
            headers=headers,
            body=draw(recommendation_bodies()),
        )

    tally = _run(world, probes(), _no_extra_check)
    assert tally.ok() >= 10


def test_proxy_signatures_of_a_see_only_a(world: World) -> None:
    @st.composite
    def probes(draw: st.DrawFn) -> Probe:
        cart = draw(st.lists(product_ids, max_size=6))
        params: dict[str, str | list[str]] = {
            "shop": SHOP_A,
            "logged_in_customer_id": draw(st.sampled_from(["", *CUSTOMERS_B])),
            "path_prefix": "/apps/cartwise",
            "timestamp": str(int(time.time())),
            "cart": ",".join(cart),
        }
        # Signed extras are genuine (Shopify passes the storefront's query through).
        for name, value in draw(spoofed_query).items():
            if name not in params:
                params[name] = value
        query = proxy_query(params)
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            query += f"&shop={SHOP_B}"  # unsigned, and a second shop: refused
        return Probe("GET", "/proxy/recommendations", query=query, headers=draw(spoofed_headers))

    tally = _run(world, probes(), _no_extra_check)
    assert tally.ok() >= 10


def test_storefront_keys_of_a_see_only_a(world: World) -> None:
    @st.composite
    def probes(draw: st.DrawFn) -> Probe:
        headers = {**draw(spoofed_headers), "X-Cartwise-Key": world.key_a}
        return Probe(
            "POST",
            "/v1/recommendations",
            query=_query(draw(spoofed_query)),
            headers=headers,
            body=draw(recommendation_bodies()),
        )

    tally = _run(world, probes(), _no_extra_check)
    assert tally.ok() >= 10


def _admin_probes(credential: Callable[[], dict[str, str]], world: World) -> Any:
    b_key_ids = [r.id for r in world.store.api_keys.list(SHOP_B)]
    a_key_ids = {r.id for r in world.store.api_keys.list(SHOP_A)}
    foreign_ids = st.sampled_from([*b_key_ids, 10_000, 2**31 - 1])
    rule_ids = st.lists(product_ids, max_size=4)

    @st.composite
    def probes(draw: st.DrawFn) -> Probe:
        headers = {**draw(spoofed_headers), **credential()}
        query = _query(draw(spoofed_query))
        op = draw(
            st.sampled_from(
                ["recs", "get_rules", "put_rules", "keys", "new_key", "revoke", "exports"]
            )
        )
        if op == "recs":
            return Probe(
                "POST", "/v1/recommendations", query, headers, draw(recommendation_bodies())
            )
        if op == "get_rules":
            return Probe("GET", "/v1/admin/rules", query, headers)
        if op == "put_rules":
            rules: dict[str, Any] = {
                "pinned": draw(rule_ids),
                "blocked": draw(rule_ids),
                "defaults": draw(rule_ids),
            }
            if draw(st.integers(min_value=0, max_value=5)) == 0:
                rules["shop"] = draw(b_shop_names)
            return Probe("PUT", "/v1/admin/rules", query, headers, rules)
        if op == "keys":
            return Probe("GET", "/v1/admin/api-keys", query, headers)
        if op == "new_key":
            body = {"label": "made by A", "scope": draw(st.sampled_from(["storefront", "admin"]))}
            return Probe("POST", "/v1/admin/api-keys", query, headers, body)
        if op == "revoke":
            key_id = draw(foreign_ids)
            assert key_id not in a_key_ids
            return Probe("DELETE", f"/v1/admin/api-keys/{key_id}", query, headers)
        return Probe("GET", "/v1/admin/data-exports", query, headers)

    return probes()


def _admin_check(world: World) -> Callable[[Probe, TestResponse], None]:
    def check(probe: Probe, response: TestResponse) -> None:
        if probe.method == "DELETE":
            assert response.status_code == 404, response.get_json()
        elif probe.path == "/v1/admin/api-keys" and response.status_code in (200, 201):
            body = response.get_json()
            if probe.method == "POST":
                record = authenticate_api_key(
                    world.store, world.settings.effective_secret_key(), body["key"]
                )
                assert record is not None and record.shop == SHOP_A
            else:
                a_ids = {r.id for r in world.store.api_keys.list(SHOP_A)}
                assert {k["id"] for k in body["keys"]} == a_ids
        elif probe.path == "/v1/admin/data-exports" and response.status_code == 200:
            assert all(e["document"].get("shop") == SHOP_A for e in response.get_json()["exports"])

    return check


def test_admin_keys_of_a_reach_only_a(world: World) -> None:
    def credential() -> dict[str, str]:
        return {"X-Cartwise-Key": world.admin_key_a}

    tally = _run(world, _admin_probes(credential, world), _admin_check(world))
    assert tally.ok() >= 10


def test_admin_session_tokens_of_a_reach_only_a(world: World) -> None:
    def credential() -> dict[str, str]:
        return {"Authorization": f"Bearer {admin_token(SHOP_A)}"}

    tally = _run(world, _admin_probes(credential, world), _admin_check(world))
    assert tally.ok() >= 10


def test_a_rule_change_by_a_leaves_b_alone(world: World) -> None:
    """The deterministic core of the property above, readable on its own."""
    response = world.client.put(
        f"/v1/admin/rules?shop={SHOP_B}",
        json={"pinned": ["8200001"], "blocked": list(A_IDS[:2]), "defaults": []},
        headers={"X-Cartwise-Key": world.admin_key_a, "X-Shopify-Shop-Domain": SHOP_B},
    )
    assert response.status_code == 200, response.get_json()
    assert world.store.rules.get(SHOP_B) == B_RULES
    assert world.store.rules.get(SHOP_A).pinned == ("8200001",)


def test_a_cannot_revoke_a_key_of_b(world: World) -> None:
    key_id = world.key_id(SHOP_B, world.key_b)
    for headers in (
        {"X-Cartwise-Key": world.admin_key_a},
        {"Authorization": f"Bearer {admin_token(SHOP_A)}"},
    ):
        response = world.client.delete(
            f"/v1/admin/api-keys/{key_id}?shop={SHOP_B}",
            headers={**headers, "X-Shopify-Shop-Domain": SHOP_B},
        )
        assert response.status_code == 404, response.get_json()
        assert response.get_json()["error"]["code"] == "not_found"
    answer = world.client.post(
        "/v1/recommendations", json={"cart": []}, headers={"X-Cartwise-Key": world.key_b}
    )
    assert answer.status_code == 200
    assert {i["product_id"] for i in answer.get_json()["items"]} <= set(B_IDS)
