"""Per request: the shop's current model, the business rules and a named fallback chain, turned
into a `RecommendationResponse` with a reason for every item.

Layer 4: imports storage, the recommender and layer 0; never Flask or anything from `api`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from cachetools import LRUCache

from cartwise.cache import Cache
from cartwise.domain import Product, ShopRules
from cartwise.errors import StorageError, UnknownShop
from cartwise.experiments import ItemStats, choose, exploration_slots
from cartwise.recommender import HybridRecommender, Recommendation
from cartwise.schemas import (
    ExperimentArm,
    RecommendationItem,
    RecommendationRequest,
    RecommendationResponse,
    Source,
)
from cartwise.storage import Store

__all__ = [
    "CatalogCache",
    "DefaultsProvider",
    "ExplorationStats",
    "LoadedModel",
    "ModelRegistry",
    "ResponseCache",
    "Treatment",
    "fallback_answer",
    "in_stock",
    "recommend",
]

ResponseCache = Cache[RecommendationResponse]
"""Answers by (shop, model version, rules, customer, segments, request)."""

_FROM_REQUEST = object()
_REFRESH_BATCH = 2_000
"""At most this many products are read again in one query when some have gone stale."""


_Held = tuple[
    dict[str, "tuple[float, Product | None]"],
    list["tuple[float, ShopRules]"],
    dict[Hashable, "tuple[float, RecommendationResponse]"],
]
"""A shop's memory, each value with the time it was read: products by id, its rules, and the
answers given to anonymous shoppers."""


class CatalogCache:
    """What each request reads besides the model — products by id and the shop's rules — kept
    in process for `ttl` seconds, so a hot storefront costs no database round trip per request.

    Plain dicts per shop, each value stamped with when it was read and read again once older
    than `ttl`; the first request to meet a stale product reads it together with every other
    stale one (up to `_REFRESH_BATCH`), in one query. The answers
    given to anonymous shoppers are kept alongside: shoppers with the same cart, segment and
    placement (popular product pages) share one answer for as long. Changes made elsewhere
    (another worker, a job) show after at most `ttl` seconds; a change made through this process
    calls `invalidate(shop)` and shows at once. Thread-safe.
    """

    def __init__(
        self,
        store: Store,
        *,
        ttl: float = 2.0,
        max_entries: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._shops: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._away = False

    def _entry(self, shop: str) -> _Held:
        entry = self._shops.get(shop)
        if entry is None or len(entry[0]) + len(entry[2]) > self._max:
            with self._lock:
                entry = self._shops.get(shop)
                if entry is None or len(entry[0]) + len(entry[2]) > self._max:
                    entry = self._shops[shop] = ({}, [], {})
        return entry

    def answer(self, shop: str, key: Hashable) -> RecommendationResponse | None:
        """An anonymous answer given for the same request within the last `ttl` seconds."""
        held = self._entry(shop)[2].get(key)
        if held is None or self._clock() - held[0] > self._ttl:
            return None
        return held[1]

    def keep_answer(self, shop: str, key: Hashable, answer: RecommendationResponse) -> None:
        self._entry(shop)[2][key] = (self._clock(), answer)

    def products(self, shop: str, ids: Iterable[str]) -> dict[str, Product]:
        held = self._entry(shop)[0]
        now = self._clock()
        found: dict[str, Product] = {}
        missing: list[str] = []
        stale = False
        for pid in ids:
            item = held.get(pid)
            if item is None:
                missing.append(pid)
            elif now - item[0] > self._ttl:
                missing.append(pid)
                stale = True
            elif item[1] is not None:
                found[pid] = item[1]
        if stale:
            # everything else gone stale is read in the same query: a shop's products then
            # cost one read per `ttl`, not one per request that meets an expired entry
            wanted = set(missing)
            for pid, item in list(held.items()):
                if len(missing) >= _REFRESH_BATCH:
                    break
                if now - item[0] > self._ttl and pid not in wanted:
                    missing.append(pid)
        if missing:
            try:
                loaded = self._store.products.get_many(shop, missing)
            except StorageError:
                if not stale:
                    raise
                # storage is away: what was held keeps answering until it is back
                if not self._away:
                    self._away = True
                    log.warning("storage unavailable: products answered from memory")
                for pid in ids:
                    item = held.get(pid)
                    if item is not None and item[1] is not None:
                        found[pid] = item[1]
                return found
            if self._away:
                self._away = False
                log.warning("storage answers again: products read afresh")
            for pid in missing:
                product = loaded.get(pid)
                held[pid] = (now, product)
                if product is not None:
                    found[pid] = product
        return found

    def rules(self, shop: str) -> ShopRules:
        held = self._entry(shop)[1]
        now = self._clock()
        if not held or now - held[0][0] > self._ttl:
            try:
                rules = self._store.rules.get(shop)
            except StorageError:
                if not held:
                    raise
                return held[0][1]  # the rules last read, while storage is away
            held[:] = [(now, rules)]
            return rules
        return held[0][1]

    def invalidate(self, shop: str) -> None:
        """Forget what is held for `shop` (its catalog or rules changed in this process)."""
        with self._lock:
            self._shops.pop(shop, None)


log = logging.getLogger(__name__)

DefaultsProvider = Callable[[str, int], Sequence[str]]
"""A shop's curated product ids, best first, as `(shop, n) -> ids`: the seam for the merchant's
own picks. Without one the chain goes from trending straight to the catalog."""

_REASON_DEFAULTS = "Recommended by the shop"
_REASON_FALLBACK = "You might also like"


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A shop's model as loaded from storage; `version` is `store.models` numbering (1, 2, …)."""

    version: int
    model: HybridRecommender
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Treatment:
    """What the shopper's experiment arm changes in this answer: `no_recommendations` answers
    nothing (source "control"), `trending_only` skips the model, a `variant` may turn the
    shopper's history off or set its own exploration share. `label` goes back in the answer."""

    label: ExperimentArm
    kind: Literal["no_recommendations", "trending_only", "variant"] = "variant"
    personalised: bool = True
    exploration_share: float | None = None


ExplorationStats = Callable[[], Mapping[str, ItemStats]]
"""The shop's products' storefront record (impressions, clicks and add-to-carts), asked for
only when an answer has exploration slots."""


@dataclass(slots=True)
class _Entry:
    version: int | None
    """None: the shop had no model at the last check."""
    created_at: datetime | None
    model: HybridRecommender | None
    """None with a version: that version's blob could not be read; wait for the next one."""
    checked_at: float
    loaded_at: float = float("-inf")
    """When a blob was last read for this shop (never: minus infinity)."""
    newer: bool = False
    """A newer version was announced (`ModelRegistry.newer`) and is not loaded yet."""


class ModelRegistry:
    """The current model of each shop, loaded once per version and shared by all requests.

    Storage is asked for the latest version at most once every `check_interval` seconds per
    shop (measured with `clock`, in seconds); the blob is read only when the version changed.
    A version announced by `newer` is loaded at the next request, but no sooner than
    `reload_interval` seconds after the shop's previous load: while orders keep coming and a
    version is saved every fraction of a second, each process loads at most one per interval
    instead of every one (a model is read and parsed whole, a few milliseconds per megabyte).
    At most `max_shops` shops are held, the least recently used leaving first. Thread-safe.
    """

    def __init__(
        self,
        store: Store,
        *,
        check_interval: float = 5.0,
        reload_interval: float = 1.0,
        max_shops: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._check_interval = check_interval
        self._reload_interval = reload_interval
        self._clock = clock
        self._entries: LRUCache[str, _Entry] = LRUCache(maxsize=max_shops)
        self._lock = threading.Lock()

    def get(self, shop: str) -> LoadedModel | None:
        """The shop's latest model, or None when it has none or its latest blob is unreadable.

        Raises `UnknownShop` for a shop storage does not know and `StorageError` when the
        database fails before any model of the shop was loaded; a model already loaded keeps
        being served while storage is away, and until the next check.
        """
        now = self._clock()
        with self._lock:
            entry = self._entries.get(shop)
            if entry is not None:
                due = entry.newer and now - entry.loaded_at >= self._reload_interval
                if not due and now - entry.checked_at < self._check_interval:
                    return _loaded(entry)
                # Claim this check so concurrent requests keep the current model meanwhile.
                entry.checked_at = now
                entry.newer = False
        try:
            stamp = self._store.models.latest_stamp(shop)
            if entry is not None and stamp == (entry.version, entry.created_at):
                return _loaded(entry)
            if entry is not None and stamp is None and entry.version is None:
                return _loaded(entry)
            fresh = self._load(shop, None if stamp is None else stamp[0], now)
        except StorageError:
            if entry is None or entry.model is None:
                raise
            # the database is away: the model held answers as well as it did a moment ago
            log.warning(
                "storage unavailable: shop %s answered by model version %s held in memory",
                shop,
                entry.version,
            )
            return _loaded(entry)
        with self._lock:
            self._entries[shop] = fresh
        return _loaded(fresh)

    def invalidate(self, shop: str | None = None) -> None:
        """Check storage again on the next `get` (for `shop`, or for every shop)."""
        with self._lock:
            if shop is None:
                self._entries.clear()
            else:
                self._entries.pop(shop, None)

    def newer(self, shop: str) -> None:
        """Another process saved a newer model of `shop`: load it at the next `get`, but no
        sooner than `reload_interval` after the previous load."""
        with self._lock:
            entry = self._entries.get(shop)
            if entry is not None:
                entry.newer = True

    def _load(self, shop: str, version: int | None, now: float) -> _Entry:
        if version is None:
            return _Entry(version=None, created_at=None, model=None, checked_at=now)
        artifact = self._store.models.latest(shop)
        if artifact is None:
            return _Entry(version=None, created_at=None, model=None, checked_at=now)
        try:
            model = HybridRecommender.from_bytes(artifact.blob)
        except Exception:
            log.exception("model version %s of shop %s cannot be loaded", artifact.version, shop)
            return _Entry(
                artifact.version, artifact.created_at, model=None, checked_at=now, loaded_at=now
            )
        log.info("loaded model version %s of shop %s", artifact.version, shop)
        return _Entry(
            artifact.version, artifact.created_at, model=model, checked_at=now, loaded_at=now
        )


def _loaded(entry: _Entry) -> LoadedModel | None:
    if entry.version is None or entry.model is None:
        return None
    return LoadedModel(version=entry.version, model=entry.model, created_at=entry.created_at)


def recommend(
    store: Store,
    registry: ModelRegistry,
    shop: str,
    request: RecommendationRequest,
    *,
    defaults: DefaultsProvider | None = None,
    rules: ShopRules | None = None,
    customer: str | object | None = _FROM_REQUEST,
    segments: Sequence[str] = (),
    cache: ResponseCache | None = None,
    catalog: CatalogCache | None = None,
    treatment: Treatment | None = None,
    exploration: ExplorationStats | None = None,
) -> RecommendationResponse:
    """Answer a storefront: up to `request.k` in-stock products that are not in the cart.

    The chain, each step topping up what the previous ones left short: the model's answer to
    the cart and `customer` ("model"); what sells in the shopper's `segments`, then the shop's
    trending products ("trending"; the whole answer when no customer is given and the cart is
    empty or unknown to the model); the merchant's curated defaults ("defaults"); the first
    products of the catalog ("fallback"). The merchant's `rules` (read from the store when not
    given) apply to every step: blocked
    products never show, pinned ones come first, price band and per-vendor/per-category caps
    hold. `source` names the first step that gave an item. Internal trouble is logged and
    skipped, never raised; only an unknown `shop` raises `UnknownShop`.

    `customer` is the id the model knows the shopper by (a keyed hash for platform shoppers);
    left out, `request.customer_id` is used as it is. With a `cache`, a request that repeats
    one of the same session (same `session_id`, cart and model version) is answered from it;
    with a `catalog` memory, an anonymous request (no customer) repeating another's cart,
    segment and placement is answered as that one was, for as long as the memory holds.

    A `treatment` (the shopper's experiment arm) changes the answer as it says and is named in
    it. When the rules (or the arm) give exploration a share of the slots, the last ones go to
    products ranked just below the answer, drawn by Thompson sampling on their `exploration`
    record.
    """
    who = request.customer_id if customer is _FROM_REQUEST else customer
    assert who is None or isinstance(who, str)
    label = treatment.label if treatment is not None else None
    if treatment is not None and not treatment.personalised:
        who = None
    if rules is None:
        rules = _shop_rules(store, shop, catalog)
    cart = tuple(dict.fromkeys(line.product_id for line in request.cart))
    loaded = _current_model(registry, shop)
    if treatment is not None and treatment.kind == "no_recommendations":
        return RecommendationResponse(
            items=[],
            source="control",
            model_version=loaded.version if loaded is not None else None,
            request_id=uuid.uuid4().hex,
            experiment=label,
        )
    share = rules.exploration_share
    if treatment is not None and treatment.exploration_share is not None:
        share = treatment.exploration_share
    explore = exploration_slots(request.k, share) if exploration is not None else 0
    arm_key = None if treatment is None else (treatment.kind, label, treatment.exploration_share)
    key = None
    version = (loaded.version, loaded.created_at) if loaded is not None else None
    if cache is not None and request.session_id:
        key = response_key(
            shop,
            version,
            rules,
            who,
            segments,
            request.model_dump_json(exclude={"customer_id"}) + repr(arm_key),
        )
        hit = cache.get(key)
        if hit is not None:
            return hit.model_copy(update={"request_id": uuid.uuid4().hex})
    shared_key = None
    if catalog is not None and who is None:
        shared_key = (
            version,
            rules,
            tuple(segments),
            request.model_dump_json(exclude={"customer_id", "session_id"}),
            arm_key,
        )
        hit = catalog.answer(shop, shared_key)
        if hit is not None:
            if cache is not None and key is not None:
                cache.set(key, hit)
            return hit.model_copy(update={"request_id": uuid.uuid4().hex})
    if defaults is None and rules.defaults:
        curated = rules.defaults

        def defaults(_shop: str, n: int) -> Sequence[str]:
            return curated[:n]

    picked = _Picked(store, shop, request.k - explore, exclude=cart, rules=rules, catalog=catalog)
    if rules.pinned:
        try:
            picked.add(None, [Recommendation(p, 0.0, _REASON_DEFAULTS) for p in rules.pinned])
        except UnknownShop:
            raise
        except Exception:
            log.exception("pinned products failed for shop %s", shop)
    use_model = treatment is None or treatment.kind != "trending_only"
    chain = _chain(store, shop, loaded, cart, who, request.k, defaults, segments, use_model)
    _fill(picked, chain, shop)
    if explore and exploration is not None:
        picked.grow(explore)
        try:
            _explore(picked, exploration)
        except Exception:
            log.exception("exploration failed for shop %s", shop)
        _fill(picked, chain, shop)
    answer = RecommendationResponse(
        items=picked.items,
        source=picked.source or ("defaults" if picked.items else "fallback"),
        model_version=loaded.version if loaded is not None else None,
        request_id=uuid.uuid4().hex,
        experiment=label,
    )
    if cache is not None and key is not None:
        cache.set(key, answer)
    if catalog is not None and shared_key is not None:
        catalog.keep_answer(shop, shared_key, answer)
    return answer


def fallback_answer(
    store: Store,
    registry: ModelRegistry,
    shop: str,
    k: int,
    *,
    catalog: CatalogCache | None = None,
) -> RecommendationResponse:
    """What a storefront shows when it cannot reach cartwise, fetched ahead of time (the SDK
    keeps it): the merchant's curated defaults, then the shop's trending products, then its
    catalog, under the same rules as every answer. `source` is "defaults" when the merchant's
    picks lead it. Only an unknown `shop` raises."""
    rules = _shop_rules(store, shop, catalog)
    picked = _Picked(store, shop, k, exclude=(), rules=rules, catalog=catalog)
    n = 3 * k + 5
    loaded = _current_model(registry, shop)
    steps: list[tuple[Source, _Step]] = [
        (
            "defaults",
            lambda: [
                Recommendation(p, 0.0, _REASON_DEFAULTS) for p in (*rules.pinned, *rules.defaults)
            ],
        )
    ]
    if loaded is not None:
        model = loaded.model
        steps.append(("trending", lambda: model.trending(k=n)))
    steps.append(
        (
            "fallback",
            lambda: [
                Recommendation(p.product_id, 0.0, _REASON_FALLBACK)
                for p in store.products.list(shop, limit=n)
            ],
        )
    )
    for source, step in steps:
        if picked.full:
            break
        try:
            picked.add(source, step())
        except UnknownShop:
            raise
        except Exception:
            log.exception("fallback step %r failed for shop %s", source, shop)
    return RecommendationResponse(
        items=picked.items,
        source=picked.source or "fallback",
        model_version=loaded.version if loaded is not None else None,
        request_id=uuid.uuid4().hex,
    )


def response_key(
    shop: str,
    version: tuple[int, datetime | None] | None,
    rules: ShopRules,
    who: str | None,
    segments: Sequence[str],
    request_json: str,
) -> str:
    """The cache key of one session's answer: shop and model version in the clear (a retrain
    changes every key), the rest hashed, as it holds the shopper's keyed id."""
    model = "none" if version is None else f"{version[0]}-{_stamp(version[1])}"
    digest = hashlib.sha256(repr((rules, who, tuple(segments), request_json)).encode()).hexdigest()[
        :32
    ]
    return f"answer:{shop}:{model}:{digest}"


def _stamp(at: datetime | None) -> str:
    return "0" if at is None else str(int(at.timestamp() * 1000))


def encode_response(answer: RecommendationResponse) -> bytes:
    return answer.model_dump_json().encode()


def decode_response(raw: bytes) -> RecommendationResponse:
    return RecommendationResponse.model_validate_json(raw)


def _shop_rules(store: Store, shop: str, catalog: CatalogCache | None) -> ShopRules:
    try:
        return catalog.rules(shop) if catalog is not None else store.rules.get(shop)
    except Exception:
        log.exception("the rules of shop %s are unavailable; answering without them", shop)
        return ShopRules()


def _current_model(registry: ModelRegistry, shop: str) -> LoadedModel | None:
    try:
        return registry.get(shop)
    except UnknownShop:
        raise
    except Exception:
        log.exception("the model of shop %s is unavailable", shop)
        return None


_Step = Callable[[], Iterable[Recommendation]]


def _chain(
    store: Store,
    shop: str,
    loaded: LoadedModel | None,
    cart: tuple[str, ...],
    customer_id: str | None,
    k: int,
    defaults: DefaultsProvider | None,
    segments: Sequence[str] = (),
    personalise: bool = True,
) -> Iterator[tuple[Source, _Step]]:
    """The steps of an answer, best first; without `personalise` (a trending-only arm) the
    model's own answer to the cart is skipped and its trending list kept."""
    # Ask each step for more than k: the rules below drop cart items and sold-out products.
    n = 3 * k + len(cart) + 5
    model = loaded.model if loaded is not None else None
    if model is not None and personalise and (customer_id or any(model.knows(p) for p in cart)):
        # A short list first (the model's cost grows with it); only when the rules drop so
        # many that it falls short is the model asked again, for the longer list.
        yield "model", lambda: model.recommend(cart=list(cart), customer_id=customer_id, k=k + 4)
        yield "model", lambda: model.recommend(cart=list(cart), customer_id=customer_id, k=n)
    for segment in segments:
        yield "trending", _segment_step(store, shop, segment, n)
    if model is not None:
        yield "trending", lambda: model.trending(k=n)
    if defaults is not None:
        yield (
            "defaults",
            lambda: [Recommendation(p, 0.0, _REASON_DEFAULTS) for p in defaults(shop, n)],
        )
    yield (
        "fallback",
        lambda: [
            Recommendation(p.product_id, 0.0, _REASON_FALLBACK)
            for p in store.products.list(shop, limit=n)
        ],
    )


def _fill(picked: _Picked, chain: Iterator[tuple[Source, _Step]], shop: str) -> None:
    """Run the chain's next steps until the answer is full; a failing step is logged and
    skipped. The chain is left where it stopped, so a later call goes on from there."""
    while not picked.full:
        nxt = next(chain, None)
        if nxt is None:
            return
        source, step = nxt
        try:
            picked.add(source, step())
        except UnknownShop:
            raise
        except Exception:
            log.exception("recommendation step %r failed for shop %s", source, shop)


def _explore(picked: _Picked, exploration: ExplorationStats) -> None:
    """Fill the slots left open with the candidates that just missed the answer, best
    Thompson draw first: each product's click and add-to-cart rate is sampled from its Beta
    posterior, so one rarely shown gets its chance and one that never converts fades."""
    spare = picked.spare
    if not spare:
        return
    by_id = {rec.product_id: rec for rec in spare}
    order = choose(list(by_id), exploration(), len(by_id), rng=np.random.default_rng())
    picked.add(None, [by_id[pid] for pid in order])


def _segment_step(store: Store, shop: str, segment: str, n: int) -> _Step:
    def step() -> list[Recommendation]:
        label = segment.split(":", 1)[-1]
        reason = (
            f"Popular with shoppers from {label}"
            if segment.startswith("country:")
            else (f"Popular with shoppers on {label}")
        )
        return [Recommendation(p, 0.0, reason) for p in store.segments.top(shop, segment, limit=n)]

    return step


class _Picked:
    """The answer being built: catalog details joined in, the business rules applied."""

    def __init__(
        self,
        store: Store,
        shop: str,
        k: int,
        *,
        exclude: Iterable[str],
        rules: ShopRules,
        catalog: CatalogCache | None = None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._shop = shop
        self._k = k
        self._rules = rules
        self._seen = set(exclude) | set(rules.blocked)
        self._vendors: dict[str, int] = {}
        self._categories: dict[str, int] = {}
        self.items: list[RecommendationItem] = []
        self.source: Source | None = None
        self.spare: list[Recommendation] = []
        """Candidates of the last step that were not looked at because the answer was full."""

    @property
    def full(self) -> bool:
        return len(self.items) >= self._k

    def grow(self, extra: int) -> None:
        """Make room for `extra` more items."""
        self._k += extra

    def add(self, source: Source | None, recommendations: Iterable[Recommendation]) -> None:
        fresh: dict[str, Recommendation] = {}
        for rec in recommendations:
            if rec.product_id not in self._seen:
                fresh.setdefault(rec.product_id, rec)
        if not fresh:
            return
        queue = list(fresh.values())
        start = 0
        while start < len(queue) and not self.full:
            # Look up a little more than what is still missing: most candidates pass the rules.
            chunk = queue[start : start + 2 * (self._k - len(self.items)) + 2]
            start += len(chunk)
            self._take(source, chunk)
        if self.full:
            self.spare = [rec for rec in queue if rec.product_id not in self._seen]

    def _take(self, source: Source | None, chunk: list[Recommendation]) -> None:
        ids = [rec.product_id for rec in chunk]
        if self._catalog is not None:
            products = self._catalog.products(self._shop, ids)
        else:
            products = self._store.products.get_many(self._shop, ids)
        for rec in chunk:
            if self.full:
                return
            self._seen.add(rec.product_id)
            product = products.get(rec.product_id)
            if product is None or not in_stock(product) or not self._allowed(product):
                continue
            self.items.append(_item(product, rec))
            if product.vendor:
                self._vendors[product.vendor] = self._vendors.get(product.vendor, 0) + 1
            if product.category:
                self._categories[product.category] = self._categories.get(product.category, 0) + 1
            self.source = self.source or source

    def _allowed(self, product: Product) -> bool:
        rules = self._rules
        if rules.min_price is not None or rules.max_price is not None:
            if product.price is None:
                return False
            if rules.min_price is not None and product.price < rules.min_price:
                return False
            if rules.max_price is not None and product.price > rules.max_price:
                return False
        cap = rules.max_per_vendor
        if cap is not None and product.vendor and self._vendors.get(product.vendor, 0) >= cap:
            return False
        cap = rules.max_per_category
        return not (
            cap is not None
            and product.category
            and self._categories.get(product.category, 0) >= cap
        )


def in_stock(product: Product) -> bool:
    """Whether a product may be offered: switched on, and not out of stock (None: untracked)."""
    return product.available and (product.stock is None or product.stock > 0)


def _item(product: Product, rec: Recommendation) -> RecommendationItem:
    score = float(rec.score)
    # Validated construction: pydantic-core's validator is about twice as fast as
    # `model_construct`'s Python loop for these seven plain fields (1.0 against 2.5 µs).
    return RecommendationItem(
        product_id=product.product_id,
        variant_id=product.variant_id,
        title=product.title,
        price=product.price,
        image_url=product.image_url,
        reason=rec.reason,
        score=score if math.isfinite(score) else 0.0,
    )
