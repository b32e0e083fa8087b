"""Item-item co-occurrence from baskets: time-decayed, down-weighted for big baskets, pruned to
the strongest neighbours of each item (ranked by count over candidate popularity**b).

Raw decayed counts are kept (not normalised values) so that incremental updates and a changed
popularity can be renormalised at query time. Pure numpy/scipy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cartwise.recommender.sparse_rows import top_k_per_row

__all__ = ["cooccurrence_counts"]

_CHUNK = 256


def cooccurrence_counts(
    baskets: sp.csr_matrix,
    pair_weight: npt.NDArray[np.float64],
    item_count: npt.NDArray[np.float64],
    *,
    neighbours: int,
    target_exponent: float,
) -> sp.csr_matrix:
    """`baskets` is a binary orders × items matrix, `pair_weight` the weight each order gives
    to each of its pairs, `item_count` the decayed order count of each item. Returns the items ×
    items matrix of weighted co-counts (diagonal zero), top `neighbours` per row, computed in
    row blocks so memory stays bounded on large catalogs."""
    n_items = baskets.shape[1]
    weighted = sp.csr_matrix(sp.diags(pair_weight) @ baskets)
    by_item = baskets.T.tocsr()
    inv_pop = 1.0 / np.power(np.maximum(item_count, 1e-9), target_exponent)
    blocks = []
    for lo in range(0, n_items, _CHUNK):
        block = (by_item[lo : lo + _CHUNK] @ weighted).tocsr()
        rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
        block.data[rows + lo == block.indices] = 0.0
        block.eliminate_zeros()
        rank = (block.data * inv_pop[block.indices]).astype(np.float32)
        blocks.append(top_k_per_row(block, neighbours, rank_by=rank))
    if not blocks:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    return sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.float32)
