"""Content similarity between products: TF-IDF over title words, category, vendor, tags and a
price band, cosine, top-k neighbours per product. It is what carries new and rarely bought items.

Pure numpy/scipy (layer 2): no Flask, no database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import scipy.sparse as sp

from cartwise.recommender.sparse_rows import top_k_per_row
from cartwise.recommender.types import Item

__all__ = ["content_neighbours", "item_tokens"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_FIELD_WEIGHT = {"t": 1.0, "b": 1.0, "c": 2.0, "v": 1.0, "g": 1.0, "p": 0.5}
_CHUNK = 256


def item_tokens(item: Item) -> dict[str, float]:
    """Weighted tokens of one product, prefixed by field so "t:red" and "g:red" stay distinct."""
    tokens: dict[str, float] = {}

    def add(field: str, token: str) -> None:
        key = f"{field}:{token}"
        tokens[key] = tokens.get(key, 0.0) + _FIELD_WEIGHT[field]

    words = [w for w in _WORD.findall(item.title.lower()) if len(w) > 1 or w.isdigit()]
    for word in words:
        add("t", word)
    # adjacent word pairs: "cake stand" says more than "cake" and "stand" apart
    for first, second in pairwise(words):
        add("b", f"{first} {second}")
    if item.category.strip():
        add("c", item.category.strip().lower())
        for word in _WORD.findall(item.category.lower()):
            add("t", word)
    if item.vendor.strip():
        add("v", item.vendor.strip().lower())
    for tag in item.tags:
        if tag.strip():
            add("g", tag.strip().lower())
    if item.price is not None and item.price > 0:
        # price bands on a log2 scale: items at similar price points are more interchangeable
        add("p", str(math.floor(math.log2(item.price))))
    return tokens


def content_neighbours(items: Sequence[Item], k: int) -> sp.csr_matrix:
    """Item × item cosine similarity of TF-IDF vectors, top `k` per row, diagonal zero."""
    n = len(items)
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, item in enumerate(items):
        for token, weight in item_tokens(item).items():
            rows.append(i)
            cols.append(vocab.setdefault(token, len(vocab)))
            vals.append(weight)
    if not vocab or n == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    tf = sp.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)), shape=(n, len(vocab)))
    tf.data = (1.0 + np.log(tf.data)).astype(np.float32)
    df = np.bincount(tf.indices, minlength=len(vocab)).astype(np.float32)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    # a token every product shares says nothing; one only a single product has links nothing
    idf[df <= 1] = 0.0
    x = tf.multiply(idf[np.newaxis, :]).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x = sp.csr_matrix(sp.diags(1.0 / norms) @ x, dtype=np.float32)
    xt = x.T.tocsc()
    blocks = []
    for lo in range(0, n, _CHUNK):
        block = (x[lo : lo + _CHUNK] @ xt).tocsr()
        _zero_diagonal(block, lo)
        blocks.append(top_k_per_row(block, k))
    out = sp.vstack(blocks, format="csr")
    return sp.csr_matrix(out, dtype=np.float32)


def _zero_diagonal(block: sp.csr_matrix, offset: int) -> None:
    """Zero the entries (r, r + offset) in place: a product is not its own neighbour."""
    rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    block.data[rows + offset == block.indices] = 0.0
