"""The demo page and its catalog endpoint, which exist only in demo mode."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from cartwise.api import create_app
from cartwise.settings import Settings
from cartwise.storage import Store

from .conftest import CATALOG, SHOP


def test_page_loads_its_own_script_and_styles(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'src="/static/demo.js"' in html
    assert 'href="/static/demo.css"' in html
    assert SHOP in html
    assert "<script>" not in html
    assert "style=" not in html

    for asset in ("/static/demo.js", "/static/demo.css"):
        with client.get(asset) as served:
            assert served.status_code == 200


def test_products_are_listed_by_title(client: FlaskClient) -> None:
    response = client.get("/v1/demo/products?limit=4")
    assert response.status_code == 200
    titles = [item["title"] for item in response.get_json()["items"]]
    assert titles == sorted(p.title for p in CATALOG)[:4]


def test_products_can_be_searched(client: FlaskClient) -> None:
    items = client.get("/v1/demo/products?q=Regency").get_json()["items"]
    assert {item["product_id"] for item in items} == {"22423", "22697", "22699"}
    assert set(items[0]) == {
        "product_id",
        "variant_id",
        "title",
        "price",
        "image_url",
        "available",
    }


def test_sold_out_products_are_shown_as_unavailable(client: FlaskClient, store: Store) -> None:
    store.products.set_stock(SHOP, "47566", 0, True)
    items = client.get("/v1/demo/products?q=bunting").get_json()["items"]
    assert [(item["product_id"], item["available"]) for item in items] == [("47566", False)]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("limit=0", id="limit-zero"),
        pytest.param("limit=101", id="limit-too-big"),
        pytest.param("limit=ten", id="limit-not-int"),
        pytest.param("q=" + "x" * 101, id="query-too-long"),
    ],
)
def test_bad_queries_are_422(client: FlaskClient, query: str) -> None:
    response = client.get(f"/v1/demo/products?{query}")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert query.split("=")[0] in error["message"]


def test_demo_routes_do_not_exist_outside_demo_mode(store: Store) -> None:
    client = create_app(
        Settings(demo_mode=False, secret_key="test-only-secret-key-0123456789abcdef"), store=store
    ).test_client()
    for path in ("/", "/v1/demo/products"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
