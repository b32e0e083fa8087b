"""SVG charts: well-formed, data mapped to exact pixels, nice ticks, escaped labels, edge cases."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest

from cartwise.api.charts import IntervalRow, Series, interval_chart, line_chart, meter
from cartwise.errors import InvalidRequest

NS = "{http://www.w3.org/2000/svg}"
MAR_1 = date(2025, 3, 1)
HOSTILE = "<script>alert('x')</script> & \"Mugs\""


def _days(values: list[float], start: date = MAR_1) -> list[tuple[date, float]]:
    return [(start + timedelta(days=i), v) for i, v in enumerate(values)]


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def _all(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(f"{NS}{tag}"))


def _points(element: ET.Element) -> list[tuple[float, float]]:
    pairs = (pair.split(",") for pair in element.attrib["points"].split())
    return [(float(x), float(y)) for x, y in pairs]


def _number(text: str) -> float:
    """A default-format label back to its number: "−1,250", "12.5k", "3M"."""
    plain = text.replace("\u2212", "-").replace(",", "")
    scale = {"k": 1e3, "M": 1e6}.get(plain[-1:], 1.0)
    return float(plain.rstrip("kM")) * scale


def _axis(root: ET.Element) -> tuple[float, float, float]:
    """(left, right, y) of the x axis: the grey line along the bottom of the plot area."""
    axis = next(line for line in _all(root, "line") if line.attrib["stroke"] == "#8a8a8a")
    return float(axis.attrib["x1"]), float(axis.attrib["x2"]), float(axis.attrib["y1"])


def _y_ticks(root: ET.Element) -> list[tuple[float, float]]:
    """(value, y) of each value tick, read from the right-aligned labels left of the plot."""
    labels = [t for t in _all(root, "text") if t.attrib.get("text-anchor") == "end"]
    return [(_number(t.text or ""), float(t.attrib["y"]) - 4) for t in labels]


def _x_tick_labels(root: ET.Element) -> list[tuple[float, str]]:
    _, _, axis_y = _axis(root)
    return [
        (float(t.attrib["x"]), t.text or "")
        for t in _all(root, "text")
        if t.attrib.get("text-anchor") == "middle" and float(t.attrib["y"]) > axis_y
    ]


def _every_number_is_finite(svg: str) -> None:
    for value in re.findall(r' (?:x|y|x1|x2|y1|y2|cx|cy|width|height)="([^"]*)"', svg):
        assert math.isfinite(float(value))
    for points in re.findall(r'points="([^"]*)"', svg):
        assert all(math.isfinite(float(n)) for pair in points.split() for n in pair.split(","))


def test_a_line_maps_its_points_to_exact_pixels() -> None:
    # 640×240: title and one legend row put the plot top at 52, the x-axis labels its bottom at
    # 214; value labels "0", "50", "100" (3 chars × 7.2 px + 28) its left at 49.6; right at 616.
    svg = line_chart(
        [Series("Orders", _days([0.0, 50.0, 100.0]))], title="Orders per day", y_label="Orders"
    )
    root = _parse(svg)
    (line,) = _all(root, "polyline")
    assert line.attrib["points"] == "49.6,214 332.8,133 616,52"
    assert _axis(root) == (49.6, 616.0, 214.0)
    assert _y_ticks(root) == [(0.0, 214.0), (50.0, 133.0), (100.0, 52.0)]


def test_the_first_point_is_at_the_left_edge_and_the_maximum_at_the_top() -> None:
    values = [12.0, 40.0, 35.0, 60.0, 20.0, 0.0, 18.0]
    root = _parse(line_chart([Series("Orders", _days(values))], title="t", y_label="y"))
    left, right, bottom = _axis(root)
    ticks = _y_ticks(root)
    top = min(y for _, y in ticks)
    points = _points(_all(root, "polyline")[0])
    assert points[0][0] == left
    assert points[-1][0] == right
    assert min(y for _, y in points) == top == points[values.index(60.0)][1]
    assert max(y for _, y in points) == bottom == points[values.index(0.0)][1]
    spacing = {round(b[0] - a[0], 1) for a, b in pairwise(points)}
    assert max(spacing) - min(spacing) <= 0.2  # one day is one step, up to rounding


@pytest.mark.parametrize(
    ("low", "high"),
    [
        pytest.param(0.0, 100.0, id="0-100"),
        pytest.param(3.0, 97.0, id="3-97"),
        pytest.param(0.021, 0.038, id="rates"),
        pytest.param(-340.0, 1260.0, id="negative"),
        pytest.param(12_000.0, 87_500.0, id="thousands"),
        pytest.param(999.5, 1000.5, id="narrow"),
    ],
)
def test_value_ticks_are_nice_and_cover_the_data(low: float, high: float) -> None:
    root = _parse(line_chart([Series("s", _days([low, high]))], title="t", y_label="y"))
    values = [v for v, _ in _y_ticks(root)]
    steps = {round(b - a, 12) for a, b in pairwise(values)}
    assert len(steps) == 1
    (step,) = steps
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in {1.0, 2.0, 5.0}
    assert values[0] <= low < high <= values[-1]
    assert values[0] > low - step and values[-1] < high + step
    assert 3 <= len(values) <= 7


def test_day_ticks_fall_on_mondays_for_a_month() -> None:
    root = _parse(line_chart([Series("s", _days([1.0] * 30))], title="t", y_label="y"))
    labels = [label for _, label in _x_tick_labels(root)]
    assert labels == ["Mar 3", "Mar 10", "Mar 17", "Mar 24"]  # 2025-03-03 is a Monday


def test_day_ticks_sit_on_their_day() -> None:
    root = _parse(line_chart([Series("s", _days([1.0, 2.0, 3.0]))], title="t", y_label="y"))
    left, right, _ = _axis(root)
    assert _x_tick_labels(root) == [
        (left, "Mar 1"),
        ((left + right) / 2, "Mar 2"),
        (right, "Mar 3"),
    ]


def test_months_are_labelled_with_the_year_at_the_start() -> None:
    points = _days([1.0] * 200, start=date(2024, 11, 15))
    labels = [
        label
        for _, label in _x_tick_labels(
            _parse(line_chart([Series("s", points)], title="t", y_label="y"))
        )
    ]
    assert labels[0] == "Dec 2024"
    assert "Jan 2025" in labels
    assert "Feb" in labels


def test_labels_and_titles_are_escaped() -> None:
    svg = (
        line_chart([Series(HOSTILE, _days([1.0, 2.0]))], title=HOSTILE, y_label=HOSTILE)
        + interval_chart([IntervalRow(HOSTILE, 1.0, 0.0, 2.0)], title=HOSTILE)
        + meter(1, 2, label=HOSTILE)
    )
    assert "<script>" not in svg
    assert "& " not in svg
    for chart in svg.split("</svg>")[:-1]:
        root = _parse(chart + "</svg>")
        assert root.attrib["aria-label"].startswith(HOSTILE)
        texts = "".join(root.itertext())
        assert HOSTILE in texts or HOSTILE[:20] in texts


def test_characters_xml_forbids_are_dropped() -> None:
    label = "Mug\x00\x1b\ufffe Blue"
    root = _parse(line_chart([Series(label, _days([1.0, 2.0]))], title=label, y_label="y"))
    assert root.attrib["aria-label"] == "Mug Blue"


def test_the_root_is_an_accessible_image() -> None:
    root = _parse(line_chart([Series("s", _days([1.0, 2.0]))], title="Revenue", y_label="USD"))
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-label"] == "Revenue"
    assert root.attrib["viewBox"] == "0 0 640 240"


@pytest.mark.parametrize(
    "series",
    [
        pytest.param([], id="no-series"),
        pytest.param([Series("Orders", [])], id="no-points"),
        pytest.param([Series("Orders", _days([math.nan, math.inf]))], id="no-finite-points"),
    ],
)
def test_no_data_is_a_message_not_an_error(series: list[Series]) -> None:
    svg = line_chart(series, title="Orders", y_label="Orders")
    root = _parse(svg)
    assert "No data yet" in "".join(root.itertext())
    assert _all(root, "polyline") == []
    assert "nan" not in svg and "inf" not in svg


def test_a_single_point_is_a_dot_in_the_middle() -> None:
    root = _parse(line_chart([Series("s", [(MAR_1, 42.0)])], title="t", y_label="y"))
    left, right, bottom = _axis(root)
    assert _all(root, "polyline") == []
    (dot,) = _all(root, "circle")
    assert float(dot.attrib["cx"]) == (left + right) / 2
    assert min(y for _, y in _y_ticks(root)) < float(dot.attrib["cy"]) < bottom
    assert dot.find(f"{NS}title") is not None


def test_a_constant_series_is_a_flat_line_inside_the_plot() -> None:
    svg = line_chart([Series("s", _days([7.0] * 5))], title="t", y_label="y")
    root = _parse(svg)
    _every_number_is_finite(svg)
    ys = {y for _, y in _points(_all(root, "polyline")[0])}
    ticks = _y_ticks(root)
    (flat,) = ys
    assert min(y for _, y in ticks) < flat < max(y for _, y in ticks)
    assert (7.0, flat) in ticks


def test_a_missing_value_breaks_the_line() -> None:
    svg = line_chart([Series("s", _days([1.0, 2.0, math.nan, 4.0, 5.0]))], title="t", y_label="y")
    _every_number_is_finite(svg)
    lines = _all(_parse(svg), "polyline")
    assert [len(_points(line)) for line in lines] == [2, 2]


def test_points_are_drawn_in_time_order() -> None:
    root = _parse(line_chart([Series("s", _days([1.0, 2.0, 3.0])[::-1])], title="t", y_label="y"))
    xs = [x for x, _ in _points(_all(root, "polyline")[0])]
    assert xs == sorted(xs)


def test_each_point_has_a_tooltip() -> None:
    root = _parse(line_chart([Series("Orders", _days([3.0, 4.25]))], title="t", y_label="y"))
    tips = [c.findtext(f"{NS}title") for c in _all(root, "circle")]
    assert tips == ["Orders · Mar 1, 2025: 3", "Orders · Mar 2, 2025: 4.25"]


def test_a_dense_chart_has_one_hover_column_per_day() -> None:
    points = _days([float(i % 7) for i in range(365)], start=date(2024, 1, 1))
    root = _parse(
        line_chart([Series("A", points), Series("B", points[:100])], title="t", y_label="y")
    )
    assert _all(root, "circle") == []
    columns = [r for r in _all(root, "rect") if r.find(f"{NS}title") is not None]
    assert len(columns) == 365
    assert columns[0].findtext(f"{NS}title") == "Jan 1, 2024\nA: 0\nB: 0"
    assert columns[-1].findtext(f"{NS}title") == "Dec 30, 2024\nA: 0"


def test_a_band_is_a_polygon_around_its_line() -> None:
    band = [(0.0, 50.0), (40.0, 60.0), (50.0, 100.0)]
    root = _parse(
        line_chart([Series("s", _days([10.0, 50.0, 90.0]), band=band)], title="t", y_label="y")
    )
    (polygon,) = _all(root, "polygon")
    # The plot of the exact-pixel test: 0 → y 214, 100 → y 52, so 1 unit is 1.62 px; highs
    # left to right (50, 60, 100), then lows right to left (50, 40, 0).
    assert polygon.attrib["points"] == ("49.6,133 332.8,116.8 616,52 616,133 332.8,149.2 49.6,214")
    assert float(polygon.attrib["opacity"]) < 1


def test_a_band_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="band and points differ"):
        line_chart([Series("s", _days([1.0, 2.0]), band=[(0.0, 1.0)])], title="t", y_label="y")


def test_many_series_get_distinct_styles() -> None:
    series = [Series(f"s{i}", _days([float(i), float(i + 1)])) for i in range(9)]
    root = _parse(line_chart(series, title="t", y_label="y", height=320))
    styles = {
        (p.attrib["stroke"], p.attrib.get("stroke-dasharray")) for p in _all(root, "polyline")
    }
    assert len(styles) == 9


def test_a_custom_value_format_is_used_for_ticks() -> None:
    root = _parse(
        line_chart(
            [Series("s", _days([0.0, 0.08]))], title="t", y_label="y", y_format=lambda v: f"{v:.0%}"
        )
    )
    labels = [t.text for t in _all(root, "text") if t.attrib.get("text-anchor") == "end"]
    assert labels[0] == "0%"
    assert labels[-1] == "8%"


def test_values_beyond_any_shop_are_refused_not_drawn() -> None:
    with pytest.raises(InvalidRequest, match="1e15"):
        line_chart([Series("s", _days([0.0, 1e300]))], title="t", y_label="y")
    with pytest.raises(InvalidRequest, match="1e15"):
        interval_chart([IntervalRow("A", 0.0, -1e300, 1.0)], title="t")


def test_datetimes_are_placed_within_their_day() -> None:
    start = datetime(2025, 3, 1, 0, 0)
    points = [(start, 1.0), (start + timedelta(hours=12), 2.0), (start + timedelta(days=1), 3.0)]
    root = _parse(line_chart([Series("s", points)], title="t", y_label="y"))
    left, right, _ = _axis(root)
    xs = [x for x, _ in _points(_all(root, "polyline")[0])]
    assert xs == [left, (left + right) / 2, right]
    tips = [c.findtext(f"{NS}title") for c in _all(root, "circle")]
    assert tips[1] == "s · Mar 1, 2025 12:00: 2"


def test_a_chart_too_small_to_draw_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="width"):
        line_chart([], title="t", y_label="y", width=10)


ROWS = [
    IntervalRow("A", 1.0, -1.0, 3.0, highlight=True),
    IntervalRow("B", -0.5, -2.0, 1.0),
]


def test_intervals_map_to_exact_pixels() -> None:
    # Ticks −2…+3 (step 1); values "+1.0 [−1.0, +3.0]" (17 chars × 7.2 + 12) take 134.4 px at
    # the right, labels "A"/"B" 23.2 + 8 at the left: x(v) = 31.2 + (v + 2) / 5 × 466.4.
    root = _parse(interval_chart(ROWS, title="Variant − control"))
    zero = [line for line in _all(root, "line") if line.attrib.get("stroke-width") == "1.5"]
    assert [line.attrib["x1"] for line in zero] == ["217.8"]
    groups = _all(root, "g")
    assert len(groups) == 2
    whiskers = [[line.attrib for line in _all(g, "line")] for g in groups]
    assert (whiskers[0][0]["x1"], whiskers[0][0]["x2"]) == ("124.5", "497.6")
    assert (whiskers[1][0]["x1"], whiskers[1][0]["x2"]) == ("31.2", "311")
    dots = [c.attrib["cx"] for c in _all(root, "circle")]
    assert dots == ["311", "171.1"]
    assert [g.findtext(f"{NS}title") for g in groups] == [
        "A: +1.0 [\u22121.0, +3.0]",
        "B: \u22120.5 [\u22122.0, +1.0]",
    ]
    tick_labels = [t.text for t in _all(root, "text") if t.attrib.get("text-anchor") == "middle"]
    assert tick_labels == ["\u22122", "\u22121", "0", "+1", "+2", "+3"]


def test_the_highlighted_row_is_in_colour() -> None:
    root = _parse(interval_chart(ROWS, title="t"))
    first, second = _all(root, "circle")
    assert first.attrib["fill"] != second.attrib["fill"]


def test_the_zero_line_is_drawn_when_every_interval_is_positive() -> None:
    root = _parse(interval_chart([IntervalRow("A", 2.0, 1.0, 3.0)], title="t"))
    (zero,) = [line for line in _all(root, "line") if line.attrib.get("stroke-width") == "1.5"]
    (whisker, *_) = _all(_all(root, "g")[0], "line")
    assert float(zero.attrib["x1"]) < float(whisker.attrib["x1"])


def test_a_custom_interval_format_is_used() -> None:
    row = IntervalRow("Add-to-cart rate", 0.012, -0.003, 0.027)
    svg = interval_chart([row], title="t", x_format=lambda v: f"{v * 100:+.1f} pp")
    assert "+1.2 pp [-0.3 pp, +2.7 pp]" in "".join(_parse(svg).itertext())


def test_a_row_without_numbers_reads_not_available() -> None:
    rows = [*ROWS, IntervalRow("C", math.nan, math.nan, math.nan)]
    svg = interval_chart(rows, title="t")
    _every_number_is_finite(svg)
    assert "n/a" in "".join(_parse(svg).itertext())
    assert len(_all(_parse(svg), "g")) == 2


def test_no_rows_is_a_message() -> None:
    assert "No data yet" in "".join(_parse(interval_chart([], title="t")).itertext())


def test_an_estimate_outside_its_interval_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="outside"):
        interval_chart([IntervalRow("A", 5.0, 0.0, 1.0)], title="t")


@pytest.mark.parametrize(
    ("value", "goal", "fill_width", "percent"),
    [
        pytest.param(3200, 10_000, "71.7", "32%", id="part"),
        pytest.param(2900, 10_000, "65", "29%", id="no-float-floor-error"),
        pytest.param(13_000, 10_000, "224", "100%", id="clamped"),
        pytest.param(9999, 10_000, "224", "99%", id="almost-is-not-done"),
        pytest.param(0, 10_000, None, "0%", id="empty"),
        pytest.param(-5, 10_000, None, "0%", id="negative"),
    ],
)
def test_the_meter_fills_its_share_and_stops_at_the_goal(
    value: float, goal: float, fill_width: str | None, percent: str
) -> None:
    root = _parse(meter(value, goal, label="Orders"))
    track, *fill = _all(root, "rect")
    assert track.attrib["width"] == "224"
    assert [r.attrib["width"] for r in fill] == ([fill_width] if fill_width else [])
    texts = [t.text for t in _all(root, "text")]
    assert percent in texts
    assert f"{value:,} of {goal:,}" in texts


def test_the_meter_reads_aloud() -> None:
    root = _parse(meter(3200, 10_000, label="Orders"))
    assert root.attrib["aria-label"] == "Orders: 3,200 of 10,000 (32%)"


@pytest.mark.parametrize(
    ("value", "goal"),
    [
        pytest.param(1.0, 0.0, id="zero-goal"),
        pytest.param(1.0, math.inf, id="infinite-goal"),
        pytest.param(math.nan, 10.0, id="nan-value"),
    ],
)
def test_the_meter_refuses_numbers_it_cannot_draw(value: float, goal: float) -> None:
    with pytest.raises(InvalidRequest):
        meter(value, goal, label="Orders")
