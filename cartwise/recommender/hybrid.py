"""`HybridRecommender`: co-occurrence, content and popularity blended per item by evidence,
plus the shopper's own history; the query is the cart. Every answer carries a human reason.

Pure Python + numpy/scipy (layer 2): no Flask, no database, no network.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cartwise.recommender.content import content_neighbours
from cartwise.recommender.cooccurrence import cooccurrence_counts
from cartwise.recommender.params import HybridParams
from cartwise.recommender.regression import regression_weights
from cartwise.recommender.serialization import LoadedModel, dump_model, load_model
from cartwise.recommender.sparse_rows import gather_rows, is_row_permutation, strongest_first
from cartwise.recommender.types import Interaction, Item, Recommendation

__all__ = ["HybridRecommender"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_DAY = 86_400.0
_CART_WEIGHT = 0.5
"""An abandoned or open cart says less about what goes together than a placed order."""
_MAX_HISTORY_QUERY = 16
"""The shopper's strongest past products used as extra query items (latency bound)."""
_ENTRY_BUDGET = 3000
"""Stored neighbours read per matrix and request: a cart of many products reads only the
strongest neighbours of each, so the answer time stays flat whatever the cart size."""
_ROW_DELTAS = 16
"""Incremental updates of one item kept apart before they are merged for that item alone."""
_REASON_COOC = "Often bought with {}"
_REASON_HISTORY = "Goes with {} you bought before"
_REASON_CONTENT = "Similar to {}"
_REASON_REPEAT = "You bought this before"
_REASON_TRENDING = "Popular this week"
_REASON_NEW = "New, similar to {}"


def _epoch(ts: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.timestamp()


class HybridRecommender:
    """The per-shop model. `fit` builds it from history, `update` folds in new orders at once,
    `recommend` answers a cart in well under a millisecond. Not thread-safe for concurrent
    `update` and `recommend`: serving uses one immutable loaded model per version."""

    # caches derived from the matrices and counts by _refresh_item_weights
    _cooc_ptr: IntArray
    _reg_ptr: IntArray
    _cnt_ptr: IntArray
    _cooc_perm: IntArray
    _reg_perm: IntArray
    _cnt_perm: IntArray
    _row_norm: FloatArray
    _col_norm: FloatArray
    _content_gain: FloatArray

    def __init__(self, params: HybridParams | None = None) -> None:
        self.params = params or HybridParams()
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        self._titles: list[str] = []
        self._available = np.zeros(0, dtype=bool)
        self._t_ref = 0.0
        self._count = np.zeros(0)
        self._trend = np.zeros(0)
        self._cooc = sp.csr_matrix((0, 0), dtype=np.float32)
        self._cooc_delta: dict[int, list[tuple[IntArray, FloatArray | float]]] = {}
        self._content = sp.csr_matrix((0, 0), dtype=np.float32)
        self._regression = sp.csr_matrix((0, 0), dtype=np.float32)
        self._customers: dict[str, int] = {}
        self._history = sp.csr_matrix((0, 0), dtype=np.float32)
        self._history_delta: dict[int, dict[int, float]] = {}
        self.n_interactions = 0
        self._fitted = False
        self._refresh_item_weights()

    @property
    def n_items(self) -> int:
        return len(self._ids)

    @property
    def n_customers(self) -> int:
        return len(self._customers)

    @property
    def is_fitted(self) -> bool:
        return self._fitted

    def knows(self, product_id: str) -> bool:
        return product_id in self._index

    def fit(self, interactions: Iterable[Interaction], items: Iterable[Item]) -> HybridRecommender:
        """Build the model from scratch: `items` is the catalog, `interactions` the order and
        cart lines. Products seen only in interactions join the catalog untitled."""
        catalog = list(items)
        self._ids, self._index, self._titles = [], {}, []
        meta: list[Item] = []
        for item in catalog:
            if not isinstance(item, Item):
                raise TypeError(f"items must be Item records, got {type(item).__name__}")
            if item.product_id in self._index:
                continue
            self._add_item(item.product_id, item.title)
            meta.append(item)

        keys: dict[tuple[str, str], int] = {}
        order_time: list[float] = []
        is_order: list[bool] = []
        order_customer: list[str | None] = []
        rows = array("q")
        cols = array("q")
        n_lines = 0
        for it in interactions:
            if not isinstance(it, Interaction):
                raise TypeError(
                    f"interactions must be Interaction records, got {type(it).__name__}"
                )
            key = (it.kind, it.order_id)
            t = _epoch(it.created_at)
            o = keys.get(key)
            if o is None:
                o = keys[key] = len(order_time)
                order_time.append(t)
                is_order.append(it.kind != "cart")
                order_customer.append(it.customer_id or None)
            elif t < order_time[o]:
                order_time[o] = t
            i = self._index.get(it.product_id)
            if i is None:
                i = self._add_item(it.product_id, "")
                meta.append(Item(product_id=it.product_id))
            rows.append(o)
            cols.append(i)
            n_lines += 1

        n_items, n_orders = len(self._ids), len(order_time)
        self._available = np.asarray([item.available for item in meta], dtype=bool)
        self.n_interactions = n_lines
        times = np.asarray(order_time, dtype=np.float64)
        self._t_ref = float(times.max()) if n_orders else datetime.now(UTC).timestamp()
        baskets = sp.csr_matrix(
            (
                np.ones(len(rows)),
                (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)),
            ),
            shape=(n_orders, n_items),
        )
        baskets.sum_duplicates()
        baskets.data[:] = 1.0
        p = self.params
        orders_mask = np.asarray(is_order, dtype=bool)
        kind_w = np.where(orders_mask, 1.0, _CART_WEIGHT)
        w_cooc = self._decay(times, p.cooc_half_life_days) * kind_w
        sizes = np.maximum(np.diff(baskets.indptr), 1).astype(np.float64)
        self._count = np.asarray(baskets.T @ w_cooc, dtype=np.float64).ravel()
        self._trend = np.asarray(
            baskets.T @ (self._decay(times, p.trending_half_life_days) * kind_w), dtype=np.float64
        ).ravel()
        pair_weight = w_cooc / np.power(sizes, p.basket_size_exponent)
        self._cooc = cooccurrence_counts(
            baskets,
            pair_weight,
            self._count,
            neighbours=p.cooc_neighbours,
            target_exponent=p.cooc_target_exponent,
        )
        self._regression = (
            regression_weights(
                baskets,
                pair_weight,
                self._count,
                l2=p.regression_l2,
                max_items=p.regression_max_items,
                neighbours=p.regression_neighbours,
            )
            if p.regression_weight > 0
            else sp.csr_matrix((n_items, n_items), dtype=np.float32)
        )
        self._cooc_delta = {}
        self._content = content_neighbours(meta, p.content_neighbours)
        self._fit_history(baskets, times, orders_mask, order_customer)
        self._refresh_item_weights()
        self._fitted = True
        return self

    def _fit_history(
        self,
        baskets: sp.csr_matrix,
        times: FloatArray,
        orders_mask: npt.NDArray[np.bool_],
        order_customer: Sequence[str | None],
    ) -> None:
        """Each known customer's decayed purchases; carts are not purchases."""
        self._customers = {}
        codes = np.full(len(order_customer), -1, dtype=np.int64)
        for o, customer in enumerate(order_customer):
            if customer is not None and orders_mask[o]:
                codes[o] = self._customers.setdefault(customer, len(self._customers))
        known = np.nonzero(codes >= 0)[0]
        w = self._decay(times[known], self.params.history_half_life_days)
        owner = sp.csr_matrix(
            (w, (codes[known], known)), shape=(len(self._customers), baskets.shape[0])
        )
        self._history = sp.csr_matrix(owner @ baskets, dtype=np.float32)
        self._history.sort_indices()
        self._history_delta = {}

    def update(self, interactions: Iterable[Interaction]) -> None:
        """Fold new order or cart lines into the model at once, without a refit. Each order
        must be given once: callers deduplicate deliveries before updating."""
        orders: dict[tuple[str, str], list[Interaction]] = {}
        for it in interactions:
            if not isinstance(it, Interaction):
                raise TypeError(
                    f"interactions must be Interaction records, got {type(it).__name__}"
                )
            orders.setdefault((it.kind, it.order_id), []).append(it)
        if not orders:
            return
        if not self._fitted:
            self._fitted = True
            self._t_ref = min(_epoch(it.created_at) for lines in orders.values() for it in lines)
        p = self.params
        before = len(self._ids)
        for lines in orders.values():
            for it in lines:
                if it.product_id not in self._index:
                    self._add_item(it.product_id, "")
        if len(self._ids) > before:
            self._grow(len(self._ids) - before)
        for (kind, _), lines in orders.items():
            idx = list(dict.fromkeys(self._index[it.product_id] for it in lines))
            items = np.asarray(idx, dtype=np.int64)
            t = np.asarray([min(_epoch(it.created_at) for it in lines)])
            kw = _CART_WEIGHT if kind == "cart" else 1.0
            w = float(self._decay(t, p.cooc_half_life_days)[0]) * kw
            self._count[items] += w
            self._trend[items] += float(self._decay(t, p.trending_half_life_days)[0]) * kw
            if len(items) > 1:
                pair = w / len(items) ** p.basket_size_exponent
                for i in idx:
                    pending = self._cooc_delta.setdefault(i, [])
                    pending.append((items, pair))
                    if len(pending) > _ROW_DELTAS:
                        self._cooc_delta[i] = [_merge_row(i, pending)]
            customer = lines[0].customer_id
            if customer and kind == "order":
                c = self._customers.get(customer)
                if c is None:
                    c = self._customers[customer] = len(self._customers)
                row = self._history_delta.setdefault(c, {})
                wh = float(self._decay(t, p.history_half_life_days)[0])
                for i in idx:
                    row[i] = row.get(i, 0.0) + wh
            self.n_interactions += len(lines)
            self._refresh_item_weights(items)

    def set_availability(self, availability: Mapping[str, bool]) -> None:
        """Mark products (un)available (out of stock, unpublished) without a refit. Unknown
        product ids are ignored."""
        for product_id, ok in availability.items():
            i = self._index.get(product_id)
            if i is not None:
                self._available[i] = bool(ok)
        self._unavailable = np.nonzero(~self._available)[0]

    def recommend(
        self, cart: Sequence[str], customer_id: str | None = None, k: int = 10
    ) -> list[Recommendation]:
        """Up to `k` products for this cart (and shopper, when known), best first. Unknown cart
        ids are ignored; cart items and unavailable items are never returned; an empty cart with
        no known shopper gets trending products."""
        if k <= 0 or not self._ids:
            return []
        p = self.params
        cart_idx = np.fromiter(
            dict.fromkeys(i for i in (self._index.get(pid) for pid in cart) if i is not None),
            dtype=np.int64,
        )
        h_idx, h_aff = self._history_of(customer_id)
        if len(cart_idx) == 0 and len(h_idx) == 0:
            return self.trending(k)
        n = len(self._ids)

        # the query: cart items at weight 1, the shopper's strongest past products at a total of
        # history_query_weight, split by affinity
        if len(h_idx) and p.history_query_weight > 0:
            # past products already in the cart are in the query at full weight
            top = np.argsort(-h_aff, kind="stable")
            in_cart = np.zeros(n, dtype=bool)
            in_cart[cart_idx] = True
            top = top[~in_cart[h_idx[top]]][:_MAX_HISTORY_QUERY]
            q_idx = np.concatenate([cart_idx, h_idx[top]])
            q_w = np.concatenate(
                [
                    np.ones(len(cart_idx)),
                    p.history_query_weight * h_aff[top] / max(float(h_aff[top].sum()), 1e-12),
                ]
            )
        else:
            q_idx, q_w = cart_idx, np.ones(len(cart_idx))

        # collaborative: normalised co-occurrence plus regression weights, each scaled to a
        # maximum of its weight so that neither depends on the shop's volume
        cols, vals, owner = self._cooc_entries(q_idx, q_w)
        collab = np.zeros(n)
        cooc = _max_scaled(cols, vals, n)
        if cooc is not None:
            collab += p.cooc_weight * cooc
        r_pos, r_owner = gather_rows(self._reg_ptr, q_idx, _row_cap(len(q_idx)))
        reg = _max_scaled(self._reg_col[r_pos], self._reg_val[r_pos] * q_w[r_owner], n)
        if reg is not None:
            collab += p.regression_weight * reg
        score = collab + self._trend_part

        # content: what the cart looks like, weighted up for candidates with little evidence
        c_cols, c_vals, c_owner = self._content_entries(cart_idx)
        likeness = _max_scaled(c_cols, c_vals, n)
        content: FloatArray | None = None
        if likeness is not None:
            content = likeness * self._content_gain
            score += content

        # the shopper's own history: "you bought this before"
        repeat: dict[int, float] = {}
        if len(h_idx) and p.repeat_weight > 0:
            r_vals = (p.repeat_weight / h_aff.max()) * h_aff
            score[h_idx] += r_vals
            repeat = dict(zip(h_idx.tolist(), r_vals.tolist(), strict=True))

        score[self._unavailable] = -np.inf
        score[cart_idx] = -np.inf
        top_k = self._top(score, k)
        fresh = self._new_arrivals(c_cols, likeness, score, top_k, k)
        if fresh:
            top_k = [j for j in top_k if j not in fresh][: k - len(fresh)] + fresh
        if not top_k:
            return []
        kinds = []
        for j in top_k:
            parts = [
                float(collab[j]),
                float(content[j]) if content is not None else 0.0,
                float(self._trend_part[j]),
                repeat.get(j, 0.0),
            ]
            kinds.append(parts.index(max(parts)))
        # the products behind each reason, looked up only for the reasons that name one
        best_cooc = self._best_source(cols, vals, owner, top_k) if 0 in kinds else {}
        best_content = (
            self._best_source(c_cols, c_vals, c_owner, top_k) if 1 in kinds or fresh else {}
        )
        out = []
        for j, kind in zip(top_k, kinds, strict=True):
            if j in fresh and j in best_content:
                reason = _REASON_NEW.format(self._label(int(cart_idx[best_content[j]])))
            elif kind == 0 and j in best_cooc:
                src = int(q_idx[best_cooc[j]])
                template = _REASON_COOC if best_cooc[j] < len(cart_idx) else _REASON_HISTORY
                reason = template.format(self._label(src))
            elif kind == 1 and j in best_content:
                reason = _REASON_CONTENT.format(self._label(int(cart_idx[best_content[j]])))
            elif kind == 3 or (kind == 0 and j in repeat):
                reason = _REASON_REPEAT
            else:
                reason = _REASON_TRENDING
            out.append(Recommendation(self._ids[j], float(score[j]), reason))
        return out

    def _new_arrivals(
        self,
        c_cols: IntArray,
        likeness: FloatArray | None,
        score: FloatArray,
        top_k: list[int],
        k: int,
    ) -> list[int]:
        """Never-ordered products closest in content to the cart, for the last
        `new_item_slots` places: without them a new product could never be shown, so never
        bought, so never learned."""
        p = self.params
        slots = min(p.new_item_slots, k - 1)
        if slots <= 0 or likeness is None:
            return []
        cand = c_cols[self._count[c_cols] <= 0]
        if len(cand) == 0:
            return []
        cand = cand[(likeness[cand] >= p.new_item_min_similarity) & np.isfinite(score[cand])]
        if len(cand) == 0:
            return []
        cand = np.unique(cand)
        sim = likeness[cand]
        order = np.lexsort((cand, -sim))
        shown = set(top_k)
        return [j for j in cand[order].tolist() if j not in shown][:slots]

    def trending(self, k: int = 10) -> list[Recommendation]:
        """The `k` most popular available products right now (decayed recent orders)."""
        if k <= 0 or not self._ids:
            return []
        score = self._trend_norm.copy()
        score[self._unavailable] = -np.inf
        return [
            Recommendation(self._ids[j], float(score[j]), _REASON_TRENDING)
            for j in self._top(score, k)
        ]

    def similar_items(self, product_id: str, k: int = 10) -> list[Recommendation]:
        """Products that go with `product_id` (bought together, else similar), best first; an
        unknown id gets an empty list."""
        i = self._index.get(product_id)
        if i is None or k <= 0:
            return []
        q = np.asarray([i], dtype=np.int64)
        n = len(self._ids)
        cols, vals, _ = self._cooc_entries(q, np.ones(1))
        c_cols, c_vals, _ = self._content_entries(q)
        collab_part = _max_scaled(cols, vals, n)
        likeness = _max_scaled(c_cols, c_vals, n)
        if collab_part is None:
            collab_part = np.zeros(n)
        content_part = likeness * self._content_gain if likeness is not None else np.zeros(n)
        score = collab_part + content_part
        score[self._unavailable] = -np.inf
        score[i] = -np.inf
        score[score <= 0] = -np.inf
        label = self._label(i)
        return [
            Recommendation(
                self._ids[j],
                float(score[j]),
                (_REASON_COOC if collab_part[j] >= content_part[j] else _REASON_CONTENT).format(
                    label
                ),
            )
            for j in self._top(score, k)
        ]

    def history(self, customer_id: str, k: int = _MAX_HISTORY_QUERY) -> list[tuple[str, float]]:
        """The shopper's past purchases as `recommend` weighs them, strongest first: up to `k`
        (product id, decayed affinity) pairs; empty for a shopper the model does not know."""
        idx, aff = self._history_of(customer_id)
        if k <= 0 or len(idx) == 0:
            return []
        order = np.lexsort((idx, -aff))[:k]
        return [(self._ids[int(idx[o])], float(aff[o])) for o in order]

    def to_bytes(self) -> bytes:
        """The model as `.npz` bytes with a JSON header; no pickle anywhere."""
        self._compact()
        return dump_model(
            header={
                "params": self.params.to_dict(),
                "t_ref": self._t_ref,
                "n_interactions": self.n_interactions,
                "fitted": self._fitted,
            },
            ids=self._ids,
            titles=self._titles,
            customers=sorted(self._customers, key=self._customers.__getitem__),
            arrays={
                "available": self._available,
                "count": self._count,
                "trend": self._trend,
                # each matrix's rows strongest first, as loading would sort them again: sorted
                # once here instead of by every process that loads the model
                **{f"{name}_order": perm.astype(np.int32) for name, perm in self._orders().items()},
            },
            matrices={
                "cooc": self._cooc,
                "regression": self._regression,
                "content": self._content,
                "history": self._history,
            },
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> HybridRecommender:
        """Load a model written by `to_bytes`; a damaged or foreign blob is a ValueError."""
        try:
            return cls._from_loaded(load_model(blob))
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ValueError(f"model file is incomplete or inconsistent: {exc!r}") from exc

    @classmethod
    def _from_loaded(cls, loaded: LoadedModel) -> HybridRecommender:
        model = cls(HybridParams.from_dict(loaded.header["params"]))
        model._ids = loaded.ids
        model._index = {pid: i for i, pid in enumerate(loaded.ids)}
        model._titles = loaded.titles
        model._customers = {c: i for i, c in enumerate(loaded.customers)}
        model._available = loaded.arrays["available"].astype(bool)
        model._count = loaded.arrays["count"].astype(np.float64)
        model._trend = loaded.arrays["trend"].astype(np.float64)
        model._cooc = loaded.matrices["cooc"]
        model._content = loaded.matrices["content"]
        model._regression = loaded.matrices["regression"]
        model._history = loaded.matrices["history"]
        model._t_ref = float(loaded.header["t_ref"])
        model.n_interactions = int(loaded.header["n_interactions"])
        model._fitted = bool(loaded.header["fitted"])
        n = len(model._ids)
        if not (
            len(model._available) == len(model._count) == len(model._trend) == n
            and model._cooc.shape == (n, n)
            and model._content.shape == (n, n)
            and model._regression.shape == (n, n)
            and model._history.shape == (len(model._customers), n)
        ):
            raise ValueError("model arrays do not agree in size")
        model._refresh_item_weights(orders=_stored_orders(loaded, model))
        return model

    def _decay(self, times: FloatArray, half_life_days: float) -> FloatArray:
        """Weight 1 at the reference time, halving every `half_life_days` before it (and
        doubling after it, so later updates outweigh older counts without touching them)."""
        return np.exp2((times - self._t_ref) / (half_life_days * _DAY))

    def _add_item(self, product_id: str, title: str) -> int:
        i = len(self._ids)
        self._ids.append(product_id)
        self._index[product_id] = i
        self._titles.append(title)
        return i

    def _grow(self, extra: int) -> None:
        """Room for `extra` products just added to the index: empty rows and columns, no
        evidence; the cached row arrays are padded, not rebuilt."""
        n = len(self._ids)

        def pad(a: npt.NDArray[Any], value: object) -> npt.NDArray[Any]:
            return np.concatenate([a, np.full(extra, value, dtype=a.dtype)])

        self._available = pad(self._available, True)
        self._count = pad(self._count, 0.0)
        self._trend = pad(self._trend, 0.0)
        self._cooc = _resized(self._cooc, n, n)
        self._content = _resized(self._content, n, n)
        self._regression = _resized(self._regression, n, n)
        self._history = _resized(self._history, self._history.shape[0], n)
        self._cooc_ptr = pad(self._cooc_ptr, self._cooc_ptr[-1])
        self._reg_ptr = pad(self._reg_ptr, self._reg_ptr[-1])
        self._cnt_ptr = pad(self._cnt_ptr, self._cnt_ptr[-1])
        self._row_norm = pad(self._row_norm, 0.0)
        self._col_norm = pad(self._col_norm, 0.0)
        self._content_gain = pad(self._content_gain, 0.0)
        self._refresh_item_weights(np.arange(n - extra, n, dtype=np.int64))

    def _orders(self) -> dict[str, IntArray]:
        """The permutations that put each matrix's rows strongest first, as last computed."""
        return {"cooc": self._cooc_perm, "regression": self._reg_perm, "content": self._cnt_perm}

    def _refresh_item_weights(
        self, changed: IntArray | None = None, orders: Mapping[str, IntArray] | None = None
    ) -> None:
        """Recompute the per-item normalisers that depend on evidence counts, and the
        normalised similarities of the rows of `changed` items (all rows when None). Entries of
        other rows pointing at a changed item keep their slightly older normaliser until the
        next compaction or refit: one order moves a count by a small fraction. `orders` are
        the rows' strongest-first permutations when already known (read with the model)."""
        p = self.params
        if changed is None:
            count = np.maximum(self._count, 1e-9)
            self._row_norm = 1.0 / np.power(count, p.cooc_query_exponent)
            self._col_norm = 1.0 / np.power(count, p.cooc_target_exponent)
            self._content_gain = (
                p.content_weight * p.evidence_prior / (p.evidence_prior + self._count)
            )
        else:
            count = np.maximum(self._count[changed], 1e-9)
            self._row_norm[changed] = 1.0 / np.power(count, p.cooc_query_exponent)
            self._col_norm[changed] = 1.0 / np.power(count, p.cooc_target_exponent)
            self._content_gain[changed] = (
                p.content_weight * p.evidence_prior / (p.evidence_prior + self._count[changed])
            )
        m = self._cooc
        if changed is None:
            # cached row arrays, each row strongest first, so a request over many items can
            # read only the head of each row and keep a fixed amount of work
            ptr = m.indptr.astype(np.int64)
            rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
            sim = self._similarity(m.data.astype(np.float64), rows, m.indices.astype(np.int64))
            known = orders or {}
            cooc_perm = known.get("cooc")
            self._cooc_perm = strongest_first(ptr, sim) if cooc_perm is None else cooc_perm
            self._cooc_ptr = ptr
            self._cooc_col = m.indices[self._cooc_perm].astype(np.int64)
            self._cooc_sim = sim[self._cooc_perm]
            self._reg_perm, self._reg_ptr, self._reg_col, self._reg_val = _strongest_first_arrays(
                self._regression, known.get("regression")
            )
            self._cnt_perm, self._cnt_ptr, self._cnt_col, self._cnt_val = _strongest_first_arrays(
                self._content, known.get("content")
            )
        elif len(changed) and len(self._cooc_ptr) > 1:
            rows = changed[changed < len(self._cooc_ptr) - 1]
            pos, owner = gather_rows(self._cooc_ptr, rows)
            src = self._cooc_perm[pos]
            self._cooc_sim[pos] = self._similarity(
                m.data[src].astype(np.float64), rows[owner], self._cooc_col[pos]
            )
        t = self._trend + 1e-6 * self._count
        t_max = t.max(initial=0.0)
        self._trend_norm = t / t_max if t_max > 0 else t
        self._trend_part = p.popularity_weight * self._trend_norm
        self._unavailable = np.nonzero(~self._available)[0]

    def _similarity(self, counts: FloatArray, rows: IntArray, cols: IntArray) -> FloatArray:
        """Normalised co-occurrence: c_ij / (n_i**a n_j**b), raised to `similarity_exponent`."""
        sim = counts * self._row_norm[rows] * self._col_norm[cols]
        alpha = self.params.similarity_exponent
        return np.power(sim, alpha) if alpha != 1.0 else sim

    def _cooc_entries(
        self, q_idx: IntArray, q_w: FloatArray
    ) -> tuple[IntArray, FloatArray, IntArray]:
        """Every (candidate, weighted normalised co-count, query position) for the query. Rows
        with incremental updates are rebuilt from their summed raw counts, so an answer does not
        depend on whether updates were merged yet."""
        cap = _row_cap(len(q_idx))
        delta_pos = [q for q, i in enumerate(q_idx.tolist()) if i in self._cooc_delta]
        if not delta_pos:
            pos, owner = gather_rows(self._cooc_ptr, q_idx, cap)
            return self._cooc_col[pos], self._cooc_sim[pos] * q_w[owner], owner
        plain = np.ones(len(q_idx), dtype=bool)
        plain[delta_pos] = False
        rows = np.nonzero(plain)[0]
        pos, owner_local = gather_rows(self._cooc_ptr, q_idx[rows], cap)
        owner = rows[owner_local]
        cols_l, vals_l, owner_l = [self._cooc_col[pos]], [self._cooc_sim[pos] * q_w[owner]], [owner]
        m = self._cooc
        for qpos in delta_pos:
            i = int(q_idx[qpos])
            entries = list(self._cooc_delta[i])
            if i < m.shape[0]:
                lo, hi = int(m.indptr[i]), int(m.indptr[i + 1])
                entries.append(
                    (m.indices[lo:hi].astype(np.int64), m.data[lo:hi].astype(np.float64))
                )
            cols, counts = _merge_row(i, entries)
            sim = self._similarity(counts, np.full(len(cols), i, dtype=np.int64), cols)
            if len(sim) > cap:
                keep = np.argpartition(-sim, cap - 1)[:cap]
                cols, sim = cols[keep], sim[keep]
            cols_l.append(cols)
            vals_l.append(sim * q_w[qpos])
            owner_l.append(np.full(len(cols), qpos, dtype=np.int64))
        return np.concatenate(cols_l), np.concatenate(vals_l), np.concatenate(owner_l)

    def _content_entries(self, q_idx: IntArray) -> tuple[IntArray, FloatArray, IntArray]:
        pos, owner = gather_rows(self._cnt_ptr, q_idx, _row_cap(len(q_idx)))
        return self._cnt_col[pos], self._cnt_val[pos], owner

    def _history_of(self, customer_id: str | None) -> tuple[IntArray, FloatArray]:
        if not customer_id:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        c = self._customers.get(customer_id)
        if c is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        h = self._history
        if c < h.shape[0]:
            lo, hi = h.indptr[c], h.indptr[c + 1]
            idx, aff = h.indices[lo:hi].astype(np.int64), h.data[lo:hi].astype(np.float64)
        else:
            idx, aff = np.zeros(0, dtype=np.int64), np.zeros(0)
        delta = self._history_delta.get(c)
        if delta:
            merged = dict(zip(idx.tolist(), aff.tolist(), strict=True))
            for i, w in delta.items():
                merged[i] = merged.get(i, 0.0) + w
            idx = np.fromiter(merged.keys(), dtype=np.int64, count=len(merged))
            aff = np.fromiter(merged.values(), dtype=np.float64, count=len(merged))
        return idx, aff

    @staticmethod
    def _top(score: FloatArray, k: int) -> list[int]:
        k = min(k, len(score))
        cand = np.argpartition(-score, k - 1)[:k] if k < len(score) else np.arange(len(score))
        cand = cand[np.isfinite(score[cand])]
        # ties broken by index so answers are deterministic
        order = np.lexsort((cand, -score[cand]))
        return [int(j) for j in cand[order]]

    @staticmethod
    def _best_source(
        cols: IntArray, vals: FloatArray, owner: IntArray, targets: Sequence[int]
    ) -> dict[int, int]:
        """For each target candidate, the query position that contributed most to it."""
        if len(cols) == 0:
            return {}
        wanted = np.zeros(int(cols.max()) + 1, dtype=bool)
        wanted[[t for t in targets if t < len(wanted)]] = True
        sel = wanted[cols]
        c, v, o = cols[sel], vals[sel], owner[sel]
        order = np.argsort(v, kind="stable")
        return dict(zip(c[order].tolist(), o[order].tolist(), strict=True))

    def _label(self, i: int) -> str:
        return self._titles[i] or self._ids[i]

    def _compact(self) -> None:
        """Merge incremental co-occurrence and history updates into the base matrices."""
        n = len(self._ids)
        if self._cooc_delta:
            rows, cols, vals = [], [], []
            for i, entries in self._cooc_delta.items():
                merged_cols, merged_vals = _merge_row(i, entries)
                rows.append(np.full(len(merged_cols), i, dtype=np.int64))
                cols.append(merged_cols)
                vals.append(merged_vals.astype(np.float32))
            delta = sp.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
            )
            self._cooc = sp.csr_matrix(_resized(self._cooc, n, n) + delta, dtype=np.float32)
            self._cooc.sort_indices()
            self._cooc_delta = {}
        if self._history_delta or self._history.shape[0] != len(self._customers):
            h = _resized(self._history, len(self._customers), n)
            if self._history_delta:
                r, c, v = [], [], []
                for cust, row in self._history_delta.items():
                    for i, w in row.items():
                        r.append(cust)
                        c.append(i)
                        v.append(w)
                h = h + sp.csr_matrix((v, (r, c)), shape=(len(self._customers), n))
            self._history = sp.csr_matrix(h, dtype=np.float32)
            self._history.sort_indices()
            self._history_delta = {}
        self._refresh_item_weights()


def _resized(m: sp.csr_matrix, rows: int, cols: int) -> sp.csr_matrix:
    """`m` padded with empty rows and columns to `rows` × `cols`."""
    m = m.tocsr()
    extra = rows - m.shape[0]
    indptr = np.concatenate([m.indptr, np.full(extra, m.indptr[-1] if len(m.indptr) else 0)])
    if len(indptr) == 0:
        indptr = np.zeros(rows + 1, dtype=np.int64)
    return sp.csr_matrix((m.data, m.indices, indptr), shape=(rows, cols))


def _merge_row(
    i: int, entries: Sequence[tuple[IntArray, FloatArray | float]]
) -> tuple[IntArray, FloatArray]:
    """One item's incremental co-counts summed into a single (columns, counts) pair."""
    cols = np.concatenate([items for items, _ in entries])
    vals = np.concatenate(
        [w if isinstance(w, np.ndarray) else np.full(len(items), w) for items, w in entries]
    )
    mask = cols != i
    uniq, inv = np.unique(cols[mask], return_inverse=True)
    sums = np.bincount(inv, weights=vals[mask], minlength=len(uniq)).astype(np.float64)
    return uniq.astype(np.int64), sums


def _row_cap(n_rows: int) -> int:
    return max(16, _ENTRY_BUDGET // max(n_rows, 1))


def _strongest_first_arrays(
    m: sp.csr_matrix, perm: IntArray | None = None
) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """(permutation, indptr, indices, data) of `m` as int64/float64, each row strongest first;
    `perm` when that permutation is already known."""
    ptr = m.indptr.astype(np.int64)
    data = m.data.astype(np.float64)
    if perm is None:
        perm = strongest_first(ptr, data)
    return perm, ptr, m.indices[perm].astype(np.int64), data[perm]


def _stored_orders(loaded: LoadedModel, model: HybridRecommender) -> dict[str, IntArray]:
    """The row orders a model file carries, each kept only when it is a permutation within
    the rows of its matrix (files written before they were stored have none: sorted anew)."""
    matrices = {"cooc": model._cooc, "regression": model._regression, "content": model._content}
    orders: dict[str, IntArray] = {}
    for name, m in matrices.items():
        perm = loaded.arrays.get(f"{name}_order")
        if perm is not None and is_row_permutation(m.indptr.astype(np.int64), perm):
            orders[name] = perm.astype(np.int64)
    return orders


def _max_scaled(cols: IntArray, vals: FloatArray, n: int) -> FloatArray | None:
    """Per-candidate sums of `vals`, scaled so the best candidate scores 1; None when no
    candidate got a positive sum (the signal says nothing for this query)."""
    if len(cols) == 0:
        return None
    sums = np.bincount(cols, weights=vals, minlength=n).astype(np.float64, copy=False)
    top = float(sums.max())
    if top <= 0:
        return None
    scaled: FloatArray = sums / top
    return scaled
