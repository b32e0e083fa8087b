"""Hashed assignment: stable everywhere, uniform, weighted, independent across experiments."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from cartwise.errors import InvalidRequest
from cartwise.experiments import Arm, Assignment, Experiment, assign

SHOP = "demo.myshopify.com"
N_IDS = 100_000
VISITORS = [f"session-{i}" for i in range(N_IDS)]


def _experiment(
    key: str = "recs-v1", weights: tuple[float, ...] = (1, 1, 1), holdout: float = 0.0
) -> Experiment:
    control = Arm("control", weights[0], kind="no_recommendations")
    variants = tuple(
        Arm(f"variant-{i}", weight, settings={"k": 4 * i})
        for i, weight in enumerate(weights[1:], 1)
    )
    return Experiment(key, (control, *variants), holdout_share=holdout)


THREE_ARMS = Experiment(
    "recs-v1",
    (
        Arm("control", 1, kind="no_recommendations"),
        Arm("hybrid", 1, settings={"k": 8}),
        Arm("bought-together", 1, settings={"k": 4}),
    ),
    holdout_share=0.1,
)


@pytest.mark.parametrize(
    ("visitor", "expected"),
    [
        pytest.param("session-123", Assignment("recs-v1", "control", False), id="control"),
        pytest.param("session-abc", Assignment("recs-v1", "bought-together", False), id="variant"),
        pytest.param("customer-42", Assignment("recs-v1", "control", True), id="holdout"),
    ],
)
def test_fixed_inputs_keep_their_arm(visitor: str, expected: Assignment) -> None:
    """Regression values computed once: a change here reshuffles every running experiment."""
    assert assign(SHOP, THREE_ARMS, visitor) == expected


def test_assignment_is_the_same_in_a_fresh_process() -> None:
    """A new interpreter, with a different str-hash seed, draws the same arms."""
    code = (
        "from cartwise.experiments import Arm, Experiment, assign\n"
        "e = Experiment('recs-v1', (Arm('control', 1, kind='no_recommendations'),"
        " Arm('hybrid', 1, settings={'k': 8}), Arm('bought-together', 1, settings={'k': 4})),"
        " holdout_share=0.1)\n"
        "for v in ['session-123', 'session-abc', 'customer-42']:\n"
        "    a = assign('demo.myshopify.com', e, v)\n"
        "    print(a.arm, a.holdout)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    ).stdout
    here = [assign(SHOP, THREE_ARMS, v) for v in ("session-123", "session-abc", "customer-42")]
    assert out.splitlines() == [f"{a.arm} {a.holdout}" for a in here]


@given(shop=st.text(min_size=1), visitor=st.text(min_size=1))
def test_same_input_same_arm(shop: str, visitor: str) -> None:
    first = assign(shop, THREE_ARMS, visitor)
    assert all(assign(shop, THREE_ARMS, visitor) == first for _ in range(3))
    assert first.arm in {arm.key for arm in THREE_ARMS.arms}


def test_equal_weights_are_uniform() -> None:
    experiment = _experiment(weights=(1, 1, 1, 1))
    counts = Counter(assign(SHOP, experiment, v).arm for v in VISITORS)
    observed = [counts[arm.key] for arm in experiment.arms]
    assert stats.chisquare(observed).pvalue > 0.001
    for count in observed:
        assert abs(count / N_IDS - 0.25) < 0.01


def test_weights_are_respected() -> None:
    experiment = _experiment(weights=(90, 10))
    counts = Counter(assign(SHOP, experiment, v).arm for v in VISITORS)
    observed = [counts["control"], counts["variant-1"]]
    assert stats.chisquare(observed, f_exp=[0.9 * N_IDS, 0.1 * N_IDS]).pvalue > 0.001
    assert abs(counts["variant-1"] / N_IDS - 0.10) < 0.01


def test_arms_are_independent_across_experiments() -> None:
    first, second = _experiment("recs-v1"), _experiment("widget-placement")
    index = {arm.key: i for i, arm in enumerate(first.arms)}
    table = [[0] * 3 for _ in range(3)]
    for v in VISITORS:
        table[index[assign(SHOP, first, v).arm]][index[assign(SHOP, second, v).arm]] += 1
    assert stats.chi2_contingency(table, correction=False).pvalue > 0.001


def test_holdout_share_is_respected_and_independent_of_the_arm() -> None:
    experiment = _experiment(weights=(1, 1), holdout=0.2)
    both_ways = _experiment(weights=(1, 1))
    held, table = 0, [[0, 0], [0, 0]]
    for v in VISITORS:
        held_out = assign(SHOP, experiment, v).holdout
        held += held_out
        # The arm this visitor would get without a holdout, crossed with being held out.
        arm = assign(SHOP, both_ways, v).arm
        table[int(held_out)][arm == "control"] += 1
    assert abs(held / N_IDS - 0.2) < 0.01
    assert stats.chi2_contingency(table, correction=False).pvalue > 0.001


def test_holdout_visitors_get_the_control_arm() -> None:
    experiment = _experiment(holdout=0.5)
    held = [a for a in (assign(SHOP, experiment, v) for v in VISITORS[:2000]) if a.holdout]
    assert held
    assert {a.arm for a in held} == {"control"}


def test_a_smaller_holdout_is_a_subset_of_a_larger_one() -> None:
    small, large = _experiment("a", holdout=0.05), _experiment("b", holdout=0.2)
    for v in VISITORS[:5000]:
        if assign(SHOP, small, v).holdout:
            assert assign(SHOP, large, v).holdout


def test_arm_lookup_by_key() -> None:
    assert THREE_ARMS.arm("hybrid").settings == {"k": 8}
    assert THREE_ARMS.control.kind == "no_recommendations"
    with pytest.raises(InvalidRequest):
        THREE_ARMS.arm("missing")


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: Arm("", 1), id="empty-arm-key"),
        pytest.param(lambda: Arm("a", 0), id="zero-weight"),
        pytest.param(lambda: Arm("a", float("nan")), id="nan-weight"),
        pytest.param(lambda: Arm("a", 1, kind="bogus"), id="unknown-kind"),  # type: ignore[arg-type]
        pytest.param(
            lambda: Arm("c", 1, kind="trending_only", settings={"k": 1}), id="control-settings"
        ),
        pytest.param(lambda: Experiment("", (Arm("c", 1, "trending_only"),)), id="empty-key"),
        pytest.param(lambda: Experiment("e", (Arm("c", 1, "trending_only"),)), id="no-variant"),
        pytest.param(lambda: Experiment("e", (Arm("v", 1), Arm("w", 1))), id="no-control"),
        pytest.param(
            lambda: Experiment(
                "e", (Arm("c", 1, "trending_only"), Arm("d", 1, "no_recommendations"), Arm("v", 1))
            ),
            id="two-controls",
        ),
        pytest.param(
            lambda: Experiment("e", (Arm("c", 1, "trending_only"), Arm("c", 1))), id="dup-keys"
        ),
        pytest.param(lambda: _experiment(holdout=0.51), id="holdout-too-big"),
        pytest.param(lambda: _experiment(holdout=-0.1), id="holdout-negative"),
    ],
)
def test_invalid_definitions_are_rejected(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidRequest):
        build()


@pytest.mark.parametrize(("shop", "visitor"), [("", "v"), (SHOP, "")])
def test_empty_shop_or_visitor_is_rejected(shop: str, visitor: str) -> None:
    with pytest.raises(InvalidRequest):
        assign(shop, THREE_ARMS, visitor)
