"""Significance tests against published worked examples, and the fixed-horizon decision."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from cartwise.errors import InvalidRequest
from cartwise.experiments import (
    SummaryStats,
    chi_square_2xk,
    decide,
    sample_size_two_proportions,
    two_proportion_z_test,
    welch_t_test,
)


def _summary(sample: list[float]) -> SummaryStats:
    return SummaryStats(len(sample), statistics.fmean(sample), statistics.variance(sample))


def test_welch_matches_the_wikipedia_worked_example() -> None:
    """Wikipedia, "Student's t-test", section "Worked examples", unequal variances.

    Published: standard error ≈ 0.04849, d.f. ≈ 7.031, t ≈ 1.959, two-tailed p "0.090". The
    page truncates p (0.09077…, which Rosetta Code prints in full below), so p is checked as
    lying in [0.090, 0.091).
    """
    a1 = [30.02, 29.99, 30.11, 29.97, 30.01, 29.99]
    a2 = [29.89, 29.93, 29.72, 29.98, 30.02, 29.98]
    result = welch_t_test(control=_summary(a2), variant=_summary(a1))
    assert round(result.difference / result.t, 5) == 0.04849
    assert round(result.df, 3) == 7.031
    assert round(result.t, 3) == 1.959
    assert 0.090 <= result.p_value < 0.091


@pytest.mark.parametrize(
    ("first", "second", "published_p"),
    [
        pytest.param(
            [
                27.5,
                21.0,
                19.0,
                23.6,
                17.0,
                17.9,
                16.9,
                20.1,
                21.9,
                22.6,
                23.1,
                19.6,
                19.0,
                21.7,
                21.4,
            ],
            [
                27.1,
                22.0,
                20.8,
                23.4,
                23.4,
                23.5,
                25.8,
                22.0,
                24.8,
                20.2,
                21.9,
                22.1,
                22.9,
                20.5,
                24.4,
            ],
            0.021378001462867,
            id="d1-d2",
        ),
        pytest.param(
            [30.02, 29.99, 30.11, 29.97, 30.01, 29.99],
            [29.89, 29.93, 29.72, 29.98, 30.02, 29.98],
            0.090773324285671,
            id="d7-d8",
        ),
        pytest.param([3.0, 4.0, 1.0, 2.1], [490.2, 340.0, 433.9], 0.010751561149785, id="x-y"),
    ],
)
def test_welch_p_value_matches_rosetta_code(
    first: list[float], second: list[float], published_p: float
) -> None:
    """Rosetta Code, task "Welch's t-test": the two-sided p-values it publishes to 15 digits."""
    result = welch_t_test(control=_summary(second), variant=_summary(first))
    assert result.p_value == pytest.approx(published_p, abs=1e-12)


def test_welch_interval_is_mean_difference_plus_minus_t_quantile_times_se() -> None:
    """The CI, recomputed here from the definition (no published interval found for it)."""
    control, variant = SummaryStats(40, 10.0, 4.0), SummaryStats(25, 11.5, 9.0)
    result = welch_t_test(control, variant, confidence=0.9)
    se = math.sqrt(4.0 / 40 + 9.0 / 25)
    df = se**4 / ((4.0 / 40) ** 2 / 39 + (9.0 / 25) ** 2 / 24)
    margin = stats.t.ppf(0.95, df) * se
    assert result.df == pytest.approx(df, rel=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx((1.5 - margin, 1.5 + margin))


def test_chi_square_matches_the_scipy_documentation_example() -> None:
    """scipy.stats.chi2_contingency docstring, "A two-way example (2 x 3)".

    Published: statistic 2.7777777777777777, pvalue 0.24935220877729619, dof 2.
    """
    result = chi_square_2xk([[10, 10, 20], [20, 20, 20]])
    assert result.statistic == pytest.approx(2.7777777777777777, rel=1e-15)
    assert result.p_value == pytest.approx(0.24935220877729619, rel=1e-14)
    assert result.dof == 2


def test_chi_square_agrees_with_scipy_on_random_tables() -> None:
    rng = np.random.default_rng(7)
    for k in (2, 3, 5, 8):
        table = rng.integers(1, 500, size=(2, k)).tolist()
        expected = stats.chi2_contingency(table, correction=False)
        result = chi_square_2xk(table)
        assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
        assert result.dof == expected.dof


def test_z_test_matches_a_published_worked_solution() -> None:
    """homeworksource.com/p/1008622: 140 of 200 against 255 of 340, pooled z.

    Published: z = -1.266015 (sample 1 minus sample 2). Its p-value (0.1030278, one-tailed) comes
    from a t distribution with 538 d.f., not the normal, so only z is checked against it, and the
    normal tail is checked against the standard library.
    """
    result = two_proportion_z_test(255, 340, 140, 200)
    assert round(result.z, 6) == -1.266015
    assert result.p_value == pytest.approx(2 * NormalDist().cdf(result.z), rel=1e-12)


def test_wald_interval_matches_a_published_worked_solution() -> None:
    """cmapstats "Project 39: Two-Prop Z Interval": 45/100 against 60/100 at 98 %.

    Published (to 2 decimals): [-0.31, 0.01].
    """
    result = two_proportion_z_test(60, 100, 45, 100, confidence=0.98)
    assert (round(result.ci_low, 2), round(result.ci_high, 2)) == (-0.31, 0.01)
    assert result.difference == pytest.approx(-0.15)


def test_z_squared_is_the_uncorrected_chi_square_of_the_2x2_table() -> None:
    result = two_proportion_z_test(176, 21211, 230, 21248)
    chi2 = stats.chi2_contingency([[176, 21035], [230, 21018]], correction=False)
    assert result.z**2 == pytest.approx(chi2.statistic, rel=1e-10)
    assert result.p_value == pytest.approx(chi2.pvalue, rel=1e-8)


def test_identical_degenerate_rates_are_not_significant() -> None:
    result = two_proportion_z_test(0, 50, 0, 80)
    assert (result.z, result.p_value) == (0.0, 1.0)


def test_sample_size_for_ten_percent_plus_two_points() -> None:
    """10 % → 12 %, alpha 0.05 two-sided, power 0.8: 3,841 per arm.

    No published table with this figure was found to cite, so the expected value is the pooled
    (null) / unpooled (alternative) normal-approximation formula recomputed here independently;
    the fully unpooled formula gives a smaller number, also checked.
    """
    z_a, z_b = NormalDist().inv_cdf(0.975), NormalDist().inv_cdf(0.8)
    pooled = (z_a * math.sqrt(2 * 0.11 * 0.89) + z_b * math.sqrt(0.09 + 0.12 * 0.88)) ** 2
    assert math.ceil(pooled / 0.02**2) == 3841
    assert sample_size_two_proportions(0.10, 0.02) == 3841
    unpooled = (z_a + z_b) ** 2 * (0.09 + 0.12 * 0.88) / 0.02**2
    assert math.ceil(unpooled) < 3841


def test_sample_size_grows_with_power_and_shrinks_with_effect() -> None:
    assert sample_size_two_proportions(0.1, 0.02, power=0.9) > 3841
    assert sample_size_two_proportions(0.1, 0.04) < 3841
    assert sample_size_two_proportions(0.1, -0.02) > 0


def test_decide_never_names_a_winner_before_the_horizon() -> None:
    decision = decide(100, 1000, 300, 1000, planned_n_per_arm=3841)
    assert decision.verdict == "keep collecting"
    assert decision.test is None
    assert "1000 of 3841" in decision.reason


@pytest.mark.parametrize(
    ("control", "variant", "verdict"),
    [
        pytest.param(384, 480, "variant wins", id="variant"),
        pytest.param(480, 384, "control wins", id="control"),
        pytest.param(384, 390, "no difference", id="none"),
    ],
)
def test_decide_at_the_horizon(control: int, variant: int, verdict: str) -> None:
    decision = decide(control, 3841, variant, 3900, planned_n_per_arm=3841)
    assert decision.verdict == verdict
    assert decision.test is not None
    assert "alpha = 0.05" in decision.reason


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: two_proportion_z_test(1, 0, 1, 10), id="empty-arm"),
        pytest.param(lambda: two_proportion_z_test(11, 10, 1, 10), id="too-many-successes"),
        pytest.param(lambda: two_proportion_z_test(1, 10, 1, 10, confidence=1.0), id="conf"),
        pytest.param(lambda: chi_square_2xk([[1, 2]]), id="one-row"),
        pytest.param(lambda: chi_square_2xk([[1], [2]]), id="one-column"),
        pytest.param(lambda: chi_square_2xk([[1, 2], [3]]), id="ragged"),
        pytest.param(lambda: chi_square_2xk([[1, 0], [3, 0]]), id="empty-column"),
        pytest.param(lambda: chi_square_2xk([[1, -1], [3, 2]]), id="negative"),
        pytest.param(lambda: welch_t_test(SummaryStats(1, 0, 1), SummaryStats(5, 0, 1)), id="n-1"),
        pytest.param(
            lambda: welch_t_test(SummaryStats(5, 0, 0), SummaryStats(5, 1, 0)), id="zero-var"
        ),
        pytest.param(
            lambda: welch_t_test(SummaryStats(5, 0, -1), SummaryStats(5, 1, 1)), id="neg-var"
        ),
        pytest.param(lambda: sample_size_two_proportions(0.1, 0.0), id="no-effect"),
        pytest.param(lambda: sample_size_two_proportions(0.95, 0.1), id="rate-over-1"),
        pytest.param(lambda: sample_size_two_proportions(0.1, 0.02, alpha=0), id="alpha"),
        pytest.param(lambda: decide(1, 10, 1, 10, planned_n_per_arm=0), id="no-plan"),
    ],
)
def test_invalid_arguments_are_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(InvalidRequest):
        call()
