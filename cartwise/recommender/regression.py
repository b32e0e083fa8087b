"""Item-item regression weights (the EASE closed form, Steck 2019) over the basket Gram matrix:
co-occurrence normalised by solving for each item's best linear reconstruction from the others,
so items that merely ride along with popular products get little weight.

The Gram matrix is weighted like the co-occurrence counts (time decay, 1/size**x per basket) and
limited to the items with the most evidence. It is inverted in place with LAPACK (Cholesky), so
fitting needs one dense float32 matrix of that size and nothing more. Pure numpy/scipy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.linalg import lapack

__all__ = ["regression_weights"]

_CHUNK = 128


def regression_weights(
    baskets: sp.csr_matrix,
    basket_weight: npt.NDArray[np.float64],
    item_count: npt.NDArray[np.float64],
    *,
    l2: float,
    max_items: int,
    neighbours: int,
) -> sp.csr_matrix:
    """Items × items matrix W (zero diagonal, top `neighbours` weights by magnitude per row)
    such that a query vector q scores candidates as q @ W. `l2` is the ridge penalty relative to
    the mean basket weight; only the `max_items` items with the largest `item_count` take part."""
    n_items = baskets.shape[1]
    empty = sp.csr_matrix((n_items, n_items), dtype=np.float32)
    active = np.nonzero(item_count > 0)[0]
    if len(active) < 2:
        return empty
    if len(active) > max_items:
        active = active[np.argsort(-item_count[active], kind="stable")[:max_items]]
        active.sort()
    x = sp.csc_matrix(baskets[:, active])
    xt_weighted = sp.csr_matrix(x.T @ sp.diags(basket_weight))
    m = len(active)
    gram = np.empty((m, m), dtype=np.float32, order="F")
    # filled a block of columns at a time: no sparse Gram and no float64 copy in memory
    for lo in range(0, m, _CHUNK):
        gram[:, lo : lo + _CHUNK] = (xt_weighted @ x[:, lo : lo + _CHUNK]).toarray()
    penalty = float(l2 * basket_weight.mean())
    gram[np.diag_indices_from(gram)] += penalty
    p = _inverse_spd_in_place(gram)
    if p is None:
        return empty
    diag = np.diag(p).copy()
    rows_out: list[npt.NDArray[np.int64]] = []
    cols_out: list[npt.NDArray[np.int64]] = []
    vals_out: list[npt.NDArray[np.float32]] = []
    keep = min(neighbours, m - 1)
    for lo in range(0, m, _CHUNK):
        block = -p[lo : lo + _CHUNK] / diag[np.newaxis, :]
        r = np.arange(block.shape[0])
        block[r, r + lo] = 0.0
        # negative weights matter (an item that replaces another): rank by magnitude
        top = np.argpartition(-np.abs(block), keep - 1, axis=1)[:, :keep]
        vals = np.take_along_axis(block, top, axis=1)
        nz = vals != 0.0
        rows_out.append(np.repeat(r + lo, keep).reshape(-1, keep)[nz])
        cols_out.append(top[nz].astype(np.int64))
        vals_out.append(vals[nz].astype(np.float32))
    out = sp.csr_matrix(
        (
            np.concatenate(vals_out),
            (active[np.concatenate(rows_out)], active[np.concatenate(cols_out)]),
        ),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    out.sort_indices()
    return out


def _inverse_spd_in_place(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32] | None:
    """Inverse of a symmetric positive definite Fortran-ordered matrix, overwriting it; the full
    symmetric result is returned (same memory). None when it is not positive definite."""
    c, info = lapack.spotrf(a, lower=0, overwrite_a=1, clean=0)
    if info != 0:
        return None
    inv, info = lapack.spotri(c, lower=0, overwrite_c=1)
    if info != 0:
        return None
    n = inv.shape[0]
    # only the upper triangle is valid: mirror it, a block of rows at a time
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        inv[lo:hi, :lo] = inv[:lo, lo:hi].T
        sub = inv[lo:hi, lo:hi]
        lower = np.tril_indices(hi - lo, -1)
        sub[lower] = sub.T[lower]
    return np.asarray(inv)
