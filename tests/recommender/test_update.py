"""`HybridRecommender.update`: a new order or cart changes the answers at once, without a refit,
and what it taught the model survives `to_bytes` / `from_bytes`."""

from __future__ import annotations

import pytest

from cartwise.recommender import HybridRecommender

from .conftest import CATALOG, Kind, answer, gift_shop_history, ids, order, orders


@pytest.mark.parametrize(
    "kind", [pytest.param("order", id="order"), pytest.param("cart", id="cart")]
)
def test_a_new_pair_shows_up_at_once(model: HybridRecommender, kind: Kind) -> None:
    """Bob's doormat and the gnome were each only ever bought alone."""
    reason = "Often bought with Red Retrospot Doormat"
    assert ("gnome", reason) not in answer(model.recommend(["doormat"], k=len(CATALOG)))

    model.update(order("u1", ["doormat", "gnome"], days_ago=-1, kind=kind))

    assert model.recommend(["doormat"], k=3)[0].product_id == "gnome"
    assert ("gnome", reason) in answer(model.recommend(["doormat"], k=3))
    assert ("doormat", "Often bought with Garden Gnome") in answer(model.recommend(["gnome"], k=3))


@pytest.mark.parametrize("count", [pytest.param(1, id="one-order"), pytest.param(3, id="three")])
def test_a_new_pair_shows_up_beside_fitted_pairs(model: HybridRecommender, count: int) -> None:
    """The lantern already goes with the heart (four fitted orders); now with the napkins too."""
    reason = "Often bought with White Metal Lantern"
    assert ("napkins", reason) not in answer(model.recommend(["lantern"], k=len(CATALOG)))

    model.update(orders("u", ["lantern", "napkins"], count, days_ago=-count))

    assert ("napkins", reason) in answer(model.recommend(["lantern"], k=3))


def test_an_unknown_product_joins_the_model(model: HybridRecommender) -> None:
    model.update(order("u1", ["bunting", "party-hats"], days_ago=-1))

    assert model.knows("party-hats")
    assert model.n_items == len(CATALOG) + 1
    assert ("party-hats", "Often bought with Party Bunting") in answer(
        model.recommend(["bunting"], k=3)
    )
    assert model.recommend(["party-hats"], k=1)[0].product_id == "bunting"


def test_an_order_does_not_bring_an_unavailable_product_back(model: HybridRecommender) -> None:
    model.set_availability({"teacup": False})

    model.update(orders("u", ["cakestand", "teacup"], 3, days_ago=-3))

    assert "teacup" not in ids(model.recommend(["cakestand"], k=len(CATALOG)))
    assert "teacup" not in ids(model.trending(k=len(CATALOG)))
    assert "teacup" not in ids(model.similar_items("cakestand", k=len(CATALOG)))


def test_a_product_first_seen_in_an_update_can_be_marked_unavailable(
    model: HybridRecommender,
) -> None:
    model.update(order("u1", ["bunting", "party-hats"], days_ago=-1))

    model.set_availability({"party-hats": False})

    assert "party-hats" not in ids(model.recommend(["bunting"], k=len(CATALOG) + 1))
    assert "party-hats" not in ids(model.trending(k=len(CATALOG) + 1))


def test_a_new_customer_gets_personal_answers(model: HybridRecommender) -> None:
    assert model.recommend([], "erin", k=5) == model.trending(k=5)

    model.update(order("u1", ["doormat"], customer="erin", days_ago=-1))

    assert model.n_customers == 3
    got = model.recommend([], "erin", k=5)
    assert got[0].product_id == "doormat"
    assert got[0].reason == "You bought this before"
    assert got != model.trending(k=5)


def test_a_known_customers_history_grows(model: HybridRecommender) -> None:
    model.update(order("u1", ["bunting"], customer="alice", days_ago=-1))

    assert model.n_customers == 2
    assert ("napkins", "Goes with Party Bunting you bought before") in answer(
        model.recommend([], "alice", k=5)
    )


def test_an_update_counts_its_lines(model: HybridRecommender) -> None:
    before = model.n_interactions

    model.update(
        [
            *order("u1", ["bunting", "napkins", "gnome"], days_ago=-1),
            *order("u2", ["heart"], customer="bob", days_ago=-1),
        ]
    )

    assert model.n_interactions == before + 4


def test_an_empty_update_changes_nothing(model: HybridRecommender) -> None:
    before = model.recommend(["cakestand"], "alice", k=5)

    model.update([])

    assert model.recommend(["cakestand"], "alice", k=5) == before
    assert model.n_interactions == len(gift_shop_history())


def test_updates_teach_a_model_never_fitted() -> None:
    model = HybridRecommender()

    model.update(orders("u", ["cakestand", "teacup"], 2, customer="alice"))

    assert model.is_fitted
    assert (model.n_items, model.n_customers, model.n_interactions) == (2, 1, 4)
    assert ("teacup", "Often bought with cakestand") in answer(model.recommend(["cakestand"]))
    assert set(ids(model.recommend([], "alice"))) == {"cakestand", "teacup"}


def test_update_rejects_records_of_the_wrong_type(model: HybridRecommender) -> None:
    with pytest.raises(TypeError):
        model.update([("u1", None, "cakestand")])  # type: ignore[list-item]


def test_what_an_update_taught_survives_a_round_trip(model: HybridRecommender) -> None:
    model.update(
        [
            *order("u1", ["doormat", "gnome"], days_ago=-1),
            *order("u2", ["bunting", "party-hats"], customer="erin", days_ago=-1),
        ]
    )

    loaded = HybridRecommender.from_bytes(model.to_bytes())

    assert loaded.knows("party-hats")
    assert (loaded.n_items, loaded.n_customers) == (len(CATALOG) + 1, 3)
    assert loaded.n_interactions == model.n_interactions
    assert ("gnome", "Often bought with Red Retrospot Doormat") in answer(
        loaded.recommend(["doormat"], k=3)
    )
    assert ("party-hats", "Often bought with Party Bunting") in answer(
        loaded.recommend(["bunting"], k=3)
    )
    assert set(ids(loaded.recommend([], "erin", k=3))) == {"bunting", "party-hats", "napkins"}


def test_a_round_trip_after_updates_gives_the_same_answers(model: HybridRecommender) -> None:
    """The lantern is bought six more times with the napkins, once with the bunting."""
    model.update(
        [
            *orders("u", ["lantern", "napkins"], 6, days_ago=-6),
            *order("v", ["lantern", "bunting"], days_ago=-1),
        ]
    )
    before = model.recommend(["lantern"], k=5)

    loaded = HybridRecommender.from_bytes(model.to_bytes())
    after = loaded.recommend(["lantern"], k=5)

    assert answer(after) == answer(before)
    assert [r.score for r in after] == pytest.approx([r.score for r in before], rel=1e-5)


OLD_PAIRS = [
    *orders("old", ["cakestand", "teacup"], 2, days_ago=200),
    *orders("gnome", ["gnome"], 2, days_ago=10),
]
"""The cake stand went with the teacup, twice, about 200 days ago."""
RECENT_PAIRS = orders("new", ["cakestand", "cake-tins"], 5)
"""This week it went with the cake tins, five times."""


def test_recent_pairs_outweigh_older_ones_in_a_refit() -> None:
    refit = HybridRecommender().fit(OLD_PAIRS + RECENT_PAIRS, CATALOG)

    assert refit.recommend(["cakestand"], k=1)[0].product_id == "cake-tins"


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "the regression share of the collaborative score is computed by fit alone, so a pair "
        "learned by update stays below any fitted pair: five orders this week lose to two "
        "orders 200 days old, which a refit on the same orders ranks the other way"
    ),
)
def test_recent_pairs_outweigh_older_ones_after_an_update() -> None:
    model = HybridRecommender().fit(OLD_PAIRS, CATALOG)

    model.update(RECENT_PAIRS)

    assert model.recommend(["cakestand"], k=1)[0].product_id == "cake-tins"
