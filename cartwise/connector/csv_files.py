"""Reads a shop's history from `orders.csv[.gz]` and `products.csv[.gz]` into domain records.

Bad rows are reported with their 1-based file line and skipped; a file that cannot be read at all
raises `DataImportError`. Layer 2: imports only `errors` and `domain` (stdlib csv and gzip, no IO
beyond the files it is given).
"""

from __future__ import annotations

import csv
import gzip
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Generic, TypeVar

from cartwise.domain import Order, OrderLine, Product
from cartwise.errors import DataImportError

__all__ = [
    "ORDER_COLUMNS",
    "PRODUCT_COLUMNS",
    "ReadResult",
    "RowError",
    "find_dataset",
    "read_orders",
    "read_products",
]

T = TypeVar("T")

ORDER_COLUMNS = ("order_id", "customer_id", "product_id", "quantity", "price", "created_at")
PRODUCT_COLUMNS = ("product_id", "title", "category", "vendor", "price", "tags")
_ORDER_REQUIRED = ("order_id", "product_id", "created_at")
_PRODUCT_REQUIRED = ("product_id", "title")
_PROGRESS_EVERY = 10_000

Progress = Callable[[int], None]
"""Called with the number of data rows read so far: every few thousand rows, and at the end."""


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was skipped: `line` is the 1-based line of the file where the row starts."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class ReadResult(Generic[T]):
    """What a file gave: the records, the rows skipped with why, and how many data rows it had."""

    records: list[T] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


class _BadRowError(ValueError):
    """A row-level problem; becomes a `RowError` and the row is skipped."""


def find_dataset(directory: Path | str) -> tuple[Path, Path]:
    """The `(orders, products)` files of a dataset directory; `.csv` is preferred over `.csv.gz`.

    Raises `DataImportError` when the directory or either file is missing.
    """
    base = Path(directory)
    if not base.is_dir():
        raise DataImportError(f"{base}: no such directory")
    found: list[Path] = []
    for stem in ("orders", "products"):
        candidates = [base / f"{stem}.csv", base / f"{stem}.csv.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise DataImportError(f"{base}: neither {stem}.csv nor {stem}.csv.gz found")
        found.append(path)
    return found[0], found[1]


def read_products(path: Path | str, progress: Progress | None = None) -> ReadResult[Product]:
    """Read `product_id,title,category,vendor,price,tags`; `tags` is comma-separated in its field.

    Only `product_id` and `title` columns are required; an empty title becomes the product id,
    so a reason never reads "Often bought with ". A repeated `product_id` keeps the first row.
    """
    result: ReadResult[Product] = ReadResult()
    first_seen: dict[str, int] = {}
    for line, row in _rows(Path(path), _PRODUCT_REQUIRED, result, progress):
        try:
            product_id = _required(row, "product_id")
            if product_id in first_seen:
                raise _BadRowError(
                    f"duplicate product_id {product_id!r} (first on line {first_seen[product_id]})"
                )
            product = Product(
                product_id=product_id,
                title=row.get("title", "").strip() or product_id,
                category=row.get("category", "").strip(),
                vendor=row.get("vendor", "").strip(),
                price=_price(row.get("price", "")),
                tags=tuple(t.strip() for t in row.get("tags", "").split(",") if t.strip()),
            )
        except _BadRowError as exc:
            result.errors.append(RowError(line, str(exc)))
            continue
        first_seen[product_id] = line
        result.records.append(product)
    return result


def read_orders(path: Path | str, progress: Progress | None = None) -> ReadResult[Order]:
    """Read `order_id,customer_id,product_id,quantity,price,created_at`, one row per order line.

    Rows of one order may be anywhere in the file; orders come out in order of first appearance,
    their lines in file order. An order's time is the earliest of its rows; an empty
    `customer_id` is a guest; a naive `created_at` is UTC; an empty `quantity` is 1. A product
    repeated in one order becomes one line with the quantities summed. `quantity`, `price` and
    `customer_id` columns are optional.
    """
    result: ReadResult[Order] = ReadResult()
    builders: dict[str, _OrderBuilder] = {}
    parse_time = _TimeParser()
    for line, row in _rows(Path(path), _ORDER_REQUIRED, result, progress):
        try:
            order_id = _required(row, "order_id")
            product_id = _required(row, "product_id")
            customer_id = row.get("customer_id", "").strip() or None
            quantity = _quantity(row.get("quantity", ""))
            price = _price(row.get("price", ""))
            created_at = parse_time(row.get("created_at", ""))
            builder = builders.get(order_id)
            if builder is None:
                builder = builders[order_id] = _OrderBuilder(order_id, customer_id, created_at)
            builder.add(customer_id, created_at, product_id, quantity, price)
        except _BadRowError as exc:
            result.errors.append(RowError(line, str(exc)))
    result.records = [b.build() for b in builders.values()]
    return result


class _OrderBuilder:
    __slots__ = ("created_at", "customer_id", "lines", "order_id")

    def __init__(self, order_id: str, customer_id: str | None, created_at: datetime) -> None:
        self.order_id = order_id
        self.customer_id = customer_id
        self.created_at = created_at
        self.lines: dict[str, tuple[int, float | None]] = {}

    def add(
        self,
        customer_id: str | None,
        created_at: datetime,
        product_id: str,
        quantity: int,
        price: float | None,
    ) -> None:
        if customer_id is not None:
            if self.customer_id is None:
                self.customer_id = customer_id
            elif customer_id != self.customer_id:
                raise _BadRowError(
                    f"order {self.order_id!r} already has customer_id {self.customer_id!r}, "
                    f"not {customer_id!r}"
                )
        self.created_at = min(self.created_at, created_at)
        previous = self.lines.get(product_id)
        if previous is None:
            self.lines[product_id] = (quantity, price)
        else:
            self.lines[product_id] = (
                previous[0] + quantity,
                previous[1] if price is None else price,
            )

    def build(self) -> Order:
        return Order(
            order_id=self.order_id,
            created_at=self.created_at,
            customer_id=self.customer_id,
            lines=tuple(OrderLine(pid, qty, price) for pid, (qty, price) in self.lines.items()),
        )


class _TimeParser:
    """ISO-8601 to aware UTC datetimes, memoised: an order's rows share one timestamp string."""

    def __init__(self) -> None:
        self._cache: dict[str, datetime] = {}

    def __call__(self, raw: str) -> datetime:
        cached = self._cache.get(raw)
        if cached is not None:
            return cached
        text = raw.strip()
        if not text:
            raise _BadRowError("created_at is empty")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise _BadRowError(f"created_at {raw!r} is not an ISO-8601 date-time") from None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if len(self._cache) < 1_000_000:
            self._cache[raw] = value
        return value


def _required(row: dict[str, str], column: str) -> str:
    value = row.get(column, "").strip()
    if not value:
        raise _BadRowError(f"{column} is empty")
    return value


def _number(raw: str, column: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _BadRowError(f"{column} {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise _BadRowError(f"{column} {raw!r} is not a finite number")
    return value


def _quantity(raw: str) -> int:
    text = raw.strip()
    if not text:
        return 1
    if text.isdigit():
        value = float(text)
    else:
        value = _number(text, "quantity")
        if not value.is_integer():
            raise _BadRowError(f"quantity {raw!r} is not a whole number")
    if value <= 0:
        raise _BadRowError(f"quantity {raw!r} must be positive")
    return int(value)


def _price(raw: str) -> float | None:
    text = raw.strip()
    if not text:
        return None
    value = _number(text, "price")
    if value < 0:
        raise _BadRowError(f"price {raw!r} is negative")
    return value


def _open(path: Path) -> IO[str]:
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
        return path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise DataImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataImportError(f"{path}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise DataImportError(f"{path}: cannot open ({exc.strerror or exc})") from None


def _rows(
    path: Path,
    required: Sequence[str],
    result: ReadResult[T],
    progress: Progress | None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield `(line, row)` for each data row, keyed by lower-cased header; count rows in `result`.

    Translates every file-level failure (gzip, encoding, CSV syntax) into `DataImportError`.
    """
    with _open(path) as stream:
        reader = csv.reader(stream)
        try:
            header = next(reader, None)
            if header is None:
                raise DataImportError(f"{path}: the file is empty (no header row)")
            columns = [name.strip().lower() for name in header]
            missing = [name for name in required if name not in columns]
            if missing:
                raise DataImportError(
                    f"{path}: missing required column(s) {', '.join(missing)} "
                    f"(header is {','.join(header)!r})"
                )
            width = len(columns)
            start = reader.line_num + 1
            for values in reader:
                line, start = start, reader.line_num + 1
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                result.rows += 1
                if progress is not None and result.rows % _PROGRESS_EVERY == 0:
                    progress(result.rows)
                if len(values) != width:
                    result.errors.append(
                        RowError(line, f"expected {width} fields, found {len(values)}")
                    )
                    continue
                yield line, dict(zip(columns, values, strict=True))
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise DataImportError(f"{path}: not a valid gzip file ({exc})") from None
        except UnicodeDecodeError:
            raise DataImportError(
                f"{path}: not a UTF-8 text file (near line {reader.line_num + 1})"
            ) from None
        except csv.Error as exc:
            raise DataImportError(
                f"{path}: not a readable CSV file (line {reader.line_num}: {exc})"
            ) from None
    if progress is not None:
        progress(result.rows)
