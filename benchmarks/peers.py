"""Peer recommenders that benchmarks/quality.py runs beside cartwise, under one request contract.

Every peer answers `recommend(cart, customer_id, k) -> list[str]` like the engine. The query is
the cart (weight 1 per product) plus the customer's training history (total weight
`hist_weight`, split in proportion to how many orders held each product); cart products are
never returned; products with no signal, and ties, are ordered by popularity (orders in the last
30 days of training, then all-time orders). Models are fit on the orders x products binary
matrix (guest orders included), the natural unit for basket completion. Needs numpy, scipy and,
for the two implicit peers, the `implicit` package (`pip install -e ".[bench]"`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cartwise.domain import Order

__all__ = ["PEERS", "Peer", "PeerSpec"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

POPULARITY_WINDOW_DAYS = 30.0
EASE_MAX_ITEMS = 6000
ALS_ITERATIONS = 15
SEED = 42


class Peer(Protocol):
    def recommend(self, cart: Sequence[str], customer_id: str | None, k: int) -> list[str]: ...


@dataclass(slots=True)
class _TrainData:
    """What every peer reads from the training orders, indexed by catalog position."""

    ids: list[str]
    index: dict[str, int]
    baskets: sp.csr_matrix
    """orders x products, 1.0 where the order holds the product (float32)."""
    history: dict[str, tuple[IntArray, FloatArray]]
    """customer -> (products, number of training orders that held each)."""
    pop_order: IntArray
    """Product positions, most popular first."""
    pop_rank: IntArray
    """Position of each product in `pop_order` (0 = most popular)."""


def _train_data(orders: Sequence[Order], catalog: Sequence[str]) -> _TrainData:
    """Index the catalog (plus products seen only in orders) and build the basket matrix."""
    ids = list(dict.fromkeys(catalog))
    index = {pid: i for i, pid in enumerate(ids)}
    rows: list[int] = []
    cols: list[int] = []
    times: list[float] = []
    customers: list[str | None] = []
    for order in orders:
        if order.cancelled or not order.lines:
            continue
        o = len(times)
        times.append(order.created_at.timestamp())
        customers.append(order.customer_id)
        for line in order.lines:
            i = index.get(line.product_id)
            if i is None:
                i = index[line.product_id] = len(ids)
                ids.append(line.product_id)
            rows.append(o)
            cols.append(i)
    n_orders, n_items = len(times), len(ids)
    baskets = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_orders, n_items)
    )
    baskets.sum_duplicates()
    baskets.data[:] = 1.0

    t = np.asarray(times, dtype=np.float64)
    end = float(t.max()) if n_orders else 0.0
    recent = (end - t <= POPULARITY_WINDOW_DAYS * 86_400.0).astype(np.float64)
    recent_count = np.asarray(baskets.T @ recent).ravel()
    total_count = np.asarray(baskets.sum(axis=0)).ravel()
    pop_order = np.lexsort((np.arange(n_items), -total_count, -recent_count)).astype(np.int64)
    pop_rank = np.empty(n_items, dtype=np.int64)
    pop_rank[pop_order] = np.arange(n_items)

    history: dict[str, tuple[IntArray, FloatArray]] = {}
    codes = {c: j for j, c in enumerate(dict.fromkeys(c for c in customers if c))}
    if codes:
        pairs = [(codes[c], o) for o, c in enumerate(customers) if c]
        owner = sp.csr_matrix(
            (np.ones(len(pairs)), ([c for c, _ in pairs], [o for _, o in pairs])),
            shape=(len(codes), n_orders),
        )
        per_customer = sp.csr_matrix(owner @ baskets)
        for customer, j in codes.items():
            lo, hi = per_customer.indptr[j], per_customer.indptr[j + 1]
            history[customer] = (
                per_customer.indices[lo:hi].astype(np.int64),
                per_customer.data[lo:hi].astype(np.float64),
            )
    return _TrainData(ids, index, baskets, history, pop_order, pop_rank)


class _QueryPeer:
    """The shared request path: build the weighted query, score, rank with popularity fill."""

    signal_floor = 0.0
    """Scores at or below this carry no signal and go to the popularity fill."""

    def __init__(self, data: _TrainData, hist_weight: float = 0.3) -> None:
        self.data = data
        self.hist_weight = hist_weight

    def _scores(self, q_idx: IntArray, q_w: FloatArray) -> FloatArray | None:
        return None

    def recommend(self, cart: Sequence[str], customer_id: str | None, k: int) -> list[str]:
        d = self.data
        cart_idx = np.fromiter(
            dict.fromkeys(i for i in (d.index.get(p) for p in cart) if i is not None),
            dtype=np.int64,
        )
        q_idx, q_w = cart_idx, np.ones(len(cart_idx))
        hist = d.history.get(customer_id) if customer_id else None
        if hist is not None and self.hist_weight > 0:
            h_idx, h_count = hist
            q_idx = np.concatenate([cart_idx, h_idx])
            q_w = np.concatenate([q_w, self.hist_weight * h_count / h_count.sum()])
        score = self._scores(q_idx, q_w) if len(q_idx) else None
        return [d.ids[j] for j in self._rank(score, cart_idx, k)]

    def _rank(self, score: FloatArray | None, exclude: IntArray, k: int) -> list[int]:
        d = self.data
        chosen: list[int] = []
        if score is not None:
            score[exclude] = -np.inf
            cand = np.flatnonzero(score > self.signal_floor)
            if len(cand) > k:
                kth = np.partition(score[cand], len(cand) - k)[len(cand) - k]
                cand = cand[score[cand] >= kth]
            order = np.lexsort((d.pop_rank[cand], -score[cand]))
            chosen = [int(j) for j in cand[order[:k]]]
        if len(chosen) < k:
            skip = set(chosen) | {int(j) for j in exclude}
            for j in d.pop_order[: k + len(skip)]:
                if int(j) not in skip:
                    chosen.append(int(j))
                    if len(chosen) == k:
                        break
        return chosen

    def _query_row(self, q_idx: IntArray, q_w: FloatArray) -> sp.csr_matrix:
        """The query as a 1 x products CSR row (repeated products summed)."""
        row = sp.csr_matrix(
            (q_w.astype(np.float32), q_idx, np.asarray([0, len(q_idx)])),
            shape=(1, len(self.data.ids)),
        )
        row.sum_duplicates()
        return row


class Popularity(_QueryPeer):
    """Most-ordered products of the last 30 days of training; not personal."""

    def recommend(self, cart: Sequence[str], customer_id: str | None, k: int) -> list[str]:
        d = self.data
        exclude = np.fromiter(
            (i for i in (d.index.get(p) for p in cart) if i is not None), dtype=np.int64
        )
        return [d.ids[j] for j in self._rank(None, exclude, k)]


class Ease(_QueryPeer):
    """EASE^R (Steck 2019): B = I - P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹, on the most-bought
    products; a query item outside them adds nothing, a candidate outside them is fill."""

    def __init__(self, data: _TrainData, lam: float, hist_weight: float = 0.3) -> None:
        super().__init__(data, hist_weight)
        counts = np.asarray(data.baskets.sum(axis=0)).ravel()
        bought = np.flatnonzero(counts > 0)
        keep = bought[np.argsort(-counts[bought], kind="stable")[:EASE_MAX_ITEMS]]
        self.keep = np.sort(keep)
        self.position = np.full(len(data.ids), -1, dtype=np.int64)
        self.position[self.keep] = np.arange(len(self.keep))
        x = data.baskets[:, self.keep]
        gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += lam
        p = np.linalg.inv(gram)
        b = p / -np.diag(p)
        np.fill_diagonal(b, 0.0)
        self.weights = b.astype(np.float32)

    def _scores(self, q_idx: IntArray, q_w: FloatArray) -> FloatArray | None:
        pos = self.position[q_idx]
        ok = pos >= 0
        if not ok.any():
            return None
        score = np.zeros(len(self.data.ids))
        score[self.keep] = q_w[ok] @ self.weights[pos[ok]]
        return score


class ImplicitBM25(_QueryPeer):
    """implicit's BM25Recommender; the score is the query row times its item-item similarity
    (the product its own `recommend` forms), ranked by the shared rules above."""

    def __init__(
        self,
        data: _TrainData,
        K: int,  # noqa: N803 (implicit's parameter names)
        K1: float,  # noqa: N803
        B: float,  # noqa: N803
        hist_weight: float = 0.3,
    ) -> None:
        from implicit.nearest_neighbours import BM25Recommender
        from implicit.utils import ParameterWarning

        super().__init__(data, hist_weight)
        model = BM25Recommender(K=K, K1=K1, B=B, num_threads=1)
        with warnings.catch_warnings():
            # its own fit hands a COO matrix to its k-NN step and then warns about it
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(data.baskets, show_progress=False)
        self.similarity: sp.csr_matrix = model.similarity

    def _scores(self, q_idx: IntArray, q_w: FloatArray) -> FloatArray | None:
        row = self._query_row(q_idx, q_w) @ self.similarity
        return np.asarray(row.toarray(), dtype=np.float64).ravel()


class ImplicitALS(_QueryPeer):
    """implicit's AlternatingLeastSquares (CG, 15 iterations, one thread); per request the query
    row is folded in with `recalculate_user` and every product is scored by its factors."""

    signal_floor = -np.inf

    def __init__(
        self,
        data: _TrainData,
        factors: int,
        regularization: float,
        alpha: float,
        hist_weight: float = 0.3,
    ) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        super().__init__(data, hist_weight)
        self.model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=ALS_ITERATIONS,
            num_threads=1,
            random_state=SEED,
        )
        self.model.fit(data.baskets, show_progress=False)

    def _scores(self, q_idx: IntArray, q_w: FloatArray) -> FloatArray | None:
        user = self.model.recalculate_user(0, self._query_row(q_idx, q_w))
        return np.asarray(self.model.item_factors @ user, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """A peer, its a-priori parameters and its tuning grid. `fit_grid` parameters need a refit;
    `hist_weight` is set on the fitted model."""

    build: Callable[..., _QueryPeer]
    defaults: Mapping[str, Any]
    fit_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    hist_grid: Sequence[float] = ()

    def fit(
        self, orders: Sequence[Order], catalog: Sequence[str], params: Mapping[str, Any]
    ) -> _QueryPeer:
        """Fit on `orders` over `catalog` (product ids) with `params` over the defaults."""
        merged = {**self.defaults, **params}
        hist_weight = float(merged.pop("hist_weight", 0.3))
        peer = self.build(_train_data(orders, catalog), **merged)
        peer.hist_weight = hist_weight
        return peer


PEERS: dict[str, PeerSpec] = {
    "popularity": PeerSpec(Popularity, {}),
    "ease": PeerSpec(
        Ease,
        {"lam": 300.0, "hist_weight": 0.3},
        {"lam": [10.0, 30.0, 100.0, 300.0, 1000.0]},
        [0.0, 0.3, 1.0, 3.0],
    ),
    "implicit_bm25": PeerSpec(
        ImplicitBM25,
        {"K": 200, "K1": 1.2, "B": 0.75, "hist_weight": 0.3},
        {"K": [50, 200, 1000], "K1": [0.6, 1.2], "B": [0.5, 0.75, 1.0]},
        [0.0, 1.0, 3.0],
    ),
    "implicit_als": PeerSpec(
        ImplicitALS,
        {"factors": 64, "regularization": 0.1, "alpha": 5.0, "hist_weight": 0.3},
        {"factors": [64, 128], "regularization": [0.01, 0.1], "alpha": [1.0, 5.0]},
        [0.3, 1.0],
    ),
}
"""The peers by name; quality.py runs them in this order after cartwise."""
