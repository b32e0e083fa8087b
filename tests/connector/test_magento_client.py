"""The Magento REST client against a store faked at the httpx transport with respx: answers in
the shapes Magento's documentation records (`{items, search_criteria, total_count}`, the order
and configurable product fixtures), Magento's paging quirk (a page past the end is the last page
again), rate limits, 5xx storms and broken answers. Sleep and clock are injected: retries take
no wall time."""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from cartwise.connector.magento.auth import IntegrationCredentials
from cartwise.connector.magento.client import MagentoClient
from cartwise.connector.magento.payloads import OrderPayload
from cartwise.connector.magento.records import CatalogRecord, VariantStock, order_record
from cartwise.connector.retrying import RetryPolicy
from cartwise.domain import OrderLine, Product
from cartwise.errors import InvalidRequest, UpstreamError, UpstreamRejected, UpstreamTimeout

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "magento"
STORE = "https://shop.example.com"
API = f"{STORE}/rest/V1"
CREDS = IntegrationCredentials(
    consumer_key="x2fl2ad8tbofr2o3v6l3iwhw1v4t3wmj",
    consumer_secret="k8q3t0pjyswtkxkz1rk0ozbmqsvy1zyc",
    access_token="wd8s6u2kd5ya4ndqh8t3cthfoxxdjqnn",
    access_token_secret="3zqcmj1idr2fw7r4ahsxnwh3oovoy5fy",
)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Callable[..., MagentoClient]:
    def make(**overrides: Any) -> MagentoClient:
        options: dict[str, Any] = {
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "policy": RetryPolicy(deadline=60, attempts=8, base=0.5, cap=20),
        }
        options.update(overrides)
        base = options.pop("base_url", STORE)
        creds = options.pop("credentials", CREDS)
        return MagentoClient(base, creds, **options)

    return make


@functools.cache
def _fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    assert isinstance(data, dict)
    return data


def load(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded Magento answer."""
    return copy.deepcopy(_fixture(name))


def magento_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def order(entity_id: int, *, updated: datetime = START, store_id: int = 1) -> dict[str, Any]:
    """The documented order, renumbered: a simple, a downloadable, a bundle of four and a
    configurable (parent and child item)."""
    data = load("order_get.json")
    data.update(
        entity_id=entity_id,
        increment_id=f"{entity_id:09d}",
        store_id=store_id,
        created_at=magento_time(updated - timedelta(minutes=5)),
        updated_at=magento_time(updated),
    )
    return data


def product(
    product_id: int,
    sku: str,
    *,
    type_id: str = "simple",
    price: float = 10.0,
    visibility: int = 4,
    status: int = 1,
    children: tuple[int, ...] = (),
    categories: tuple[str, ...] = (),
    image: str | None = None,
    updated: datetime = START,
) -> dict[str, Any]:
    """A product in the documented `POST /V1/products` shape (the configurable fixture's)."""
    data = load("product_create_configurable.json")
    data.update(
        id=product_id,
        sku=sku,
        name=f"Product {sku}",
        price=price,
        status=status,
        visibility=visibility,
        type_id=type_id,
        updated_at=magento_time(updated),
    )
    extension = data["extension_attributes"]
    extension["category_links"] = [
        {"position": n, "category_id": c} for n, c in enumerate(categories)
    ]
    extension["configurable_product_links"] = list(children)
    extension["stock_item"].update(item_id=product_id, product_id=product_id)
    data["custom_attributes"] = [
        a for a in data["custom_attributes"] if a["attribute_code"] != "category_ids"
    ] + [{"attribute_code": "category_ids", "value": list(categories)}]
    data["media_gallery_entries"] = (
        []
        if image is None
        else [
            {
                "id": product_id,
                "media_type": "image",
                "label": None,
                "position": 1,
                "disabled": False,
                "types": ["image", "small_image", "thumbnail"],
                "file": image,
            }
        ]
    )
    return data


_ID_FIELDS = {"entity_id": ("entity_id", "id")}


def _matches(item: dict[str, Any], field: str, value: str, condition: str) -> bool:
    names = _ID_FIELDS.get(field, (field,))
    actual = next((item[name] for name in names if name in item), None)
    if condition == "in":
        return str(actual) in value.split(",")
    if condition == "eq":
        return str(actual) == value
    if condition == "gteq":
        return str(actual) >= value
    raise AssertionError(f"unexpected condition {condition}")


def listing(items: list[dict[str, Any]], *, total_offset: int = 0) -> Handler:
    """Magento's searchCriteria behaviour over `items`: filter group 0, pages of `pageSize`,
    and a `currentPage` past the end answered with the last page again. `total_offset` makes
    `total_count` disagree with the items (they changed while the listing ran)."""

    def answer(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        prefix = "searchCriteria[filter_groups][0][filters][0]"
        chosen = items
        if f"{prefix}[field]" in params:
            chosen = [
                item
                for item in items
                if _matches(
                    item,
                    params[f"{prefix}[field]"],
                    params[f"{prefix}[value]"],
                    params[f"{prefix}[condition_type]"],
                )
            ]
        size = int(params["searchCriteria[pageSize]"])
        pages = max(1, math.ceil(len(chosen) / size))
        page = min(int(params["searchCriteria[currentPage]"]), pages)
        return httpx.Response(
            200,
            json={
                "items": chosen[(page - 1) * size : page * size],
                "search_criteria": {"page_size": size, "current_page": page},
                "total_count": len(chosen) + total_offset,
            },
        )

    return answer


def pages_asked(route: respx.Route) -> list[int]:
    return [int(c.request.url.params["searchCriteria[currentPage]"]) for c in route.calls]


async def all_orders(client: MagentoClient, **kwargs: Any) -> list[OrderPayload]:
    async with client:
        return [o async for o in client.orders(**kwargs)]


async def all_products(client: MagentoClient, **kwargs: Any) -> list[CatalogRecord]:
    async with client:
        return [p async for p in client.products(**kwargs)]


# -- paging ---------------------------------------------------------------------------------


@respx.mock
async def test_orders_are_read_page_by_page_until_total_count(
    make_client: Callable[..., MagentoClient],
) -> None:
    orders = [order(n, updated=START + timedelta(minutes=n)) for n in range(1, 251)]
    route = respx.get(f"{API}/orders").mock(side_effect=listing(orders))
    since = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    found = await all_orders(make_client(page_size=100), updated_since=since)
    assert [o.entity_id for o in found] == [str(n) for n in range(1, 251)]
    assert pages_asked(route) == [1, 2, 3]
    first = route.calls[0].request
    params = first.url.params
    assert params["searchCriteria[filter_groups][0][filters][0][field]"] == "updated_at"
    assert params["searchCriteria[filter_groups][0][filters][0][value]"] == "2026-03-02 09:00:00"
    assert params["searchCriteria[filter_groups][0][filters][0][condition_type]"] == "gteq"
    assert params["searchCriteria[sortOrders][0][field]"] == "updated_at"
    assert params["searchCriteria[sortOrders][0][direction]"] == "ASC"
    assert params["searchCriteria[sortOrders][1][field]"] == "entity_id"
    assert params["searchCriteria[pageSize]"] == "100"
    # Magento checks OAuth signatures after rawurldecode: a space must be %20, never "+".
    assert "2026-03-02%2009%3A00%3A00" in str(first.url)
    assert "+" not in str(first.url)
    authorization = first.headers["Authorization"]
    assert authorization.startswith("OAuth ")
    assert 'oauth_signature_method="HMAC-SHA256"' in authorization
    assert f'oauth_consumer_key="{CREDS.consumer_key}"' in authorization


@respx.mock
async def test_a_page_past_the_end_is_the_last_page_again_and_ends_the_listing(
    make_client: Callable[..., MagentoClient],
) -> None:
    # total_count still counts 100 orders deleted while the listing ran: page 3 is past the
    # end, and Magento answers it with page 2 again.
    orders = [order(n) for n in range(1, 201)]
    route = respx.get(f"{API}/orders").mock(side_effect=listing(orders, total_offset=100))
    found = await all_orders(make_client(page_size=100))
    assert len(found) == 200
    assert len({o.entity_id for o in found}) == 200
    assert pages_asked(route) == [1, 2, 3]


@respx.mock
async def test_a_short_page_ends_the_listing_whatever_total_count_says(
    make_client: Callable[..., MagentoClient],
) -> None:
    orders = [order(n) for n in range(1, 141)]
    route = respx.get(f"{API}/orders").mock(side_effect=listing(orders, total_offset=500))
    found = await all_orders(make_client(page_size=100))
    assert len(found) == 140
    assert pages_asked(route) == [1, 2]


@respx.mock
async def test_an_exact_multiple_of_the_page_size_takes_no_extra_request(
    make_client: Callable[..., MagentoClient],
) -> None:
    route = respx.get(f"{API}/orders").mock(side_effect=listing([order(n) for n in range(1, 201)]))
    assert len(await all_orders(make_client(page_size=100))) == 200
    assert pages_asked(route) == [1, 2]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"items": [], "search_criteria": {}, "total_count": 0}, id="empty-items"),
        pytest.param({"search_criteria": {}, "total_count": 0}, id="no-items-key"),
    ],
)
@respx.mock
async def test_an_empty_listing_yields_nothing(
    body: dict[str, Any], make_client: Callable[..., MagentoClient]
) -> None:
    route = respx.get(f"{API}/orders").mock(return_value=httpx.Response(200, json=body))
    assert await all_orders(make_client()) == []
    assert route.call_count == 1


@respx.mock
async def test_orders_become_domain_orders_with_the_callers_customer_key(
    make_client: Callable[..., MagentoClient],
) -> None:
    respx.get(f"{API}/orders").mock(side_effect=listing([order(3)]))
    (found,) = await all_orders(make_client())
    record = order_record(found, customer_key=lambda cid: f"hash-of-{cid}")
    assert record.order.customer_id == "hash-of-3"
    assert record.order.lines[-1] == OrderLine("67", 1, 52.0, "56")
    assert record.country == "US"


# -- retries --------------------------------------------------------------------------------


@respx.mock
async def test_429_waits_the_seconds_of_retry_after(
    make_client: Callable[..., MagentoClient], fake_time: FakeTime
) -> None:
    route = respx.get(f"{API}/orders").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "Too many"}),
            httpx.Response(429, headers={"Retry-After": "3"}),
            listing([order(1)]),
        ]
    )
    assert len(await all_orders(make_client())) == 1
    assert fake_time.sleeps == [7.0, 3.0]
    assert route.call_count == 3


@respx.mock
async def test_429_waits_until_the_http_date_of_retry_after(
    make_client: Callable[..., MagentoClient], fake_time: FakeTime
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    respx.get(f"{API}/orders").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": when}), listing([order(1)])]
    )
    assert len(await all_orders(make_client())) == 1
    (waited,) = fake_time.sleeps
    assert 25.0 <= waited <= 30.0


@respx.mock
async def test_a_502_storm_gives_up_with_upstream_timeout_after_the_tries(
    make_client: Callable[..., MagentoClient], fake_time: FakeTime
) -> None:
    route = respx.get(f"{API}/orders").mock(
        return_value=httpx.Response(502, text="<html>Bad Gateway</html>")
    )
    with pytest.raises(UpstreamTimeout) as exc:
        await all_orders(make_client(policy=RetryPolicy(deadline=600, attempts=6, cap=20)))
    assert exc.value.code == "upstream_timeout"
    assert exc.value.details["status"] == 502
    assert route.call_count == 6
    assert len(fake_time.sleeps) == 5
    assert all(0 <= s <= 20 for s in fake_time.sleeps)


@respx.mock
async def test_the_deadline_bounds_the_retries(
    make_client: Callable[..., MagentoClient], fake_time: FakeTime
) -> None:
    route = respx.get(f"{API}/orders").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "45"})
    )
    with pytest.raises(UpstreamTimeout):
        await all_orders(make_client(policy=RetryPolicy(deadline=100, attempts=50)))
    # Two waits of 45 s fit in 100 s; a third would end past the deadline and is not started.
    assert fake_time.sleeps == [45.0, 45.0]
    assert route.call_count == 3


@respx.mock
async def test_transient_5xx_and_connection_errors_are_retried(
    make_client: Callable[..., MagentoClient], fake_time: FakeTime
) -> None:
    route = respx.get(f"{API}/orders").mock(
        side_effect=[
            httpx.ConnectError("connection refused"),
            httpx.Response(504),
            httpx.ReadTimeout("slow"),
            listing([order(1), order(2)]),
        ]
    )
    assert len(await all_orders(make_client())) == 2
    assert route.call_count == 4
    assert len(fake_time.sleeps) == 3


@respx.mock
async def test_unreachable_store_is_an_upstream_timeout(
    make_client: Callable[..., MagentoClient],
) -> None:
    respx.get(f"{API}/orders").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(UpstreamTimeout) as exc:
        await all_orders(make_client(policy=RetryPolicy(attempts=3)))
    assert exc.value.details["reason"] == "unreachable"


@respx.mock
async def test_each_try_gets_the_time_left_as_its_timeout(
    make_client: Callable[..., MagentoClient],
) -> None:
    route = respx.get(f"{API}/orders").mock(side_effect=[httpx.Response(500), listing([order(1)])])
    await all_orders(make_client(policy=RetryPolicy(deadline=12, timeout=30, base=1, cap=1)))
    timeouts = [c.request.extensions["timeout"]["read"] for c in route.calls]
    assert timeouts[0] == 12
    assert 10 <= timeouts[1] < 12


# -- refusals and broken answers --------------------------------------------------------


@respx.mock
async def test_401_is_refused_at_once_with_magentos_message(
    make_client: Callable[..., MagentoClient], fake_time: FakeTime
) -> None:
    route = respx.get(f"{API}/orders").mock(
        return_value=httpx.Response(
            401,
            json={
                "message": "The consumer isn't authorized to access %resources.",
                "parameters": {"resources": "Magento_Sales::actions_view"},
            },
        )
    )
    with pytest.raises(UpstreamRejected) as exc:
        await all_orders(make_client())
    assert route.call_count == 1
    assert fake_time.sleeps == []
    assert exc.value.code == "upstream_rejected"
    assert exc.value.details == {"reason": "unauthorized", "status": 401}
    assert "Magento_Sales::actions_view" in exc.value.message
    assert "enable_integration_as_bearer" in exc.value.message


@respx.mock
async def test_400_names_the_problem_with_positional_parameters(
    make_client: Callable[..., MagentoClient],
) -> None:
    respx.get(f"{API}/orders").mock(
        return_value=httpx.Response(
            400,
            json={
                "message": 'Invalid value of "%1" provided for the %2 field.',
                "parameters": ["-1", "pageSize"],
            },
        )
    )
    with pytest.raises(UpstreamRejected, match='Invalid value of "-1" provided for the pageSize'):
        await all_orders(make_client())


@respx.mock
async def test_a_redirect_is_not_followed(make_client: Callable[..., MagentoClient]) -> None:
    respx.get(f"{API}/orders").mock(
        return_value=httpx.Response(301, headers={"Location": "http://10.0.0.5/rest/V1/orders"})
    )
    with pytest.raises(UpstreamRejected) as exc:
        await all_orders(make_client())
    assert exc.value.details["reason"] == "redirected"


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        pytest.param(
            httpx.Response(200, text="<html><body>Maintenance</body></html>"),
            "not JSON",
            id="html",
        ),
        pytest.param(
            httpx.Response(200, json={"total_count": 5}), "no list of items", id="no-items"
        ),
        pytest.param(
            httpx.Response(200, json={"items": [], "search_criteria": {}}),
            "no total_count",
            id="no-total",
        ),
        pytest.param(httpx.Response(200, json=[1, 2]), "not a search result", id="a-list"),
        pytest.param(
            httpx.Response(200, json={"items": {"0": {}}, "total_count": 1}),
            "no list of items",
            id="items-object",
        ),
        pytest.param(
            httpx.Response(200, json={"items": [{"entity_id": 9}], "total_count": 1}),
            "item 0: created_at",
            id="unreadable-item",
        ),
    ],
)
@respx.mock
async def test_a_malformed_page_is_a_clear_error_and_not_retried(
    answer: httpx.Response, words: str, make_client: Callable[..., MagentoClient]
) -> None:
    route = respx.get(f"{API}/orders").mock(return_value=answer)
    with pytest.raises(UpstreamError, match=words) as exc:
        await all_orders(make_client())
    assert exc.value.code == "upstream_error"
    assert exc.value.details["reason"] == "malformed_response"
    assert route.call_count == 1


# -- catalog --------------------------------------------------------------------------------


def catalog() -> list[dict[str, Any]]:
    """A configurable hoodie (children 56 on the page, 57 not), a visible simple tee, a child
    that is not visible on its own, and a disabled simple product."""
    return [
        product(
            67,
            "MH01",
            type_id="configurable",
            price=0,
            children=(56, 57),
            categories=("2", "15", "16"),
            image="/m/h/mh01-gray_main.jpg",
        ),
        product(56, "MH01-S-Gray", price=52, visibility=1),
        product(1553, "WS12-M-Orange", price=22, categories=("16",)),
        product(1600, "OLD-1", price=5, status=2, categories=("99",)),
    ]


CHILD_57 = product(57, "MH01-M-Gray", price=54, visibility=1)
CATEGORIES = [
    {"id": 2, "parent_id": 1, "name": "Default Category", "is_active": True, "level": 1},
    {"id": 15, "parent_id": 2, "name": "Men", "is_active": True, "level": 2},
    {"id": 16, "parent_id": 15, "name": "Hoodies & Sweatshirts", "is_active": True, "level": 3},
]
SOURCE_ITEMS = [
    {"sku": "MH01-S-Gray", "source_code": "default", "quantity": 0, "status": 0},
    {"sku": "MH01-M-Gray", "source_code": "default", "quantity": 4, "status": 1},
    {"sku": "MH01-M-Gray", "source_code": "eu", "quantity": 3, "status": 1},
    {"sku": "WS12-M-Orange", "source_code": "default", "quantity": 12, "status": 1},
    {"sku": "OLD-1", "source_code": "default", "quantity": 9, "status": 1},
]


def mock_catalog(*, msi: bool = True) -> dict[str, respx.Route]:
    products = [*catalog(), CHILD_57]

    def products_answer(request: httpx.Request) -> httpx.Response:
        field = request.url.params.get("searchCriteria[filter_groups][0][filters][0][field]")
        # The listing shows what changed (CHILD_57 did not); children are asked for by id.
        return listing(catalog() if field != "entity_id" else products)(request)

    routes = {
        "products": respx.get(f"{API}/products").mock(side_effect=products_answer),
        "categories": respx.get(f"{API}/categories/list").mock(side_effect=listing(CATEGORIES)),
    }
    if msi:
        routes["msi"] = respx.get(f"{API}/inventory/source-items").mock(
            side_effect=listing(SOURCE_ITEMS)
        )
    return routes


EXPECTED_HOODIE = CatalogRecord(
    Product(
        product_id="67",
        title="Product MH01",
        category="Hoodies & Sweatshirts",
        tags=("Men", "Hoodies & Sweatshirts"),
        price=54.0,
        available=True,
        stock=7,
        image_url=f"{STORE}/media/catalog/product/m/h/mh01-gray_main.jpg",
        variant_id="57",
    ),
    (
        VariantStock("56", "67", "MH01-S-Gray", 0),
        VariantStock("57", "67", "MH01-M-Gray", 7),
    ),
    START,
)


@respx.mock
async def test_products_come_with_children_stock_categories_and_images(
    make_client: Callable[..., MagentoClient],
) -> None:
    routes = mock_catalog()
    found = await all_products(make_client(page_size=100))
    assert [r.product.product_id for r in found] == ["67", "1553", "1600"]
    hoodie, tee, old = found
    assert hoodie == EXPECTED_HOODIE
    assert tee.product == Product(
        "1553",
        "Product WS12-M-Orange",
        category="Hoodies & Sweatshirts",
        tags=("Hoodies & Sweatshirts",),
        price=22.0,
        available=True,
        stock=12,
    )
    assert tee.variants == ()
    assert (old.product.available, old.product.category) == (False, "99")
    # The child missing from the page was fetched by id; stock was asked for in one go.
    child_query = routes["products"].calls[1].request.url.params
    assert child_query["searchCriteria[filter_groups][0][filters][0][field]"] == "entity_id"
    assert child_query["searchCriteria[filter_groups][0][filters][0][value]"] == "57"
    assert child_query["searchCriteria[filter_groups][0][filters][0][condition_type]"] == "in"
    (stock_call,) = routes["msi"].calls
    skus = stock_call.request.url.params["searchCriteria[filter_groups][0][filters][0][value]"]
    assert sorted(skus.split(",")) == ["MH01-M-Gray", "MH01-S-Gray", "OLD-1", "WS12-M-Orange"]
    assert routes["categories"].call_count == 1


@respx.mock
async def test_stock_falls_back_to_legacy_stock_items_when_msi_is_missing(
    make_client: Callable[..., MagentoClient],
) -> None:
    mock_catalog(msi=False)
    msi = respx.get(f"{API}/inventory/source-items").mock(
        return_value=httpx.Response(404, json={"message": "Request does not match any route."})
    )

    def stock_item(request: httpx.Request) -> httpx.Response:
        sku = request.url.path.rsplit("/", 1)[-1]
        levels = {"MH01-S-Gray": (0, False), "MH01-M-Gray": (7, True), "WS12-M-Orange": (12, True)}
        if sku not in levels:
            return httpx.Response(
                404, json={"message": "The Product that was requested doesn't exist."}
            )
        qty, in_stock = levels[sku]
        body = load("product_create_configurable.json")["extension_attributes"]["stock_item"]
        return httpx.Response(200, json={**body, "qty": qty, "is_in_stock": in_stock})

    legacy = respx.get(url__regex=rf"{API}/stockItems/[^/]+$").mock(side_effect=stock_item)
    found = await all_products(make_client())
    assert found[0] == EXPECTED_HOODIE
    assert found[1].product.stock == 12
    assert found[2].product.stock == 0  # no stock item of its own: the one the listing embeds
    assert msi.call_count == 1
    assert legacy.call_count == 4


@respx.mock
async def test_without_the_right_to_read_categories_ids_stand_in_for_names(
    make_client: Callable[..., MagentoClient],
) -> None:
    routes = mock_catalog()
    routes["categories"].mock(
        return_value=httpx.Response(
            401,
            json={
                "message": "The consumer isn't authorized to access %resources.",
                "parameters": {"resources": "Magento_Catalog::categories"},
            },
        )
    )
    found = await all_products(make_client())
    assert found[0].product.category == "2"
    assert found[0].product.tags == ("2", "15", "16")
    assert routes["categories"].call_count == 1


@respx.mock
async def test_a_product_that_does_not_parse_names_the_field(
    make_client: Callable[..., MagentoClient],
) -> None:
    broken = product(5, "X")
    broken["id"] = "five"
    respx.get(f"{API}/products").mock(side_effect=listing([broken]))
    with pytest.raises(UpstreamError, match="item 0: id"):
        await all_products(make_client())


# -- store views, options ---------------------------------------------------------------


@respx.mock
async def test_a_store_code_scopes_the_api_and_the_orders(
    make_client: Callable[..., MagentoClient],
) -> None:
    views = respx.get(f"{STORE}/rest/de/V1/store/storeViews").mock(
        return_value=httpx.Response(
            200,
            json=[
                {"id": 1, "code": "default", "name": "Default Store View", "website_id": 1},
                {"id": 2, "code": "de", "name": "Deutsch", "website_id": 1},
            ],
        )
    )
    orders = [order(1, store_id=1), order(2, store_id=2)]
    route = respx.get(f"{STORE}/rest/de/V1/orders").mock(side_effect=listing(orders))
    found = await all_orders(make_client(store_code="de"))
    params = route.calls[0].request.url.params
    assert params["searchCriteria[filter_groups][0][filters][0][field]"] == "store_id"
    assert params["searchCriteria[filter_groups][0][filters][0][value]"] == "2"
    assert [o.entity_id for o in found] == ["2"]
    assert views.call_count == 1


@respx.mock
async def test_an_unknown_store_code_is_refused(
    make_client: Callable[..., MagentoClient],
) -> None:
    respx.get(f"{STORE}/rest/fr/V1/store/storeViews").mock(
        return_value=httpx.Response(200, json=[{"id": 1, "code": "default"}])
    )
    with pytest.raises(UpstreamRejected) as exc:
        await all_orders(make_client(store_code="fr"))
    assert exc.value.details["reason"] == "unknown_store_code"


@respx.mock
async def test_bearer_credentials_send_the_token(make_client: Callable[..., MagentoClient]) -> None:
    route = respx.get(f"{API}/orders").mock(side_effect=listing([]))
    creds = IntegrationCredentials("", "", "wd8s6u2kd5ya4ndqh8t3cthfoxxdjqnn", "", bearer=True)
    await all_orders(make_client(credentials=creds))
    assert route.calls[0].request.headers["Authorization"] == (
        "Bearer wd8s6u2kd5ya4ndqh8t3cthfoxxdjqnn"
    )


@respx.mock
async def test_a_given_http_client_is_left_open(make_client: Callable[..., MagentoClient]) -> None:
    respx.get(f"{API}/orders").mock(side_effect=listing([order(1)]))
    async with httpx.AsyncClient() as http:
        assert len(await all_orders(make_client(http=http))) == 1
        assert not http.is_closed


@pytest.mark.parametrize("size", [0, 301])
def test_page_size_is_limited_to_what_magento_allows(
    size: int, make_client: Callable[..., MagentoClient]
) -> None:
    with pytest.raises(InvalidRequest) as exc:
        make_client(page_size=size)
    assert exc.value.details["reason"] == "invalid_page_size"


def test_private_store_urls_are_refused_unless_allowed(
    make_client: Callable[..., MagentoClient],
) -> None:
    with pytest.raises(InvalidRequest) as exc:
        make_client(base_url="https://169.254.169.254")
    assert exc.value.details["reason"] == "private_address"
    make_client(base_url="http://127.0.0.1:8080", allow_private=True)


async def test_a_naive_updated_since_is_refused(make_client: Callable[..., MagentoClient]) -> None:
    with pytest.raises(InvalidRequest):
        await all_orders(make_client(), updated_since=datetime(2026, 3, 2))


@respx.mock
async def test_a_store_that_never_answers_in_time_is_an_upstream_timeout(
    make_client: Callable[..., MagentoClient],
) -> None:
    route = respx.get(f"{API}/orders").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeout) as exc:
        await all_orders(make_client(policy=RetryPolicy(attempts=3)))
    assert exc.value.details["reason"] == "timeout"
    assert route.call_count == 3
