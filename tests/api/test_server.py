"""`cartwise serve` for real: gunicorn in a subprocess on a free port, the job worker in its
process. A signed order webhook changes what the next recommendation call returns."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cartwise import storage
from cartwise.domain import Order, OrderLine, Platform, Product, ShopRef
from cartwise.installs import create_api_key
from cartwise.training import train_shop

from .shopify import (
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET_KEY,
    SHOP_A,
    delivery,
    install,
    shopify_settings,
)

CATALOG = [
    Product("101", "Teapot", category="kitchen", price=20.0),
    Product("102", "Teacup", category="kitchen", price=5.0),
    Product("103", "Saucer", category="kitchen", price=3.0),
    Product("201", "Candle", category="home", price=8.0),
    Product("202", "Candle holder", category="home", price=12.0),
    Product("301", "Bunting", category="party", price=4.0),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, storefront API key) of `cartwise serve` over a seeded SQLite shop."""
    db = tmp_path / "cartwise.db"
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with storage.open(f"sqlite:///{db}") as store:
        store.shops.ensure(ShopRef(SHOP_A, Platform.SHOPIFY))
        install(store, SHOP_A)
        store.products.upsert_many(SHOP_A, CATALOG)
        baskets = [("101", "102"), ("101", "102"), ("201", "202"), ("201", "202"), ("301",)]
        store.orders.upsert_many(
            SHOP_A,
            [
                Order(f"o{n}", start + timedelta(hours=n), tuple(OrderLine(p) for p in basket))
                for n, basket in enumerate(baskets)
            ],
        )
        train_shop(store, SHOP_A)
        _, key = create_api_key(store, shopify_settings().effective_secret_key(), SHOP_A)
    port = _free_port()
    env = {
        **os.environ,
        "CARTWISE_DATABASE_URL": f"sqlite:///{db}",
        "CARTWISE_DEMO_MODE": "false",
        "CARTWISE_SECRET_KEY": SECRET_KEY,
        "CARTWISE_SHOPIFY__CLIENT_ID": CLIENT_ID,
        "CARTWISE_SHOPIFY__CLIENT_SECRET": CLIENT_SECRET,
        "CARTWISE_JOBS__IN_PROCESS": "true",
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
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base, key
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-2000:]


def _recommended(base: str, key: str, cart: list[str]) -> list[str]:
    answer = httpx.post(
        base + "/v1/recommendations",
        json={"cart": [{"product_id": p} for p in cart], "k": 5},
        headers={"X-Cartwise-Key": key},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return [item["product_id"] for item in answer.json()["items"]]


@pytest.mark.server
def test_an_order_webhook_changes_the_next_recommendation(served: tuple[str, str]) -> None:
    base, key = served
    before = _recommended(base, key, ["301"])
    assert before[:1] != ["103"]

    now = datetime.now(UTC)
    order = {
        "id": 9001,
        "created_at": now.isoformat(),
        "updated_at": now.isoformat(),
        "line_items": [
            {"id": 1, "product_id": 301, "variant_id": 1, "quantity": 1, "price": "4.00"},
            {"id": 2, "product_id": 103, "variant_id": 2, "quantity": 1, "price": "3.00"},
        ],
    }
    headers, body = delivery("orders/create", json.dumps(order).encode())
    acked = httpx.post(base + "/webhooks/shopify", content=body, headers=headers, timeout=5)
    assert acked.status_code == 200 and acked.json() == {"status": "stored"}

    deadline = time.monotonic() + 15
    while _recommended(base, key, ["301"])[:1] != ["103"]:
        assert time.monotonic() < deadline, "the order never reached the served model"
        time.sleep(0.05)
