"""Centered kernel alignment (CKA) between two representations of the same stimuli.

For kernel (Gram) matrices ``K`` and ``L`` of shape ``(n, n)`` over the ``n`` stimuli,

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))

with one of two estimators of the Hilbert–Schmidt independence criterion:

* biased (Gretton et al. 2005; used by Kornblith et al. 2019),
  ``HSIC_b(K, L) = tr(K H L H) / (n - 1)^2`` with the centring matrix ``H = I - 11^T / n``;
* unbiased (Song et al. 2012, eq. 5; the "debiased" CKA of Nguyen et al. 2020), with
  ``K~``, ``L~`` the kernels with their diagonal set to zero,

      HSIC_u(K, L) = [ tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2))
                       - 2 / (n-2) * 1^T K~ L~ 1 ] / (n (n-3)),   n >= 4.

The ``(n - 1)^2`` and ``n (n - 3)`` factors cancel in the CKA ratio. For the linear kernel
``K = X X^T`` both estimators are computed in feature space without forming any ``n x n``
matrix (see :func:`linear_cka`); the RBF kernel needs the ``n x n`` Gram matrices.
"""

from __future__ import annotations

import numpy as np

from ._paired_input import as_paired, as_representation, as_square_pair, check_fraction, check_int

__all__ = ["linear_cka", "rbf_cka", "hsic_biased", "hsic_unbiased", "median_pairwise_distance"]


def linear_cka(X, Y, *, unbiased: bool = False, block_size: int = 1024) -> float:
    """Linear CKA between ``X`` and ``Y`` (Kornblith et al. 2019), biased or unbiased HSIC.

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    Y : array, shape (n_stimuli, q)
        Representations of the same stimuli, rows in the same order.
    unbiased : bool
        Use the unbiased HSIC estimator (needs ``n_stimuli >= 4``) instead of the biased one.
    block_size : int
        Rows or columns per matrix-product block; bounds the extra memory (see Notes).

    Returns
    -------
    float
        CKA in [0, 1] for the biased estimator; the unbiased one can be slightly negative.

    Notes
    -----
    With column-centred ``X``, ``Y`` (both estimators are invariant to centring) and
    ``a_i = ||x_i||^2``, ``b_i = ||y_i||^2`` the row norms,

    * biased: ``HSIC_b ∝ ||Y^T X||_F^2`` (Kornblith et al. 2019, eq. 3);
    * unbiased: ``tr(K~ L~) = ||Y^T X||_F^2 - a.b``, ``1^T K~ 1 = -sum(a)`` and
      ``K~ 1 = -a`` (because ``X^T 1 = 0``), so
      ``n(n-3) HSIC_u = ||Y^T X||_F^2 - a.b + sum(a) sum(b) / ((n-1)(n-2)) - 2 a.b / (n-2)``.

    ``||X^T X||_F^2 = ||X X^T||_F^2`` is summed over the upper block triangle of the smaller of
    the two Gram matrices, and ``||Y^T X||_F^2`` as ``sum of squares of X_b^T Y`` over column
    blocks when ``pq <= n(p+q)``, else as ``<X_b X^T, Y_b Y^T>`` over row blocks. Time:
    ``O(n (p q + p min(n, p) + q min(n, q)))`` multiply–adds (float32 input multiplies in
    float32; every sum is accumulated in float64). Extra memory: the centred copies
    ``O(n (p + q))`` plus one block, ``O(block_size * max(p, q, n))``; no ``n x n`` matrix
    unless a block spans all rows.
    """
    X, Y = as_paired(X, Y, min_stimuli=4 if unbiased else 2)
    block_size = check_int(block_size, "block_size", 1)
    X, Y = _centre_columns(X), _centre_columns(Y)
    cross = _cross_sq_frobenius(X, Y, block_size)
    self_x = _self_sq_frobenius(X, block_size)
    self_y = _self_sq_frobenius(Y, block_size)
    if unbiased:
        n = X.shape[0]
        a = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        b = np.einsum("ij,ij->i", Y, Y, dtype=np.float64)

        def _hsic_u(frob: float, u: np.ndarray, v: np.ndarray) -> float:
            return (frob - u @ v + u.sum() * v.sum() / ((n - 1) * (n - 2))
                    - 2.0 * (u @ v) / (n - 2))

        cross, self_x, self_y = _hsic_u(cross, a, b), _hsic_u(self_x, a, a), _hsic_u(self_y, b, b)
    return _cka_ratio(cross, self_x, self_y)


def rbf_cka(X, Y, *, bandwidth_fraction: float = 1.0, unbiased: bool = False) -> float:
    """CKA with Gaussian (RBF) kernels, bandwidth a fraction of the median pairwise distance.

    ``K_ij = exp(-||x_i - x_j||^2 / (2 sigma_X^2))`` with
    ``sigma_X = bandwidth_fraction * median_{i<j} ||x_i - x_j||`` (Kornblith et al. 2019,
    section 6.1; their code takes the median over all ``n^2`` entries, zeros included; here it
    is over the ``n (n - 1) / 2`` distinct pairs), and likewise ``L`` from ``Y`` with its own
    ``sigma_Y``. Then CKA of ``K`` and ``L`` with :func:`hsic_biased` or :func:`hsic_unbiased`.

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    Y : array, shape (n_stimuli, q)
    bandwidth_fraction : float in (0, 1]
        ``sigma`` as a fraction of the median pairwise distance.
    unbiased : bool
        Use the unbiased HSIC estimator (needs ``n_stimuli >= 4``).

    Notes
    -----
    Forms two ``n x n`` float64 kernels: ``O(n^2 (p + q))`` time and ``O(n^2)`` memory.
    """
    X, Y = as_paired(X, Y, min_stimuli=4 if unbiased else 2)
    bandwidth_fraction = check_fraction(bandwidth_fraction, "bandwidth_fraction")
    K = _rbf_kernel(X, bandwidth_fraction, "X")
    L = _rbf_kernel(Y, bandwidth_fraction, "Y")
    hsic = hsic_unbiased if unbiased else hsic_biased
    return _cka_ratio(hsic(K, L), hsic(K, K), hsic(L, L))


def hsic_biased(K, L) -> float:
    """Biased HSIC of two ``(n, n)`` kernels: ``tr(K H L H) / (n - 1)^2``, ``H = I - 11^T/n``."""
    K, L = _as_kernel_pair(K, L, min_n=2)
    n = K.shape[0]
    K_centred = K - K.mean(axis=0) - K.mean(axis=1)[:, None] + K.mean()
    return float(np.sum(K_centred * L)) / (n - 1) ** 2


def hsic_unbiased(K, L) -> float:
    """Unbiased HSIC of two ``(n, n)`` kernels (Song et al. 2012, eq. 5), ``n >= 4``.

    ``[tr(K~ L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2 1^T K~ L~ 1 / (n-2)] / (n (n-3))``,
    where ``K~``, ``L~`` are ``K``, ``L`` with zero diagonals. ``tr(K~ L~)`` is written
    ``sum_ij K~_ij L~_ji`` so that non-symmetric (masked) kernels are handled as in the
    definition.
    """
    K, L = _as_kernel_pair(K, L, min_n=4)
    n = K.shape[0]
    K = K.copy()
    L = L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    trace = float(np.sum(K * L.T))
    sums = float(K.sum()) * float(L.sum()) / ((n - 1) * (n - 2))
    mixed = float(K.sum(axis=0) @ L.sum(axis=1))
    return (trace + sums - 2.0 * mixed / (n - 2)) / (n * (n - 3))


def median_pairwise_distance(X) -> float:
    """Median Euclidean distance between the rows of ``X`` over the ``n (n-1) / 2`` pairs."""
    return _median_distance(_squared_distances(as_representation(X, "X")))


# --------------------------------------------------------------------------- helpers
def _centre_columns(X: np.ndarray) -> np.ndarray:
    return X - X.mean(axis=0, dtype=np.float64).astype(X.dtype)


def _sum_squares(block: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", block, block, dtype=np.float64))


def _self_sq_frobenius(X: np.ndarray, block_size: int) -> float:
    """``||X^T X||_F^2 = ||X X^T||_F^2`` from the upper block triangle of the smaller Gram."""
    A = X if X.shape[1] <= X.shape[0] else X.T  # A^T A is the smaller Gram matrix
    m = A.shape[1]
    total = 0.0
    for start in range(0, m, block_size):
        stop = min(start + block_size, m)
        gram_rows = A[:, start:stop].T @ A[:, start:]  # rows start:stop, columns start:m
        width = stop - start
        total += _sum_squares(gram_rows[:, :width]) + 2.0 * _sum_squares(gram_rows[:, width:])
    return total


def _cross_sq_frobenius(X: np.ndarray, Y: np.ndarray, block_size: int) -> float:
    """``||X^T Y||_F^2 = tr(X X^T Y Y^T)`` by whichever side is cheaper."""
    n, p = X.shape
    q = Y.shape[1]
    total = 0.0
    if p * q <= n * (p + q):
        for start in range(0, p, block_size):
            total += _sum_squares(X[:, start:start + block_size].T @ Y)
    else:
        for start in range(0, n, block_size):
            rows = slice(start, start + block_size)
            total += float(np.einsum("ij,ij->", X[rows] @ X.T, Y[rows] @ Y.T, dtype=np.float64))
    return total


def _cka_ratio(cross: float, self_x: float, self_y: float) -> float:
    for value, name in ((self_x, "X"), (self_y, "Y")):
        if not value > 0:
            raise ValueError(f"HSIC of {name} with itself is {value:.3g} (not positive): "
                             f"{name} has no variance across stimuli for this estimator")
    return float(cross / np.sqrt(self_x * self_y))


def _squared_distances(X: np.ndarray) -> np.ndarray:
    X = X.astype(np.float64)
    norms = np.einsum("ij,ij->i", X, X)
    D2 = norms[:, None] + norms[None, :] - 2.0 * (X @ X.T)
    np.maximum(D2, 0.0, out=D2)
    np.fill_diagonal(D2, 0.0)
    return D2


def _median_distance(D2: np.ndarray) -> float:
    upper = np.triu(np.ones(D2.shape, dtype=bool), k=1)
    return float(np.median(np.sqrt(D2[upper])))


def _rbf_kernel(X: np.ndarray, bandwidth_fraction: float, name: str) -> np.ndarray:
    D2 = _squared_distances(X)
    sigma = bandwidth_fraction * _median_distance(D2)
    if not sigma > 0:
        raise ValueError(f"the median pairwise distance of {name} is 0: more than half of its "
                         f"stimulus pairs are identical, so the RBF bandwidth is undefined")
    D2 /= -2.0 * sigma**2
    return np.exp(D2, out=D2)


def _as_kernel_pair(K, L, min_n: int) -> tuple[np.ndarray, np.ndarray]:
    K, L = as_square_pair(K, L, ("K", "L"), "(n, n) kernel matrix", "have the same shape")
    if K.shape[0] < min_n:
        raise ValueError(f"this HSIC estimator needs at least {min_n} stimuli, got {K.shape[0]}")
    return K, L
