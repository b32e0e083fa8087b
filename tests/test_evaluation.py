"""The back-test (`cartwise.evaluation`): the temporal split, the hidden-product cases, the
metrics computed from a fake engine whose ranks the test chooses, and the whole run on the
bundled sample store."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import cartwise
from cartwise.domain import Order, OrderLine, Product
from cartwise.errors import DataImportError
from cartwise.evaluation import (
    BasketCase,
    Split,
    basket_cases,
    evaluate_dataset,
    evaluate_orders,
    format_report,
    score_basket_cases,
    temporal_split,
)

SAMPLE_DATA = Path(cartwise.__file__).parent / "sample_data"
START = datetime(2011, 6, 1, 9, 0, tzinfo=UTC)


def _order(
    order_id: str, products: Sequence[str], day: float, customer: str | None = None
) -> Order:
    return Order(
        order_id=order_id,
        created_at=START + timedelta(days=day),
        lines=tuple(OrderLine(pid) for pid in products),
        customer_id=customer,
    )


def _daily_orders(n: int) -> list[Order]:
    """`n` orders, one a day, each of two products."""
    return [_order(f"o{day:02d}", ["mug", "saucer"], day) for day in range(n)]


# temporal split ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test_frac", "n_test"),
    [
        pytest.param(0.15, 3, id="default-15-percent"),
        pytest.param(0.25, 5, id="quarter"),
        pytest.param(0.5, 10, id="half"),
    ],
)
def test_the_split_puts_the_last_part_of_time_in_test(test_frac: float, n_test: int) -> None:
    orders = _daily_orders(20)
    shuffled = orders[1::2] + orders[::2]

    split = temporal_split(shuffled, test_frac)

    assert sorted(o.order_id for o in split.test) == [o.order_id for o in orders[-n_test:]]
    assert len(split.train) == 20 - n_test
    assert max(o.created_at for o in split.train) < min(o.created_at for o in split.test)
    train_end = max(o.created_at.timestamp() for o in split.train)
    assert train_end < split.cutoff <= min(o.created_at.timestamp() for o in split.test)


def test_the_default_split_holds_out_about_15_percent() -> None:
    split = temporal_split(_daily_orders(100))

    assert len(split.test) == 15
    assert [o.order_id for o in split.test] == [f"o{day:02d}" for day in range(85, 100)]


def test_no_order_is_on_both_sides_of_the_split() -> None:
    """Four orders share each of ten days; the four at the cutoff's instant all go to test."""
    orders = [_order(f"o{i}", ["mug", "saucer"], day=i // 4) for i in range(40)]

    split = temporal_split(orders)

    assert sorted(o.order_id for o in split.test) == [f"o{i}" for i in range(32, 40)]
    train_ids = {o.order_id for o in split.train}
    test_ids = {o.order_id for o in split.test}
    assert not train_ids & test_ids
    assert train_ids | test_ids == {o.order_id for o in orders}
    assert len(split.train) + len(split.test) == len(orders)
    assert max(o.created_at for o in split.train) < min(o.created_at for o in split.test)


def test_splitting_no_orders_is_a_data_import_error() -> None:
    with pytest.raises(DataImportError):
        temporal_split([])


# basket cases -----------------------------------------------------------------------------

TRAIN = [
    _order("a1", ["cakestand", "teacup"], 0, "c1"),
    _order("a2", ["bunting", "napkins"], 1, "c2"),
    _order("a3", ["cakestand", "teacup", "lantern"], 2),
]
TRAIN_PRODUCTS = {"cakestand", "teacup", "bunting", "napkins", "lantern"}
CATALOG = TRAIN_PRODUCTS | {"doormat", "gnome"}
TEST = [
    _order("t1", ["cakestand", "teacup", "lantern"], 10, "c1"),
    _order("t2", ["doormat", "gnome"], 11),
    _order("t3", ["gnome"], 12, "c2"),
    _order("t4", ["gnome", "gnome"], 12),
    _order("t5", ["gnome", "not-in-catalog"], 13),
    _order("t6", ["bunting", "napkins", "doormat", "teacup"], 14, "c9"),
]


@pytest.fixture
def split() -> Split:
    return Split(train=list(TRAIN), test=list(TEST), cutoff=(START + timedelta(days=5)).timestamp())


def _products(order: Order) -> list[str]:
    return [pid for pid in dict.fromkeys(line.product_id for line in order.lines) if pid in CATALOG]


@pytest.mark.parametrize("seed", [pytest.param(seed, id=f"seed-{seed}") for seed in (0, 3, 42)])
def test_each_case_hides_exactly_one_product_and_keeps_the_rest_as_the_cart(
    split: Split, seed: int
) -> None:
    cases, eligible = basket_cases(split, CATALOG, seed=seed)
    by_id = {o.order_id: o for o in TEST}

    assert eligible == 3
    assert [c.order_id for c in cases] == ["t1", "t2", "t6"]
    for case in cases:
        products = _products(by_id[case.order_id])
        h = products.index(case.hidden)
        assert case.cart == products[:h] + products[h + 1 :]
        assert case.hidden not in case.cart
        assert case.customer_id == by_id[case.order_id].customer_id


@pytest.mark.parametrize(
    ("order_id", "why"),
    [
        pytest.param("t3", "one product", id="single-product"),
        pytest.param("t4", "one product twice", id="repeated-product"),
        pytest.param("t5", "one catalog product", id="second-not-in-catalog"),
    ],
)
def test_orders_with_fewer_than_two_products_are_skipped(
    split: Split, order_id: str, why: str
) -> None:
    cases, _ = basket_cases(split, CATALOG)

    assert order_id not in {c.order_id for c in cases}, why


def test_cases_know_known_customers_and_cold_items(split: Split) -> None:
    cases, _ = basket_cases(split, CATALOG, seed=11)
    by_id = {c.order_id: c for c in cases}

    assert by_id["t1"].known_customer
    assert not by_id["t2"].known_customer
    assert not by_id["t6"].known_customer
    for case in cases:
        assert case.cold_item == (case.hidden not in TRAIN_PRODUCTS)


def test_a_hidden_product_the_training_period_never_saw_is_cold(split: Split) -> None:
    """t2 holds only products the training period never saw."""
    cases, _ = basket_cases(split, CATALOG)

    assert {c.order_id: c.cold_item for c in cases}["t2"] is True


def _many_test_orders(n: int) -> Split:
    test = [_order(f"t{i:03d}", ["a", "b", "c", "d"], 10 + i / 100) for i in range(n)]
    return Split(train=[_order("x", ["a", "b"], 0)], test=test, cutoff=0.0)


def test_cases_are_reproducible_with_the_seed() -> None:
    split = _many_test_orders(30)

    first, _ = basket_cases(split, {"a", "b", "c", "d"}, seed=5)
    again, _ = basket_cases(split, {"a", "b", "c", "d"}, seed=5)
    other, _ = basket_cases(split, {"a", "b", "c", "d"}, seed=6)

    assert first == again
    assert [c.hidden for c in first] != [c.hidden for c in other]
    assert len({c.hidden for c in first}) > 1


def test_max_cases_samples_reproducibly_from_the_eligible_orders() -> None:
    split = _many_test_orders(30)
    catalog = {"a", "b", "c", "d"}

    cases, eligible = basket_cases(split, catalog, max_cases=10, seed=1)
    again, _ = basket_cases(split, catalog, max_cases=10, seed=1)

    assert eligible == 30
    assert len(cases) == 10
    assert len({c.order_id for c in cases}) == 10
    assert cases == again


# metrics ----------------------------------------------------------------------------------


def _case(
    hidden: str = "hidden",
    cart: Sequence[str] = ("in-cart",),
    *,
    known: bool = False,
    cold: bool = False,
    order_id: str = "o1",
    customer: str | None = None,
) -> BasketCase:
    return BasketCase(order_id, customer, list(cart), hidden, known, cold)


class FakeEngine:
    """Answers each cart with the list the test gave for it, and records how it was asked."""

    def __init__(self, answers: dict[tuple[str, ...], list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[str], str | None, int]] = []

    def __call__(self, cart: Sequence[str], customer_id: str | None, k: int) -> list[str]:
        self.calls.append((list(cart), customer_id, k))
        return list(self.answers[tuple(cart)])


def _fillers(n: int) -> list[str]:
    return [f"filler-{i}" for i in range(n)]


@pytest.mark.parametrize(
    ("ranked", "expected"),
    [
        pytest.param(["hidden", *_fillers(9)], (1.0, 1.0, 1.0), id="rank-1"),
        pytest.param([*_fillers(1), "hidden"], (1.0, 1 / math.log2(3), 0.5), id="rank-2"),
        pytest.param([*_fillers(2), "hidden"], (1.0, 0.5, 1 / 3), id="rank-3"),
        pytest.param([*_fillers(9), "hidden"], (1.0, 1 / math.log2(11), 0.1), id="rank-10"),
        pytest.param([*_fillers(10), "hidden"], (0.0, 0.0, 0.0), id="rank-11-outside-top-10"),
        pytest.param(_fillers(10), (0.0, 0.0, 0.0), id="not-returned"),
        pytest.param([], (0.0, 0.0, 0.0), id="empty-answer"),
        pytest.param(["in-cart", "hidden", *_fillers(8)], (1.0, 1.0, 1.0), id="cart-item-dropped"),
        pytest.param(
            ["filler-0", "filler-0", "in-cart", "hidden"],
            (1.0, 1 / math.log2(3), 0.5),
            id="duplicate-and-cart-item-dropped",
        ),
    ],
)
def test_one_case_scores_by_the_rank_of_the_hidden_product(
    ranked: list[str], expected: tuple[float, float, float]
) -> None:
    engine = FakeEngine({("in-cart",): ranked})

    scores = score_basket_cases(engine, [_case()], catalog_size=20)

    got = scores["all"]
    assert got["n"] == 1
    assert (got["hr"], got["ndcg"], got["mrr"]) == pytest.approx(expected)


def test_cart_items_returned_by_the_engine_cost_it_no_slot() -> None:
    """Five cart items, nine others, then the hidden product: after dropping the cart it is 10th."""
    cart = [f"cart-{i}" for i in range(5)]
    engine = FakeEngine({tuple(cart): [*cart, *_fillers(9), "hidden"]})

    scores = score_basket_cases(engine, [_case(cart=cart)], catalog_size=30)

    assert scores["all"]["hr"] == 1.0
    assert scores["all"]["mrr"] == pytest.approx(0.1)


def test_the_engine_is_asked_with_the_cart_the_customer_and_k() -> None:
    engine = FakeEngine({("a", "b"): ["hidden"]})

    score_basket_cases(engine, [_case(cart=["a", "b"], customer="c7")], catalog_size=5, k=7)

    assert engine.calls == [(["a", "b"], "c7", 7)]


def test_metrics_average_over_cases() -> None:
    cases = [
        _case(cart=["a"], order_id="o1"),
        _case(cart=["b"], order_id="o2"),
        _case(cart=["c"], order_id="o3"),
        _case(cart=["d"], order_id="o4"),
    ]
    engine = FakeEngine(
        {
            ("a",): ["hidden"],
            ("b",): ["x", "y", "hidden"],
            ("c",): ["x"],
            ("d",): ["x", "hidden"],
        }
    )

    got = score_basket_cases(engine, cases, catalog_size=10)["all"]

    assert got["n"] == 4
    assert got["hr"] == pytest.approx(3 / 4)
    assert got["ndcg"] == pytest.approx((1 + 0.5 + 0 + 1 / math.log2(3)) / 4)
    assert got["mrr"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)


def test_coverage_counts_distinct_recommended_products_over_the_catalog() -> None:
    cases = [_case(cart=["a"], order_id="o1"), _case(cart=["b"], order_id="o2")]
    engine = FakeEngine({("a",): ["p", "q", "r", "a"], ("b",): ["r", "s", "s", "b"]})

    scores = score_basket_cases(engine, cases, catalog_size=20)

    assert scores["coverage"] == pytest.approx(4 / 20)


def test_subsets_split_known_from_new_customers_and_cold_from_warm_items() -> None:
    cases = [
        _case(cart=["a"], known=True, cold=False, order_id="o1"),
        _case(cart=["b"], known=True, cold=True, order_id="o2"),
        _case(cart=["c"], known=False, cold=False, order_id="o3"),
        _case(cart=["d"], known=False, cold=False, order_id="o4"),
    ]
    engine = FakeEngine(
        {("a",): ["hidden"], ("b",): ["x"], ("c",): ["x", "y", "hidden"], ("d",): ["x"]}
    )

    scores = score_basket_cases(engine, cases, catalog_size=10)

    assert (scores["known"]["n"], scores["known"]["hr"]) == (2, 0.5)
    assert scores["known"]["ndcg"] == pytest.approx(0.5)
    assert (scores["new"]["n"], scores["new"]["hr"]) == (2, 0.5)
    assert scores["new"]["ndcg"] == pytest.approx(0.25)
    assert (scores["cold_item"]["n"], scores["cold_item"]["hr"]) == (1, 0.0)
    assert scores["warm_item"]["n"] == 3
    assert scores["warm_item"]["hr"] == pytest.approx(2 / 3)


def test_an_empty_subset_reports_only_its_size() -> None:
    engine = FakeEngine({("in-cart",): ["hidden"]})

    scores = score_basket_cases(engine, [_case(known=True)], catalog_size=5)

    assert scores["new"] == {"n": 0}
    assert scores["cold_item"] == {"n": 0}
    assert scores["known"]["hr"] == 1.0


# the whole back-test ----------------------------------------------------------------------

PAIRS = (
    ("cakestand", "teacup"),
    ("bunting", "napkins"),
    ("lantern", "heart"),
    ("tin", "jar"),
    ("doormat", "boot-tray"),
    ("kite", "string"),
    ("pencils", "sharpener"),
    ("candle", "holder"),
)
SHOP_PRODUCTS = [Product(pid, pid.title()) for pair in PAIRS for pid in pair] + [
    Product("gnome", "Garden Gnome")
]


def _patterned_shop() -> list[Order]:
    """Eighty days; every order is one of eight pairs (plus, every third order, the gnome, so
    the gnome is the best seller and goes with nothing in particular)."""
    out = []
    for i in range(160):
        pair = list(PAIRS[i % len(PAIRS)])
        extra = ["gnome"] if i % 3 == 0 else []
        out.append(_order(f"o{i:03d}", pair + extra, i / 2, customer=f"c{i % 7}"))
    return out


def test_the_engine_completes_baskets_it_was_trained_on() -> None:
    report = evaluate_orders(_patterned_shop(), SHOP_PRODUCTS)

    engine = report["methods"]["cartwise"]["basket"]["all"]
    popularity = report["methods"]["popularity"]["basket"]["all"]
    assert report["split"]["train_orders"] + report["split"]["test_orders"] == 160
    assert report["cases"]["basket"] == report["cases"]["basket_eligible"] == 24
    assert report["catalog_size"] == len(SHOP_PRODUCTS)
    assert engine["hr"] == 1.0
    assert engine["ndcg"] > popularity["ndcg"]


def test_the_baseline_can_be_left_out() -> None:
    report = evaluate_orders(_patterned_shop(), SHOP_PRODUCTS, baseline=False)

    assert list(report["methods"]) == ["cartwise"]


@pytest.mark.parametrize(
    "orders",
    [
        pytest.param([], id="no-orders"),
        pytest.param(
            [_order(f"o{i}", ["mug", "saucer"], 0) for i in range(5)], id="all-at-one-instant"
        ),
        pytest.param([_order(f"o{i}", ["mug"], i) for i in range(20)], id="single-product-orders"),
    ],
)
def test_history_that_cannot_be_evaluated_is_a_data_import_error(orders: list[Order]) -> None:
    with pytest.raises(DataImportError):
        evaluate_orders(orders, SHOP_PRODUCTS)


@pytest.fixture(scope="module")
def sample_report() -> dict[str, Any]:
    return evaluate_dataset(SAMPLE_DATA)


def test_the_engine_beats_popularity_on_the_sample_store(sample_report: dict[str, Any]) -> None:
    methods = sample_report["methods"]
    engine = methods["cartwise"]["basket"]["all"]["ndcg"]
    popularity = methods["popularity"]["basket"]["all"]["ndcg"]

    assert engine > 2 * popularity


def test_the_sample_report_describes_its_run(sample_report: dict[str, Any]) -> None:
    split, cases = sample_report["split"], sample_report["cases"]

    assert sample_report["k"] == 10
    assert sample_report["data_dir"] == str(SAMPLE_DATA.resolve())
    assert sample_report["skipped_rows"] == 0
    assert split["train_orders"] + split["test_orders"] == 4080
    assert split["test_orders"] == pytest.approx(0.15 * 4080, rel=0.05)
    assert 0 < cases["basket"] <= cases["basket_eligible"] <= split["test_orders"]
    for method in sample_report["methods"].values():
        basket = method["basket"]
        assert basket["all"]["n"] == cases["basket"]
        assert basket["known"]["n"] + basket["new"]["n"] == cases["basket"]
        assert basket["cold_item"]["n"] + basket["warm_item"]["n"] == cases["basket"]
        assert 0.0 < basket["coverage"] <= 1.0


def test_the_formatted_report_names_both_methods(sample_report: dict[str, Any]) -> None:
    text = format_report(sample_report)
    rows = [line for line in text.splitlines() if line.startswith("| ")]

    assert "NDCG@10" in rows[0]
    assert [row.split("|")[1].strip() for row in rows[1:]] == ["cartwise", "popularity"]
    ndcg = sample_report["methods"]["cartwise"]["basket"]["all"]["ndcg"]
    assert f"{ndcg:.4f}" in rows[1]


def _empty_folder(tmp_path: Path) -> Path:
    return tmp_path


def _missing_folder(tmp_path: Path) -> Path:
    return tmp_path / "nowhere"


def _headers_only(tmp_path: Path) -> Path:
    (tmp_path / "orders.csv").write_text(
        "order_id,customer_id,product_id,quantity,price,created_at\n", encoding="utf-8"
    )
    (tmp_path / "products.csv").write_text(
        "product_id,title,category,vendor,price,tags\n", encoding="utf-8"
    )
    return tmp_path


def _products_only(tmp_path: Path) -> Path:
    (tmp_path / "products.csv").write_text("product_id,title\nmug,Blue mug\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_empty_folder, id="empty-folder"),
        pytest.param(_missing_folder, id="missing-folder"),
        pytest.param(_headers_only, id="header-only-files"),
        pytest.param(_products_only, id="no-orders-file"),
    ],
)
def test_a_folder_without_data_is_a_data_import_error(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    with pytest.raises(DataImportError):
        evaluate_dataset(make(tmp_path))
