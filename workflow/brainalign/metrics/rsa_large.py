"""RDMs over thousands of conditions without the full Gram matrix or pair index arrays.

:func:`condensed_rdm` equals :func:`.rdm.compute_rdm` for one pattern set (same distances,
same scipy pair order) but builds the condensed vector from Gram row blocks ``X~[a:b] X~^T``
(``block_rows x (n - a)`` for the rows ``a ..``: the upper triangle only, half the
floating-point work of the full product) instead of the ``n x n`` Gram matrix and the two ``n(n-1)/2``
int64 pair-index arrays, so its extra memory is one block, not ``~24 n^2`` bytes. Below
:data:`SMALL` conditions it calls :func:`compute_rdm` itself, so small studies keep their exact
values. :func:`pair_blocks` yields the pair coordinates ``(i, j)`` block by block for writing.
"""

from __future__ import annotations

import numpy as np

from .rdm import PATTERN_METHODS, _prepared_patterns, compute_rdm

SMALL = 4096  # conditions below which compute_rdm's full Gram matrix is used


def row_starts(n: int) -> np.ndarray:
    """Index of pair ``(i, i + 1)`` in the condensed vector, for i = 0 .. n - 1."""
    i = np.arange(n, dtype=np.int64)
    return i * (2 * n - i - 1) // 2


def condensed_rdm(patterns: np.ndarray, method: str = "correlation", *, block_rows: int = 512) -> np.ndarray:
    """Condensed RDM (``n (n - 1) / 2``) of ``patterns`` (n_conditions, n_channels): float64 from
    :data:`SMALL` conditions on, below in :func:`compute_rdm`'s precision (that of a float input).

    Distances as :func:`.rdm.compute_rdm`: from the Gram matrix ``G = X~ X~^T`` of the prepared
    patterns, ``1 - G_ij`` (correlation, cosine) or ``G_ii + G_jj - 2 G_ij`` clipped at 0
    (square rooted for euclidean).
    """
    if method not in PATTERN_METHODS:
        raise ValueError(f"method: expected one of {PATTERN_METHODS}, got {method!r}")
    n = np.shape(patterns)[0]
    if n < SMALL:
        return compute_rdm(patterns, method)
    x = np.asarray(patterns, dtype=np.float64)
    prepared = _prepared_patterns(x[None], method, 0)[0]
    sq_norms = np.einsum("ic,ic->i", prepared, prepared)
    starts = row_starts(n)
    out = np.empty(n * (n - 1) // 2)
    for a in range(0, n - 1, block_rows):
        b = min(a + block_rows, n - 1)
        gram = prepared[a:b] @ prepared[a + 1:].T  # the block's rows against the later conditions only
        for i in range(a, b):
            g = gram[i - a, i - a:]
            row = out[starts[i]:starts[i] + n - 1 - i]
            if method in ("correlation", "cosine"):
                np.subtract(1, g, out=row)
            else:
                np.multiply(g, -2, out=row)
                row += sq_norms[i]
                row += sq_norms[i + 1:]
                np.maximum(row, 0, out=row)
                if method == "euclidean":
                    np.sqrt(row, out=row)
    return out


def pair_blocks(n: int, block: int):
    """Yield ``(start, i, j)``: the condensed pairs ``start .. start + len(i) - 1`` as condition
    indices (int64), ``block`` pairs at a time (scipy's order, ``np.triu_indices(n, 1)``)."""
    starts = row_starts(n)
    total = n * (n - 1) // 2
    for start in range(0, total, block):
        stop = min(start + block, total)
        rows = np.arange(np.searchsorted(starts, start, side="right") - 1,
                         np.searchsorted(starts, stop - 1, side="right"))  # the rows the block meets
        lengths = np.minimum(starts[rows] + n - 1 - rows, stop) - np.maximum(starts[rows], start)
        i = np.repeat(rows, lengths)  # pair p of row i is (i, p - starts[i] + i + 1)
        yield start, i, np.arange(start, stop, dtype=np.int64) - np.repeat(starts[rows] - rows - 1, lengths)
