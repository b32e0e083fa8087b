"""The model registry (one load per version, bounded, clock-driven checks) and the fallback
chain of `serving.recommend`, against a real SQLite store."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cartwise import storage
from cartwise.domain import Platform, Product, ShopRef, ShopRules
from cartwise.errors import UnknownShop
from cartwise.experiments import ItemStats
from cartwise.recommender import HybridRecommender, Interaction, Item
from cartwise.schemas import CartItem, ExperimentArm, RecommendationRequest
from cartwise.serving import ModelRegistry, Treatment, recommend
from cartwise.storage import Store

SHOP = "tea.example"
OTHER = "bags.example"

CATALOG = (
    Product("cake", "Cake stand", price=12.75),
    Product("cup", "Teacup", price=2.95),
    Product("pot", "Teapot", price=9.5),
    Product("tin", "Cake tin", price=4.95),
    Product("bag", "Lunch bag", price=1.65),
    Product("jar", "Jam jar", price=0.85),
)
BASKETS = (
    ("cake", "cup", "pot"),
    ("cake", "cup", "pot"),
    ("cake", "cup"),
    ("bag", "jar"),
    ("bag", "jar"),
    ("tin",),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def model_blob(baskets: Sequence[Sequence[str]] = BASKETS) -> bytes:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    interactions = [
        Interaction(f"o{n}", None, pid, 1.0, None, start + timedelta(hours=n))
        for n, basket in enumerate(baskets)
        for pid in basket
    ]
    items = [Item(p.product_id, title=p.title, price=p.price) for p in CATALOG]
    return HybridRecommender().fit(interactions, items).to_bytes()


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    path.mkdir()
    return path


@pytest.fixture
def store(db_dir: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{db_dir / 'cartwise.db'}")
    for shop in (SHOP, OTHER):
        opened.shops.ensure(ShopRef(shop, Platform.DEMO))
        opened.products.upsert_many(shop, CATALOG)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(store: Store, clock: Clock) -> ModelRegistry:
    return ModelRegistry(store, check_interval=5.0, clock=clock)


def ask(
    cart: Sequence[str] = (), k: int = 3, customer_id: str | None = None
) -> RecommendationRequest:
    lines = [CartItem(product_id=pid) for pid in cart]
    return RecommendationRequest(cart=lines, k=k, customer_id=customer_id)


def test_registry_has_nothing_before_training(registry: ModelRegistry) -> None:
    assert registry.get(SHOP) is None


def test_registry_loads_each_version_once(
    store: Store, registry: ModelRegistry, clock: Clock
) -> None:
    store.models.save(SHOP, model_blob(), {})
    first = registry.get(SHOP)
    assert first is not None
    assert first.version == 1

    clock.now += 60
    again = registry.get(SHOP)
    assert again is not None
    assert again.model is first.model


def test_registry_sees_a_new_version_only_after_the_interval(
    store: Store, registry: ModelRegistry, clock: Clock
) -> None:
    store.models.save(SHOP, model_blob(), {})
    assert registry.get(SHOP) is not None

    store.models.save(SHOP, model_blob(BASKETS[:3]), {})
    clock.now += 4.9
    current = registry.get(SHOP)
    assert current is not None
    assert current.version == 1

    clock.now += 0.2
    current = registry.get(SHOP)
    assert current is not None
    assert current.version == 2


def test_registry_never_mistakes_a_model_saved_after_a_full_prune_for_the_old_one(
    store: Store, registry: ModelRegistry, clock: Clock
) -> None:
    # A redaction can delete every model of a shop; the next one is numbered 1 again.
    store.models.save(SHOP, model_blob(), {})
    old = registry.get(SHOP)
    assert old is not None and old.version == 1

    store.models.prune(SHOP, keep=0)
    store.models.save(SHOP, model_blob(BASKETS[:3]), {"after": "prune"})
    clock.now += 5.1
    new = registry.get(SHOP)
    assert new is not None and new.version == 1
    assert new.model is not old.model
    assert new.created_at is not None and old.created_at is not None
    assert new.created_at >= old.created_at


def test_registry_loads_announced_versions_at_most_once_per_reload_interval(
    store: Store, registry: ModelRegistry, clock: Clock
) -> None:
    store.models.save(SHOP, model_blob(), {})
    assert registry.get(SHOP) is not None

    # orders keep coming: three versions announced within the second after the last load
    for _ in range(3):
        store.models.save(SHOP, model_blob(BASKETS[:3]), {})
        registry.newer(SHOP)
        clock.now += 0.25
        current = registry.get(SHOP)
        assert current is not None and current.version == 1

    clock.now += 0.25  # a second after the load: the newest of them, not each in turn
    current = registry.get(SHOP)
    assert current is not None and current.version == 4


def test_registry_loads_the_first_version_after_a_quiet_spell_at_once(
    store: Store, registry: ModelRegistry, clock: Clock
) -> None:
    store.models.save(SHOP, model_blob(), {})
    assert registry.get(SHOP) is not None
    clock.now += 1.0
    store.models.save(SHOP, model_blob(BASKETS[:3]), {})
    registry.newer(SHOP)

    current = registry.get(SHOP)
    assert current is not None and current.version == 2


def test_registry_with_no_reload_interval_loads_every_announced_version(
    store: Store, clock: Clock
) -> None:
    registry = ModelRegistry(store, reload_interval=0.0, clock=clock)
    store.models.save(SHOP, model_blob(), {})
    assert registry.get(SHOP) is not None
    for version in (2, 3):
        store.models.save(SHOP, model_blob(BASKETS[:3]), {})
        registry.newer(SHOP)
        current = registry.get(SHOP)
        assert current is not None and current.version == version


def test_registry_invalidate_forces_a_check(store: Store, registry: ModelRegistry) -> None:
    assert registry.get(SHOP) is None
    store.models.save(SHOP, model_blob(), {})
    assert registry.get(SHOP) is None
    registry.invalidate(SHOP)
    loaded = registry.get(SHOP)
    assert loaded is not None
    assert loaded.version == 1


@pytest.mark.parametrize(("max_shops", "kept"), [(1, False), (2, True)])
def test_registry_holds_at_most_max_shops(
    store: Store, clock: Clock, max_shops: int, kept: bool
) -> None:
    registry = ModelRegistry(store, max_shops=max_shops, clock=clock)
    store.models.save(SHOP, model_blob(), {})
    store.models.save(OTHER, model_blob(), {})
    first = registry.get(SHOP)
    assert registry.get(OTHER) is not None
    again = registry.get(SHOP)
    assert first is not None
    assert again is not None
    assert (again.model is first.model) is kept


def test_registry_refuses_unknown_shops(registry: ModelRegistry) -> None:
    with pytest.raises(UnknownShop):
        registry.get("nowhere.example")


def test_an_unreadable_model_is_skipped_until_the_next_version(
    store: Store, registry: ModelRegistry, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    store.models.save(SHOP, b"not a model", {})
    with caplog.at_level(logging.ERROR, logger="cartwise.serving"):
        assert registry.get(SHOP) is None
    assert "cannot be loaded" in caplog.text

    answer = recommend(store, registry, SHOP, ask(["cake"]))
    assert answer.source == "fallback"
    assert answer.model_version is None
    assert len(answer.items) == 3

    store.models.save(SHOP, model_blob(), {})
    clock.now += 10
    loaded = registry.get(SHOP)
    assert loaded is not None
    assert loaded.version == 2


def test_model_answer_with_reasons(store: Store, registry: ModelRegistry) -> None:
    store.models.save(SHOP, model_blob(), {})
    answer = recommend(store, registry, SHOP, ask(["cake"], k=2))
    assert answer.source == "model"
    assert answer.model_version == 1
    assert sorted(item.product_id for item in answer.items) == ["cup", "pot"]
    assert {item.reason for item in answer.items} == {"Often bought with Cake stand"}
    assert answer.items[0].title in {"Teacup", "Teapot"}
    assert answer.items[0].price in {2.95, 9.5}


def test_model_answers_are_topped_up_to_k(store: Store, registry: ModelRegistry) -> None:
    store.models.save(SHOP, model_blob(), {})
    answer = recommend(store, registry, SHOP, ask(["cake"], k=10))
    assert answer.source == "model"
    assert sorted(item.product_id for item in answer.items) == ["bag", "cup", "jar", "pot", "tin"]


@pytest.mark.parametrize(
    "cart",
    [pytest.param((), id="empty-cart"), pytest.param(("unheard-of",), id="unknown-cart")],
)
def test_trending_when_the_cart_says_nothing(
    store: Store, registry: ModelRegistry, cart: tuple[str, ...]
) -> None:
    store.models.save(SHOP, model_blob(), {})
    answer = recommend(store, registry, SHOP, ask(cart, k=2))
    assert answer.source == "trending"
    assert answer.model_version == 1
    assert len(answer.items) == 2


def test_catalog_fallback_without_a_model(store: Store, registry: ModelRegistry) -> None:
    answer = recommend(store, registry, SHOP, ask(["cup"], k=3))
    assert answer.source == "fallback"
    assert answer.model_version is None
    assert [item.title for item in answer.items] == ["Cake stand", "Cake tin", "Jam jar"]
    assert len(answer.request_id) == 32


def test_curated_defaults_come_before_the_catalog(store: Store, registry: ModelRegistry) -> None:
    def defaults(shop: str, n: int) -> list[str]:
        assert shop == SHOP
        return ["tin", "missing", "bag"][:n]

    answer = recommend(store, registry, SHOP, ask(["cup"], k=3), defaults=defaults)
    assert answer.source == "defaults"
    assert [item.product_id for item in answer.items] == ["tin", "bag", "cake"]


def test_a_failing_step_is_logged_and_skipped(
    store: Store, registry: ModelRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(shop: str, n: int) -> list[str]:
        raise RuntimeError("defaults service is down")

    with caplog.at_level(logging.ERROR, logger="cartwise.serving"):
        answer = recommend(store, registry, SHOP, ask(k=2), defaults=broken)
    assert answer.source == "fallback"
    assert len(answer.items) == 2
    assert "defaults service is down" in caplog.text


def test_cart_and_sold_out_products_are_never_offered(
    store: Store, registry: ModelRegistry
) -> None:
    store.models.save(SHOP, model_blob(), {})
    store.products.set_stock(SHOP, "pot", 0, True)
    store.products.set_stock(SHOP, "jar", None, False)
    answer = recommend(store, registry, SHOP, ask(["cake", "bag"], k=10))
    assert sorted(item.product_id for item in answer.items) == ["cup", "tin"]


def test_products_missing_from_the_catalog_are_dropped(
    store: Store, registry: ModelRegistry
) -> None:
    store.models.save(SHOP, model_blob([*BASKETS, ("cake", "ghost"), ("cake", "ghost")]), {})
    answer = recommend(store, registry, SHOP, ask(["cake"], k=10))
    assert "ghost" not in [item.product_id for item in answer.items]
    assert answer.source == "model"


def test_unknown_shop_raises(store: Store, registry: ModelRegistry) -> None:
    with pytest.raises(UnknownShop):
        recommend(store, registry, "nowhere.example", ask(["cake"]))


def test_storage_outage_gives_an_empty_fallback(
    store: Store, registry: ModelRegistry, db_dir: Path
) -> None:
    store.close()
    shutil.rmtree(db_dir)
    answer = recommend(store, registry, SHOP, ask(["cake"]))
    assert answer.source == "fallback"
    assert answer.items == []
    assert answer.model_version is None


@pytest.mark.postgres
def test_the_chain_on_postgresql(postgres_url: str, clock: Clock) -> None:
    store = storage.open(postgres_url)
    try:
        store.shops.ensure(ShopRef(SHOP, Platform.DEMO))
        store.products.upsert_many(SHOP, CATALOG)
        registry = ModelRegistry(store, clock=clock)
        assert recommend(store, registry, SHOP, ask(["cake"])).source == "fallback"

        store.models.save(SHOP, model_blob(), {})
        clock.now += 10
        answer = recommend(store, registry, SHOP, ask(["cake"], k=2))
        assert answer.source == "model"
        assert answer.model_version == 1
        assert sorted(item.product_id for item in answer.items) == ["cup", "pot"]
    finally:
        store.close()


ARM_LABEL = ExperimentArm(experiment="exp1", arm="a")


def test_the_no_recommendations_control_answers_nothing_and_says_so(
    store: Store, registry: ModelRegistry
) -> None:
    store.models.save(SHOP, model_blob(), {})
    treatment = Treatment(label=ARM_LABEL, kind="no_recommendations")
    answer = recommend(store, registry, SHOP, ask(["cake"], k=3), treatment=treatment)
    assert answer.items == [] and answer.source == "control"
    assert answer.experiment == ARM_LABEL and answer.model_version == 1


def test_the_trending_control_never_asks_the_model(store: Store, registry: ModelRegistry) -> None:
    store.models.save(SHOP, model_blob(), {})
    plain = recommend(store, registry, SHOP, ask(["cake"], k=2))
    assert plain.source == "model"
    treatment = Treatment(label=ARM_LABEL, kind="trending_only")
    answer = recommend(store, registry, SHOP, ask(["cake"], k=2), treatment=treatment)
    assert answer.source == "trending" and answer.experiment == ARM_LABEL
    assert {i.reason for i in answer.items} != {"Often bought with Cake stand"}
    assert "cake" not in {i.product_id for i in answer.items}


def test_an_unpersonalised_variant_ignores_the_shopper(
    store: Store, registry: ModelRegistry
) -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    baskets = [("c1", ("bag", "jar")), ("c1", ("tin",)), (None, ("cake", "cup", "pot"))]
    interactions = [
        Interaction(f"o{n}", who, pid, 1.0, None, start + timedelta(hours=n))
        for n, (who, basket) in enumerate(baskets)
        for pid in basket
    ]
    items = [Item(p.product_id, title=p.title, price=p.price) for p in CATALOG]
    store.models.save(SHOP, HybridRecommender().fit(interactions, items).to_bytes(), {})
    mine = recommend(store, registry, SHOP, ask([], k=3, customer_id="c1"))
    anonymous = recommend(store, registry, SHOP, ask([], k=3))
    assert [i.product_id for i in mine.items] != [i.product_id for i in anonymous.items]
    treatment = Treatment(label=ARM_LABEL, personalised=False)
    answer = recommend(store, registry, SHOP, ask([], k=3, customer_id="c1"), treatment=treatment)
    assert [i.product_id for i in answer.items] == [i.product_id for i in anonymous.items]
    assert answer.experiment == ARM_LABEL


def stats(good: str, others: list[str]) -> Mapping[str, ItemStats]:
    record = {pid: ItemStats(impressions=10_000, successes=0) for pid in others}
    record[good] = ItemStats(impressions=10_000, successes=9_000)
    return record


def test_exploration_prefers_a_strong_record_over_a_weak_one(
    store: Store, registry: ModelRegistry
) -> None:
    store.models.save(SHOP, model_blob(), {})
    ranked = [i.product_id for i in recommend(store, registry, SHOP, ask(["cake"], k=5)).items]
    spare = ranked[2:]
    for good in spare:
        others = [p for p in spare if p != good]

        def record(good: str = good, others: list[str] = others) -> Mapping[str, ItemStats]:
            return stats(good, others)

        answer = recommend(
            store,
            registry,
            SHOP,
            ask(["cake"], k=3),
            rules=ShopRules(exploration_share=0.34),
            exploration=record,
        )
        assert [i.product_id for i in answer.items] == [*ranked[:2], good]


def test_no_exploration_without_slots_or_a_record(store: Store, registry: ModelRegistry) -> None:
    store.models.save(SHOP, model_blob(), {})
    base = recommend(store, registry, SHOP, ask(["cake"], k=4))

    def boom() -> Mapping[str, ItemStats]:
        raise AssertionError("the record is read only when a slot explores")

    # floor(4 * 0.1) = 0 slots
    same = recommend(
        store,
        registry,
        SHOP,
        ask(["cake"], k=4),
        rules=ShopRules(exploration_share=0.1),
        exploration=boom,
    )
    assert [i.product_id for i in same.items] == [i.product_id for i in base.items]
    # a slot but no record provider: the plain answer
    plain = recommend(
        store, registry, SHOP, ask(["cake"], k=4), rules=ShopRules(exploration_share=0.5)
    )
    assert [i.product_id for i in plain.items] == [i.product_id for i in base.items]


def test_a_failing_record_still_fills_the_answer(store: Store, registry: ModelRegistry) -> None:
    store.models.save(SHOP, model_blob(), {})
    base = recommend(store, registry, SHOP, ask(["cake"], k=4))

    def broken() -> Mapping[str, ItemStats]:
        raise RuntimeError("storage down")

    answer = recommend(
        store,
        registry,
        SHOP,
        ask(["cake"], k=4),
        rules=ShopRules(exploration_share=0.5),
        exploration=broken,
    )
    assert len(answer.items) == 4
    assert [i.product_id for i in answer.items] == [i.product_id for i in base.items]
