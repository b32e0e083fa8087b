"""The Magento 2 REST client: the catalog (configurable children, stock, categories) and orders of
one store, read through `searchCriteria` pages under the shared retry discipline.

Paging: Magento answers a `currentPage` past the end with the last page again, so a listing
stops at `total_count`, at a short page, or at a page with nothing new. Listings are sorted by
`updated_at`, then `entity_id`; an item saved while a listing runs can move to its end (seen
twice: dropped the second time) or be skipped, so the next incremental sync should start from
the time this one started, not from the newest `updated_at` it saw.
https://developer.adobe.com/commerce/webapi/rest/use-rest/performing-searches/

Stock: MSI source items (`/V1/inventory/source-items`), or the legacy `/V1/stockItems/{sku}`
when MSI answers 404 (its modules disabled). Query strings are encoded with `%20` for spaces,
never `+`: Magento's OAuth check decodes parameters with `rawurldecode`, so a `+` would make
every signed search fail. Layer 2: imports layer 0, httpx and the Magento connector modules.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Hashable, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from cartwise.connector.magento.auth import IntegrationCredentials, auth_for
from cartwise.connector.magento.payloads import (
    CategoryPayload,
    OrderPayload,
    ProductPayload,
    SourceItem,
    StockItem,
    describe,
)
from cartwise.connector.magento.records import (
    CatalogRecord,
    StockLevel,
    catalog_record,
    stock_from_item,
    stock_from_sources,
)
from cartwise.connector.magento.urls import validate_store_code, validate_store_url
from cartwise.connector.retrying import (
    RETRY_STATUSES,
    Clock,
    RetryableAnswer,
    RetryPolicy,
    Sleep,
    async_retrying,
    is_retryable,
    retry_after_seconds,
)
from cartwise.errors import InvalidRequest, UpstreamError, UpstreamRejected, UpstreamTimeout

__all__ = ["MAX_PAGE_SIZE", "MagentoClient"]

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 300
"""Magento's largest page when the merchant enabled its input limits (2.4.3+)."""

_STOCKED_TYPES = frozenset({"simple", "virtual", "downloadable"})
"""Product types with stock of their own; composite products' stock is their parts'."""
_MAGENTO_TIME = "%Y-%m-%d %H:%M:%S"
_ACCEPT = {"Accept": "application/json"}
_MAX_MESSAGE = 300

M = TypeVar("M", bound=BaseModel)
Filter = tuple[str, str, str]
"""(field, value, condition_type) of a searchCriteria filter."""


def search_query(
    groups: Sequence[Sequence[Filter]],
    sort: Sequence[tuple[str, str]],
    *,
    page: int,
    page_size: int,
) -> list[tuple[str, str]]:
    """The `searchCriteria` query parameters: filter groups are ANDed, filters inside a group
    ORed; `sort` is (field, ASC|DESC) pairs."""
    query: list[tuple[str, str]] = []
    for g, group in enumerate(groups):
        for f, (field, value, condition) in enumerate(group):
            prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
            query += [
                (f"{prefix}[field]", field),
                (f"{prefix}[value]", value),
                (f"{prefix}[condition_type]", condition),
            ]
    for s, (field, direction) in enumerate(sort):
        query += [
            (f"searchCriteria[sortOrders][{s}][field]", field),
            (f"searchCriteria[sortOrders][{s}][direction]", direction),
        ]
    query += [
        ("searchCriteria[pageSize]", str(page_size)),
        ("searchCriteria[currentPage]", str(page)),
    ]
    return query


def _encode(query: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)


def _since(updated_since: datetime | None) -> list[list[Filter]]:
    if updated_since is None:
        return []
    if updated_since.tzinfo is None:
        raise InvalidRequest("updated_since must be timezone-aware", reason="naive_datetime")
    value = updated_since.astimezone(UTC).strftime(_MAGENTO_TIME)
    return [[("updated_at", value, "gteq")]]


_BY_UPDATE = (("updated_at", "ASC"), ("entity_id", "ASC"))


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class MagentoClient:
    """One Magento store's REST API, signed with its integration's credentials.

    `base_url` is the store URL (validated: https, public addresses unless `allow_private`);
    `store_code` reads the catalog of that store view and only its orders. The client owns
    its `httpx.AsyncClient` unless `http` is given; use it as an async context manager or call
    `aclose()`. Every call retries 429/5xx and transport errors under `policy` (`sleep` and
    `clock` are seams for tests) and raises `UpstreamRejected` for other 4xx answers,
    `UpstreamTimeout` when the deadline or the tries run out, and `UpstreamError` for answers
    it cannot read.
    """

    def __init__(
        self,
        base_url: str,
        credentials: IntegrationCredentials,
        *,
        store_code: str | None = None,
        http: httpx.AsyncClient | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
        page_size: int = 100,
        allow_private: bool = False,
        media_url: str | None = None,
    ) -> None:
        store = validate_store_url(base_url, allow_private=allow_private)
        self._store_code = validate_store_code(store_code)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidRequest(
                f"page_size must be between 1 and {MAX_PAGE_SIZE}", reason="invalid_page_size"
            )
        scope = f"/{self._store_code}" if self._store_code else ""
        self._api = f"{store.base_url}/rest{scope}/V1"
        self._media_url = media_url or f"{store.base_url}/media/catalog/product"
        self._auth = auth_for(credentials)
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._page_size = page_size
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient()
        self._msi: bool | None = None
        self._categories: dict[str, CategoryPayload] = {}
        self._asked_categories: set[str] = set()
        self._categories_readable = True
        self._store_id: str | None = None

    async def __aenter__(self) -> MagentoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client made it."""
        if self._owns_http:
            await self._http.aclose()

    # -- listings -------------------------------------------------------------------------

    async def products(self, updated_since: datetime | None = None) -> AsyncIterator[CatalogRecord]:
        """Every product shown on its own (changed at or after `updated_since`, when given),
        as a `CatalogRecord` with its variants, stock, category names and image URL.

        A configurable's children are read with it; a child changed alone is not picked up by
        an incremental listing (its parent's `updated_at` did not change), and neither is
        stock changed through MSI: run a full listing now and then.
        """
        listing = self._search("/products", ProductPayload, _since(updated_since), _BY_UPDATE)
        async for page in listing:
            children = await self._children_of(page)
            stocked = [
                p for p in (*page, *children.values()) if p.type_id in _STOCKED_TYPES and p.sku
            ]
            stock = await self._stock(list({p.sku: p for p in stocked}))
            categories = await self._categories_of(page)
            for product in page:
                record = catalog_record(
                    product,
                    [children[c] for c in product.child_ids if c in children],
                    stock=stock,
                    categories=categories,
                    media_url=self._media_url,
                )
                if record is not None:
                    yield record

    async def orders(self, updated_since: datetime | None = None) -> AsyncIterator[OrderPayload]:
        """Every order (of the store view, with a store code) changed at or after
        `updated_since`, oldest change first. Turn them into domain orders with
        `records.order_record` and the caller's customer key: this client never sees it."""
        groups = _since(updated_since)
        if self._store_code is not None:
            groups.append([("store_id", await self._store_view_id(), "eq")])
        async for page in self._search("/orders", OrderPayload, groups, _BY_UPDATE):
            for order in page:
                yield order

    # -- the parts of a catalog page ------------------------------------------------------

    async def _children_of(self, page: Sequence[ProductPayload]) -> dict[str, ProductPayload]:
        """The children of the page's configurables: from the page where they are on it,
        the rest fetched by id."""
        on_page = {product.id: product for product in page}
        wanted = list(dict.fromkeys(c for p in page for c in p.child_ids))
        found = {c: on_page[c] for c in wanted if c in on_page}
        missing = [c for c in wanted if c not in found]
        for chunk in _chunks(missing, self._page_size):
            groups = [[("entity_id", ",".join(chunk), "in")]]
            async for more in self._search("/products", ProductPayload, groups, ()):
                found.update((child.id, child) for child in more)
        return found

    async def _stock(self, skus: Sequence[str]) -> dict[str, StockLevel]:
        """SKU → stock: from MSI, or from the legacy stock items once MSI answered 404."""
        if not skus:
            return {}
        if self._msi is not False:
            try:
                levels = await self._msi_stock(skus)
            except UpstreamRejected as exc:
                if exc.details.get("status") != 404 or self._msi:
                    raise
                log.info("MSI is not available on %s: reading legacy stock items", self._api)
                self._msi = False
            else:
                self._msi = True
                return levels
        return await self._legacy_stock(skus)

    async def _msi_stock(self, skus: Sequence[str]) -> dict[str, StockLevel]:
        # The `in` condition splits its value on commas: a SKU holding one is asked alone.
        plain = [sku for sku in skus if "," not in sku]
        groups: list[list[list[Filter]]] = [
            [[("sku", ",".join(chunk), "in")]] for chunk in _chunks(plain, self._page_size)
        ]
        groups += [[[("sku", sku, "eq")]] for sku in skus if "," in sku]
        items: list[SourceItem] = []
        for group in groups:
            async for page in self._search("/inventory/source-items", SourceItem, group, ()):
                items.extend(page)
        return stock_from_sources(items)

    async def _legacy_stock(self, skus: Sequence[str]) -> dict[str, StockLevel]:
        levels: dict[str, StockLevel] = {}
        for sku in skus:
            path = f"/stockItems/{quote(sku, safe='')}"
            try:
                data = await self._get(path)
            except UpstreamRejected as exc:
                if exc.details.get("status") == 404:
                    continue  # a product without a stock item
                raise
            level = stock_from_item(_validate(StockItem, data, f"GET {path}"))
            if level is not None:
                levels[sku] = level
        return levels

    async def _categories_of(self, page: Sequence[ProductPayload]) -> dict[str, CategoryPayload]:
        """The categories the page's products are in, fetched once per client. Without the
        right to read categories the products keep their category ids instead of names."""
        ids = list(dict.fromkeys(c for p in page for c in p.category_ids))
        missing = [c for c in ids if c not in self._asked_categories]
        if missing and self._categories_readable:
            try:
                for chunk in _chunks(missing, self._page_size):
                    groups = [[("entity_id", ",".join(chunk), "in")]]
                    async for found in self._search(
                        "/categories/list", CategoryPayload, groups, ()
                    ):
                        self._categories.update((c.id, c) for c in found)
            except UpstreamRejected as exc:
                log.warning("category names unavailable on %s: %s", self._api, exc.message)
                self._categories_readable = False
            self._asked_categories.update(missing)
        return {c: self._categories[c] for c in ids if c in self._categories}

    async def _store_view_id(self) -> str:
        if self._store_id is None:
            data = await self._get("/store/storeViews")
            views = data if isinstance(data, list) else []
            for view in views:
                if isinstance(view, dict) and view.get("code") == self._store_code:
                    self._store_id = str(view.get("id"))
                    break
            else:
                raise UpstreamRejected(
                    f"The store has no store view {self._store_code!r}.",
                    reason="unknown_store_code",
                )
        return self._store_id

    # -- HTTP ------------------------------------------------------------------------------

    async def _search(
        self,
        path: str,
        model: type[M],
        groups: Sequence[Sequence[Filter]],
        sort: Sequence[tuple[str, str]],
    ) -> AsyncIterator[list[M]]:
        """The pages of a listing, each item parsed, none given twice."""
        seen: set[Hashable] = set()
        page = 1
        while True:
            query = search_query(groups, sort, page=page, page_size=self._page_size)
            data = await self._get(path, query)
            raw, total = _page(data, f"GET {path}")
            items = [_validate(model, item, f"GET {path}", n) for n, item in enumerate(raw)]
            new = [item for item in items if _identity(item) not in seen]
            seen.update(_identity(item) for item in new)
            if new:
                yield new
            last = math.ceil(total / self._page_size)
            if not new or len(raw) < self._page_size or page >= last:
                return
            page += 1

    async def _get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Any:
        """GET `path` under the REST base, retried, as decoded JSON."""
        url = f"{self._api}{path}" + (f"?{_encode(query)}" if query else "")
        what = f"GET {path}"
        retrying, budget = async_retrying(self._policy, sleep=self._sleep, clock=self._clock)
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._http.get(
                        url,
                        headers=_ACCEPT,
                        auth=self._auth,
                        timeout=budget.timeout(),
                        follow_redirects=False,
                    )
                    if response.status_code in RETRY_STATUSES:
                        wait = retry_after_seconds(response.headers.get("Retry-After"))
                        raise RetryableAnswer(
                            f"HTTP {response.status_code}", status=response.status_code, wait=wait
                        )
        except RetryableAnswer as exc:
            raise UpstreamTimeout(
                f"Magento kept answering {what} with HTTP {exc.status} until the retries ran out.",
                status=exc.status,
                reason="retries_exhausted",
            ) from None
        except httpx.HTTPError as exc:
            if is_retryable(exc):
                slow = isinstance(exc, httpx.TimeoutException)
                raise UpstreamTimeout(
                    f"Magento could not be reached for {what}: {type(exc).__name__}.",
                    reason="timeout" if slow else "unreachable",
                ) from None
            raise UpstreamError(
                f"The request {what} could not be sent: {type(exc).__name__}.",
                reason="request_failed",
            ) from None
        return _answer(response, what)


def _identity(item: BaseModel) -> Hashable:
    if isinstance(item, SourceItem):
        return (item.sku, item.source_code)
    if isinstance(item, OrderPayload):
        return item.entity_id
    return getattr(item, "id", id(item))


def _validate(model: type[M], data: Any, what: str, index: int | None = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, _ = describe(exc)
        where = "" if index is None else f" item {index}"
        raise UpstreamError(
            f"Magento's answer to {what} has an unreadable{where}: {message}",
            reason="malformed_response",
        ) from None


def _page(data: Any, what: str) -> tuple[list[Any], int]:
    """The items and `total_count` of a search result; UpstreamError when it is not one."""
    if not isinstance(data, dict):
        raise UpstreamError(
            f"Magento's answer to {what} is not a search result.", reason="malformed_response"
        )
    total = data.get("total_count")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise UpstreamError(
            f"Magento's answer to {what} has no total_count.", reason="malformed_response"
        )
    items = data.get("items")
    if items is None and total == 0:
        return [], 0
    if not isinstance(items, list):
        raise UpstreamError(
            f"Magento's answer to {what} has no list of items.", reason="malformed_response"
        )
    return items, total


def _answer(response: httpx.Response, what: str) -> Any:
    """The JSON of a final answer, or the error it stands for."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(
                f"Magento answered {what} with something that is not JSON.",
                reason="malformed_response",
                status=status,
            ) from None
    message = _magento_message(response)
    if 300 <= status < 400:
        raise UpstreamRejected(
            f"Magento redirected {what} (HTTP {status}); connect the store with its final URL.",
            reason="redirected",
            status=status,
        )
    if status == 401:
        raise UpstreamRejected(
            f"Magento refused the credentials for {what}: {message} Check the integration is "
            "active and has access to this resource; a Bearer token needs "
            "oauth/consumer/enable_integration_as_bearer on 2.4.4+.",
            reason="unauthorized",
            status=status,
        )
    if 400 <= status < 500:
        raise UpstreamRejected(
            f"Magento refused {what} (HTTP {status}): {message}",
            reason="not_found" if status == 404 else "rejected",
            status=status,
        )
    raise UpstreamError(
        f"Magento failed {what} (HTTP {status}): {message}", reason="server_error", status=status
    )


def _magento_message(response: httpx.Response) -> str:
    """Magento's `message`, its `%name`/`%1` placeholders filled from `parameters`."""
    try:
        body = response.json()
    except ValueError:
        return "(no details)"
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return "(no details)"
    message: str = body["message"]
    parameters = body.get("parameters")
    if isinstance(parameters, dict):
        pairs = list(parameters.items())
    elif isinstance(parameters, list):
        pairs = [(str(n + 1), value) for n, value in enumerate(parameters)]
    else:
        pairs = []
    for name, value in sorted(pairs, key=lambda pair: -len(str(pair[0]))):
        message = message.replace(f"%{name}", str(value))
    return message[:_MAX_MESSAGE]
