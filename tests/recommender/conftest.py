"""A small gift shop for the recommender's tests: a catalog, hand-made orders whose pairs and
histories the tests name, and a model fitted on them.

The orders are built so that each expectation can be read off the data: the cake stand goes
with the teacup, the bunting with the napkins, the lantern with the heart; the garden gnome is
the shop's best seller and goes with nothing; the jam pot covers were never bought but share
rare title words with the jam making set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from cartwise.recommender import HybridRecommender, Interaction, Item, Recommendation

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
"""The time of the most recent fitted order."""

CAKESTAND = Item("cakestand", "Regency Cakestand 3 Tier", "kitchen", "Regency", 12.75)
TEACUP = Item("teacup", "Green Regency Teacup and Saucer", "kitchen", "Regency", 2.95)
CAKE_TINS = Item("cake-tins", "Set of 3 Cake Tins Pantry Design", "kitchen", price=4.95)
LANTERN = Item("lantern", "White Metal Lantern", "home", price=3.75)
HEART = Item("heart", "White Hanging Heart T-Light Holder", "home", price=2.55)
DOORMAT = Item("doormat", "Red Retrospot Doormat", "home", price=7.95)
BUNTING = Item("bunting", "Party Bunting", "party", price=4.95)
NAPKINS = Item("napkins", "Paper Party Napkins", "party", price=0.85)
GNOME = Item("gnome", "Garden Gnome", "garden", price=5.95)
JAM_SET = Item("jam-set", "Jam Making Set Printed", "pantry", price=4.25)
JAM_COVERS = Item("jam-covers", "Jam Pot Covers Printed", "pantry", price=0.85)

CATALOG: tuple[Item, ...] = (
    CAKESTAND,
    TEACUP,
    CAKE_TINS,
    LANTERN,
    HEART,
    DOORMAT,
    BUNTING,
    NAPKINS,
    GNOME,
    JAM_SET,
    JAM_COVERS,
)
TITLES: dict[str, str] = {item.product_id: item.title for item in CATALOG}

Kind = Literal["order", "cart"]


def order(
    order_id: str,
    products: Sequence[str],
    *,
    customer: str | None = None,
    days_ago: float = 0.0,
    kind: Kind = "order",
    at: datetime = NOW,
) -> list[Interaction]:
    """The lines of one order (or cart), one unit of each product, placed `days_ago` before `at`."""
    created = at - timedelta(days=days_ago)
    return [Interaction(order_id, customer, pid, 1.0, None, created, kind) for pid in products]


def orders(
    prefix: str,
    products: Sequence[str],
    count: int,
    *,
    customer: str | None = None,
    days_ago: float = 0.0,
) -> list[Interaction]:
    """`count` identical orders, one a day, the newest `days_ago` days before `NOW`."""
    lines: list[Interaction] = []
    for n in range(count):
        lines += order(f"{prefix}{n}", products, customer=customer, days_ago=days_ago + n)
    return lines


def gift_shop_history() -> list[Interaction]:
    """Guests buy the pairs; alice once bought the cake stand alone; bob once bought the lantern
    and, in another order, the doormat."""
    return [
        *orders("cake", ["cakestand", "teacup"], 6),
        *orders("party", ["bunting", "napkins"], 6),
        *orders("light", ["lantern", "heart"], 4),
        *orders("gnome", ["gnome"], 10),
        *orders("jam", ["jam-set"], 2),
        *order("alice-1", ["cakestand"], customer="alice", days_ago=20),
        *order("bob-1", ["lantern"], customer="bob", days_ago=25),
        *order("bob-2", ["doormat"], customer="bob", days_ago=20),
    ]


def ids(recommendations: Iterable[Recommendation]) -> list[str]:
    return [r.product_id for r in recommendations]


def answer(recommendations: Iterable[Recommendation]) -> list[tuple[str, str]]:
    """What a shopper sees: the products in order, each with its reason."""
    return [(r.product_id, r.reason) for r in recommendations]


@pytest.fixture
def model() -> HybridRecommender:
    """A model fitted on the gift shop; each test gets its own (updates mutate it)."""
    return HybridRecommender().fit(gift_shop_history(), CATALOG)
