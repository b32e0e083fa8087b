"""Model notices over a real Redis (127.0.0.1:6379): a web worker hears that another process
saved a model and answers from it at once, not at its next version check."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cartwise import storage
from cartwise.api import create_app
from cartwise.cache.notices import Notices
from cartwise.domain import Platform, ShopRef
from cartwise.serving import ModelRegistry
from cartwise.settings import JobSettings, Settings
from cartwise.storage import Store
from tests.api.conftest import BASKETS, CATALOG, SHOP, fit_model


@pytest.fixture
def namespace() -> str:
    return f"cartwise-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with storage.open(f"sqlite:///{tmp_path / 'cartwise.db'}") as opened:
        opened.shops.ensure(ShopRef(SHOP, Platform.DEMO))
        opened.products.upsert_many(SHOP, CATALOG)
        yield opened


def wait_for(condition: object, timeout: float = 10.0) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_listener_hears_every_published_shop(redis_url: str, namespace: str) -> None:
    heard: list[str] = []
    listener = Notices(redis_url, namespace)
    listener.listen(heard.append)
    try:
        assert listener.ready.wait(5)
        sender = Notices(redis_url, namespace)
        for shop in ("a.myshopify.com", "b.myshopify.com"):
            sender.publish(shop)
        other = Notices(redis_url, namespace + "-other")
        other.publish("c.myshopify.com")  # another deployment's channel
        assert wait_for(lambda: len(heard) >= 2)
        time.sleep(0.2)
        assert heard == ["a.myshopify.com", "b.myshopify.com"]
        sender.close()
        other.close()
    finally:
        listener.close()


def test_publishing_to_an_unreachable_redis_is_logged_not_raised(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notices = Notices(f"redis://127.0.0.1:{port}/0", namespace)
    notices.publish(SHOP)
    notices.close()
    assert "could not publish the new model" in caplog.text


def test_a_web_worker_answers_from_a_model_saved_elsewhere_as_soon_as_it_hears(
    redis_url: str, namespace: str, store: Store
) -> None:
    settings = Settings(
        demo_mode=True,
        demo_shop=SHOP,
        redis_url=redis_url,
        jobs=JobSettings(in_process=False, queue=namespace),
    )
    # a version check so rare that only the notice can explain a pick-up within the test
    registry = ModelRegistry(store, check_interval=3600)
    store.models.save(SHOP, fit_model(), {"trained_on": len(BASKETS)})
    app = create_app(settings, store=store, registry=registry)
    assert app.extensions["cartwise_notices"].ready.wait(5)
    client = app.test_client()
    ask = {"cart": [{"product_id": "22423"}], "k": 3}
    first = client.post("/v1/recommendations", json=ask).get_json()
    assert first["model_version"] == 1

    newer = store.models.save(SHOP, fit_model(), {"trained_on": len(BASKETS)})
    Notices(redis_url, namespace).publish(SHOP)  # what `cartwise worker` does after a save

    def answered_from_newer() -> bool:
        return client.post("/v1/recommendations", json=ask).get_json()["model_version"] == newer

    assert wait_for(answered_from_newer)
