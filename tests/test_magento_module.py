"""The Magento 2 module in `storefront_snippets/magento2/` against the server it talks to.

Nothing here runs inside Magento. What runs is the module's own code that has no Magento
dependency (the signer, the body builder, the retry policy, the delivery headers, the cart
block's template), through the plain `php` CLI, checked with the server's own verifier, payload
models and webhook endpoint; plus static checks of every XML, JSON and PHP file and of the
wiring between them (config paths, observers, cron job, database schema and its whitelist).

Tests that need `php` skip when it is missing (`apt-get install -y php-cli`), except under
CI=true, where they fail.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cartwise import storage
from cartwise.api import create_app
from cartwise.connector.magento.auth import IntegrationCredentials
from cartwise.connector.magento.payloads import CartSaved, OrderPlaced, ProductSaved, parse_event
from cartwise.connector.magento.records import cart_record, catalog_record, order_record
from cartwise.errors import InvalidSignature
from cartwise.magento_stores import connect_store
from cartwise.settings import Settings
from cartwise.storage import Store
from cartwise.webhooks.magento import MAGENTO_EVENTS, verify_signature

ROOT = Path(__file__).resolve().parents[1]
SNIPPETS = ROOT / "storefront_snippets" / "magento2"
MODULE = SNIPPETS / "Cartwise_Recommendations"
CHECK = SNIPPETS / "check.sh"
PHP_TESTS = SNIPPETS / "tests"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "magento"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"

# docs/magento.md, "Worked example".
DOC_SECRET = "3m1xQy7m2oW5vQ0jv8iH5l3Yc4nH7t9kZbq2uX6dE1A"
DOC_T = 1772442000
DOC_BODY = (
    b'{"occurred_at":"2026-03-02T09:00:01+00:00","order":{"entity_id":3,"created_at":'
    b'"2026-03-02 09:00:00","updated_at":"2026-03-02 09:00:01","state":"new","customer_id":3,'
    b'"customer_is_guest":0,"items":[{"item_id":10,"product_id":67,"product_type":"configurable",'
    b'"sku":"MH01-S-Gray","qty_ordered":1,"price":52},{"item_id":11,"parent_item_id":10,'
    b'"product_id":56,"product_type":"simple","sku":"MH01-S-Gray","qty_ordered":1,"price":0}]}}'
)
DOC_SIGNATURE = "t=1772442000,v1=6f0a1642aa6b3948bd6d5e33731a5b7a18baa8f00f505db3e34cc55445d9bf4e"


def php_or_skip() -> str:
    php = shutil.which("php")
    if php is None:
        reason = "php is missing (apt-get install -y php-cli)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return php


@pytest.fixture(scope="module")
def driver() -> Path:
    """The PHP side of the tests: loads the module's Magento-free classes and runs one
    operation on the JSON it reads from stdin."""
    return PHP_TESTS / "driver.php"


def php(driver: Path, op: str, **data: Any) -> bytes:
    """Run one operation of the PHP driver; its stdout, exactly."""
    binary = php_or_skip()
    result = subprocess.run(
        [
            binary,
            "-d",
            "display_errors=stderr",
            "-d",
            "error_reporting=-1",
            str(driver),
            str(MODULE),
        ],
        input=json.dumps({"op": op, **data}).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stderr == b"", result.stderr.decode(errors="replace")
    return result.stdout


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- static checks ----------------------------------------------------------------------------

XML_FILES = sorted(MODULE.rglob("*.xml"))


def test_the_module_has_the_expected_files() -> None:
    expected = {
        "registration.php",
        "composer.json",
        "README.md",
        "etc/module.xml",
        "etc/config.xml",
        "etc/acl.xml",
        "etc/adminhtml/system.xml",
        "etc/db_schema.xml",
        "etc/db_schema_whitelist.json",
        "etc/events.xml",
        "etc/frontend/events.xml",
        "etc/crontab.xml",
        "etc/di.xml",
        "view/frontend/layout/checkout_cart_index.xml",
        "view/frontend/templates/recommendations.phtml",
        "view/frontend/requirejs-config.js",
        "view/frontend/web/js/recommendations.js",
        "view/frontend/web/css/recommendations.css",
    }
    present = {str(p.relative_to(MODULE)) for p in MODULE.rglob("*") if p.is_file()}
    assert expected <= present


@pytest.mark.parametrize("path", XML_FILES, ids=lambda p: str(p.relative_to(MODULE)))
def test_every_xml_file_parses(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.get(f"{XSI}noNamespaceSchemaLocation", "").startswith("urn:magento:")


def test_composer_and_module_names_agree() -> None:
    composer = json.loads((MODULE / "composer.json").read_text())
    assert composer["type"] == "magento2-module"
    assert composer["autoload"]["psr-4"] == {"Cartwise\\Recommendations\\": ""}
    assert composer["autoload"]["files"] == ["registration.php"]
    module = ET.parse(MODULE / "etc/module.xml").getroot().find("module")
    assert module is not None
    assert module.get("name") == "Cartwise_Recommendations"
    sequence = {m.get("name") for m in module.iterfind("sequence/module")}
    assert {"Magento_Sales", "Magento_Checkout", "Magento_Catalog"} <= sequence
    assert "'Cartwise_Recommendations'" in (MODULE / "registration.php").read_text()


def class_file(name: str) -> Path:
    """The file PSR-4 maps a module class to."""
    prefix = "Cartwise\\Recommendations\\"
    assert name.startswith(prefix), name
    return MODULE / (name.removeprefix(prefix).replace("\\", "/") + ".php")


def test_observers_cron_and_view_model_resolve_to_files() -> None:
    observed = {}
    for path in (MODULE / "etc/events.xml", MODULE / "etc/frontend/events.xml"):
        for event in ET.parse(path).getroot().iterfind("event"):
            for observer in event.iterfind("observer"):
                observed[event.get("name")] = observer.get("instance")
    assert observed == {
        "sales_order_save_commit_after": "Cartwise\\Recommendations\\Observer\\OrderPlaced",
        "catalog_product_save_commit_after": "Cartwise\\Recommendations\\Observer\\ProductSaved",
        "checkout_cart_save_after": "Cartwise\\Recommendations\\Observer\\CartSaved",
    }
    for instance in observed.values():
        source = class_file(str(instance)).read_text()
        assert "implements ObserverInterface" in source
        assert "catch (\\Throwable $e)" in source
    (job,) = ET.parse(MODULE / "etc/crontab.xml").getroot().iterfind("group/job")
    assert job.findtext("schedule") == "* * * * *"
    assert (
        f"public function {job.get('method')}()" in class_file(str(job.get("instance"))).read_text()
    )
    layout = ET.parse(MODULE / "view/frontend/layout/checkout_cart_index.xml").getroot()
    (container,) = layout.iterfind("body/referenceContainer")
    assert container.get("name") == "checkout.cart.items"
    block = container.find("block")
    assert block is not None
    assert block.get("class") == "Magento\\Framework\\View\\Element\\Template"
    assert block.get("after") == "-"
    assert block.get("template") == "Cartwise_Recommendations::recommendations.phtml"
    view_model = block.find("arguments/argument[@name='view_model']")
    assert view_model is not None and view_model.text is not None
    assert "implements ArgumentInterface" in class_file(view_model.text).read_text()
    for node in ET.parse(MODULE / "etc/di.xml").getroot().iter("type"):
        name = str(node.get("name"))
        if name.startswith("Cartwise\\"):
            assert class_file(name).is_file(), name


def config_paths() -> set[str]:
    """Every field of system.xml as section/group/field."""
    root = ET.parse(MODULE / "etc/adminhtml/system.xml").getroot()
    return {
        f"{section.get('id')}/{group.get('id')}/{field.get('id')}"
        for section in root.iterfind("system/section")
        for group in section.iterfind("group")
        for field in group.iterfind("field")
    }


def test_configuration_paths_agree_across_files() -> None:
    fields = config_paths()
    source = (MODULE / "Model/Config.php").read_text()
    used = set(re.findall(r"XML_PATH_\w+ = '([^']+)'", source))
    assert used == fields
    defaults = ET.parse(MODULE / "etc/config.xml").getroot().find("default")
    assert defaults is not None
    for path in fields:
        assert defaults.find(path) is not None, f"no default for {path}"
    assert defaults.findtext("cartwise/storefront/budget_ms") == "300"
    layout = (MODULE / "view/frontend/layout/checkout_cart_index.xml").read_text()
    assert 'ifconfig="cartwise/general/enabled"' in layout
    system = ET.parse(MODULE / "etc/adminhtml/system.xml").getroot()
    secret = system.find("system/section/group[@id='events']/field[@id='signing_secret']")
    assert secret is not None
    assert secret.get("type") == "obscure"
    encrypted = "Magento\\Config\\Model\\Config\\Backend\\Encrypted"
    assert secret.findtext("backend_model") == encrypted
    default_secret = defaults.find("cartwise/events/signing_secret")
    assert default_secret is not None and default_secret.get("backend_model") == encrypted
    section = system.find("system/section")
    assert section is not None
    acl = {r.get("id") for r in ET.parse(MODULE / "etc/acl.xml").getroot().iter("resource")}
    assert section.findtext("resource") in acl


def test_db_schema_and_its_whitelist_agree() -> None:
    table = ET.parse(MODULE / "etc/db_schema.xml").getroot().find("table")
    assert table is not None and table.get("name") == "cartwise_outbox"
    columns = {c.get("name"): c for c in table.iterfind("column")}
    whitelist = json.loads((MODULE / "etc/db_schema_whitelist.json").read_text())
    listed = whitelist["cartwise_outbox"]
    assert set(listed["column"]) == set(columns)
    assert set(listed["index"]) == {i.get("referenceId") for i in table.iterfind("index")}
    assert set(listed["constraint"]) == {c.get("referenceId") for c in table.iterfind("constraint")}
    assert {"event_id", "attempts", "next_attempt_at", "status", "body"} <= set(columns)
    unique = {
        c.get("referenceId"): [col.get("name") for col in c.iterfind("column")]
        for c in table.iterfind("constraint")
        if c.get(f"{XSI}type") == "unique"
    }
    assert ["event_id"] in unique.values()
    # Every column the PHP code writes exists.
    outbox = (MODULE / "Model/Outbox.php").read_text()
    written = set(re.findall(r"'([a-z_]+)' =>", outbox))
    assert written <= set(columns), written - set(columns)


def test_the_template_names_the_component_requirejs_maps() -> None:
    template = (MODULE / "view/frontend/templates/recommendations.phtml").read_text()
    requirejs = (MODULE / "view/frontend/requirejs-config.js").read_text()
    assert "'cartwiseRecommendations' =>" in template
    assert "cartwiseRecommendations: 'Cartwise_Recommendations/js/recommendations'" in requirejs
    script = (MODULE / "view/frontend/web/js/recommendations.js").read_text()
    assert script.lstrip().startswith("/**")
    assert "define(['Magento_Customer/js/customer-data']" in script
    assert "console." not in script
    assert "innerHTML" not in script


def test_check_script_passes() -> None:
    php_or_skip()
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(CHECK)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    assert time.monotonic() - started < 120


def test_check_script_fails_on_a_php_syntax_error_and_broken_xml(tmp_path: Path) -> None:
    php_or_skip()
    copy_root = tmp_path / "magento2"
    shutil.copytree(SNIPPETS, copy_root)
    module = copy_root / "Cartwise_Recommendations"
    (module / "Model/Signer.php").write_text("<?php\nclass Broken {\n")
    result = subprocess.run(
        ["bash", str(copy_root / "check.sh")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "Signer.php" in result.stderr

    shutil.copy(MODULE / "Model/Signer.php", module / "Model/Signer.php")
    (module / "etc/crontab.xml").write_text("<config><group></config>")
    result = subprocess.run(
        ["bash", str(copy_root / "check.sh")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "crontab.xml" in result.stderr


# -- signing ----------------------------------------------------------------------------------


def test_the_php_signer_reproduces_the_documented_example(driver: Path) -> None:
    header = php(driver, "sign", body=b64(DOC_BODY), secret=DOC_SECRET, t=DOC_T).decode()
    assert header == DOC_SIGNATURE
    assert verify_signature([DOC_SECRET], DOC_BODY, header, now=DOC_T) == DOC_T


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        '{"name":"Caf\u00e9 \u2615 \\u00e9 / & < >"}'.encode(),
        bytes(range(256)),
    ],
    ids=["empty", "object", "unicode", "binary"],
)
def test_the_server_verifies_what_the_php_signer_signs(driver: Path, body: bytes) -> None:
    secret = "k3y-with-\u00fcnicode"
    t = 1_800_000_000
    header = php(driver, "sign", body=b64(body), secret=secret, t=t).decode()
    assert verify_signature([secret], body, header, now=t + 299) == t
    with pytest.raises(InvalidSignature):
        verify_signature(["another secret"], body, header, now=t)
    with pytest.raises(InvalidSignature):
        verify_signature([secret], body + b" ", header, now=t)


# -- bodies -----------------------------------------------------------------------------------

OCCURRED = "2026-03-02T09:00:01.250000+00:00"
PERSONAL = ("customer_email", "customer_firstname", "customer_lastname", "firstname", "street")


def as_db_strings(value: Any) -> Any:
    """What `getData()` gives: numbers as the database's decimal strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return {k: as_db_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_db_strings(v) for v in value]
    return value


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    assert isinstance(data, dict)
    return data


def order_parts() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The documented order (GET /V1/orders/3) as the module sees it: the order's own fields,
    its items with a configurable's parent and child, and its billing address."""
    data = copy.deepcopy(fixture("order_get.json"))
    billing = data.pop("billing_address")
    items = data.pop("items")
    for key in ("payment", "status_histories", "extension_attributes"):
        data.pop(key, None)
    data.update(created_at="2026-03-02 09:00:00", updated_at="2026-03-02 09:00:01")
    by_id = {item["item_id"]: item for item in items}
    parent = {**by_id[3], "item_id": 10, "product_id": 67, "product_type": "configurable"}
    child = {**by_id[3], "item_id": 11, "product_id": 56, "price": 0, "parent_item_id": 10}
    return data, [parent, child, {**by_id[3], "qty_ordered": 2}], billing


@pytest.mark.parametrize("strings", [False, True], ids=["rest-numbers", "db-strings"])
def test_an_order_body_built_in_php_parses_with_the_server_model(
    driver: Path, strings: bool
) -> None:
    order, items, billing = order_parts()
    if strings:
        order, items, billing = as_db_strings(order), as_db_strings(items), as_db_strings(billing)
    shipping = {**billing, "country_id": "de", "address_type": "shipping"}
    body = php(
        driver,
        "order",
        order=order,
        items=items,
        billing=billing,
        shipping=shipping,
        occurred_at=OCCURRED,
    )
    parsed = parse_event("order_placed", body)
    assert isinstance(parsed, OrderPlaced)
    assert parsed.occurred_at == datetime(2026, 3, 2, 9, 0, 1, 250000, tzinfo=UTC)
    payload = parsed.order
    assert payload.entity_id == str(fixture("order_get.json")["entity_id"])
    assert payload.created_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert payload.country == "DE"  # shipping wins over billing
    assert [(i.item_id, i.parent_item_id, i.product_id) for i in payload.items] == [
        ("10", None, "67"),
        ("11", "10", "56"),
        ("3", None, str(items[2]["product_id"])),
    ]
    record = order_record(payload)
    lines = [(line.product_id, line.variant_id, line.quantity) for line in record.order.lines]
    assert lines == [("67", "56", 1), (str(items[2]["product_id"]), None, 2)]
    text = body.decode()
    for key in PERSONAL:
        assert f'"{key}"' not in text
    for value in (
        billing["email"],
        billing["lastname"],
        billing["street"][0],
        billing["telephone"],
    ):
        assert str(value) not in text


def test_a_guest_order_has_no_customer_and_billing_country_is_used(driver: Path) -> None:
    order, items, billing = order_parts()
    order.update(customer_is_guest=1, customer_id=None)
    body = php(
        driver,
        "order",
        order=order,
        items=items,
        billing=billing,
        shipping=None,
        occurred_at=OCCURRED,
    )
    payload = parse_event("order_placed", body)
    assert isinstance(payload, OrderPlaced)
    assert payload.order.customer_id is None
    assert payload.order.customer_is_guest is True
    assert payload.order.country == billing["country_id"]


def test_a_cart_body_built_in_php_parses_with_the_server_model(driver: Path) -> None:
    quote = as_db_strings(
        {
            "entity_id": 4,
            "created_at": "2026-03-02 08:00:00",
            "updated_at": "2026-03-02 08:10:00",
            "is_active": 1,
            "customer_id": None,
            "customer_email": "guest@example.com",
            "store_id": 1,
        }
    )
    items = as_db_strings(
        [
            {
                "item_id": 13,
                "product_id": 67,
                "product_type": "configurable",
                "sku": "MH01-S-Gray",
                "qty": 1.0,
                "price": 52.0,
            },
            {
                "item_id": 14,
                "parent_item_id": 13,
                "product_id": 56,
                "product_type": "simple",
                "sku": "MH01-S-Gray",
                "qty": 1.0,
                "price": 0.0,
            },
            {
                "item_id": 15,
                "product_id": 1553,
                "product_type": "simple",
                "sku": "WS12-M-Orange",
                "qty": 2.0,
                "price": 29.0,
            },
        ]
    )
    body = php(driver, "cart", quote=quote, items=items, occurred_at=OCCURRED)
    parsed = parse_event("cart_saved", body)
    assert isinstance(parsed, CartSaved)
    cart = parsed.cart
    assert (cart.id, cart.is_active, cart.customer_id) == ("4", True, None)
    assert cart.updated_at == datetime(2026, 3, 2, 9, 0, 1, tzinfo=UTC)  # the save, not the load
    record = cart_record(cart, saved_at=parsed.occurred_at)
    assert [(line.product_id, line.variant_id, line.quantity) for line in record.lines] == [
        ("67", "56", 1),
        ("1553", None, 2),
    ]
    assert "guest@example.com" not in body.decode()

    inactive = php(
        driver, "cart", quote={**quote, "is_active": "0"}, items=[], occurred_at=OCCURRED
    )
    parsed_inactive = parse_event("cart_saved", inactive)
    assert isinstance(parsed_inactive, CartSaved)
    assert parsed_inactive.cart.is_active is False


def test_a_product_body_built_in_php_parses_with_the_server_model(driver: Path) -> None:
    product = {
        "id": "67",
        "sku": "MH01",
        "name": "Chaz Kangeroo Hoodie",
        "price": "0.000000",
        "status": "1",
        "visibility": "4",
        "type_id": "configurable",
        "created_at": "2026-03-01 08:00:00",
        "updated_at": "2026-03-02 08:00:00",
        "category_ids": ["15", "16"],
        "child_ids": [56, 57],
        "stock": None,
        "media": [
            {
                "file": "/m/h/mh01-gray_main.jpg",
                "media_type": "image",
                "types": ["image", "thumbnail"],
                "position": "1",
                "disabled": "0",
            },
        ],
        "image": "/m/h/mh01-gray_main.jpg",
    }
    children = [
        {
            "id": "56",
            "sku": "MH01-S-Gray",
            "name": "Chaz Kangeroo Hoodie-S-Gray",
            "price": "52.000000",
            "status": "1",
            "visibility": "1",
            "type_id": "simple",
            "category_ids": [],
            "child_ids": [],
            "stock": {"qty": "0.0000", "is_in_stock": "0", "manage_stock": "1"},
        },
        {
            "id": "57",
            "sku": "MH01-M-Gray",
            "name": "Chaz Kangeroo Hoodie-M-Gray",
            "price": "54.000000",
            "status": "1",
            "visibility": "1",
            "type_id": "simple",
            "category_ids": [],
            "child_ids": [],
            "stock": {"qty": "7.0000", "is_in_stock": "1", "manage_stock": "1"},
        },
    ]
    categories = [
        {"id": "15", "name": "Men", "level": "2", "is_active": "1"},
        {"id": "16", "name": "Hoodies & Sweatshirts", "level": "3", "is_active": "1"},
    ]
    body = php(
        driver,
        "product",
        product=product,
        children=children,
        categories=categories,
        media="https://shop.example.com/media/catalog/product/",
        occurred_at=OCCURRED,
    )
    parsed = parse_event("product_saved", body)
    assert isinstance(parsed, ProductSaved)
    assert parsed.product.child_ids == ["56", "57"]
    assert parsed.media_base_url == "https://shop.example.com/media/catalog/product"
    record = catalog_record(
        parsed.product,
        parsed.children,
        categories={c.id: c for c in parsed.categories},
        media_url=parsed.media_base_url,
    )
    assert record is not None
    assert record.product.product_id == "67"
    assert record.product.available is True
    assert record.product.price == 54.0  # the child that can be bought
    assert record.product.variant_id == "57"
    assert record.product.stock == 7
    assert record.product.category == "Hoodies & Sweatshirts"
    assert record.product.image_url == (
        "https://shop.example.com/media/catalog/product/m/h/mh01-gray_main.jpg"
    )


def test_every_event_the_module_sends_is_one_the_server_knows() -> None:
    source = (MODULE / "Model/DeliveryRequest.php").read_text()
    (events,) = re.findall(r"EVENTS = \[([^\]]+)\]", source)
    assert set(re.findall(r"'([a-z_]+)'", events)) == set(MAGENTO_EVENTS)


# -- delivery ---------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = storage.open(f"sqlite:///{tmp_path / 'magento.db'}")
    yield opened
    opened.close()


@pytest.fixture
def connected(store: Store) -> tuple[str, str]:
    credentials = IntegrationCredentials(
        consumer_key="ck", consumer_secret="cs", access_token="at", access_token_secret="ats"
    )
    return connect_store(
        store,
        "https://shop.example.com",
        credentials,
        resolve=lambda host: ["93.184.215.14"],
        backfill=False,
    )


@pytest.fixture
def client(store: Store) -> FlaskClient:
    return create_app(Settings(demo_mode=True), store=store, start_worker=False).test_client()


def test_a_delivery_built_in_php_is_accepted_by_the_webhook_endpoint(
    driver: Path, client: FlaskClient, store: Store, connected: tuple[str, str]
) -> None:
    shop, secret = connected
    order, items, billing = order_parts()
    body = php(
        driver,
        "order",
        order=order,
        items=items,
        billing=billing,
        shipping=None,
        occurred_at=OCCURRED,
    )
    event_id = "order-3-20260302090000"

    def deliver(t: int, signing_secret: str = secret) -> tuple[int, Any]:
        built = json.loads(
            php(
                driver,
                "headers",
                api_url="https://cartwise.example.com/",
                store_key=shop,
                secret=signing_secret,
                event="order_placed",
                event_id=event_id,
                body=b64(body),
                t=t,
            )
        )
        assert built["url"] == "https://cartwise.example.com/webhooks/magento"
        response = client.post("/webhooks/magento", data=body, headers=built["headers"])
        return response.status_code, response.get_json(silent=True)

    now = int(time.time())
    assert deliver(now) == (200, {"status": "stored"})
    # A retry, signed anew with the same event id, is a duplicate.
    assert deliver(now + 1) == (200, {"status": "duplicate"})
    status, answer = deliver(now, signing_secret="not the secret")
    assert status == 401
    assert answer["error"]["details"]["reason"] == "invalid_signature"
    status, answer = deliver(now - 3600)
    assert status == 401
    assert answer["error"]["details"]["reason"] == "stale_signature"
    (event,) = store.events.for_shop(shop)
    assert event.body == body
    assert event.headers["x-cartwise-module"].startswith("magento2/")


def run_flow(api_url: str, store_key: str, secret: str) -> dict[str, Any]:
    binary = php_or_skip()
    result = subprocess.run(
        [
            binary,
            "-d",
            "display_errors=stderr",
            "-d",
            "error_reporting=-1",
            str(PHP_TESTS / "flow.php"),
            str(PHP_TESTS / "magento_stubs.php"),
            str(MODULE),
        ],
        input=json.dumps({"api_url": api_url, "store_key": store_key, "secret": secret}).encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr, result.stderr.decode(errors="replace")
    out = json.loads(result.stdout)
    assert isinstance(out, dict)
    return out


def by_type(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row["event_type"], []).append(row)
    return found


def test_observers_outbox_and_cron_with_stand_ins_for_magento(
    client: FlaskClient, store: Store, connected: tuple[str, str]
) -> None:
    """The module's glue code (observers, EventQueue, Outbox, SendOutbox, HttpTransport,
    ProductSnapshot, Config) run with stand-ins for Magento's classes (an in-memory outbox
    table, a recording cURL client; storefront_snippets/magento2/tests/magento_stubs.php), and
    the requests it made posted to the real webhook endpoint."""
    shop, secret = connected
    started = int(time.time())
    out = run_flow("https://cartwise.example.com/", shop, secret)

    # The observers: one row per order (a second save and an old order queue nothing), one
    # per cart (its last state), one per product (a variant queues its configurable).
    queued = by_type(out["queued"])
    (order_row,) = queued["order_placed"]
    (cart_row,) = queued["cart_saved"]
    assert sorted(r["resource_id"] for r in queued["product_saved"]) == [5, 67]
    assert all(r["body"] is None for r in queued["product_saved"])
    assert order_row["event_id"].startswith("order-41-")
    assert json.loads(cart_row["body"])["cart"]["items"][0]["qty"] == 3.0
    for personal in ("shopper@example.com", "Rue de la Paix", "Martin"):
        assert personal not in order_row["body"]
    assert [line for line in out["log"] if line[0] == "error" and "could not queue" in line[1]] == [
        [
            "error",
            "cartwise: could not queue cart_saved: Base table or view not found: "
            "prefix_cartwise_outbox",
        ]
    ]

    # The first cron run: the order and the product sent, the cart refused with 500 and
    # scheduled a minute later, the deleted product closed without a request.
    first = {row["entity_id"]: row for row in out["first_run"]}
    assert (first[1]["status"], first[1]["attempts"], first[1]["last_status"]) == ("sent", 1, 200)
    assert first[1]["sent_at"] >= started
    assert (first[2]["status"], first[2]["attempts"], first[2]["last_status"]) == (
        "pending",
        1,
        500,
    )
    assert first[2]["next_attempt_at"] >= started + 60
    assert first[3]["status"] == "sent" and first[3]["body"]
    assert (first[4]["status"], first[4]["last_error"]) == (
        "failed",
        "the product no longer exists",
    )

    # What went over the wire: signed so the server verifies it, bodies its models read.
    requests = out["requests"]
    assert [r["url"] for r in requests] == ["https://cartwise.example.com/webhooks/magento"] * 3
    for request in requests:
        assert (request["timeout"], request["connect_timeout"]) == (5, 3)
        headers = dict(line.split(": ", 1) for line in request["headers"] if ": " in line)
        assert "Expect:" in request["headers"]
        body = base64.b64decode(request["body"])
        verify_signature([secret], body, headers["X-Cartwise-Signature"], now=time.time())
        parse_event(headers["X-Cartwise-Event"], body)
        answer = client.post("/webhooks/magento", data=body, headers=headers)
        assert (answer.status_code, answer.get_json()) == (200, {"status": "stored"})
    product_request = next(r for r in requests if "X-Cartwise-Event: product_saved" in r["headers"])
    product = parse_event("product_saved", base64.b64decode(product_request["body"]))
    assert isinstance(product, ProductSaved)
    record = catalog_record(
        product.product,
        product.children,
        categories={c.id: c for c in product.categories},
        media_url=product.media_base_url,
    )
    assert record is not None
    assert (record.product.product_id, record.product.price, record.product.stock) == (
        "67",
        54.0,
        7,
    )
    assert record.product.category == "Hoodies & Sweatshirts"
    assert record.product.image_url == (
        "https://shop.example.com/media/catalog/product/m/h/mh01-gray_main.jpg"
    )
    assert sorted(e.topic for e in store.events.for_shop(shop)) == [
        "magento/cart_saved",
        "magento/order_placed",
        "magento/product_saved",
    ]

    # Nothing due: nothing sent. Another run holding the lock: nothing sent. No secret: the
    # attempt counts, nothing is sent.
    assert out["requests_after_second_run"] == 3
    assert out["requests_while_locked"] == 3
    assert out["requests_not_configured"] == 3
    not_configured = {row["entity_id"]: row for row in out["not_configured"]}
    assert not_configured[2]["attempts"] == 2
    assert "not configured" in not_configured[2]["last_error"]

    # cartwise unreachable: the run stops after three rows without an answer.
    assert out["unreachable_requests"] == 3
    unreachable = {row["entity_id"]: row for row in out["unreachable"]}
    assert [unreachable[i]["attempts"] for i in (2, 5, 6, 7, 8)] == [3, 1, 1, 0, 0]
    assert unreachable[2]["last_error"].startswith("no answer: ")


def test_the_delivery_headers_refuse_what_cartwise_would(driver: Path) -> None:
    binary = php_or_skip()
    for change in ({"event": "order_cancelled"}, {"store_key": " "}, {"secret": ""}):
        data = {
            "op": "headers",
            "api_url": "https://c.example",
            "store_key": "shop.example.com",
            "secret": "s",
            "event": "order_placed",
            "event_id": "e1",
            "body": b64(b"{}"),
            "t": 1,
            **change,
        }
        result = subprocess.run(
            [binary, str(driver), str(MODULE)],
            input=json.dumps(data).encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert b"InvalidArgumentException" in result.stderr + result.stdout


def test_retries_back_off_and_give_up(driver: Path) -> None:
    now = 1_800_000_000
    cases = [
        [1, 200],
        [1, 204],
        [1, 500],
        [2, 503],
        [3, None],
        [1, 401],
        [10, 429],
        [12, 500],
        [15, 500],
        [16, 500],
        [1, 413],
        [5, 302],
    ]
    outcomes = json.loads(php(driver, "retry", cases=cases, now=now))
    assert [(o["state"], o["next_attempt_at"] - now) for o in outcomes] == [
        ("sent", 0),
        ("sent", 0),
        ("pending", 60),
        ("pending", 120),
        ("pending", 240),
        ("pending", 60),
        ("pending", 21600),
        ("pending", 21600),
        ("pending", 21600),
        ("failed", 0),
        ("failed", 0),
        ("pending", 960),
    ]
    delays = [min(21600, 60 * 2 ** (attempt - 1)) for attempt in range(1, 16)]
    assert 43 * 3600 < sum(delays) < 45 * 3600  # the README's "about 44 hours"


def test_order_event_ids_are_stable_and_only_new_orders_count(driver: Path) -> None:
    order, _, _ = order_parts()
    created = int(datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp())
    out = json.loads(
        php(
            driver,
            "order_ids",
            order=as_db_strings(order),
            new_cases=[
                ["2026-03-02 09:00:00", created + 60],
                ["2026-03-02 09:00:00", created + 1801],
                ["2026-03-02 09:00:00", created - 3600],
                ["2026-03-02T10:00:00+01:00", created + 10],
                ["", created],
                [None, created],
            ],
            unix=1772442001.25,
        )
    )
    assert out["event_id"] == f"order-{order['entity_id']}-20260302090000"
    assert out["new"] == [True, False, False, True, False, False]
    first, second = out["random"]
    assert first != second
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first
    )
    assert out["occurred_at"] == "2026-03-02T09:00:01.250000+00:00"


# -- the cart block's template ----------------------------------------------------------------


def render_template(
    driver: Path, *, title: str, config: dict[str, Any], enabled: bool = True
) -> str:
    return php(driver, "template", enabled=enabled, height=380, title=title, config=config).decode()


def test_the_template_escapes_everything_it_prints(driver: Path) -> None:
    hostile = "</script><script>alert(1)</script>\"'&"
    config = {"apiUrl": "https://c.example", "apiKey": hostile, "labels": {"add": hostile}}
    html = render_template(driver, title=hostile, config=config)
    assert "<script>alert(1)" not in html
    assert html.count("</script>") == 1  # the x-magento-init block's own
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#039;&amp;" in html
    match = re.search(r'<script type="text/x-magento-init">(.*?)</script>', html, re.S)
    assert match is not None
    init = json.loads(match.group(1))
    assert init == {"#cartwise-recommendations": {"cartwiseRecommendations": config}}
    assert 'id="cartwise-recommendations"' in html
    assert 'style="height: 380px; overflow: hidden"' in html
    assert 'data-role="cartwise-items"' in html


def test_the_template_renders_nothing_when_disabled(driver: Path) -> None:
    assert render_template(driver, title="x", config={}, enabled=False).strip() == ""
