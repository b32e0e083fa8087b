"""Small numpy helpers over CSR arrays for the hot path: gather many rows at once, top-k per row.

Pure numpy/scipy; no cartwise imports beyond this package.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

__all__ = ["gather_rows", "is_row_permutation", "strongest_first", "top_k_per_row"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def gather_rows(
    indptr: npt.NDArray[np.int64], rows: IntArray, cap: int | None = None
) -> tuple[IntArray, IntArray]:
    """Positions of the stored entries of `rows` in a CSR matrix (at most the first `cap` of
    each row), and the row (0..len(rows)-1) each position belongs to; one vectorised pass
    whatever the number of rows."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    if cap is not None:
        lens = np.minimum(lens, cap)
    total = int(lens.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    owner = np.repeat(np.arange(len(rows), dtype=np.int64), lens)
    first = np.cumsum(lens) - lens
    positions = np.arange(total, dtype=np.int64) - first[owner] + starts[owner]
    return positions, owner


def top_k_per_row(m: sp.csr_matrix, k: int, rank_by: FloatArray | None = None) -> sp.csr_matrix:
    """Keep the `k` largest entries of each row (ranked by `rank_by`, aligned with `m.data`, when
    given, else by value); rows come back with sorted column indices."""
    m = m.tocsr()
    m.eliminate_zeros()
    keys = m.data if rank_by is None else rank_by
    indptr = m.indptr
    keep = np.ones(len(m.data), dtype=bool)
    lens = np.diff(indptr)
    for row in np.nonzero(lens > k)[0]:
        lo, hi = int(indptr[row]), int(indptr[row + 1])
        drop = np.argpartition(-keys[lo:hi], k)[k:]
        keep[lo + drop] = False
    if keep.all():
        out = m.copy()
    else:
        rows = np.repeat(np.arange(m.shape[0]), lens)[keep]
        out = sp.csr_matrix((m.data[keep], (rows, m.indices[keep])), shape=m.shape)
    out.sort_indices()
    return out


def strongest_first(indptr: npt.NDArray[np.int64], values: npt.NDArray[np.floating]) -> IntArray:
    """Permutation of a CSR matrix's stored entries that orders each row by decreasing
    magnitude, so that the first entries of a row are its strongest."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return np.lexsort((-np.abs(values), rows)).astype(np.int64)


def is_row_permutation(indptr: npt.NDArray[np.int64], perm: npt.NDArray[np.integer]) -> bool:
    """Whether `perm` permutes a CSR matrix's stored entries within their rows only: what
    `strongest_first` returns, as read back from a file that could be damaged."""
    nnz = int(indptr[-1]) if len(indptr) else 0
    if perm.ndim != 1 or len(perm) != nnz or not np.issubdtype(perm.dtype, np.integer):
        return False
    if nnz == 0:
        return True
    if int(perm.min()) < 0 or int(perm.max()) >= nnz:
        return False
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    within = (perm >= indptr[rows]) & (perm < indptr[rows + 1])
    return bool(within.all()) and bool((np.bincount(perm, minlength=nnz) == 1).all())
