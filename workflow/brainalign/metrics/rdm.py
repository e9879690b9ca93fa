"""Representational dissimilarity matrices (RDMs) from condition patterns.

An RDM over ``n`` conditions is returned *condensed*: its upper triangle in the order of
``scipy.spatial.distance.squareform`` (row-major ``i < j``), a vector of
``n_pairs = n (n - 1) / 2`` dissimilarities. Pair ``(i, j)``, ``i < j``, sits at

    k(i, j) = n i - i (i + 1) / 2 + j - i - 1.

Every RDM is computed from Gram matrices (one matrix product per pattern set), so a batch of
pattern sets ``(..., n_conditions, n_channels)`` (for example one per time point) costs one
BLAS product each and gives ``(..., n_pairs)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .rdm_forms import CONVERT_HINT

__all__ = [
    "PATTERN_METHODS",
    "compute_rdm",
    "crossnobis_rdm",
    "pair_indices",
    "n_conditions_from_pairs",
]

PATTERN_METHODS = ("euclidean", "sqeuclidean", "correlation", "cosine")
_BLOCK_BYTES = 64 * 2**20  # Gram matrices held at once by compute_rdm / crossnobis_rdm


# --------------------------------------------------------------------------- condensed form
def n_conditions_from_pairs(n_pairs: int, name: str = "rdm") -> int:
    """Number of conditions ``n`` with ``n (n - 1) / 2 == n_pairs``; ValueError if none."""
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs:
        raise ValueError(f"{name}: length {n_pairs} is not n (n - 1) / 2 for any number of "
                         f"conditions n; {CONVERT_HINT}")
    return n


@lru_cache(maxsize=8)
def _cached_pairs(n_conditions: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.triu_indices(n_conditions, 1)
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


def pair_indices(n_conditions: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column condition of every condensed entry: ``np.triu_indices(n, 1)`` (read-only)."""
    return _cached_pairs(int(n_conditions))


# --------------------------------------------------------------------------- input checks
def _compute_dtype(in_dtype: np.dtype, dtype) -> np.dtype:
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64 (or None), got {dtype}")
        return dtype
    return in_dtype if in_dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _as_patterns(patterns, name: str, min_ndim: int) -> np.ndarray:
    x = np.asarray(patterns)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name}: expected a real numeric array, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimensions, got shape {x.shape}")
    if x.shape[-1] < 1:
        raise ValueError(f"{name}: needs at least one channel, got shape {x.shape}")
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"{name}: contains {np.count_nonzero(~np.isfinite(x))} NaN or infinite "
                         "value(s)")
    return x


def _check_conditions(n_conditions: int, name: str, shape) -> None:
    if n_conditions < 2:
        raise ValueError(f"{name}: an RDM needs at least 2 conditions, got {n_conditions} "
                         f"(shape {tuple(shape)})")


def _block_size(n_conditions: int, n_channels: int, itemsize: int) -> int:
    """Pattern sets per block: their copy and Gram matrices within ``_BLOCK_BYTES``."""
    return max(1, _BLOCK_BYTES // ((n_conditions + n_channels) * n_conditions * itemsize))


# --------------------------------------------------------------------------- pattern RDMs
def compute_rdm(patterns, method: str = "correlation", *, dtype=None) -> np.ndarray:
    """RDM(s) of condition patterns, condensed.

    For patterns ``x_i`` (row ``i``, ``c`` channels) and Gram matrix ``G = X~ X~^T`` of the
    prepared patterns ``X~``:

    * ``"sqeuclidean"``: ``d_ij = ||x_i - x_j||^2 = G_ii + G_jj - 2 G_ij`` with the conditions'
      mean pattern subtracted first (``d`` is invariant to it; it keeps ``G`` small); clipped
      at 0 against rounding. rsatoolbox's ``"euclidean"`` is this divided by ``c``.
    * ``"euclidean"``: ``d_ij = ||x_i - x_j|| = sqrt(sqeuclidean)`` (scipy's ``pdist``).
    * ``"correlation"``: ``d_ij = 1 - r(x_i, x_j)``, Pearson ``r`` across channels:
      ``X~`` has each row centred and scaled to unit norm, ``d = 1 - G_ij``.
    * ``"cosine"``: ``d_ij = 1 - x_i . x_j / (||x_i|| ||x_j||)``; rows scaled to unit norm.

    Parameters
    ----------
    patterns : array, shape (..., n_conditions, n_channels)
        One pattern set, or a batch of them (for example ``(n_times, n_conditions, n_channels)``).
    method : {"euclidean", "sqeuclidean", "correlation", "cosine"}
    dtype : None, float32 or float64
        Precision of the products and of the result. ``None`` keeps a float input's precision
        (float32 stays float32, integers become float64); ``np.float64`` accumulates float32
        input in double precision.

    Returns
    -------
    array, shape (..., n_pairs), ``n_pairs = n_conditions (n_conditions - 1) / 2``

    Notes
    -----
    Time ``O(n^2 c)`` per pattern set (one symmetric matrix product). Extra memory: the
    prepared copies and Gram matrices of as many pattern sets as fit in 64 MiB (at least one)
    at a time, plus the output.
    A pattern with zero norm (``"cosine"``) or zero variance across channels
    (``"correlation"``) has no defined distance and raises ValueError.
    """
    if method not in PATTERN_METHODS:
        raise ValueError(f"method: expected one of {PATTERN_METHODS}, got {method!r}")
    x = _as_patterns(patterns, "patterns", 2)
    *batch, n, c = x.shape
    _check_conditions(n, "patterns", x.shape)
    work_dtype = _compute_dtype(x.dtype, dtype)
    rows, cols = pair_indices(n)
    flat = x.reshape(-1, n, c)
    out = np.empty((flat.shape[0], rows.size), dtype=work_dtype)
    step = _block_size(n, c, work_dtype.itemsize)
    for start in range(0, flat.shape[0], step):
        block = _prepared_patterns(flat[start:start + step].astype(work_dtype, copy=False),
                                   method, start)
        gram = np.matmul(block, block.transpose(0, 2, 1))
        out[start:start + step] = _rdm_from_gram(gram, rows, cols, method)
    return out.reshape(*batch, rows.size)


def _prepared_patterns(block: np.ndarray, method: str, first_set: int) -> np.ndarray:
    """A centred/scaled copy of ``block`` (k, n, c) as ``method`` needs (one new array)."""
    if method in ("euclidean", "sqeuclidean"):
        return block - block.mean(axis=1, keepdims=True)
    if method == "correlation":
        block = block - block.mean(axis=2, keepdims=True)
    norms = np.sqrt(np.einsum("kic,kic->ki", block, block))
    if not norms.all():
        s, i = np.argwhere(norms == 0)[0]
        what = "zero variance across channels" if method == "correlation" else "zero norm"
        raise ValueError(f"patterns: condition {i} of pattern set {first_set + s} has {what}; "
                         f"its {method} distance is undefined")
    if method == "correlation":
        block /= norms[..., None]
        return block
    return block / norms[..., None]


def _rdm_from_gram(gram: np.ndarray, rows, cols, method: str) -> np.ndarray:
    if method in ("correlation", "cosine"):
        return 1 - gram[:, rows, cols]
    sq_norms = np.diagonal(gram, axis1=1, axis2=2)
    d = sq_norms[:, rows] + sq_norms[:, cols] - 2 * gram[:, rows, cols]
    np.maximum(d, 0, out=d)
    return np.sqrt(d, out=d) if method == "euclidean" else d


# --------------------------------------------------------------------------- crossnobis
def crossnobis_rdm(patterns, runs=None, conditions=None, *, precision=None,
                   dtype=None) -> np.ndarray:
    """Cross-validated Mahalanobis ("crossnobis") RDM over run partitions, condensed.

    With ``u_{r,i}`` the pattern of condition ``i`` in run ``r`` (``R`` runs, ``c`` channels),
    ``delta_r = u_{r,i} - u_{r,j}`` and noise precision ``L`` (``c x c``, identity if None),

        d_ij = 1 / (R (R - 1) c) * sum_{r != s} delta_r L delta_s^T

    the mean over ordered pairs of distinct runs of the cross-run inner product, divided by
    the number of channels. Noise independent across runs cancels in expectation, so ``d`` is
    an unbiased estimate of ``(mu_i - mu_j) L (mu_i - mu_j)^T / c`` and can be negative.
    It equals rsatoolbox's ``calc_rdm(..., method="crossnobis", cv_descriptor=run)``
    (leave-one-run-out: mean over runs ``r`` of ``mean_{s != r} delta_s L delta_r^T / c``)
    whenever every run holds the same number of observations of each condition.

    Computed as ``K = S_W S_U^T - sum_r W_r U_r^T`` with ``W_r = U_r L``, ``S`` the sums over
    runs (``sum_{r != s} = all pairs - same-run pairs``), ``d_ij = (K_ii + K_jj - K_ij - K_ji)
    / (R (R - 1) c)``; each run's patterns are first centred over conditions, which leaves
    ``d`` unchanged.

    Parameters
    ----------
    patterns : array
        Either ``(..., n_runs, n_conditions, n_channels)`` patterns per run (``runs`` and
        ``conditions`` None), or ``(n_observations, n_channels)`` with ``runs`` and
        ``conditions`` labelling each row: rows sharing a (run, condition) are averaged, and
        the RDM's conditions are in ``np.unique(conditions)`` order.
    runs, conditions : array, shape (n_observations,), optional
    precision : array, shape (n_channels, n_channels), optional
        Symmetric noise precision matrix ``L`` (for example an inverse shrinkage covariance of
        the GLM residuals); None means identity (cross-validated squared Euclidean / ``c``).
    dtype : None, float32 or float64
        Precision of the computation (see :func:`compute_rdm`).

    Returns
    -------
    array, shape (..., n_pairs)
    """
    x = _as_patterns(patterns, "patterns", 2)
    if runs is None and conditions is None:
        if x.ndim < 3:
            raise ValueError("patterns: crossnobis needs patterns per run, shape (..., n_runs, "
                             f"n_conditions, n_channels), or runs= and conditions=; got shape "
                             f"{x.shape} without labels")
        per_run = x
    else:
        per_run = _average_by_run_and_condition(x, runs, conditions)
    *batch, n_runs, n, c = per_run.shape
    if n_runs < 2:
        raise ValueError(f"runs: crossnobis needs at least 2 runs (partitions), got {n_runs}")
    _check_conditions(n, "patterns", per_run.shape)
    work_dtype = _compute_dtype(per_run.dtype, dtype)
    lam = None if precision is None else _as_precision(precision, c, work_dtype)
    rows, cols = pair_indices(n)
    flat = per_run.reshape(-1, n_runs, n, c)
    out = np.empty((flat.shape[0], rows.size), dtype=work_dtype)
    for s, runs_u in enumerate(flat):
        u = runs_u.astype(work_dtype, copy=True)
        u -= u.mean(axis=1, keepdims=True)
        w = u if lam is None else u @ lam
        k = w.sum(axis=0) @ u.sum(axis=0).T - np.einsum("rik,rjk->ij", w, u, optimize=True)
        diag = np.diagonal(k)
        out[s] = (diag[rows] + diag[cols] - k[rows, cols] - k[cols, rows]) / (
            n_runs * (n_runs - 1) * c)
    return out.reshape(*batch, rows.size)


def _as_precision(precision, n_channels: int, dtype) -> np.ndarray:
    lam = np.asarray(precision, dtype=dtype)
    if lam.shape != (n_channels, n_channels):
        raise ValueError(f"precision: expected shape ({n_channels}, {n_channels}) "
                         f"(n_channels x n_channels), got {lam.shape}")
    if not np.isfinite(lam).all():
        raise ValueError("precision: contains NaN or infinite values")
    scale = np.abs(lam).max()
    if not np.allclose(lam, lam.T, rtol=0, atol=1e-6 * scale):
        raise ValueError("precision: must be symmetric (a noise precision matrix)")
    return lam


def _average_by_run_and_condition(x: np.ndarray, runs, conditions) -> np.ndarray:
    """(n_obs, c) rows -> (n_runs, n_conditions, c) means per (run, condition)."""
    if runs is None or conditions is None:
        missing = "runs" if runs is None else "conditions"
        raise ValueError(f"{missing}: with 2-D patterns both runs= and conditions= are needed")
    if x.ndim != 2:
        raise ValueError(f"patterns: with runs= and conditions= expected shape "
                         f"(n_observations, n_channels), got {x.shape}")
    runs, conditions = np.asarray(runs), np.asarray(conditions)
    for name, labels in (("runs", runs), ("conditions", conditions)):
        if labels.shape != (x.shape[0],):
            raise ValueError(f"{name}: expected one label per row of patterns, shape "
                             f"({x.shape[0]},), got {labels.shape}")
    run_values, run_idx = np.unique(runs, return_inverse=True)
    cond_values, cond_idx = np.unique(conditions, return_inverse=True)
    counts = np.zeros((run_values.size, cond_values.size), dtype=np.int64)
    np.add.at(counts, (run_idx, cond_idx), 1)
    if (counts == 0).any():
        r, i = np.argwhere(counts == 0)[0]
        raise ValueError(f"conditions: condition {cond_values[i]!r} has no observation in run "
                         f"{run_values[r]!r}; crossnobis needs every condition in every run")
    work = x.astype(np.result_type(x.dtype, np.float32), copy=False)
    sums = np.zeros((run_values.size, cond_values.size, x.shape[1]), dtype=work.dtype)
    np.add.at(sums, (run_idx, cond_idx), work)
    return sums / counts[..., None].astype(work.dtype)
