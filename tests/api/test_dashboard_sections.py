"""Each dashboard section with a new shop's empty data and with seeded data, down to the exact
figures; anomaly and silence alerts shown and logged; experiment readouts with the verdict in
their own words, never a winner before the verdict names one."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from cartwise.domain import Order, OrderLine, ShopRules
from cartwise.readouts import compute_readout
from cartwise.storage.experiments import ExposureRecord

from .shopify import SHOP_A, admin_token
from .test_auth import SHOP_C, World, build_world
from .test_dashboard import bearer, events, fragment

DEFINITION = {
    "arms": [{"key": "control", "kind": "no_recommendations"}, {"key": "model"}],
    "holdout_share": 0.1,
    "planned_visitors_per_arm": 4000,
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "cartwise.db")
    yield built
    built.store.close()


def section(world: World, name: str, shop: str = SHOP_A) -> str:
    response = fragment(world, name, bearer(admin_token(shop)))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def row(html: str, attribute: str, value: str) -> str:
    """The text of the table row carrying `attribute="value"`, tags removed."""
    found = re.search(rf'<tr {attribute}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert found is not None, f"no row {attribute}={value}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def alerts(html: str) -> dict[str, str]:
    """Shown alerts by kind, their text without tags."""
    return {
        kind: " ".join(re.sub(r"<[^>]+>", " ", text).split())
        for kind, text in re.findall(r'<li class="alert" data-kind="(\w+)">(.*?)</li>', html, re.S)
    }


# --- a new shop: everything empty, nothing broken -----------------------------------------------


def test_a_new_shops_sections_say_what_is_missing(world: World) -> None:
    overview = section(world, "overview", SHOP_C)
    assert "No model yet" in overview
    assert "No storefront events yet" in overview
    assert "0 of 500" in overview
    assert "Nothing needs your attention." in overview
    assert "No history has been synced" in overview
    kpis = section(world, "kpis", SHOP_C)
    assert kpis.count("<svg") == 3 and kpis.count("No data yet") == 3
    assert 'data-series="0"' in kpis
    assert "No experiments yet" in section(world, "experiments", SHOP_C)
    rules = section(world, "rules", SHOP_C)
    assert rules.count('spellcheck="false"></textarea>') == 3
    backtest = section(world, "backtest", SHOP_C)
    assert "you have 0 stored" in backtest
    assert re.search(r'id="backtest-run"[^>]* disabled', backtest)


# --- overview -----------------------------------------------------------------------------------


def test_the_overview_shows_the_seeded_figures_exactly(world: World) -> None:
    today = datetime.now(UTC).date()
    events(world.store, SHOP_A, today - timedelta(days=2), "cart", {"impression": 120, "click": 6})
    events(world.store, SHOP_A, today - timedelta(days=1), "cart", {"add_to_cart": 3})
    events(world.store, SHOP_A, today, "checkout", {"impression": 40, "click": 1})
    html = section(world, "overview")
    assert "Version 1" in html
    assert row(html, "data-placement", "Cart").startswith("Cart 120 6 5.0 % 3")
    assert "6 of 1,000" in row(html, "data-placement", "Cart")
    assert row(html, "data-placement", "Checkout").startswith("Checkout 40 1 2.5 % 0")
    assert "Last 30 days: 160 impressions, 7 clicks, 3 add-to-carts." in " ".join(html.split())
    assert "12 of 500" in html  # the orders build_world stored for A
    assert 'data-series="3"' in html
    chart = re.search(r'<figure class="chart" data-series="3">(<svg.*?</svg>)', html, re.S)
    assert chart is not None and chart.group(1).count("<polyline") == 3
    # the thresholds are written out for the merchant
    text = " ".join(html.split())
    assert "about 1,000 clicks" in text and "about 500 orders" in text


def _steady_history(world: World, *, until_days_ago: int, days: int = 21) -> None:
    today = datetime.now(UTC).date()
    for back in range(until_days_ago, until_days_ago + days):
        wiggle = back % 3 - 1
        events(
            world.store,
            SHOP_A,
            today - timedelta(days=back),
            "cart",
            {"impression": 100 + 4 * wiggle, "click": 5 + wiggle},
        )


def test_a_click_through_spike_is_shown_and_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    _steady_history(world, until_days_ago=2)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    events(world.store, SHOP_A, yesterday, "cart", {"impression": 100, "click": 40})
    with caplog.at_level(logging.WARNING, logger="cartwise.api.dashboard"):
        html = section(world, "overview")
    shown = alerts(html)
    day = f"{yesterday:%b} {yesterday.day}"
    assert shown["ctr"].startswith(f"Click-through rate spike on {day}. 40.0 % against about")
    assert shown["volume"].startswith(f"Storefront events spike on {day}. 140 events")
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(SHOP_A in m and f"Click-through rate spike on {day}" in m for m in logged)


def test_a_steady_shop_and_todays_unfinished_day_raise_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    _steady_history(world, until_days_ago=1)
    events(world.store, SHOP_A, datetime.now(UTC).date(), "cart", {"impression": 3})
    with caplog.at_level(logging.WARNING, logger="cartwise.api.dashboard"):
        html = section(world, "overview")
    assert alerts(html) == {}
    assert "Nothing needs your attention." in html
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def _deliveries(
    world: World, last: datetime, n: int = 12, gap: timedelta = timedelta(minutes=10)
) -> None:
    for k in reversed(range(n)):
        with time_machine.travel(last - k * gap, tick=False):
            world.store.events.add_raw(
                SHOP_A, delivery_id=f"d{k}", topic="orders/create", body=b"{}", headers={}
            )


def test_webhooks_gone_quiet_for_five_hours_raise_an_alert(world: World) -> None:
    _deliveries(world, datetime.now(UTC) - timedelta(hours=5, minutes=1))
    shown = alerts(section(world, "overview"))
    assert shown["webhooks"].startswith("No webhook from Shopify for 5 hours.")
    assert "usually come every 1 hour or sooner" in shown["webhooks"]


def test_webhooks_an_hour_ago_are_no_silence(world: World) -> None:
    _deliveries(world, datetime.now(UTC) - timedelta(hours=1))
    assert "webhooks" not in alerts(section(world, "overview"))


def test_a_model_not_rebuilt_for_days_and_failed_jobs_are_alerts(world: World) -> None:
    with time_machine.travel(datetime.now(UTC) - timedelta(days=4), tick=False):
        world.store.models.save(SHOP_C, b"not a model", {})
    job = world.store.jobs.enqueue("rebuild", SHOP_C)
    assert job is not None
    world.store.jobs.fail(job, "boom")
    shown = alerts(section(world, "overview", SHOP_C))
    assert shown["model"].startswith("The model has not been rebuilt for 4 days.")
    assert shown["jobs"].startswith("1 background jobs failed.")


# --- KPI charts --------------------------------------------------------------------------------


def test_kpi_charts_draw_one_line_per_placement(world: World) -> None:
    today = datetime.now(UTC).date()
    for back in (1, 2, 3):
        day = today - timedelta(days=back)
        events(
            world.store, SHOP_A, day, "cart", {"impression": 50, "click": back, "add_to_cart": 1}
        )
        events(world.store, SHOP_A, day, "product", {"impression": 20, "click": 2})
    html = section(world, "kpis")
    assert "Per placement, one line each: Cart, Product page." in " ".join(html.split())
    charts = re.findall(
        r'<figure class="chart" data-series="2">(<svg.*?</svg>)</figure>', html, re.S
    )
    assert len(charts) == 3
    titles = ["Impressions per day", "Click-through rate", "Add-to-cart rate"]
    for chart, title in zip(charts, titles, strict=True):
        assert title in chart
        assert chart.count("<polyline") == 2
    # a CTR of 3/50 shows as 6 on the percent axis, in the tooltip of its day
    assert re.search(r"Cart · \w+ \d+, \d{4}: 6</title>", charts[1])


# --- experiments -------------------------------------------------------------------------------


def _experiment(world: World) -> datetime:
    store, t0 = world.store, datetime.now(UTC) - timedelta(days=2)
    store.experiments.start(SHOP_A, "alpine-launch", DEFINITION, t0)
    seen = [("s1", "control"), ("s2", "control"), ("s3", "model"), ("s4", "model"), ("s5", "model")]
    store.experiments.record_exposures(
        SHOP_A,
        [
            ExposureRecord("alpine-launch", s, "cart", arm, False, t0 + timedelta(hours=1), t0)
            for s, arm in seen
        ],
    )
    at = t0 + timedelta(hours=2)
    store.orders.upsert_many(
        SHOP_A, [Order("x1", at, (OrderLine("7100002", 2, 10.0),)), Order("x2", at, ())]
    )
    store.orders.add_sessions(SHOP_A, "x1", ["s3"])
    compute_readout(store, SHOP_A, "alpine-launch", now=t0 + timedelta(days=1))
    return t0


def test_a_readout_shows_its_arms_its_intervals_and_its_verdict_verbatim(world: World) -> None:
    _experiment(world)
    html = section(world, "experiments")
    assert "Running" in html
    assert "Holdout: 10 % of visitors are held out" in html
    assert "Planned: 4,000 visitors per arm." in html
    assert row(html, "data-arm", "control") == "control 2 — 0.0 % — 0.00 —"
    assert row(html, "data-arm", "model") == "model 3 — 33.3 % 20.00 6.67 —"
    reason = "2 of 4000 planned visitors in the smaller arm"
    assert f"keep collecting — {reason}" in html
    assert "winner" not in html.lower()
    assert "Guardrail" not in html
    charts = re.findall(r'<figure class="chart interval">(<svg.*?</svg>)</figure>', html, re.S)
    assert len(charts) == 2
    assert "Conversion rate, variant − control" in charts[0]
    assert "Revenue per visitor, variant − control" in charts[1]
    assert "model vs control" in charts[0]


def test_a_winner_is_named_only_when_the_verdict_says_so(world: World) -> None:
    _experiment(world)
    stored = world.store.experiments.report(SHOP_A, "alpine-launch")
    assert stored is not None
    report, at = stored
    report["comparisons"][0]["decision"] = {
        "verdict": "variant wins",
        "reason": "p = 0.0012 < alpha = 0.05; rate difference +0.0512",
    }
    report["comparisons"][0]["guardrail"] = True
    world.store.experiments.save_report(SHOP_A, "alpine-launch", report, at)
    world.store.experiments.stop(SHOP_A, "alpine-launch", datetime.now(UTC))
    html = section(world, "experiments")
    assert "Stopped" in html
    assert "variant wins — p = 0.0012 &lt; alpha = 0.05; rate difference +0.0512" in html
    assert '<p class="winner">Winner: model</p>' in html
    assert html.lower().count("winner") == 2  # the class and the label
    assert "Guardrail." in html


def test_an_experiment_without_a_readout_says_so(world: World) -> None:
    world.store.experiments.start(SHOP_A, "fresh", DEFINITION, datetime.now(UTC))
    html = section(world, "experiments")
    assert "No readout yet" in html
    assert "Holdout: 10 %" in html


# --- rules and back-test sections ---------------------------------------------------------------


def test_the_rules_form_holds_the_current_rules(world: World) -> None:
    world.store.rules.set(
        SHOP_A,
        ShopRules(
            defaults=("7100012", "7100011"),
            pinned=("7100010",),
            blocked=frozenset({"7100005", "7100004"}),
            min_price=1.5,
            max_per_vendor=2,
            exploration_share=0.05,
        ),
    )
    html = section(world, "rules")
    assert ">7100012\n7100011</textarea>" in html
    assert ">7100010</textarea>" in html
    assert ">7100004\n7100005</textarea>" in html
    assert 'name="min_price" type="number" min="0" step="0.01" value="1.5"' in html
    assert 'name="max_price" type="number" min="0" step="0.01" value=""' in html
    assert 'name="max_per_vendor" type="number" min="1" max="20" step="1" value="2"' in html
    assert 'name="exploration_percent" type="number" min="0" max="50" step="1" value="5"' in html
    assert "ALPINE PARTY BUNTING" in html and "ALPINE PICNIC SET" in html
    assert 'data-url="/v1/admin/rules"' in html and 'data-url="/app/preview"' in html


def test_the_backtest_section_states_the_cap(world: World) -> None:
    html = section(world, "backtest")
    assert "Uses your most recent 20,000 orders at most; you have 12 stored." in " ".join(
        html.split()
    )
    assert not re.search(r'id="backtest-run"[^>]* disabled', html)
