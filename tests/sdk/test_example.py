"""examples/custom_storefront renders its cart page through the SDK, with a fake transport
standing in for cartwise: the model's answer when it answers, the curated defaults when not."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from cartwise.sdk import CartwiseClient

from .conftest import answer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_storefront" / "storefront.py"


@pytest.fixture(scope="module")
def storefront() -> ModuleType:
    spec = importlib.util.spec_from_file_location("custom_storefront", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def browse(
    storefront: ModuleType, cartwise: httpx.MockTransport
) -> tuple[httpx.Client, CartwiseClient]:
    sdk = CartwiseClient(
        "http://cartwise.test", "ck_x", defaults=storefront.DEFAULTS, transport=cartwise
    )
    app = storefront.create_app(sdk)
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://shop.test"), sdk


def test_the_page_shows_the_models_answer_and_tracks_what_happens(storefront: ModuleType) -> None:
    seen: list[httpx.Request] = []

    def cartwise(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/events":
            return httpx.Response(202)
        return httpx.Response(200, json=answer("model", "22697", "22699"))

    browser, sdk = browse(storefront, httpx.MockTransport(cartwise))
    with browser, sdk:
        added = browser.post("/add", data={"product": "22423", "request_id": "r0"})
        assert added.status_code == 303
        page = browser.get("/")
        sdk.flush()

    assert page.status_code == 200
    assert "Product 22697" in page.text
    assert "Often bought with" in page.text
    assert "data-source='model'" in page.text
    asked = json.loads(next(r for r in seen if r.url.path == "/v1/recommendations").content)
    assert [line["product_id"] for line in asked["cart"]] == ["22423"]
    assert asked["placement"] == "cart"
    events = [
        e for r in seen if r.url.path == "/v1/events" for e in json.loads(r.content)["events"]
    ]
    assert [e["kind"] for e in events] == ["click", "add_to_cart", "impression", "impression"]


def test_the_page_renders_the_defaults_when_cartwise_is_down(storefront: ModuleType) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    browser, sdk = browse(storefront, httpx.MockTransport(down))
    with browser, sdk:
        page = browser.get("/")
    assert page.status_code == 200
    assert "data-source='fallback'" in page.text
    assert "White hanging heart T-light holder" in page.text
    assert page.text.count("class='rec'") == 4
