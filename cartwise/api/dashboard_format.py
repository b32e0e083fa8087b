"""How the merchant dashboard writes numbers, money, times and ages: one place, so a rate reads
"5.0 %" in every section and a missing figure is a dash rather than "nan". No Flask."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

__all__ = ["PLACEMENT_NAMES", "age", "count", "money", "percent", "placement", "points", "when"]

DASH = "—"

PLACEMENT_NAMES = {
    "cart": "Cart",
    "checkout": "Checkout",
    "product": "Product page",
    "thank_you": "Thank-you page",
    "home": "Home page",
    "other": "Other",
    "": "No placement",
}


def percent(rate: float | None, digits: int = 1) -> str:
    """A rate in [0, 1] as "5.0 %"; a dash for None or a non-finite value."""
    if rate is None or not math.isfinite(rate):
        return DASH
    return f"{rate * 100:.{digits}f} %"


def points(difference: float) -> str:
    """A difference of two rates in percentage points, signed: "+1.2 pp"."""
    if not math.isfinite(difference):
        return DASH
    return f"{difference * 100:+.1f} pp".replace("-", "\u2212")


def count(n: float | None) -> str:
    if n is None or not math.isfinite(n):
        return DASH
    return f"{n:,.0f}"


def money(amount: float | None) -> str:
    """An amount in the shop's currency (the readout does not know which): "12.50"."""
    if amount is None or not math.isfinite(amount):
        return DASH
    return f"{amount:,.2f}"


def when(at: datetime | None) -> str:
    """A UTC time as "2026-11-02 08:00 UTC": merchants sit in every timezone."""
    if at is None:
        return DASH
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(span: timedelta) -> str:
    """A duration as a merchant says it: "just now", "5 minutes", "3 hours", "2 days"."""
    seconds = max(span.total_seconds(), 0.0)
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return "less than a minute"


def placement(name: str) -> str:
    return PLACEMENT_NAMES.get(name, name)
