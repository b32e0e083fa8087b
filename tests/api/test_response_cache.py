"""The answer cache behind `/v1/recommendations`, in process and on the real Redis server: a
session's repeated request is answered from it (also by another app sharing Redis), a new model
version misses by construction, and a Redis outage still answers every request."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from flask import Flask

from cartwise.api import create_app
from cartwise.cache import MemoryCache
from cartwise.cache.redis import RedisCache
from cartwise.serving import ModelRegistry
from cartwise.settings import Settings
from cartwise.storage import Store

from .conftest import SHOP

BODY = {"cart": [{"product_id": "22423"}], "session_id": "s-cache", "k": 3}


def responses(app: Flask) -> Any:
    return app.extensions["cartwise"].responses


def ask(app: Flask, body: dict[str, Any] = BODY) -> dict[str, Any]:
    answer = app.test_client().post("/v1/recommendations", json=body)
    assert answer.status_code == 200
    return dict(answer.get_json())


def without_request_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "request_id"}


def test_in_process_by_default(app: Flask, train: Callable[[], int]) -> None:
    train()
    assert isinstance(responses(app), MemoryCache)
    first = ask(app)
    assert without_request_id(ask(app)) == without_request_id(first)
    assert responses(app).hits == 1


def test_two_apps_share_answers_through_redis_and_a_retrain_misses(
    redis_url: str, store: Store, train: Callable[[], int]
) -> None:
    train()
    settings = Settings(demo_mode=True, demo_shop=SHOP, redis_url=redis_url)
    one = create_app(settings, store=store)
    two = create_app(settings, store=store, registry=ModelRegistry(store, check_interval=0))
    assert isinstance(responses(one), RedisCache)
    responses(one).clear()
    body = {**BODY, "session_id": f"s-{os.getpid()}-{id(one)}"}
    first = ask(one, body)
    assert first["model_version"] is not None
    shared = ask(two, body)
    assert responses(two).hits == 1
    assert without_request_id(shared) == without_request_id(first)
    assert shared["request_id"] != first["request_id"]

    version = train()  # two sees it at once (its registry checks on every request)
    fresh = ask(two, body)
    assert fresh["model_version"] == version != first["model_version"]
    assert responses(two).hits == 1  # the new version's key was not there
    responses(one).clear()


def test_with_redis_gone_every_request_is_still_answered(
    store: Store, train: Callable[[], int]
) -> None:
    train()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    settings = Settings(demo_mode=True, demo_shop=SHOP, redis_url=f"redis://127.0.0.1:{dead}/0")
    app = create_app(settings, store=store)
    answers = [ask(app, {**BODY, "session_id": f"s{n % 3}"}) for n in range(20)]
    assert all(a["items"] for a in answers)
    assert responses(app).errors >= 1
