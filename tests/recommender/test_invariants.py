"""Invariants of every answer, on small random shops (seeded, so a failure replays): whatever
the data, an answer holds at most k distinct known products, none in the cart, none
unavailable, best first, each with a reason."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cartwise.recommender import HybridRecommender, Interaction, Item, Recommendation

from .conftest import Kind

WORDS = (
    "regency",
    "red",
    "retrospot",
    "heart",
    "lantern",
    "jam",
    "party",
    "bunting",
    "tea",
    "cake",
    "tin",
    "bag",
    "jumbo",
    "pink",
    "polka",
    "dot",
    "vintage",
    "doily",
    "glass",
    "candle",
    "holder",
    "set",
    "of",
    "3",
    "garden",
    "gnome",
    "bird",
    "ornament",
)
START = datetime(2023, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Shop:
    catalog: list[Item]
    history: list[Interaction]
    later: list[Interaction]
    """Orders after the fit, some naming products the catalog lacks and new customers."""
    customers: list[str]


def _interactions(
    rng: np.random.Generator, products: list[str], customers: list[str], n: int, tag: str
) -> list[Interaction]:
    lines: list[Interaction] = []
    for o in range(n):
        size = int(rng.integers(1, 6))
        basket = rng.choice(products, size=size, replace=True).tolist()
        customer = str(rng.choice(customers)) if rng.random() < 0.6 else None
        created = START + timedelta(days=float(rng.uniform(0, 400)))
        if rng.random() < 0.3:
            created = created.replace(tzinfo=None)
        kind: Kind = "cart" if rng.random() < 0.2 else "order"
        lines += [
            Interaction(f"{tag}{o}", customer, pid, 1.0, None, created, kind) for pid in basket
        ]
    return lines


def _random_shop(seed: int) -> Shop:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 16))
    catalog = [
        Item(
            f"p{i}",
            " ".join(rng.choice(WORDS, size=int(rng.integers(1, 5))).tolist()),
            str(rng.choice(["kitchen", "home", "party", ""])),
            price=float(rng.uniform(0.5, 20.0)) if rng.random() < 0.8 else None,
            available=bool(rng.random() < 0.8),
        )
        for i in range(n)
    ]
    ids = [item.product_id for item in catalog]
    customers = [f"c{i}" for i in range(int(rng.integers(1, 5)))]
    history = _interactions(rng, ids, customers, int(rng.integers(0, 30)), "o")
    later = _interactions(rng, [*ids, "late-1", "late-2"], [*customers, "newcomer"], 4, "u")
    return Shop(catalog, history, later, customers)


def _queries(rng: np.random.Generator, shop: Shop) -> list[tuple[list[str], str | None, int]]:
    known = [item.product_id for item in shop.catalog]
    queries: list[tuple[list[str], str | None, int]] = []
    for _ in range(12):
        size = int(rng.integers(0, 4))
        cart = rng.choice([*known, "ghost"], size=size, replace=True).tolist()
        who: list[str | None] = [None, "stranger", *shop.customers]
        customer = who[int(rng.integers(len(who)))]
        queries.append((cart, customer, int(rng.integers(0, 8))))
    return queries


def _check(
    model: HybridRecommender,
    got: list[Recommendation],
    k: int,
    cart: list[str],
    unavailable: set[str],
) -> None:
    products = [r.product_id for r in got]
    scores = [r.score for r in got]
    assert len(got) <= max(k, 0)
    assert len(set(products)) == len(products), "duplicates"
    assert not set(products) & set(cart), "cart items returned"
    assert not set(products) & unavailable, "unavailable items returned"
    assert all(model.knows(p) for p in products), "unknown ids returned"
    assert all(np.isfinite(scores)), "non-finite score"
    assert scores == sorted(scores, reverse=True), "not best first"
    assert all(isinstance(r.reason, str) and r.reason.strip() for r in got), "empty reason"
    assert not any(r.reason.rstrip().endswith(("with", "to")) for r in got), "reason names nothing"


def _check_model(model: HybridRecommender, shop: Shop, seed: int, unavailable: set[str]) -> None:
    rng = np.random.default_rng(seed + 1)
    for cart, customer, k in _queries(rng, shop):
        _check(model, model.recommend(cart, customer, k=k), k, cart, unavailable)
        _check(model, model.trending(k=k), k, [], unavailable)
    for item in shop.catalog:
        k = int(rng.integers(1, 6))
        _check(model, model.similar_items(item.product_id, k=k), k, [item.product_id], unavailable)


def _models(seed: int) -> Iterator[tuple[HybridRecommender, Shop, set[str]]]:
    """The shop's model after fit, after updates (new products, customers, one unavailable
    product) and after a round trip through bytes."""
    shop = _random_shop(seed)
    unavailable = {item.product_id for item in shop.catalog if not item.available}
    model = HybridRecommender().fit(shop.history, shop.catalog)
    yield model, shop, unavailable
    model.update(shop.later)
    model.set_availability({"late-1": False})
    unavailable.add("late-1")
    yield model, shop, unavailable
    yield HybridRecommender.from_bytes(model.to_bytes()), shop, unavailable


SEEDS = [pytest.param(seed, id=f"seed-{seed}") for seed in range(40)]


@pytest.mark.parametrize("seed", SEEDS)
def test_answers_keep_their_invariants_on_random_shops(seed: int) -> None:
    for model, shop, unavailable in _models(seed):
        _check_model(model, shop, seed, unavailable)
