"""Builds `cartwise/sample_data/`, the real sample store of `cartwise demo`, from online_retail.

The subset is deterministic (same input, same bytes out): the last months of orders, restricted
to the most-ordered products plus a spread of less popular ones. Rows are copied unchanged.
Standalone: imports nothing from cartwise.

    python scripts/make_sample.py --source ../shared/data/online_retail --out cartwise/sample_data
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
from collections import Counter
from pathlib import Path

__all__ = ["main"]

ORDERS_HEADER = ["order_id", "customer_id", "product_id", "quantity", "price", "created_at"]
PRODUCTS_HEADER = ["product_id", "title", "category", "vendor", "price", "tags"]

README = """\
# cartwise sample store

A small real store for `cartwise demo`, tests and quick benchmarks: {products} products and
{orders} orders ({lines} order lines, {customers} customers, {guests} guest orders) placed between
{first} and {last}.

## Source and licence

Daqing Chen, "Online Retail", UCI Machine Learning Repository (2015),
DOI [10.24432/C5BW33](https://doi.org/10.24432/C5BW33): the orders of a UK-based online giftware
retailer. Licensed under Creative Commons Attribution 4.0 International
([CC BY 4.0](https://creativecommons.org/licenses/by/4.0/)); this subset is shared under the same
licence with this attribution.

## What was changed

- Cleaning as in the source copy the subset is cut from: cancellation invoices, non-product lines
  (postage, fees, manual adjustments, gift vouchers) and lines with a non-positive quantity or
  price were dropped; a product repeated in one invoice was merged into one line. Columns were
  mapped to `order_id,customer_id,product_id,quantity,price,created_at` (`created_at` is the
  invoice time, UK local time, no offset; an empty `customer_id` is a guest) and
  `product_id,title,category,vendor,price,tags` (title = most frequent description, price = modal
  unit price; category, vendor and tags are empty because the source has none).
- Subset: the orders placed from {start} on; of their products, the {top} ordered in the most
  orders plus {extra} less popular ones taken evenly along the popularity ranking of the products
  with at least {min_orders} orders; order lines of other products removed, orders left empty
  dropped. Rows are otherwise copied unchanged, in file order.

## Files

- `orders.csv.gz`: `order_id,customer_id,product_id,quantity,price,created_at`, one row per line.
- `products.csv`: `product_id,title,category,vendor,price,tags`.

## Regenerate

From the repository root, with the online_retail copy beside it:

```bash
python scripts/make_sample.py --source ../shared/data/online_retail --out cartwise/sample_data \\
    --start {start} --top {top} --extra {extra} --min-orders {min_orders}
```
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("../shared/data/online_retail"))
    parser.add_argument("--out", type=Path, default=Path("cartwise/sample_data"))
    parser.add_argument("--start", default="2011-06-01", help="first order date kept (ISO)")
    parser.add_argument("--top", type=int, default=400, help="most-ordered products kept")
    parser.add_argument("--extra", type=int, default=100, help="less popular products kept")
    parser.add_argument("--min-orders", type=int, default=5, help="orders an extra product needs")
    args = parser.parse_args(argv)

    orders_path = _pick(args.source, "orders")
    products_path = _pick(args.source, "products")
    order_rows = _read(orders_path, ORDERS_HEADER)
    product_rows = _read(products_path, PRODUCTS_HEADER)

    window = [row for row in order_rows if row[5] >= args.start]
    chosen = _choose_products(window, args.top, args.extra, args.min_orders)
    kept = [row for row in window if row[2] in chosen]
    catalog = [row for row in product_rows if row[0] in chosen]
    missing = chosen - {row[0] for row in catalog}
    if missing:
        sys.exit(f"products missing from {products_path}: {sorted(missing)[:5]}")

    args.out.mkdir(parents=True, exist_ok=True)
    _write_gz(args.out / "orders.csv.gz", ORDERS_HEADER, kept)
    (args.out / "products.csv").write_text(_csv_text(PRODUCTS_HEADER, catalog), encoding="utf-8")
    order_ids = {row[0] for row in kept}
    guest_orders = {row[0] for row in kept if not row[1]}
    figures = {
        "products": len(catalog),
        "orders": len(order_ids),
        "lines": len(kept),
        "customers": len({row[1] for row in kept if row[1]}),
        "guests": len(guest_orders),
        "first": min(row[5] for row in kept),
        "last": max(row[5] for row in kept),
    }
    readme = README.format(
        **figures,
        start=args.start,
        top=args.top,
        extra=args.extra,
        min_orders=args.min_orders,
    )
    (args.out / "README.md").write_text(readme, encoding="utf-8")
    print(", ".join(f"{key} {value}" for key, value in figures.items()))
    return 0


def _choose_products(rows: list[list[str]], top: int, extra: int, min_orders: int) -> set[str]:
    """The `top` products in most orders, plus `extra` spread evenly along the rest's ranking."""
    orders_per_product = Counter(row[2] for row in {(row[0], row[2]): row for row in rows}.values())
    ranked = sorted(orders_per_product, key=lambda pid: (-orders_per_product[pid], pid))
    rest = [pid for pid in ranked[top:] if orders_per_product[pid] >= min_orders]
    step = max(len(rest) / extra, 1.0) if extra else 0.0
    spread = [rest[int(i * step)] for i in range(extra) if int(i * step) < len(rest)]
    return set(ranked[:top]) | set(spread)


def _pick(source: Path, stem: str) -> Path:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (source / name).is_file():
            return source / name
    sys.exit(f"{source}: no {stem}.csv or {stem}.csv.gz")


def _read(path: Path, header: list[str]) -> list[list[str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        if next(reader) != header:
            sys.exit(f"{path}: expected the header {','.join(header)}")
        return list(reader)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _write_gz(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Gzip with no name and a zero mtime in the header, so the bytes depend on the rows only."""
    data = _csv_text(header, rows).encode("utf-8")
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(data)


if __name__ == "__main__":
    sys.exit(main())
