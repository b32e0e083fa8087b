"""What the dashboard's overview and KPI sections show, read from small tables only: the daily
event rollup (`event_daily`, never `tracked_events`), the model's version stamp, order and job
counts, sync state and the newest webhook arrival times. Each figure is turned into the view
model a template prints, charts as inline SVG. Imports layers 0-4 and the chart renderer."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Final

from markupsafe import Markup

from cartwise.api import dashboard_format as fmt
from cartwise.api.charts import Series, line_chart, meter
from cartwise.experiments import Anomaly, detect, silence
from cartwise.storage import Store
from cartwise.storage.tracking import DailyCount

__all__ = [
    "ALERT_DAYS",
    "CLICKS_FOR_STABLE_CTR",
    "KPI_DAYS",
    "ORDERS_TO_BEAT_POPULARITY",
    "Alert",
    "KpiCharts",
    "Overview",
    "PlacementEvidence",
    "kpi_charts",
    "overview",
]

CLICKS_FOR_STABLE_CTR: Final = 1_000
"""With about 1,000 clicks a placement's CTR is known to within about ±6 % of its value (95 %):
the relative error of a rate is about 1/√clicks."""
ORDERS_TO_BEAT_POPULARITY: Final = 500
"""Below about 500 orders the model's co-occurrence signal is thin and best-sellers do as well."""
OVERVIEW_DAYS: Final = 30
KPI_DAYS: Final = 90
ANOMALY_HISTORY_DAYS: Final = 60
"""Days the EWMA forecast learns from before the days it judges."""
ALERT_DAYS: Final = 7
"""Anomalies are reported for the last this many complete days; older ones are history."""
MIN_IMPRESSIONS_FOR_CTR: Final = 50
"""A day with fewer impressions has no CTR worth scoring (3 impressions, 1 click is not news)."""
Z_THRESHOLD: Final = 3.0
WEBHOOK_SAMPLE: Final = 50
MIN_DELIVERIES_FOR_RHYTHM: Final = 10
MIN_WEBHOOK_INTERVAL: Final = timedelta(hours=1)
"""The expected gap between webhooks is never taken below an hour: a quiet night at a busy shop
is not an outage."""
SILENCE_TOLERANCE: Final = 3.0
STALE_MODEL_REBUILDS: Final = 3
"""A model older than this many rebuild intervals means the rebuild job is not running."""

_KINDS: Final = ("impression", "click", "add_to_cart")
CHART_WIDTH: Final = 960
"""The card's width on a desktop admin; the SVG scales down on narrower screens."""


@dataclass(frozen=True, slots=True)
class Alert:
    """Something the merchant should look at; `kind` groups alerts for styling and tests."""

    kind: str
    title: str
    detail: str


@dataclass(frozen=True, slots=True)
class PlacementEvidence:
    name: str
    impressions: int
    clicks: int
    add_to_carts: int
    meter: Markup

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.impressions if self.impressions else None


@dataclass(frozen=True, slots=True)
class SyncRow:
    resource: str
    status: str
    message: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Overview:
    model_version: int | None
    model_built_at: datetime | None
    model_age: timedelta | None
    events_chart: Markup
    events_total: dict[str, int]
    placements: list[PlacementEvidence]
    orders: int
    orders_meter: Markup
    alerts: list[Alert]
    sync: list[SyncRow]
    jobs: dict[str, int]


@dataclass(frozen=True, slots=True)
class KpiCharts:
    impressions: Markup
    ctr: Markup
    add_to_cart_rate: Markup
    placements: list[str]
    first_day: date | None
    last_day: date


class _Rollup:
    """The daily counts of a window as (day, placement) → kind → count."""

    def __init__(self, rows: Iterable[DailyCount]) -> None:
        self.cells: dict[tuple[date, str], Counter[str]] = defaultdict(Counter)
        for row in rows:
            self.cells[row.day, row.placement][row.kind] += row.count

    def per_day(self, since: date, until: date) -> dict[date, Counter[str]]:
        days: dict[date, Counter[str]] = defaultdict(Counter)
        for (day, _), kinds in self.cells.items():
            if since <= day <= until:
                days[day].update(kinds)
        return days

    def per_placement(self, since: date | None = None) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for (day, name), kinds in self.cells.items():
            if since is None or day >= since:
                out[name].update(kinds)
        return out

    def first_day(self) -> date | None:
        return min((day for day, _ in self.cells), default=None)


def overview(store: Store, shop: str, now: datetime, *, rebuild_every: timedelta) -> Overview:
    """The overview of `shop` at `now` (timezone-aware UTC). `rebuild_every` is the scheduled
    model rebuild interval, for the stale-model alert."""
    today = now.date()
    rollup = _Rollup(store.tracking.daily(shop))
    stamp = store.models.latest_stamp(shop)
    version, built_at = stamp if stamp is not None else (None, None)
    model_age = now - built_at if built_at is not None else None
    since = today - timedelta(days=OVERVIEW_DAYS - 1)
    days = rollup.per_day(since, today)
    calendar = [since + timedelta(days=i) for i in range(OVERVIEW_DAYS)]
    series = [
        Series(label, [(d, float(days[d][kind])) for d in calendar])
        for kind, label in zip(_KINDS, ("Impressions", "Clicks", "Add-to-carts"), strict=True)
    ]
    chart = line_chart(
        series,
        title=f"Storefront events per day, last {OVERVIEW_DAYS} days",
        y_label="events",
        width=CHART_WIDTH,
    )
    totals = Counter[str]()
    for kinds in days.values():
        totals.update(kinds)
    placements = [
        PlacementEvidence(
            fmt.placement(name),
            kinds["impression"],
            kinds["click"],
            kinds["add_to_cart"],
            Markup(meter(kinds["click"], CLICKS_FOR_STABLE_CTR, label=f"{fmt.placement(name)}")),  # nosec B704: charts.meter() escapes its label
        )
        for name, kinds in sorted(
            rollup.per_placement().items(), key=lambda item: (-item[1]["impression"], item[0])
        )
    ]
    orders = store.orders.count(shop)
    alerts = _anomalies(rollup, today)
    alerts += _webhook_silence(store.events.received_times(shop, limit=WEBHOOK_SAMPLE), now)
    if model_age is not None and model_age > STALE_MODEL_REBUILDS * rebuild_every:
        alerts.append(
            Alert(
                "model",
                "The model has not been rebuilt for " + fmt.age(model_age),
                f"Rebuilds are due every {fmt.age(rebuild_every)}; check that the job worker "
                "is running.",
            )
        )
    jobs = store.jobs.counts(shop)
    if jobs.get("failed"):
        alerts.append(
            Alert(
                "jobs",
                f"{fmt.count(jobs['failed'])} background jobs failed",
                "Their errors are in the worker's log; the data they carried was not applied.",
            )
        )
    sync = [
        SyncRow(s.resource, s.status, s.message, s.updated_at) for s in store.sync.for_shop(shop)
    ]
    alerts += [
        Alert("sync", f"Syncing {s.resource} failed", s.message or "See the worker's log.")
        for s in sync
        if s.status == "failed"
    ]
    return Overview(
        model_version=version,
        model_built_at=built_at,
        model_age=model_age,
        events_chart=Markup(chart),  # nosec B704: charts.line_chart() escapes every label
        events_total={kind: totals[kind] for kind in _KINDS},
        placements=placements,
        orders=orders,
        orders_meter=Markup(  # nosec B704: charts.meter() escapes its label
            meter(orders, ORDERS_TO_BEAT_POPULARITY, label="Orders in storage", width=320)
        ),
        alerts=alerts,
        sync=sync,
        jobs=jobs,
    )


def _anomalies(rollup: _Rollup, today: date) -> list[Alert]:
    """EWMA anomalies of complete days (today is still filling up: it would always look like a
    drop) in daily CTR and daily event volume, reported for the last `ALERT_DAYS` days."""
    last = today - timedelta(days=1)
    start = max(today - timedelta(days=ANOMALY_HISTORY_DAYS), rollup.first_day() or today)
    days = rollup.per_day(start, last)
    calendar = [start + timedelta(days=i) for i in range((last - start).days + 1)]
    volume = [(d, float(sum(days[d][k] for k in _KINDS))) for d in calendar]
    ctr = [
        (d, days[d]["click"] / days[d]["impression"])
        for d in calendar
        if days[d]["impression"] >= MIN_IMPRESSIONS_FOR_CTR
    ]
    recent = today - timedelta(days=ALERT_DAYS)
    found: list[Anomaly[date]] = [
        *detect(ctr, "ctr", Z_THRESHOLD),
        *detect(volume, "volume", Z_THRESHOLD),
    ]
    return [_anomaly_alert(a) for a in sorted(found, key=lambda a: a.at) if a.at >= recent]


def _anomaly_alert(found: Anomaly[date]) -> Alert:
    day = f"{found.at:%b} {found.at.day}"
    if found.metric == "ctr":
        return Alert(
            "ctr",
            f"Click-through rate {found.direction} on {day}",
            f"{fmt.percent(found.value)} against about {fmt.percent(found.expected)} expected "
            f"from the days before (z = {found.z:+.1f}).",
        )
    hint = (
        " Check that the storefront block still loads and sends its events."
        if found.direction == "drop"
        else " A campaign, or a bot clicking through the storefront?"
    )
    return Alert(
        "volume",
        f"Storefront events {found.direction} on {day}",
        f"{fmt.count(found.value)} events against about {fmt.count(found.expected)} expected "
        f"from the days before (z = {found.z:+.1f}).{hint}",
    )


def _webhook_silence(received: Sequence[datetime], now: datetime) -> list[Alert]:
    """A silence when nothing arrived for `SILENCE_TOLERANCE` × the expected gap: the median gap
    of the newest deliveries (at least `MIN_DELIVERIES_FOR_RHYTHM` of them, else an hour),
    floored at `MIN_WEBHOOK_INTERVAL`."""
    if not received:
        return []
    expected = MIN_WEBHOOK_INTERVAL
    if len(received) >= MIN_DELIVERIES_FOR_RHYTHM:
        gaps = [(a - b).total_seconds() for a, b in pairwise(received)]
        expected = max(expected, timedelta(seconds=statistics.median(gaps)))
    quiet = silence(received[0], now, expected, SILENCE_TOLERANCE)
    if quiet is None:
        return []
    return [
        Alert(
            "webhooks",
            f"No webhook from Shopify for {fmt.age(quiet.quiet_for)}",
            f"The last one arrived {fmt.when(quiet.last_seen)}; they usually come every "
            f"{fmt.age(quiet.expected_interval)} or sooner. New orders and catalog changes "
            "are not reaching cartwise: check the app's webhook subscriptions.",
        )
    ]


def kpi_charts(store: Store, shop: str, now: datetime) -> KpiCharts:
    """Daily impressions, CTR and add-to-cart rate per placement over the last `KPI_DAYS`
    days, from the first day with events. A day without impressions is a gap in a rate line."""
    today = now.date()
    since = today - timedelta(days=KPI_DAYS - 1)
    rollup = _Rollup(store.tracking.daily(shop, since))
    first = rollup.first_day()
    start = first if first is not None else since
    calendar = [start + timedelta(days=i) for i in range((today - start).days + 1)]
    order = sorted(
        rollup.per_placement().items(), key=lambda item: (-item[1]["impression"], item[0])
    )
    names = [name for name, _ in order]

    def line(name: str, value: str) -> Series:
        points = []
        for d in calendar:
            kinds = rollup.cells.get((d, name), Counter[str]())
            shown = kinds["impression"]
            if value == "impression":
                points.append((d, float(shown)))
            else:
                points.append((d, 100.0 * kinds[value] / shown if shown else math.nan))
        return Series(fmt.placement(name), points)

    window = f"last {KPI_DAYS} days" if first is None or first <= since else f"since {start}"
    return KpiCharts(
        impressions=Markup(  # nosec B704: charts.line_chart() escapes every label
            line_chart(
                [line(n, "impression") for n in names],
                title=f"Impressions per day by placement, {window}",
                y_label="impressions",
                width=CHART_WIDTH,
            )
        ),
        ctr=Markup(  # nosec B704: charts.line_chart() escapes every label
            line_chart(
                [line(n, "click") for n in names],
                title=f"Click-through rate by placement, {window}",
                y_label="CTR (%)",
                width=CHART_WIDTH,
            )
        ),
        add_to_cart_rate=Markup(  # nosec B704: charts.line_chart() escapes every label
            line_chart(
                [line(n, "add_to_cart") for n in names],
                title=f"Add-to-cart rate by placement, {window}",
                y_label="add-to-cart rate (%)",
                width=CHART_WIDTH,
            )
        ),
        placements=[fmt.placement(n) for n in names],
        first_day=first,
        last_day=today,
    )
