"""The dashboard's experiments section: each experiment with its latest stored readout (see
`cartwise.readouts` for the document's shape) as per-arm rows, confidence intervals of variant
minus control, and the fixed-horizon decision in the readout's own words.

The section never names a winner on its own: only a verdict of "variant wins" or "control wins"
from the readout does, and intervals are drawn in colour only once the verdict is final.
Imports layers 0-4 and the chart renderer; no Flask."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup

from cartwise.api.charts import IntervalRow, interval_chart
from cartwise.storage import Store

__all__ = ["ArmRow", "ComparisonView", "ExperimentView", "experiments"]

_FINAL = frozenset({"variant wins", "control wins", "no difference"})


@dataclass(frozen=True, slots=True)
class ArmRow:
    key: str
    control: bool
    visitors: int
    holdout_visitors: int
    ctr: float
    conversion_rate: float
    average_order_value: float
    revenue_per_visitor: float
    checkout_completion_rate: float


@dataclass(frozen=True, slots=True)
class ComparisonView:
    control: str
    variant: str
    verdict: str
    reason: str
    guardrail: bool

    @property
    def winner(self) -> str | None:
        """The arm the readout's verdict names, and only then."""
        if self.verdict == "variant wins":
            return self.variant
        if self.verdict == "control wins":
            return self.control
        return None


@dataclass(frozen=True, slots=True)
class ExperimentView:
    key: str
    running: bool
    started_at: datetime
    stopped_at: datetime | None
    computed_at: datetime | None
    holdout_share: float
    planned_visitors_per_arm: int | None
    arms: list[ArmRow]
    comparisons: list[ComparisonView]
    conversion_chart: Markup | None
    revenue_chart: Markup | None


def experiments(store: Store, shop: str) -> list[ExperimentView]:
    """Every experiment of the shop, newest first, each with its latest readout if any."""
    views = []
    for record in store.experiments.all(shop):
        stored = store.experiments.report(shop, record.key)
        report, computed_at = stored if stored is not None else ({}, None)
        views.append(
            _view(
                record.key,
                record.running,
                record.started_at,
                record.stopped_at,
                report,
                computed_at,
                float(record.definition.get("holdout_share", 0.0) or 0.0),
            )
        )
    return views


def _view(
    key: str,
    running: bool,
    started_at: datetime,
    stopped_at: datetime | None,
    report: Mapping[str, Any],
    computed_at: datetime | None,
    defined_holdout: float,
) -> ExperimentView:
    control = str(report.get("control", ""))
    arms = [
        _arm(name, values, name == control)
        for name, values in sorted(
            dict(report.get("arms") or {}).items(), key=lambda item: (item[0] != control, item[0])
        )
    ]
    comparisons = [
        ComparisonView(
            control=str(c.get("control", "")),
            variant=str(c.get("variant", "")),
            verdict=str((c.get("decision") or {}).get("verdict", "")),
            reason=str((c.get("decision") or {}).get("reason", "")),
            guardrail=bool(c.get("guardrail")),
        )
        for c in report.get("comparisons") or []
    ]
    raw = list(report.get("comparisons") or [])
    planned = report.get("planned_visitors_per_arm")
    return ExperimentView(
        key=key,
        running=running,
        started_at=started_at,
        stopped_at=stopped_at,
        computed_at=computed_at,
        holdout_share=float(report.get("holdout_share", defined_holdout) or 0.0),
        planned_visitors_per_arm=int(planned) if isinstance(planned, int) else None,
        arms=arms,
        comparisons=comparisons,
        conversion_chart=_chart(
            raw,
            comparisons,
            "conversion",
            "Conversion rate, variant − control (percentage points, 95 % CI)",
            scale=100.0,
            unit=" pp",
        )
        if raw
        else None,
        revenue_chart=_chart(
            raw,
            comparisons,
            "revenue_per_visitor",
            "Revenue per visitor, variant − control (shop currency, 95 % CI)",
            scale=1.0,
            unit="",
        )
        if raw
        else None,
    )


def _arm(name: str, values: Mapping[str, Any], control: bool) -> ArmRow:
    def number(field: str, base: str) -> float:
        """The rate or mean, NaN (shown as a dash) where its denominator is 0: the readout
        writes 0 there, which would read as a measured zero."""
        value, denominator = values.get(field), values.get(base)
        if not isinstance(value, int | float) or not denominator:
            return math.nan
        return float(value)

    return ArmRow(
        key=name,
        control=control,
        visitors=int(values.get("visitors") or 0),
        holdout_visitors=int(values.get("holdout_visitors") or 0),
        ctr=number("ctr", "impressions"),
        conversion_rate=number("conversion_rate", "visitors"),
        average_order_value=number("average_order_value", "orders"),
        revenue_per_visitor=number("revenue_per_visitor", "visitors"),
        checkout_completion_rate=number("checkout_completion_rate", "checkouts_started"),
    )


def _chart(
    raw: list[Mapping[str, Any]],
    views: list[ComparisonView],
    test: str,
    title: str,
    *,
    scale: float,
    unit: str,
) -> Markup:
    rows = []
    for comparison, view in zip(raw, views, strict=True):
        found = comparison.get(test)
        estimate = low = high = math.nan
        if isinstance(found, Mapping):
            estimate, low, high = (
                float(found.get(name, math.nan)) * scale
                for name in ("difference", "ci_low", "ci_high")
            )
            # The readout writes an undefined statistic as 0; an interval that no longer
            # holds its estimate is one of those, and is shown as n/a rather than drawn.
            if not low <= estimate <= high:
                estimate = low = high = math.nan
        rows.append(
            IntervalRow(
                f"{view.variant} vs {view.control}",
                estimate,
                low,
                high,
                highlight=view.verdict in _FINAL,
            )
        )

    def signed(value: float) -> str:
        if abs(value) < 0.005:
            return "0" + unit
        text = f"{value:+.2f}".rstrip("0").rstrip(".")
        return text.replace("-", "\u2212") + unit

    return Markup(interval_chart(rows, width=800, title=title, x_format=signed))  # nosec B704: charts escape every label
