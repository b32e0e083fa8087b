"""`HybridRecommender` answers: what a cart, a shopper and the catalog's availability get back,
and the human reason each recommendation carries."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta, timezone, tzinfo

import pytest

from cartwise.recommender import HybridRecommender, Interaction, Item
from cartwise.recommender.params import HybridParams

from .conftest import CATALOG, TITLES, answer, gift_shop_history, ids, order, orders

POPULAR = "Popular this week"


def _similar_reasons(title: str) -> set[str]:
    """The reasons a content-only link may carry; "New, ..." marks a never-bought product."""
    return {f"Similar to {title}", f"New, similar to {title}"}


@pytest.mark.parametrize(
    ("cart", "expected"),
    [
        pytest.param(["cakestand"], "teacup", id="cakestand-teacup"),
        pytest.param(["teacup"], "cakestand", id="teacup-cakestand"),
        pytest.param(["bunting"], "napkins", id="bunting-napkins"),
        pytest.param(["napkins"], "bunting", id="napkins-bunting"),
        pytest.param(["lantern"], "heart", id="lantern-heart"),
        pytest.param(["heart"], "lantern", id="heart-lantern"),
    ],
)
def test_the_product_bought_with_the_cart_comes_first(
    model: HybridRecommender, cart: list[str], expected: str
) -> None:
    top = model.recommend(cart, k=5)[0]

    assert top.product_id == expected
    assert top.reason == f"Often bought with {TITLES[cart[0]]}"


@pytest.mark.parametrize(
    ("cart", "customer", "product", "reason"),
    [
        pytest.param(
            ["cakestand"],
            None,
            "teacup",
            "Often bought with Regency Cakestand 3 Tier",
            id="co-occurrence-names-the-cart-item",
        ),
        pytest.param(
            [],
            "alice",
            "teacup",
            "Goes with Regency Cakestand 3 Tier you bought before",
            id="history-co-occurrence-names-the-past-product",
        ),
        pytest.param(
            [],
            "bob",
            "heart",
            "Goes with White Metal Lantern you bought before",
            id="history-co-occurrence-second-shopper",
        ),
        pytest.param([], "alice", "cakestand", "You bought this before", id="repeat-purchase"),
        pytest.param([], "bob", "doormat", "You bought this before", id="repeat-no-partner"),
        pytest.param(
            ["bunting"],
            "alice",
            "napkins",
            "Often bought with Party Bunting",
            id="cart-and-history-cart-pair",
        ),
        pytest.param(
            ["bunting"],
            "alice",
            "teacup",
            "Goes with Regency Cakestand 3 Tier you bought before",
            id="cart-and-history-history-pair",
        ),
        pytest.param([], None, "gnome", POPULAR, id="trending"),
    ],
)
def test_each_recommendation_says_why(
    model: HybridRecommender,
    cart: list[str],
    customer: str | None,
    product: str,
    reason: str,
) -> None:
    assert (product, reason) in answer(model.recommend(cart, customer, k=5))


def test_a_never_bought_product_is_carried_by_its_title(model: HybridRecommender) -> None:
    """The jam pot covers were never ordered; they share "jam" and "printed" with the set."""
    top = model.recommend(["jam-set"], k=5)[0]

    assert top.product_id == "jam-covers"
    assert top.reason in _similar_reasons("Jam Making Set Printed")


@pytest.mark.parametrize(
    "customer",
    [
        pytest.param(None, id="guest"),
        pytest.param("", id="empty-customer-id"),
        pytest.param("stranger", id="unknown-customer"),
    ],
)
def test_an_empty_cart_without_a_known_shopper_gets_trending_products(
    model: HybridRecommender, customer: str | None
) -> None:
    got = model.recommend([], customer, k=4)

    assert got == model.trending(k=4)
    assert got[0].product_id == "gnome"
    assert {r.reason for r in got} == {POPULAR}


@pytest.mark.parametrize(
    ("cart", "same_as"),
    [
        pytest.param(["ghost"], [], id="only-unknown"),
        pytest.param(["cakestand", "ghost"], ["cakestand"], id="unknown-after-known"),
        pytest.param(["ghost", "bunting", "phantom"], ["bunting"], id="unknown-around-known"),
        pytest.param(["cakestand", "cakestand"], ["cakestand"], id="repeated-cart-id"),
    ],
)
def test_unknown_cart_ids_are_ignored(
    model: HybridRecommender, cart: list[str], same_as: list[str]
) -> None:
    assert model.recommend(cart, k=6) == model.recommend(same_as, k=6)


@pytest.mark.parametrize(
    ("customer", "personal"),
    [
        pytest.param("alice", {"cakestand", "teacup"}, id="alice-cake-stand"),
        pytest.param("bob", {"lantern", "heart", "doormat"}, id="bob-lantern-doormat"),
    ],
)
def test_a_known_shopper_with_an_empty_cart_gets_their_own_products_first(
    model: HybridRecommender, customer: str, personal: set[str]
) -> None:
    """Their past products and what goes with them outrank the shop's unrelated best seller."""
    got = ids(model.recommend([], customer, k=len(CATALOG)))

    assert "gnome" in got
    assert set(got[: len(personal)]) == personal
    assert got != ids(model.trending(k=len(CATALOG)))


@pytest.mark.parametrize(
    ("cart", "customer"),
    [
        pytest.param(["cakestand"], None, id="one-item"),
        pytest.param(["cakestand", "teacup"], None, id="a-pair"),
        pytest.param(["cakestand"], "alice", id="item-the-shopper-bought-before"),
        pytest.param(["lantern", "doormat"], "bob", id="two-items-the-shopper-bought"),
        pytest.param(["gnome", "jam-set", "bunting"], None, id="three-unrelated"),
    ],
)
def test_cart_items_are_never_recommended(
    model: HybridRecommender, cart: list[str], customer: str | None
) -> None:
    got = ids(model.recommend(cart, customer, k=len(CATALOG)))

    assert got
    assert not set(got) & set(cart)


def _unavailable_by_flag(model: HybridRecommender) -> HybridRecommender:
    model.set_availability({"teacup": False, "gnome": False, "jam-covers": False})
    return model


def _unavailable_in_catalog(model: HybridRecommender) -> HybridRecommender:
    out = {"teacup", "gnome", "jam-covers"}
    catalog = [replace(item, available=item.product_id not in out) for item in CATALOG]
    return HybridRecommender().fit(gift_shop_history(), catalog)


QUERIES: list[tuple[list[str], str | None]] = [
    (["cakestand"], None),
    (["jam-set"], None),
    ([], None),
    ([], "alice"),
    (["bunting"], "alice"),
    ([], "bob"),
    (["ghost"], None),
]


@pytest.mark.parametrize(
    "make_unavailable",
    [
        pytest.param(_unavailable_by_flag, id="set_availability"),
        pytest.param(_unavailable_in_catalog, id="catalog-flag-at-fit"),
    ],
)
def test_unavailable_products_are_never_returned(
    model: HybridRecommender, make_unavailable: Callable[[HybridRecommender], HybridRecommender]
) -> None:
    model = make_unavailable(model)
    out = {"teacup", "gnome", "jam-covers"}

    for cart, customer in QUERIES:
        assert not out & set(ids(model.recommend(cart, customer, k=len(CATALOG))))
    assert not out & set(ids(model.trending(k=len(CATALOG))))
    for product in ("cakestand", "jam-set", "teacup"):
        assert not out & set(ids(model.similar_items(product, k=len(CATALOG))))


def test_a_product_back_in_stock_is_recommended_again(model: HybridRecommender) -> None:
    model.set_availability({"teacup": False})
    assert "teacup" not in ids(model.recommend(["cakestand"], k=len(CATALOG)))

    model.set_availability({"teacup": True})
    assert ids(model.recommend(["cakestand"], k=1)) == ["teacup"]


def test_availability_of_unknown_products_is_ignored(model: HybridRecommender) -> None:
    before = model.recommend(["cakestand"], k=5)

    model.set_availability({"ghost": False, "phantom": True})

    assert model.n_items == len(CATALOG)
    assert not model.knows("ghost")
    assert model.recommend(["cakestand"], k=5) == before


@pytest.mark.parametrize(
    ("cart", "customer"),
    [
        pytest.param(["cakestand"], None, id="cart"),
        pytest.param([], None, id="trending"),
        pytest.param([], "bob", id="history"),
        pytest.param(["bunting", "jam-set"], "alice", id="cart-and-history"),
    ],
)
@pytest.mark.parametrize("k", [1, 3, 7, 100])
def test_answers_are_at_most_k_distinct_products_best_first(
    model: HybridRecommender, cart: list[str], customer: str | None, k: int
) -> None:
    got = model.recommend(cart, customer, k=k)
    scores = [r.score for r in got]

    assert 0 < len(got) <= k
    if k <= 3:
        assert len(got) == k
    assert len(set(ids(got))) == len(got)
    assert scores == sorted(scores, reverse=True)
    assert all(r.reason for r in got)


@pytest.mark.parametrize("k", [pytest.param(0, id="zero"), pytest.param(-3, id="negative")])
def test_a_non_positive_k_gets_nothing(model: HybridRecommender, k: int) -> None:
    assert model.recommend(["cakestand"], k=k) == []
    assert model.recommend([], "alice", k=k) == []
    assert model.trending(k=k) == []
    assert model.similar_items("cakestand", k=k) == []


def test_answers_are_deterministic(model: HybridRecommender) -> None:
    twin = HybridRecommender().fit(gift_shop_history(), CATALOG)

    for cart, customer in QUERIES:
        first = model.recommend(cart, customer, k=8)
        assert model.recommend(cart, customer, k=8) == first
        assert twin.recommend(cart, customer, k=8) == first
    assert twin.trending(k=8) == model.trending(k=8)
    assert twin.similar_items("cakestand") == model.similar_items("cakestand")


def test_a_model_never_fitted_answers_nothing() -> None:
    model = HybridRecommender()

    assert not model.is_fitted
    assert (model.n_items, model.n_interactions, model.n_customers) == (0, 0, 0)
    assert not model.knows("cakestand")
    assert model.recommend(["cakestand"]) == []
    assert model.recommend([], "alice") == []
    assert model.trending() == []
    assert model.similar_items("cakestand") == []


def test_a_catalog_without_orders_is_answered_from_content() -> None:
    model = HybridRecommender().fit([], CATALOG)

    assert model.is_fitted
    assert (model.n_items, model.n_interactions, model.n_customers) == (len(CATALOG), 0, 0)
    top = model.recommend(["jam-set"], k=3)[0]
    assert top.product_id == "jam-covers"
    assert top.reason in _similar_reasons("Jam Making Set Printed")
    assert ids(model.similar_items("cakestand", k=1)) == ["teacup"]
    assert all(model.knows(pid) for pid in ids(model.recommend([], k=5)))


def test_products_named_only_in_orders_join_the_catalog() -> None:
    """A product missing from the catalog is still learned; its reason falls back to its id."""
    history = gift_shop_history() + orders("mug", ["cakestand", "ghost-mug"], 8)

    model = HybridRecommender().fit(history, CATALOG)

    assert model.knows("ghost-mug")
    assert model.n_items == len(CATALOG) + 1
    assert ("cakestand", "Often bought with ghost-mug") in answer(model.recommend(["ghost-mug"]))


@pytest.mark.parametrize(
    ("recent", "old"),
    [
        pytest.param("cake-tins", "teacup", id="tins-recent"),
        pytest.param("teacup", "cake-tins", id="teacup-recent"),
    ],
)
def test_recent_co_purchases_outweigh_old_ones(recent: str, old: str) -> None:
    """The same number of orders pair the cake stand with each partner; only their age differs."""
    history = [
        *orders("old", ["cakestand", old], 3, days_ago=400),
        *orders("new", ["cakestand", recent], 3, days_ago=1),
        *orders("gnome", ["gnome"], 2),
    ]
    model = HybridRecommender().fit(history, CATALOG)

    assert ids(model.recommend(["cakestand"], k=2)) == [recent, old]
    assert ids(model.similar_items("cakestand", k=2)) == [recent, old]


def test_trending_ranks_by_recent_orders() -> None:
    """The doormat sold most, but months ago: one heart this week outranks it."""
    history = [
        *orders("gnome", ["gnome"], 5),
        *orders("bunting", ["bunting"], 3),
        *orders("heart", ["heart"], 1),
        *orders("doormat", ["doormat"], 8, days_ago=90),
    ]
    model = HybridRecommender().fit(history, CATALOG)

    got = model.trending(k=4)

    assert ids(got) == ["gnome", "bunting", "heart", "doormat"]
    assert {r.reason for r in got} == {POPULAR}


def _in_zone(lines: list[Interaction], zone: tzinfo | None) -> list[Interaction]:
    """The same instants, written naive (zone None: UTC wall time) or in another zone."""
    return [
        replace(
            i,
            created_at=i.created_at.replace(tzinfo=None)
            if zone is None
            else i.created_at.astimezone(zone),
        )
        for i in lines
    ]


@pytest.fixture
def local_time_is_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time is UTC+05:30, so reading a naive time as local would show."""
    monkeypatch.setenv("TZ", "LOC-05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_is_not_utc")
@pytest.mark.parametrize(
    "zone",
    [
        pytest.param(None, id="naive-is-utc"),
        pytest.param(timezone(timedelta(hours=2)), id="utc-plus-2"),
        pytest.param(timezone(timedelta(hours=-7)), id="utc-minus-7"),
    ],
)
def test_the_same_instants_give_the_same_answers(zone: tzinfo | None) -> None:
    """The fit and the update are written differently, so a misread offset would move one
    against the other."""
    history = gift_shop_history()
    late = order("late", ["lantern", "napkins"], customer="carol", days_ago=-2)
    utc = HybridRecommender().fit(history, CATALOG)
    utc.update(late)
    fit_in_zone = HybridRecommender().fit(_in_zone(history, zone), CATALOG)
    fit_in_zone.update(late)
    update_in_zone = HybridRecommender().fit(history, CATALOG)
    update_in_zone.update(_in_zone(late, zone))

    for cart, customer in [*QUERIES, (["lantern"], None), ([], "carol")]:
        want = utc.recommend(cart, customer, k=8)
        assert fit_in_zone.recommend(cart, customer, k=8) == want
        assert update_in_zone.recommend(cart, customer, k=8) == want
    assert fit_in_zone.trending(k=8) == utc.trending(k=8)
    assert update_in_zone.trending(k=8) == utc.trending(k=8)


@pytest.mark.parametrize(
    ("product", "first", "reasons"),
    [
        pytest.param(
            "cakestand", "teacup", {"Often bought with Regency Cakestand 3 Tier"}, id="bought"
        ),
        pytest.param(
            "jam-set", "jam-covers", {"Similar to Jam Making Set Printed"}, id="content-only"
        ),
    ],
)
def test_similar_items_names_the_product(
    model: HybridRecommender, product: str, first: str, reasons: set[str]
) -> None:
    got = model.similar_items(product, k=5)

    assert got[0].product_id == first
    assert got[0].reason in reasons
    assert product not in ids(got)
    assert len(set(ids(got))) == len(got) <= 5


def test_similar_items_of_an_unknown_product_is_empty(model: HybridRecommender) -> None:
    assert model.similar_items("ghost") == []


def _with_a_kite() -> HybridRecommender:
    """The kite was never ordered and shares no word, category or price band with anything."""
    return HybridRecommender().fit(gift_shop_history(), [*CATALOG, Item("kite", "Dragon Kite")])


def test_a_product_linked_to_nothing_still_gets_an_answer() -> None:
    model = _with_a_kite()

    got = model.recommend(["kite"], k=3)

    assert len(got) == 3
    assert "kite" not in ids(got)


def test_similar_items_of_a_product_linked_to_nothing_is_empty() -> None:
    assert _with_a_kite().similar_items("kite") == []


def test_fit_rejects_records_of_the_wrong_type() -> None:
    with pytest.raises(TypeError):
        HybridRecommender().fit([], [{"product_id": "cakestand"}])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        HybridRecommender().fit([("o1", None, "cakestand")], CATALOG)  # type: ignore[list-item]


@pytest.mark.parametrize(
    "history_weight",
    [pytest.param(1.0, id="history-as-heavy-as-cart"), pytest.param(2.0, id="history-heavier")],
)
def test_a_cart_item_is_named_as_the_cart_even_when_bought_before(history_weight: float) -> None:
    """Alice's only past product is the cake stand, and it is in her cart now."""
    params = HybridParams(history_query_weight=history_weight)
    model = HybridRecommender(params).fit(gift_shop_history(), CATALOG)

    top = model.recommend(["cakestand"], "alice", k=3)[0]

    assert top.product_id == "teacup"
    assert top.reason == "Often bought with Regency Cakestand 3 Tier"
