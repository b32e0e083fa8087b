"""Server-rendered SVG charts for the embedded merchant dashboard: no script, no CDN, no library.

Pure functions from numbers to markup that is safe to inline in HTML: every label is escaped
(merchants name products and experiments), no `nan` or `inf` is ever written, and styling is
done with presentation attributes, which a strict Content-Security-Policy does not block. It
imports no Flask: it lives in the delivery layer only because only the dashboard draws.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Final, TypeVar
from xml.sax.saxutils import escape, quoteattr

from cartwise.errors import InvalidRequest

Format = Callable[[float], str]
_P = TypeVar("_P")

PALETTE: Final = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
"""Okabe–Ito: told apart with the common colour-vision deficiencies; the second round dashes."""

_FONT: Final = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
_INK, _MUTED, _GRID, _AXIS = "#303030", "#616161", "#e3e3e3", "#8a8a8a"
_SIZE, _TITLE_SIZE = 12, 14
_CHAR: Final = 0.6 * _SIZE
"""Estimated width of one character of 12 px text; SVG cannot measure text on the server."""
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_LARGEST: Final = 1e15
"""Values beyond ± this are refused: far past any shop's figures; the axis maths stays finite."""
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 forbids even escaped; a stray one in a product title would break the page."""


@dataclass(frozen=True)
class Series:
    """A named line of (day, value) points; `band`, if given, is a (low, high) per point."""

    label: str
    points: Sequence[tuple[date, float]]
    band: Sequence[tuple[float, float]] | None = None


@dataclass(frozen=True)
class IntervalRow:
    """One difference with its confidence interval; `highlight` draws it in colour."""

    label: str
    estimate: float
    low: float
    high: float
    highlight: bool = False


def line_chart(
    series: Sequence[Series],
    *,
    width: int = 640,
    height: int = 240,
    title: str,
    y_label: str,
    y_format: Format | None = None,
) -> str:
    """A time-series line chart, one line per series, with day ticks, nice value ticks and a legend.

    Non-finite values are gaps in their line, not errors (a day without data). No finite point
    at all draws "No data yet". Raises `InvalidRequest` for a size too small to draw in, a band
    whose length differs from its series', or a value beyond ±10¹⁵.
    """
    _check_dimension("width", width, 240)
    _check_dimension("height", height, 140)
    lines = [_Line.of(s, i) for i, s in enumerate(series)]
    values = _check_magnitude([v for line in lines for v in line.values()])
    out = _open(width, height, title)
    out.append(
        _text(8, 18, _fit(title, width - 16, _TITLE_SIZE, bold=True), size=_TITLE_SIZE, bold=True)
    )
    if not values:
        return _close([*out, _no_data(width / 2, height / 2 + 10)])
    legend_bottom = _legend(out, lines, width)
    top, bottom = legend_bottom + 12, height - 26
    days = [d for line in lines for d, _, _ in line.points]
    x0, x1 = min(days), max(days)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    ticks = _nice_ticks(min(values), max(values), max(2, int((bottom - top) // 36)))
    fmt = y_format or _number_format(ticks)
    labels = [fmt(t) for t in ticks]
    left = 28 + max(len(label) for label in labels) * _CHAR
    plot = _Plot(left, top, width - 24.0, bottom, x0, x1, ticks[0], ticks[-1])
    for tick, label in zip(ticks, labels, strict=True):
        y = plot.y(tick)
        out.append(_line(plot.left, y, plot.right, y, _GRID))
        out.append(_text(plot.left - 6, y + 4, label, anchor="end", colour=_MUTED))
    mid = (plot.top + plot.bottom) / 2
    out.append(
        f'<text x="14" y="{_n(mid)}" transform="rotate(-90 14 {_n(mid)})" text-anchor="middle"'
        f' fill="{_MUTED}">{_esc(_fit(y_label, plot.bottom - plot.top, _SIZE))}</text>'
    )
    out.append(_line(plot.left, plot.bottom, plot.right, plot.bottom, _AXIS))
    for day, label in _day_ticks(x0, x1, max(2, int((plot.right - plot.left) // 72))):
        x = plot.x(day)
        out.append(_line(x, plot.bottom, x, plot.bottom + 4, _AXIS))
        out.append(_text(x, plot.bottom + 17, label, anchor="middle", colour=_MUTED))
    tip_format = y_format or _number_format(ticks, extra=1, trim=True)
    # Dense lines get no marks; one hover column per day tells every series' value instead.
    dense = max(len(line.points) for line in lines) > (plot.right - plot.left) / 8
    for line in lines:
        out.extend(line.draw(plot, tip_format, marks=not dense))
    if dense:
        out.append(_hover_columns(plot, lines, tip_format))
    return _close(out)


def interval_chart(
    rows: Sequence[IntervalRow],
    *,
    width: int = 640,
    title: str,
    x_format: Format | None = None,
) -> str:
    """A horizontal forest plot: each row's estimate and interval against a zero line.

    The height follows the number of rows. A row with a non-finite number reads "n/a" (an arm
    with no traffic yet). Raises `InvalidRequest` for a row whose interval does not contain its
    estimate, a number beyond ±10¹⁵, or a width too small to draw in.
    """
    _check_dimension("width", width, 320)
    row_h, top = 30, 34
    height = top + max(len(rows), 1) * row_h + 30
    out = _open(width, height, title)
    out.append(
        _text(8, 18, _fit(title, width - 16, _TITLE_SIZE, bold=True), size=_TITLE_SIZE, bold=True)
    )
    known = [r for r in rows if _finite_row(r)]
    for r in known:
        if not r.low <= r.estimate <= r.high:
            raise InvalidRequest(f"interval row {r.label!r}: the estimate is outside [low, high]")
    if not known:
        return _close([*out, _no_data(width / 2, top + row_h / 2 + 4)])
    lo = min(0.0, *_check_magnitude([r.low for r in known]))
    hi = max(0.0, *_check_magnitude([r.high for r in known]))
    label_w = min(max(len(r.label) for r in rows) * _CHAR + 16, width * 0.3)
    bottom = top + len(rows) * row_h
    # Fewer ticks until their labels fit side by side ("−3.0 pp" is wider than "−3").
    for target in range(max(2, width // 128), 1, -1):
        ticks = _nice_ticks(lo, hi, target)
        fmt = x_format or _signed(_number_format(ticks))
        # Estimates carry one digit more than the ticks: "+1.2 [−0.3, +2.7]" on ticks of 1.
        show = x_format or _signed(_number_format(ticks, extra=1))
        texts = [
            f"{show(r.estimate)} [{show(r.low)}, {show(r.high)}]" if _finite_row(r) else None
            for r in rows
        ]
        value_w = max(len(t) for t in texts if t) * _CHAR + 12
        plot = _Plot(label_w + 8, top, width - value_w - 8, bottom, ticks[0], ticks[-1], 0, 1)
        spacing = (plot.right - plot.left) / (len(ticks) - 1)
        if spacing >= max(len(fmt(t)) for t in ticks) * _CHAR + 12:
            break
    for tick in ticks:
        x = plot.x(tick)
        out.append(_line(x, top, x, bottom, _GRID))
        out.append(_text(x, bottom + 17, fmt(tick), anchor="middle", colour=_MUTED))
    out.append(_line(plot.x(0.0), top - 4, plot.x(0.0), bottom, _INK, width_px=1.5))
    for i, (r, text) in enumerate(zip(rows, texts, strict=True)):
        y = top + (i + 0.5) * row_h
        label = _fit(r.label, label_w - 16, _SIZE, bold=r.highlight)
        out.append(_text(8, y + 4, label, bold=r.highlight, full=r.label))
        if text is None:
            out.append(_text(plot.right + 12, y + 4, "n/a", colour=_MUTED))
            continue
        colour = PALETTE[0] if r.highlight else _MUTED
        xl, xe, xh = plot.x(r.low), plot.x(r.estimate), plot.x(r.high)
        out.append(
            f"<g><title>{_esc(f'{r.label}: {text}')}</title>"
            + _line(xl, y, xh, y, colour, width_px=2)
            + _line(xl, y - 6, xl, y + 6, colour, width_px=2)
            + _line(xh, y - 6, xh, y + 6, colour, width_px=2)
            + f'<circle cx="{_n(xe)}" cy="{_n(y)}" r="5" fill="{colour}"/></g>'
        )
        out.append(_text(plot.right + 12, y + 4, text, bold=r.highlight))
    return _close(out)


def meter(value: float, goal: float, *, label: str, width: int = 240) -> str:
    """A data-sufficiency bar: how much of `goal` (orders, sessions) `value` has reached.

    The bar and the percentage stop at 100 % and never show 100 % before the goal; the counts
    are shown as they are. Raises `InvalidRequest` for a non-finite value or a goal that is not a
    positive number.
    """
    _check_dimension("width", width, 120)
    if not math.isfinite(value):
        raise InvalidRequest("meter value must be a finite number")
    if not (math.isfinite(goal) and goal > 0):
        raise InvalidRequest("meter goal must be a positive number")
    share = min(max(value / goal, 0.0), 1.0)
    # value × 100 / goal, not share × 100: 0.29 × 100 is 28.999…, which would floor to 28.
    percent = f"{min(math.floor(max(value, 0.0) * 100 / goal), 100)}%"
    counts = f"{_count(value)} of {_count(goal)}"
    height, track = 58, width - 16
    out = _open(width, height, f"{label}: {counts} ({percent})")
    room = track - len(percent) * _CHAR - 8
    out.append(_text(8, 16, _fit(label, room, _SIZE, bold=True), bold=True, full=label))
    out.append(_text(width - 8, 16, percent, anchor="end"))
    out.append(f'<rect x="8" y="24" width="{_n(track)}" height="10" rx="5" fill="{_GRID}"/>')
    if share > 0:
        fill = PALETTE[2] if share >= 1 else PALETTE[0]
        out.append(
            f'<rect x="8" y="24" width="{_n(track * share)}" height="10" rx="5" fill="{fill}"/>'
        )
    out.append(_text(8, 51, _fit(counts, track, _SIZE), colour=_MUTED))
    return _close(out)


def _finite_row(row: IntervalRow) -> bool:
    return all(map(math.isfinite, (row.estimate, row.low, row.high)))


@dataclass(frozen=True)
class _Plot:
    """The plot area in pixels and the data window it shows; maps data to pixels."""

    left: float
    top: float
    right: float
    bottom: float
    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


@dataclass(frozen=True)
class _Line:
    """A series ready to draw: points sorted by day, as (day number, value, band or None)."""

    label: str
    colour: str
    dashed: bool
    points: list[tuple[float, float, tuple[float, float] | None]]

    @classmethod
    def of(cls, series: Series, index: int) -> _Line:
        band = series.band
        if band is not None and len(band) != len(series.points):
            raise InvalidRequest(f"series {series.label!r}: band and points differ in length")
        bands = band if band is not None else [None] * len(series.points)
        points = sorted(
            (
                (_day_number(when), float(value), bounds)
                for (when, value), bounds in zip(series.points, bands, strict=True)
            ),
            key=lambda point: point[0],
        )
        colour = PALETTE[index % len(PALETTE)]
        return cls(series.label, colour, index >= len(PALETTE), points)

    def values(self) -> list[float]:
        found = [v for _, v, _ in self.points if math.isfinite(v)]
        for _, _, band in self.points:
            found.extend(b for b in band or () if math.isfinite(b))
        return found

    def draw(self, plot: _Plot, fmt: Format, *, marks: bool) -> list[str]:
        """The band under the line, the line, and with `marks` a dot with a tooltip per point."""
        return self._band(plot) + self._line(plot, fmt, marks=marks)

    def _band(self, plot: _Plot) -> list[str]:
        out = []
        bands = [(d, b if b and all(map(math.isfinite, b)) else None) for d, _, b in self.points]
        for run in _runs(bands):
            edge = [(plot.x(d), plot.y(high)) for d, (_, high) in run]
            edge += [(plot.x(d), plot.y(low)) for d, (low, _) in reversed(run)]
            out.append(f'<polygon points="{_coords(edge)}" fill="{self.colour}" opacity="0.15"/>')
        return out

    def _line(self, plot: _Plot, fmt: Format, *, marks: bool) -> list[str]:
        out = []
        dash = ' stroke-dasharray="6 3"' if self.dashed else ""
        for run in _runs([(d, v if math.isfinite(v) else None) for d, v, _ in self.points]):
            xy = [(plot.x(d), plot.y(v)) for d, v in run]
            if len(xy) > 1:
                out.append(
                    f'<polyline points="{_coords(xy)}" fill="none" stroke="{self.colour}"'
                    f' stroke-width="2" stroke-linejoin="round"{dash}/>'
                )
            if marks or len(xy) == 1:  # a lone point between gaps has no line to show it
                for (d, v), (x, y) in zip(run, xy, strict=True):
                    tip = f"{self.label} · {_long_date(d)}: {fmt(v)}"
                    out.append(
                        f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3" fill="{self.colour}">'
                        f"<title>{_esc(tip)}</title></circle>"
                    )
        return out


def _hover_columns(plot: _Plot, lines: Sequence[_Line], fmt: Format) -> str:
    """Invisible full-height strips, one per day, whose tooltip lists each series' value."""
    by_day: dict[float, list[str]] = {}
    for line in lines:
        label = _fit(line.label, 160, _SIZE)
        for d, v, _ in line.points:
            if math.isfinite(v):
                by_day.setdefault(d, []).append(f"{label}: {fmt(v)}")
    days = sorted(by_day)
    edges = [plot.left, *((plot.x(a) + plot.x(b)) / 2 for a, b in pairwise(days)), plot.right]
    out = ['<g fill="#fff" fill-opacity="0">']
    for day, x0, x1 in zip(days, edges[:-1], edges[1:], strict=True):
        tip = "\n".join([_long_date(day), *by_day[day]])
        out.append(
            f'<rect x="{_n(x0)}" y="{_n(plot.top)}" width="{_n(x1 - x0)}"'
            f' height="{_n(plot.bottom - plot.top)}"><title>{_esc(tip)}</title></rect>'
        )
    return "".join([*out, "</g>"])


def _runs(points: Sequence[tuple[float, _P | None]]) -> list[list[tuple[float, _P]]]:
    """Split a sorted line at its holes (None), so a missing value is a gap rather than a bridge."""
    runs: list[list[tuple[float, _P]]] = []
    current: list[tuple[float, _P]] = []
    for day, payload in points:
        if payload is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((day, payload))
    if current:
        runs.append(current)
    return runs


def _legend(out: list[str], lines: Sequence[_Line], width: int) -> float:
    """Lay the legend out in up to two rows under the title; returns the baseline of the last."""
    x, y, rows = 8.0, 36.0, 1
    for index, line in enumerate(lines):
        label = _fit(line.label, min(width * 0.4, 220), _SIZE)
        item = 22 + len(label) * _CHAR
        if x > 8 and x + item > width - 8:
            if rows == 2:
                out.append(_text(x, y, f"+{len(lines) - index} more", colour=_MUTED))
                break
            x, y, rows = 8.0, y + 18, rows + 1
        dash = ' stroke-dasharray="6 3"' if line.dashed else ""
        out.append(
            f'<line x1="{_n(x)}" y1="{_n(y - 4)}" x2="{_n(x + 16)}" y2="{_n(y - 4)}"'
            f' stroke="{line.colour}" stroke-width="2"{dash}/>'
        )
        out.append(_text(x + 22, y, label, full=line.label))
        x += item + 16
    return y + 4


def _nice_ticks(lo: float, hi: float, target: int) -> list[float]:
    """Ticks every 1, 2 or 5 × 10ⁿ, about `target` intervals, from at or below `lo` to at or
    above `hi`; a flat range is widened by 10 % of its value (or 1 around zero)."""
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    decimals = _decimals(step)
    return [round(k * step, decimals) + 0.0 for k in range(first, last + 1)]


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _number_format(ticks: Sequence[float], extra: int = 0, *, trim: bool = False) -> Format:
    """Labels as precise as the tick step (plus `extra` digits), shortened with k or M for large
    values; `trim` drops trailing zeros, for tooltips of values that fall between ticks."""
    step = ticks[1] - ticks[0]
    big = max(abs(t) for t in ticks)
    divisor, suffix = next(
        ((d, s) for d, s in ((1e6, "M"), (1e3, "k")) if big >= 10 * d and step >= d / 10),
        (1.0, ""),
    )
    decimals = _decimals(step / divisor) + extra

    def fmt(value: float) -> str:
        text = f"{value / divisor:,.{decimals}f}"
        if trim and "." in text:
            text = text.rstrip("0").removesuffix(".")
        return _minus(text + suffix)

    return fmt


def _signed(fmt: Format) -> Format:
    """A difference reads with its sign: +1.2, −0.3, and a plain 0."""
    return lambda v: "0" if v == 0 else ("+" + fmt(v) if v > 0 else fmt(v))


def _minus(text: str) -> str:
    """A typographic minus, and a plain 0 for anything that rounds to zero ("-0.0", "0k")."""
    return "0" if text.lstrip("-").strip("0.,kM") == "" else text.replace("-", "\u2212")


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _day_number(when: date) -> float:
    """Days since 0001-01-01; a datetime adds its time of day as a fraction."""
    if isinstance(when, datetime):
        midnight = datetime.combine(when.date(), datetime.min.time(), when.tzinfo)
        return when.toordinal() + (when - midnight) / timedelta(days=1)
    return float(when.toordinal())


def _long_date(day: float) -> str:
    whole = date.fromordinal(int(day))
    text = f"{_MONTHS[whole.month - 1]} {whole.day}, {whole.year}"
    minutes = round((day - int(day)) * 24 * 60)
    return f"{text} {minutes // 60:02d}:{minutes % 60:02d}" if minutes else text


def _day_ticks(x0: float, x1: float, max_ticks: int) -> list[tuple[float, str]]:
    """Calendar ticks between two day numbers: every 1 or 2 days, Mondays every 1 or 2 weeks,
    month starts every 1, 2, 3 or 6 months, or years — the finest that fits `max_ticks`."""
    first, last = date.fromordinal(math.ceil(x0)), date.fromordinal(math.floor(x1))
    for step in (1, 2, 7, 14):
        start = first + timedelta(days=-first.weekday() % 7 if step >= 7 else 0)
        count = (last - start).days // step + 1 if start <= last else 0
        if count <= max_ticks:
            days = [start + timedelta(days=k * step) for k in range(count)]
            return [(d.toordinal(), f"{_MONTHS[d.month - 1]} {d.day}") for d in days]
    months_first = first.year * 12 + first.month - 1 + (first.day > 1)
    months_last = last.year * 12 + last.month - 1
    step = next(
        (
            m
            for m in (1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200, 2400, 6000)
            if len(range(-(-months_first // m) * m, months_last + 1, m)) <= max_ticks
        ),
        12000,
    )
    ticks: list[tuple[float, str]] = []
    for number in range(-(-months_first // step) * step, months_last + 1, step):
        d = date(number // 12, number % 12 + 1, 1)
        name = _MONTHS[d.month - 1]
        label = str(d.year) if step >= 12 else name if ticks and d.month > 1 else f"{name} {d.year}"
        ticks.append((float(d.toordinal()), label))
    return ticks


def _check_dimension(name: str, pixels: int, minimum: int) -> None:
    if not minimum <= pixels <= 4000:
        raise InvalidRequest(f"chart {name} must be between {minimum} and 4000 pixels")


def _check_magnitude(values: list[float]) -> list[float]:
    if any(abs(v) > _LARGEST for v in values):
        raise InvalidRequest("chart values must lie within ±1e15")
    return values


def _open(width: int, height: int, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(_clean(label))}'
        f' font-family={quoteattr(_FONT)} font-size="{_SIZE}" fill="{_INK}">'
    ]


def _close(parts: list[str]) -> str:
    return "".join(parts) + "</svg>"


def _no_data(x: float, y: float) -> str:
    return _text(x, y, "No data yet", anchor="middle", colour=_MUTED)


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    colour: str | None = None,
    size: int = _SIZE,
    bold: bool = False,
    full: str | None = None,
) -> str:
    """A `<text>`; when `text` was shortened, `full` becomes its hover tooltip."""
    attrs = f'x="{_n(x)}" y="{_n(y)}"'
    attrs += f' text-anchor="{anchor}"' if anchor != "start" else ""
    attrs += f' fill="{colour}"' if colour else ""
    attrs += f' font-size="{size}"' if size != _SIZE else ""
    attrs += ' font-weight="600"' if bold else ""
    tip = f"<title>{_esc(full)}</title>" if full is not None and _clean(full) != text else ""
    return f"<text {attrs}>{tip}{_esc(text)}</text>"


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, width_px: float = 1) -> str:
    stroke = f' stroke-width="{width_px:g}"' if width_px != 1 else ""
    return (
        f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{colour}"{stroke}/>'
    )


def _fit(text: str, max_px: float, size: int, *, bold: bool = False) -> str:
    """`text` cut with an ellipsis to about `max_px` wide at `size` px (bold runs wider)."""
    text = _clean(text)
    room = int(max_px / ((0.65 if bold else 0.6) * size))
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _esc(text: str) -> str:
    return escape(_clean(text))


def _n(value: float) -> str:
    """A coordinate to one decimal, without a trailing .0; a non-finite one is a bug here."""
    if not math.isfinite(value):
        raise ValueError(f"non-finite coordinate {value!r}")
    text = f"{round(value, 1) + 0.0:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _coords(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
