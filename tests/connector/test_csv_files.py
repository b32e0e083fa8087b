"""Tests for the CSV dataset reader: records, row errors with file lines, fatal file problems."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from cartwise.connector.csv_files import (
    RowError,
    find_dataset,
    read_orders,
    read_products,
)
from cartwise.domain import OrderLine
from cartwise.errors import DataImportError

ORDERS_HEADER = "order_id,customer_id,product_id,quantity,price,created_at\n"
PRODUCTS_HEADER = "product_id,title,category,vendor,price,tags\n"


def write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


GOOD_ORDERS = ORDERS_HEADER + (
    "o1,c1,p1,2,1.50,2011-01-02T10:00:00\n"
    "o2,,p2,1,,2011-01-03T09:00:00+01:00\n"
    "o1,c1,p3,1,4.00,2011-01-02T09:30:00\n"
    "o2,,p1,3,1.25,2011-01-03T08:00:00Z\n"
    "o1,c1,p1,1,1.60,2011-01-02T10:00:00\n"
)


@pytest.mark.parametrize("name", ["orders.csv", "orders.csv.gz"])
def test_read_orders_groups_non_adjacent_rows(tmp_path: Path, name: str) -> None:
    result = read_orders(write(tmp_path / name, GOOD_ORDERS))

    assert result.errors == []
    assert result.rows == 5
    o1, o2 = result.records
    assert o1.order_id == "o1"
    assert o1.customer_id == "c1"
    assert o1.created_at == datetime(2011, 1, 2, 9, 30, tzinfo=UTC)
    assert o1.lines == (OrderLine("p1", 3, 1.60), OrderLine("p3", 1, 4.00))
    assert o2.customer_id is None
    assert o2.created_at == datetime(2011, 1, 3, 8, 0, tzinfo=UTC)
    assert o2.lines == (OrderLine("p2", 1, None), OrderLine("p1", 3, 1.25))


def test_read_orders_reports_bad_rows_with_file_lines(tmp_path: Path) -> None:
    text = ORDERS_HEADER + (
        "o1,c1,p1,abc,1.0,2011-01-01T00:00:00\n"  # line 2
        "o1,c1,p2,1,1.0,2011-01-01T00:00:00\n"  # line 3: good
        "\n"  # line 4: blank, ignored
        "o2,c2,,1,1.0,2011-01-01T00:00:00\n"  # line 5
        "o3,c3,p1,1,-2,2011-01-01T00:00:00\n"  # line 6
        "o3,c3,p1,1,2,yesterday\n"  # line 7
        "o3,c3,p1,0,2,2011-01-01T00:00:00\n"  # line 8
        "o3,c3,p1,1.5,2,2011-01-01T00:00:00\n"  # line 9
        "o1,c9,p3,1,1.0,2011-01-01T00:00:00\n"  # line 10: o1 belongs to c1
        "o4,c4,p1,1,1.0\n"  # line 11
        'o5,c5,p1,1,"1\n0",2011-01-01T00:00:00\n'  # lines 12-13: a quoted newline
        "o6,,p1,,nan,2011-01-01T00:00:00\n"  # line 14
        "o7,,p9,,,2011-01-01\n"  # line 15: good, quantity 1, midnight
    )
    result = read_orders(write(tmp_path / "orders.csv", text))

    assert result.errors == [
        RowError(2, "quantity 'abc' is not a number"),
        RowError(5, "product_id is empty"),
        RowError(6, "price '-2' is negative"),
        RowError(7, "created_at 'yesterday' is not an ISO-8601 date-time"),
        RowError(8, "quantity '0' must be positive"),
        RowError(9, "quantity '1.5' is not a whole number"),
        RowError(10, "order 'o1' already has customer_id 'c1', not 'c9'"),
        RowError(11, "expected 6 fields, found 5"),
        RowError(12, "price '1\\n0' is not a number"),
        RowError(14, "price 'nan' is not a finite number"),
    ]
    assert str(result.errors[0]) == "line 2: quantity 'abc' is not a number"
    assert result.rows == 12
    assert [o.order_id for o in result.records] == ["o1", "o7"]
    assert result.records[0].lines == (OrderLine("p2", 1, 1.0),)
    assert result.records[1].lines == (OrderLine("p9", 1, None),)
    assert result.records[1].created_at == datetime(2011, 1, 1, tzinfo=UTC)


def test_read_orders_accepts_a_bom_reordered_columns_and_no_optional_columns(
    tmp_path: Path,
) -> None:
    text = "\ufeffCreated_At, Product_ID ,ORDER_ID\n2011-05-01T12:00:00,p1,o1\n"
    result = read_orders(write(tmp_path / "orders.csv", text))

    assert result.errors == []
    (order,) = result.records
    assert order.lines == (OrderLine("p1", 1, None),)
    assert order.customer_id is None


def test_read_products(tmp_path: Path) -> None:
    text = PRODUCTS_HEADER + (
        'p1,"MUG, BLUE",Kitchen,Acme,2.50,"blue, mugs,,gift"\n'  # line 2
        "p2,Plate,,,,\n"  # line 3
        "p1,Again,,,,\n"  # line 4: duplicate
        "p3,Bowl,,,cheap,\n"  # line 5
        ",Nameless,,,,\n"  # line 6
        "p4, ,,,,\n"  # line 7: no title
    )
    result = read_products(write(tmp_path / "products.csv", text))

    p1, p2, p4 = result.records
    assert p1.product_id == "p1"
    assert p1.title == "MUG, BLUE"
    assert (p1.category, p1.vendor, p1.price) == ("Kitchen", "Acme", 2.5)
    assert p1.tags == ("blue", "mugs", "gift")
    assert p1.available is True
    assert (p2.title, p2.price, p2.tags) == ("Plate", None, ())
    assert result.errors == [
        RowError(4, "duplicate product_id 'p1' (first on line 2)"),
        RowError(5, "price 'cheap' is not a number"),
        RowError(6, "product_id is empty"),
    ]
    assert p4.title == "p4"
    assert result.rows == 6


def test_progress_reports_the_final_row_count(tmp_path: Path) -> None:
    seen: list[int] = []
    read_orders(write(tmp_path / "orders.csv", GOOD_ORDERS), progress=seen.append)
    assert seen[-1] == 5


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param(
            "orders.csv",
            "order_id,customer_id,quantity,price,created_at\no1,c1,1,1,2011-01-01\n",
            "missing required column(s) product_id",
            id="missing-column",
        ),
        pytest.param("orders.csv", "", "the file is empty", id="empty"),
        pytest.param("orders.csv.gz", ORDERS_HEADER, "not a valid gzip file", id="not-gzip"),
        pytest.param(
            "orders.csv",
            ORDERS_HEADER + "o1," + "x" * 200_000 + "\n",
            "not a readable CSV file (line 2: field larger than field limit",
            id="not-csv",
        ),
    ],
)
def test_fatal_file_problems_raise(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataImportError, match=re.escape(message)):
        read_orders(path)


def test_truncated_gzip_raises(tmp_path: Path) -> None:
    rows = "".join(f"o{i},c1,p{i % 50},1,1.0,2011-01-01T00:00:00\n" for i in range(20_000))
    blob = gzip.compress((ORDERS_HEADER + rows).encode())
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataImportError, match="not a valid gzip file"):
        read_orders(path)


def test_binary_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_bytes(b"product_id,title\n\xff\xfe\xfa,x\n")
    with pytest.raises(DataImportError, match="not a UTF-8 text file"):
        read_products(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(DataImportError, match="no such file"):
        read_products(tmp_path / "products.csv")


def test_find_dataset(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv.gz", GOOD_ORDERS)
    with pytest.raises(DataImportError, match=r"neither products\.csv nor products\.csv\.gz"):
        find_dataset(tmp_path)
    write(tmp_path / "products.csv", PRODUCTS_HEADER)
    assert find_dataset(tmp_path) == (tmp_path / "orders.csv.gz", tmp_path / "products.csv")
    with pytest.raises(DataImportError, match="no such directory"):
        find_dataset(tmp_path / "nope")


def test_bundled_sample_is_clean_and_self_contained() -> None:
    base = resources.files("cartwise") / "sample_data"
    with resources.as_file(base) as folder:
        orders_path, products_path = find_dataset(folder)
        orders = read_orders(orders_path)
        products = read_products(products_path)

    assert orders.errors == [] and products.errors == []
    catalog = {p.product_id for p in products.records}
    assert len(catalog) == 500
    assert len(orders.records) == 4080
    assert {line.product_id for o in orders.records for line in o.lines} == catalog
    assert any(o.customer_id is None for o in orders.records)
    assert all(p.category == p.vendor == "" and p.tags == () for p in products.records)
    readme = (base / "README.md").read_text(encoding="utf-8")
    for needed in ("10.24432/C5BW33", "CC BY 4.0", "scripts/make_sample.py", "4080 orders"):
        assert needed in readme
