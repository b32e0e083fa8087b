"""`HybridRecommender.history`: the shopper's past purchases as the model weighs them, which is
what the shopper-facing "why am I seeing this" lists."""

from __future__ import annotations

from cartwise.recommender import HybridRecommender

from .conftest import CATALOG, gift_shop_history, order


def test_a_known_shopper_s_purchases_newest_strongest_first(model: HybridRecommender) -> None:
    """bob bought the doormat 20 days ago and the lantern 25 days ago: the newer weighs more."""
    got = model.history("bob")

    assert [product for product, _ in got] == ["doormat", "lantern"]
    assert got[0][1] > got[1][1] > 0


def test_guests_and_strangers_have_none(model: HybridRecommender) -> None:
    assert model.history("stranger") == []
    assert model.history("") == []
    assert model.history("bob", k=0) == []


def test_carts_are_not_purchases_and_updates_count_at_once(model: HybridRecommender) -> None:
    model.update(order("carol-cart", ["gnome"], customer="carol", kind="cart"))
    assert model.history("carol") == []

    model.update(order("bob-3", ["bunting"], customer="bob"))

    assert [product for product, _ in model.history("bob", k=1)] == ["bunting"]
    assert {product for product, _ in model.history("bob")} == {"bunting", "doormat", "lantern"}


def test_a_model_read_back_has_the_same_history() -> None:
    fitted = HybridRecommender().fit(gift_shop_history(), CATALOG)
    assert HybridRecommender.from_bytes(fitted.to_bytes()).history("bob") == fitted.history("bob")
