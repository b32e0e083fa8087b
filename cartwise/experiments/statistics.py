"""Significance tests and the fixed-horizon plan that keeps experiment readouts honest.

Rates are compared with a two-proportion z-test, per-visitor values (revenue, order value) with
Welch's t-test from summary statistics, arm distributions with Pearson's chi-square. `decide`
refuses to name a winner before the planned sample size, so peeking at the dashboard cannot
inflate the false-positive rate. Imports layer 0 only, plus scipy for the t and chi-square tails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from scipy import stats as _scipy_stats

from cartwise.errors import InvalidRequest

Verdict = Literal["keep collecting", "variant wins", "control wins", "no difference"]

_NORMAL = NormalDist()


@dataclass(frozen=True)
class ProportionTest:
    """A two-proportion z-test: `difference` is variant rate minus control rate.

    `z` uses the pooled standard error (the null hypothesis of equal rates); the confidence
    interval is the Wald interval, from the unpooled standard error.
    """

    control_rate: float
    variant_rate: float
    difference: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class ChiSquareTest:
    statistic: float
    p_value: float
    dof: int


@dataclass(frozen=True)
class SummaryStats:
    """One arm's sample: size, mean and unbiased (n - 1) variance of a per-visitor value."""

    n: int
    mean: float
    variance: float


@dataclass(frozen=True)
class WelchTest:
    """Welch's t-test: `difference` is variant minus control mean; `df` is Welch–Satterthwaite."""

    difference: float
    t: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    test: ProportionTest | None


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise InvalidRequest("confidence must be strictly between 0 and 1")


def _check_counts(successes: int, n: int, arm: str) -> None:
    if n <= 0:
        raise InvalidRequest(f"{arm}: the sample size must be positive")
    if not 0 <= successes <= n:
        raise InvalidRequest(f"{arm}: successes must be between 0 and the sample size")


def two_proportion_z_test(
    control_successes: int,
    control_n: int,
    variant_successes: int,
    variant_n: int,
    confidence: float = 0.95,
) -> ProportionTest:
    """Two-sided z-test of equal rates (add-to-cart per session, say) and a CI of the difference."""
    _check_counts(control_successes, control_n, "control")
    _check_counts(variant_successes, variant_n, "variant")
    _check_confidence(confidence)
    p_c = control_successes / control_n
    p_v = variant_successes / variant_n
    difference = p_v - p_c
    pooled = (control_successes + variant_successes) / (control_n + variant_n)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / control_n + 1 / variant_n))
    if pooled_se == 0.0:
        z, p_value = 0.0, 1.0
    else:
        z = difference / pooled_se
        p_value = 2 * _NORMAL.cdf(-abs(z))
    wald_se = math.sqrt(p_c * (1 - p_c) / control_n + p_v * (1 - p_v) / variant_n)
    margin = _NORMAL.inv_cdf(0.5 + confidence / 2) * wald_se
    low, high = difference - margin, difference + margin
    return ProportionTest(p_c, p_v, difference, z, p_value, low, high)


def chi_square_2xk(table: Sequence[Sequence[int]]) -> ChiSquareTest:
    """Pearson's chi-square test of independence for a 2×k table of counts, no Yates correction.

    Raises `InvalidRequest` unless there are 2 rows of equal length k >= 2, of non-negative counts,
    with no empty row or column (its expected counts would be zero).
    """
    if len(table) != 2 or len(table[0]) != len(table[1]) or len(table[0]) < 2:
        raise InvalidRequest("the table must have 2 rows of the same length, at least 2")
    if any(count < 0 for row in table for count in row):
        raise InvalidRequest("counts must be non-negative")
    row_sums = [sum(row) for row in table]
    col_sums = [a + b for a, b in zip(table[0], table[1], strict=True)]
    total = sum(row_sums)
    if 0 in row_sums or 0 in col_sums:
        raise InvalidRequest("every row and column of the table needs at least one count")
    statistic = 0.0
    for row, row_sum in zip(table, row_sums, strict=True):
        for observed, col_sum in zip(row, col_sums, strict=True):
            expected = row_sum * col_sum / total
            statistic += (observed - expected) ** 2 / expected
    dof = len(col_sums) - 1
    return ChiSquareTest(statistic, float(_scipy_stats.chi2.sf(statistic, dof)), dof)


def welch_t_test(
    control: SummaryStats, variant: SummaryStats, confidence: float = 0.95
) -> WelchTest:
    """Welch's two-sided t-test of equal means from summary statistics, with a CI.

    Raises `InvalidRequest` for fewer than 2 observations in an arm, a negative variance, or two
    zero variances (the test is undefined).
    """
    _check_confidence(confidence)
    for name, arm in (("control", control), ("variant", variant)):
        if arm.n < 2:
            raise InvalidRequest(f"{name}: Welch's test needs at least 2 observations")
        if not math.isfinite(arm.variance) or arm.variance < 0:
            raise InvalidRequest(f"{name}: the variance must be a non-negative number")
    share_c = control.variance / control.n
    share_v = variant.variance / variant.n
    se_squared = share_c + share_v
    if se_squared == 0.0:
        raise InvalidRequest("both variances are zero: Welch's test is undefined")
    df = se_squared**2 / (share_c**2 / (control.n - 1) + share_v**2 / (variant.n - 1))
    se = math.sqrt(se_squared)
    difference = variant.mean - control.mean
    t = difference / se
    p_value = float(2 * _scipy_stats.t.sf(abs(t), df))
    margin = float(_scipy_stats.t.ppf(0.5 + confidence / 2, df)) * se
    return WelchTest(difference, t, df, p_value, difference - margin, difference + margin)


def sample_size_two_proportions(
    baseline: float, minimum_detectable_effect: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Visitors per arm for a two-sided two-proportion z-test, rounded up.

    `minimum_detectable_effect` is absolute (0.02 is 10 % → 12 %). The formula is the usual
    normal approximation without continuity correction: pooled variance under the null, unpooled
    under the alternative,
    n = (z_{1-α/2}·√(2·p̄·(1-p̄)) + z_{power}·√(p1·(1-p1) + p2·(1-p2)))² / δ².
    """
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise InvalidRequest("alpha and power must be strictly between 0 and 1")
    p1 = baseline
    p2 = baseline + minimum_detectable_effect
    if minimum_detectable_effect == 0.0 or not (0.0 < p1 < 1.0 and 0.0 < p2 < 1.0):
        raise InvalidRequest("baseline and baseline + effect must be rates in (0, 1), and differ")
    mean_rate = (p1 + p2) / 2
    z_alpha = _NORMAL.inv_cdf(1 - alpha / 2)
    z_power = _NORMAL.inv_cdf(power)
    root = z_alpha * math.sqrt(2 * mean_rate * (1 - mean_rate)) + z_power * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil(root**2 / minimum_detectable_effect**2)


def decide(
    control_successes: int,
    control_n: int,
    variant_successes: int,
    variant_n: int,
    planned_n_per_arm: int,
    alpha: float = 0.05,
) -> Decision:
    """A fixed-horizon readout: no verdict until both arms reach `planned_n_per_arm`.

    Before the horizon the answer is always "keep collecting", whatever the interim p-value; after
    it, a two-sided z-test at `alpha` names the better arm or says there is no difference.
    """
    if planned_n_per_arm <= 0:
        raise InvalidRequest("the planned sample size must be positive")
    if not 0.0 < alpha < 1.0:
        raise InvalidRequest("alpha must be strictly between 0 and 1")
    reached = min(control_n, variant_n)
    if reached < planned_n_per_arm:
        return Decision(
            "keep collecting",
            f"{reached} of {planned_n_per_arm} planned visitors in the smaller arm",
            None,
        )
    test = two_proportion_z_test(
        control_successes, control_n, variant_successes, variant_n, confidence=1 - alpha
    )
    if test.p_value >= alpha:
        return Decision(
            "no difference", f"p = {test.p_value:.4g} is not below alpha = {alpha:g}", test
        )
    verdict: Verdict = "variant wins" if test.difference > 0 else "control wins"
    return Decision(
        verdict,
        f"p = {test.p_value:.4g} < alpha = {alpha:g}; rate difference {test.difference:+.4g}",
        test,
    )
