"""`GET /metrics` through Flask's test client against a real SQLite store, read back with
prometheus_client's own parser; and `cartwise serve` with two workers, whose counts one scrape
must sum."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from cartwise.api import create_app
from cartwise.settings import Settings
from cartwise.storage import Store

from .conftest import SHOP
from .shopify import SHOP_A, delivery, install, shopify_settings

LATENCY = "cartwise_http_request_duration_seconds"
RECOMMEND = {"route": "/v1/recommendations", "method": "POST", "status": "2xx"}
TOKEN = "metrics-token-for-tests-0123456789"


def scrape(client: FlaskClient, **kw: Any) -> list[Sample]:
    response = client.get("/metrics", **kw)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    """The sum of the samples named `name` whose labels include `labels`; None when none is."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    return sum(found) if found else None


def ask(client: FlaskClient, cart: list[str], **fields: Any) -> dict[str, Any]:
    body = {"cart": [{"product_id": pid} for pid in cart], **fields}
    response = client.post("/v1/recommendations", json=body)
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def test_latency_is_observed_once_per_request_under_its_route(client: FlaskClient) -> None:
    before = value(scrape(client), f"{LATENCY}_count", **RECOMMEND) or 0.0
    for n in range(3):
        ask(client, ["22423"], session_id=f"s{n}")
    samples = scrape(client)

    assert value(samples, f"{LATENCY}_count", **RECOMMEND) == before + 3
    assert value(samples, f"{LATENCY}_bucket", **RECOMMEND, le="+Inf") == before + 3
    assert (value(samples, f"{LATENCY}_sum", **RECOMMEND) or 0.0) > 0.0


def test_routes_are_labelled_by_rule_never_by_raw_path(client: FlaskClient) -> None:
    for name in ("a.js", "b.js", "c.js"):
        client.get(f"/demo/theme/assets/{name}")
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    client.open("/no/such/page/3", method="BREW")
    client.post("/v1/recommendations", data=b"not json", content_type="application/json")

    samples = scrape(client)
    routes = {s.labels["route"] for s in samples if s.name == f"{LATENCY}_count"}
    assert not any(name in route for route in routes for name in ("a.js", "page/1"))
    assert value(samples, f"{LATENCY}_count", route="/demo/theme/assets/<name>") == 3
    assert value(samples, f"{LATENCY}_count", route="(unmatched)", method="GET") == 2
    assert value(samples, f"{LATENCY}_count", route="(unmatched)", method="other") == 1
    assert value(samples, f"{LATENCY}_count", **{**RECOMMEND, "status": "4xx"}) == 1


def test_answers_are_counted_by_source_and_placement(
    client: FlaskClient, train: Callable[[], int]
) -> None:
    train()
    assert ask(client, ["22423"], placement="checkout")["source"] == "model"
    assert ask(client, ["22423"], placement="product")["source"] == "model"
    assert ask(client, [], placement="checkout")["source"] == "trending"
    client.get("/v1/defaults?k=3")

    samples = scrape(client)
    answers = "cartwise_recommendation_answers_total"
    assert value(samples, answers, placement="checkout") == 2
    assert value(samples, answers, source="model", placement="checkout") == 1
    assert value(samples, answers, source="trending", placement="checkout") == 1
    assert value(samples, answers, source="model", placement="product") == 1
    assert value(samples, answers, source="model") == 2
    # the prefetched fallback is counted apart, so it does not move the fallback rate
    assert value(samples, "cartwise_defaults_answers_total") == 1


def test_a_repeated_request_is_a_cache_hit(client: FlaskClient, train: Callable[[], int]) -> None:
    train()
    lookups = "cartwise_response_cache_requests_total"
    ask(client, ["22423"], session_id="s-repeat")
    first = scrape(client)
    ask(client, ["22423"], session_id="s-repeat")
    second = scrape(client)

    assert value(first, lookups, result="miss") == 1
    assert value(first, lookups, result="hit") == 0
    assert value(second, lookups, result="hit") == 1
    assert value(second, lookups, result="miss") == 1
    assert value(second, "cartwise_response_cache_errors_total") == 0


def test_pending_jobs_are_the_jobs_not_done(client: FlaskClient, store: Store) -> None:
    assert value(scrape(client), "cartwise_jobs_pending") == 0
    now = datetime.now(UTC)
    for n in range(4):
        store.jobs.enqueue("sync", SHOP, {"n": n})
    store.jobs.enqueue("rebuild", SHOP, run_after=now + timedelta(hours=1))
    [claimed] = store.jobs.claim(limit=1)
    store.jobs.finish(claimed.id)

    samples = scrape(client)
    assert value(samples, "cartwise_jobs_pending") == 4
    assert value(samples, "cartwise_jobs_pending", state="due") == 3
    assert value(samples, "cartwise_jobs_pending", state="scheduled") == 1
    assert value(samples, "cartwise_jobs_pending", state="running") == 0


def test_model_age_appears_once_the_shop_is_trained(
    client: FlaskClient, train: Callable[[], int]
) -> None:
    samples = scrape(client)
    assert value(samples, "cartwise_model_age_seconds", shop=SHOP) is None
    assert value(samples, "cartwise_storage_up") == 1
    train()
    age = value(scrape(client), "cartwise_model_age_seconds", shop=SHOP)
    assert age is not None
    assert 0 <= age < 60


def test_storage_down_is_reported_not_raised(
    client: FlaskClient, take_database_away: Callable[[], None]
) -> None:
    assert client.get("/healthz").status_code == 200
    take_database_away()
    samples = scrape(client)
    assert value(samples, "cartwise_storage_up") == 0
    assert value(samples, "cartwise_jobs_pending") is None
    assert value(samples, f"{LATENCY}_count") is not None


def test_the_answer_is_text_and_never_cached(client: FlaskClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("environ", "headers", "status"),
    [
        pytest.param({"REMOTE_ADDR": "127.0.0.1"}, {}, 200, id="ipv4-loopback"),
        pytest.param({"REMOTE_ADDR": "127.8.9.10"}, {}, 200, id="loopback-net"),
        pytest.param({"REMOTE_ADDR": "::1"}, {}, 200, id="ipv6-loopback"),
        pytest.param({"REMOTE_ADDR": "::ffff:127.0.0.1"}, {}, 200, id="mapped-loopback"),
        pytest.param({"REMOTE_ADDR": "10.0.0.5"}, {}, 403, id="private"),
        pytest.param({"REMOTE_ADDR": "2001:db8::1"}, {}, 403, id="ipv6"),
        pytest.param({"REMOTE_ADDR": ""}, {}, 403, id="no-address"),
        pytest.param(
            {"REMOTE_ADDR": "127.0.0.1"},
            {"X-Forwarded-For": "203.0.113.7"},
            403,
            id="through-a-local-proxy",
        ),
    ],
)
def test_without_a_token_only_loopback_callers_are_answered(
    client: FlaskClient, environ: dict[str, str], headers: dict[str, str], status: int
) -> None:
    response = client.get("/metrics", environ_base=environ, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        pytest.param(None, 401, id="missing"),
        pytest.param(f"Bearer {TOKEN}x", 401, id="wrong"),
        pytest.param(f"Basic {TOKEN}", 401, id="other-scheme"),
        pytest.param("Bearer ", 401, id="empty"),
        pytest.param(f"Bearer {TOKEN}", 200, id="right"),
        pytest.param(f"bearer {TOKEN}", 200, id="scheme-any-case"),
    ],
)
def test_with_a_token_it_is_required_from_anywhere(
    store: Store, authorization: str | None, status: int
) -> None:
    settings = Settings(demo_mode=True, demo_shop=SHOP, metrics_token=TOKEN)
    client = create_app(settings, store=store).test_client()
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    if status == 401:
        assert response.get_json()["error"]["code"] == "unauthorized"


@pytest.fixture
def shopify_client(store: Store) -> FlaskClient:
    install(store, SHOP_A)
    return create_app(shopify_settings(), store=store).test_client()


def lag_buckets(client: FlaskClient) -> dict[float, float]:
    return {
        float(s.labels["le"]): s.value
        for s in scrape(client)
        if s.name == "cartwise_webhook_lag_seconds_bucket"
    }


def test_webhook_lag_lands_in_its_bucket(shopify_client: FlaskClient) -> None:
    order = {"id": 77, "line_items": []}
    triggered = datetime.now(UTC) - timedelta(seconds=5)
    headers, body = delivery("orders/create", order, triggered_at=triggered)
    assert shopify_client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200

    buckets = lag_buckets(shopify_client)
    assert buckets[1.0] == 0
    assert buckets[5.0] == 0
    assert buckets[10.0] == 1
    assert buckets[float("inf")] == 1


@pytest.mark.parametrize(
    "triggered_at",
    [
        pytest.param(None, id="missing"),
        pytest.param("yesterday", id="unparseable"),
    ],
)
def test_webhook_lag_skips_a_missing_or_unreadable_header(
    shopify_client: FlaskClient, triggered_at: str | None
) -> None:
    headers, body = delivery("orders/create", json.dumps({"id": 78}).encode())
    del headers["X-Shopify-Triggered-At"]
    if triggered_at is not None:
        headers["X-Shopify-Triggered-At"] = triggered_at
    assert shopify_client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    assert lag_buckets(shopify_client)[float("inf")] == 0


def test_a_forged_webhook_is_not_observed(shopify_client: FlaskClient) -> None:
    headers, body = delivery("orders/create", {"id": 79}, secret="not-the-app-secret")
    assert shopify_client.post("/webhooks/shopify", data=body, headers=headers).status_code == 401
    assert lag_buckets(shopify_client)[float("inf")] == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def two_workers(
    tmp_path: Path, db_path: Path, train: Callable[[], int], store: Store
) -> Iterator[tuple[str, Path]]:
    """(base URL, the parent of the metrics directory) of `cartwise serve` with two workers
    over the trained demo shop."""
    train()
    store.close()
    port = _free_port()
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "CARTWISE_DATABASE_URL": f"sqlite:///{db_path}",
        "CARTWISE_DEMO_MODE": "true",
        "CARTWISE_DEMO_SHOP": SHOP,
        "CARTWISE_SERVER__WORKERS": "2",
        "CARTWISE_JOBS__IN_PROCESS": "false",
        "TMPDIR": str(temp),
    }
    cli = Path(sys.executable).with_name("cartwise")
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(cli), "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while len(list(temp.glob("cartwise-metrics-*/histogram_*.db"))) < 2:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"two workers did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base, temp
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert list(temp.iterdir()) == [], "the metrics directory outlived the server"


def _recommend_request(port: int) -> bytes:
    body = json.dumps({"cart": [{"product_id": "22423"}], "k": 3}).encode()
    head = (
        f"POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.server
def test_one_scrape_sums_the_counts_of_every_worker(two_workers: tuple[str, Path]) -> None:
    base, temp = two_workers
    port = int(base.rsplit(":", 1)[1])
    # A request held half-sent keeps the worker that accepted it busy, so the next requests all
    # go to the other worker; sent in full afterwards, it is answered by the first.
    held = socket.create_connection(("127.0.0.1", port))
    request = _recommend_request(port)
    held.sendall(request[:20])
    time.sleep(0.3)
    with ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(
                lambda _: (
                    httpx.post(
                        base + "/v1/recommendations",
                        json={"cart": [{"product_id": "22423"}], "k": 3},
                        timeout=10,
                    ).status_code
                ),
                range(8),
            )
        )
    assert statuses == [200] * 8
    held.sendall(request[20:])
    answer = held.recv(65536)
    held.close()
    assert answer.startswith(b"HTTP/1.1 200")

    per_worker = []
    for path in temp.glob("cartwise-metrics-*/histogram_*.db"):
        merged = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
        samples = [s for family in merged for s in family.samples]
        per_worker.append(value(samples, f"{LATENCY}_count", **RECOMMEND) or 0.0)
    assert len(per_worker) == 2
    assert min(per_worker) >= 1  # both workers answered (almost always 1 and 8)
    assert sum(per_worker) == 9

    for _ in range(4):  # whichever worker answers the scrape, it reports both workers' counts
        text = httpx.get(base + "/metrics", timeout=10).text
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
        assert value(samples, f"{LATENCY}_count", **RECOMMEND) == 9
        assert value(samples, "cartwise_recommendation_answers_total", source="model") == 9
        assert value(samples, "cartwise_storage_up") == 1
        assert value(samples, "cartwise_model_age_seconds", shop=SHOP) is not None


def test_an_app_made_in_multiprocess_mode_reports_from_the_directory(tmp_path: Path) -> None:
    """The same path without gunicorn: an app made in a process with the directory set writes
    its counts there, and a fresh collector over the directory reads them back."""
    script = (
        "import sys\n"
        "from cartwise.api import create_app\n"
        "from cartwise.settings import Settings\n"
        "from prometheus_client import CollectorRegistry, generate_latest\n"
        "from prometheus_client.multiprocess import MultiProcessCollector\n"
        f"app = create_app(Settings(demo_mode=True, database_url='sqlite:///{tmp_path}/m.db'))\n"
        "client = app.test_client()\n"
        "for _ in range(3):\n"
        "    assert client.get('/healthz').status_code == 200\n"
        "assert client.get('/metrics').status_code == 200\n"
        "registry = CollectorRegistry()\n"
        "MultiProcessCollector(registry)\n"
        "sys.stdout.write(generate_latest(registry).decode())\n"
    )
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    samples = [s for f in text_string_to_metric_families(done.stdout) for s in f.samples]
    assert value(samples, f"{LATENCY}_count", route="/healthz", status="2xx") == 3
    assert list(directory.glob("histogram_*.db"))


def test_an_app_is_not_in_multiprocess_mode_by_default(app: Flask) -> None:
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    samples = scrape(app.test_client())
    assert value(samples, "cartwise_storage_up") == 1
