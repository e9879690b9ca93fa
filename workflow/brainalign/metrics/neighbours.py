"""Nearest-neighbour alignment metrics of Huh et al. (2024), "The Platonic Representation
Hypothesis": mutual k-NN and CKNNA.

Both compare the k-nearest-neighbour graphs of two representations of the same ``n``
stimuli. Neighbours are found by cosine similarity: rows are scaled to unit Euclidean norm
(``x^_i = x_i / ||x_i||``, as the paper's pipeline does before every metric) and the kernel is
``K_ij = <x^_i, x^_j>``; a stimulus is never its own neighbour. ``N_X(i)`` is the set of the
``k`` stimuli ``j != i`` with the largest ``K_ij``; at the boundary, equal similarities go to the
lower index ``j`` (a deterministic rule; the paper's code leaves it to the sort).

The ``n x n`` similarities are computed in row blocks (``block_size x n`` at a time) and only
the ``k`` best per row are kept: memory ``O(block_size * n + n * k)``, time ``O(n^2 (p + q))``.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ._paired_input import as_paired, as_representation, check_int

__all__ = ["nearest_neighbours", "mutual_knn", "cknna"]


def nearest_neighbours(X, k: int, *, block_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` cosine nearest neighbours of every row of ``X``, self excluded.

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    k : int in [1, n_stimuli - 1]
    block_size : int
        Rows of the similarity matrix computed at a time.

    Returns
    -------
    indices : int64 array, shape (n_stimuli, k)
        ``N_X(i)`` in increasing index order (ties at the k-th place: lower index first).
    similarities : array, shape (n_stimuli, k)
        ``K_ij`` for the ``j`` in ``indices[i]`` (float32 for float32 input).
    """
    X = _unit_rows(X, "X")
    n = X.shape[0]
    k = check_int(k, "k", 1, n - 1)
    block_size = check_int(block_size, "block_size", 1)
    indices = np.empty((n, k), dtype=np.int64)
    similarities = np.empty((n, k), dtype=X.dtype)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        indices[start:stop], similarities[start:stop] = _top_k_block(X[start:stop] @ X.T, start, k)
    return indices, similarities


def mutual_knn(X, Y, k: int = 10, *, block_size: int = 1024) -> float:
    """Mutual k-NN alignment (Huh et al. 2024): the mean neighbour-set overlap.

    ``m_kNN(X, Y) = (1/n) sum_i |N_X(i) ∩ N_Y(i)| / k``, in [0, 1]; 1 when both
    representations give every stimulus the same ``k`` neighbours. Chance level is about
    ``k / (n - 1)``.

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    Y : array, shape (n_stimuli, q)
    k : int in [1, n_stimuli - 1]
    block_size : int
        Rows of each similarity matrix computed at a time (memory ``block_size x n``).
    """
    X, Y = as_paired(X, Y)
    index_x, _ = nearest_neighbours(X, k, block_size=block_size)
    index_y, _ = nearest_neighbours(Y, k, block_size=block_size)
    in_y, _ = _shared_neighbours(index_x, index_y)
    return float(in_y.sum(axis=1).mean() / k)


def cknna(X, Y, k: int = 10, *, block_size: int = 1024) -> float:
    """CKNNA (Huh et al. 2024): CKA whose kernels are restricted to mutual nearest neighbours.

    With cosine kernels ``K`` (of ``X``) and ``L`` (of ``Y``) and the mutual-neighbour mask
    ``M_ij = 1[j ∈ N_X(i) and j ∈ N_Y(i)]`` (``M_ii = 0``),

        A(K, L) = HSIC_u(M ⊙ K, M ⊙ L),
        CKNNA(X, Y) = A(K, L) / sqrt(A_X(K, K) A_Y(L, L)),

    where ``HSIC_u`` is the unbiased estimator of Song et al. (2012),
    ``HSIC_u(A, B) = [sum_ij A_ij B_ji + (1^T A 1)(1^T B 1) / ((n-1)(n-2))
    - 2 / (n-2) * 1^T A B 1] / (n (n-3))`` (diagonals are already 0), and ``A_X``, ``A_Y`` use
    the masks of the representation compared with itself, ``1[j ∈ N_X(i)]`` and
    ``1[j ∈ N_Y(i)]``. This is the estimator of the paper's released code (``cknna`` with its
    default ``unbiased=True``); unlike that code, no ``1e-6`` is added to the denominator.
    k-NN masks are not symmetric (``j ∈ N(i)`` does not imply ``i ∈ N(j)``), so the term
    ``1^T A B 1`` differs from ``1^T B A 1`` and ``CKNNA(X, Y) != CKNNA(Y, X)`` in general.
    The masked kernels have at most ``n k`` non-zeros, so the three HSIC terms cost ``O(n k)``
    after the neighbour search.

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    Y : array, shape (n_stimuli, q)
    k : int in [2, n_stimuli - 1]
    block_size : int
        Rows of each similarity matrix computed at a time (memory ``block_size x n``).
    """
    X, Y = as_paired(X, Y, min_stimuli=4)
    k = check_int(k, "k", 2, X.shape[0] - 1)
    n = X.shape[0]
    index_x, sim_x = nearest_neighbours(X, k, block_size=block_size)
    index_y, sim_y = nearest_neighbours(Y, k, block_size=block_size)
    in_y, in_x = _shared_neighbours(index_x, index_y)
    rows_x = np.repeat(np.arange(n), k).reshape(n, k)
    # both selections run in (row, column) order, so they list the mutual pairs identically
    cross = _masked_hsic_unbiased(rows_x[in_y], index_x[in_y], sim_x[in_y], sim_y[in_x], n)
    self_x = _masked_hsic_unbiased(rows_x.ravel(), index_x.ravel(), sim_x.ravel(), sim_x.ravel(), n)
    self_y = _masked_hsic_unbiased(rows_x.ravel(), index_y.ravel(), sim_y.ravel(), sim_y.ravel(), n)
    if not (self_x > 0 and self_y > 0):
        raise ValueError(f"CKNNA is undefined: the neighbour-masked HSIC of X with itself is "
                         f"{self_x:.3g} and of Y with itself {self_y:.3g} (both must be positive)")
    return float(cross / np.sqrt(self_x * self_y))


# --------------------------------------------------------------------------- helpers
def _unit_rows(X, name: str) -> np.ndarray:
    X = as_representation(X, name)
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"{name} has all-zero rows (stimuli {zero[:5].tolist()}...): cosine "
                         f"similarity is undefined for them")
    return X / norms[:, None]


def _top_k_block(similarity: np.ndarray, first_row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` columns of each row of a ``(b, n)`` block, the diagonal excluded; ties at the
    k-th value go to the lower column index; columns returned in increasing order."""
    b, n = similarity.shape
    rows = np.arange(b)
    similarity[rows, first_row + rows] = -np.inf
    kth_value = _kth_largest(similarity, k)
    keep = similarity >= kth_value
    # rows where the k-th value is shared by more columns than fit: drop the highest tied ones
    for i in np.flatnonzero(keep.sum(axis=1) > k):
        tied = np.flatnonzero(similarity[i] == kth_value[i])
        keep[i, tied[k - np.count_nonzero(similarity[i] > kth_value[i]):]] = False
    rows, columns = np.nonzero(keep)  # row-major: exactly k per row, columns ascending
    return columns.reshape(b, k), similarity[rows, columns].reshape(b, k)


def _kth_largest(values: np.ndarray, k: int) -> np.ndarray:
    """The k-th largest value of each row, shape ``(b, 1)``, by a two-stage selection.

    The rows are cut into about ``8 k`` chunks; the k-th largest chunk maximum is a lower
    bound of the k-th largest value (k chunks each hold a value at least that large), so only
    the values above it, typically a few times ``k`` per row, are partitioned exactly.
    """
    b, n = values.shape
    width = max(1, n // (8 * k))
    whole = n // width * width
    chunk_max = values[:, :whole].reshape(b, -1, width).max(axis=2)
    if whole < n:
        chunk_max = np.column_stack([chunk_max, values[:, whole:].max(axis=1)])
    bound = np.partition(chunk_max, -k, axis=1)[:, -k, None]
    rows, columns = np.nonzero(values >= bound)
    counts = np.bincount(rows, minlength=b)
    position = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    candidates = np.full((b, counts.max()), -np.inf, dtype=values.dtype)
    candidates[rows, position] = values[rows, columns]
    return np.partition(candidates, -k, axis=1)[:, -k, None]


def _shared_neighbours(index_x: np.ndarray, index_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks over ``index_x`` (and ``index_y``) of the neighbours that the other also has."""
    n = index_x.shape[0]
    offsets = np.arange(n, dtype=np.int64)[:, None] * n
    keys_x, keys_y = index_x + offsets, index_y + offsets
    return (np.isin(keys_x, keys_y, assume_unique=True),
            np.isin(keys_y, keys_x, assume_unique=True))


def _masked_hsic_unbiased(rows, columns, k_values, l_values, n: int) -> float:
    """``HSIC_u(A, B)`` for sparse ``A``, ``B`` with the given non-zeros (none on the diagonal)."""
    A = sparse.csr_matrix((k_values.astype(np.float64), (rows, columns)), shape=(n, n))
    B = sparse.csr_matrix((l_values.astype(np.float64), (rows, columns)), shape=(n, n))
    trace = float(A.multiply(B.T).sum())
    sums = float(A.sum()) * float(B.sum()) / ((n - 1) * (n - 2))
    mixed = float(np.asarray(A.sum(axis=0)).ravel() @ np.asarray(B.sum(axis=1)).ravel())
    return (trace + sums - 2.0 * mixed / (n - 2)) / (n * (n - 3))
