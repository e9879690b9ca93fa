"""Comparators of condensed RDMs: Spearman, Pearson, Kendall tau-a, cosine, whitened.

Every comparator except tau-a is a cosine between transformed RDM vectors,

    s(a, b) = T(a) . T(b) / (||T(a)|| ||T(b)||),

with ``T`` (``p`` pairs, ``n`` conditions, ``rsatoolbox.rdm.compare`` name in brackets):

* ``"cosine"`` (``cosine``): ``T(d) = d``;
* ``"pearson"`` (``corr``): ``T(d) = d - mean(d)``;
* ``"spearman"`` (``spearman``): ``T(d) = rank(d) - (p + 1) / 2``, ties given their average rank;
* ``"whitened_cosine"`` (``cosine_cov``): ``T(d)`` = the double-centred matrix
  ``D_c = H D H`` (``D`` the square RDM, ``H = I - 11^T / n``) flattened so that
  ``T(a) . T(b) = <A_c, B_c>_F``: ``sqrt(2) (D_c)_ij`` for ``i < j``, then ``(D_c)_ii``;
* ``"whitened_pearson"`` (``corr_cov``): the same applied to ``d - mean(d)``.

The whitened forms are the RDM comparisons whitened by the covariance ``V`` of RDM entries
under i.i.d. pattern noise: with ``C`` the ``p x n`` pair-contrast matrix, ``V = (C C^T)**2``
(elementwise) and ``a^T V^{-1} b = <A_c, B_c>_F / 4`` exactly, so the cosine in ``V^{-1}``
metric equals the cosine of ``T``. ``<A_c, B_c>_F`` is computed from condensed vectors with
row sums ``r`` and totals ``t = sum(r)``:
``(D_c)_ij = d_ij - (r_i + r_j) / n + t / n^2``, ``(D_c)_ii = -2 r_i / n + t / n^2``.

``"tau_a"`` (``tau-a``): Kendall's tau-a, ``(C - D) / (p (p - 1) / 2)`` over the ``p``
entries, by Knight's ``O(p log p)`` merge-sort count (:mod:`.rank_kernels`).

All comparisons are computed in float64 (float32 RDMs accepted).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import scipy.sparse

from .rank_kernels import average_ranks, rank_order, spearman_with, tau_a_value
from .rdm import n_conditions_from_pairs, pair_indices
from .rdm_forms import condensed_stack, is_single_rdm

__all__ = ["COMPARE_METHODS", "compare", "check_method", "as_rdm_stack", "transformed",
           "double_centred", "unit_rows", "average_ranks", "tau_a", "n_workers"]

COMPARE_METHODS = ("spearman", "pearson", "tau_a", "cosine", "whitened_pearson",
                   "whitened_cosine")
_BLOCK_BYTES = 64 * 2**20  # transformed RDMs held at once by compare()


# --------------------------------------------------------------------------- inputs
def check_method(method: str) -> str:
    if method not in COMPARE_METHODS:
        raise ValueError(f"method: expected one of {COMPARE_METHODS}, got {method!r}")
    return method


def as_rdm_stack(rdms, name: str, n_pairs: int | None = None) -> np.ndarray:
    """``rdms`` as a 2-D float array (n_rdms, n_pairs), checked: numeric, finite,
    condensed length of at least 3 conditions (and equal to ``n_pairs`` if given). Square
    RDMs (symmetric, zero diagonal) are accepted and condensed (:mod:`.rdm_forms`)."""
    x = np.asarray(rdms)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name}: expected a real numeric array, got dtype {x.dtype}")
    if x.ndim not in (1, 2, 3):
        raise ValueError(f"{name}: expected a condensed RDM (n_pairs,), a square RDM (n, n) or a "
                         f"stack (n_rdms, n_pairs) or (n_rdms, n, n), got shape {x.shape}")
    x = condensed_stack(x, name)[0]
    if x.shape[0] == 0:
        raise ValueError(f"{name}: no RDM given (shape {x.shape})")
    if n_pairs is not None and x.shape[1] != n_pairs:
        raise ValueError(f"{name}: expected {n_pairs} pairs to match the other RDM(s), got "
                         f"{x.shape[1]}")
    n = n_conditions_from_pairs(x.shape[1], name)
    if n < 3:
        raise ValueError(f"{name}: comparing RDMs needs at least 3 conditions, got {n}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: contains {np.count_nonzero(~np.isfinite(x))} NaN or "
                         "infinite value(s)")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def n_workers(n_jobs: int | None) -> int:
    """Threads to use: ``n_jobs``, or every CPU this process may run on if None."""
    if n_jobs is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs: expected a positive integer or None, got {n_jobs!r}")
    return int(n_jobs)


def _map_rows(fn, rows, n_jobs):
    """``[fn(row) for row in rows]`` on ``n_jobs`` threads (fn releases the GIL)."""
    workers = min(n_workers(n_jobs), len(rows))
    if workers == 1:
        return [fn(row) for row in rows]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, rows))


# --------------------------------------------------------------------------- transforms
@lru_cache(maxsize=4)
def _incidence(n_conditions: int) -> scipy.sparse.csr_array:
    """(n, p) matrix with ones at (i, k) and (j, k) for pair k = (i, j)."""
    rows, cols = pair_indices(n_conditions)
    k = np.arange(rows.size)
    return scipy.sparse.csr_array((np.ones(2 * k.size), (np.r_[rows, cols], np.r_[k, k])),
                                  shape=(n_conditions, k.size))


def double_centred(rdms: np.ndarray) -> np.ndarray:
    """(k, p) condensed RDMs -> (k, p + n): ``sqrt(2) (D_c)_{i<j}`` then ``(D_c)_ii``."""
    n = n_conditions_from_pairs(rdms.shape[1])
    rows, cols = pair_indices(n)
    row_sums = (_incidence(n) @ rdms.T).T
    total = row_sums.sum(axis=1, keepdims=True) / n**2
    out = np.empty((rdms.shape[0], rdms.shape[1] + n))
    np.subtract(rdms, (row_sums[:, rows] + row_sums[:, cols]) / n, out=out[:, :-n])
    out[:, :-n] += total
    out[:, :-n] *= np.sqrt(2.0)
    out[:, -n:] = total - 2.0 * row_sums / n
    return out


def transformed(rdms: np.ndarray, method: str, n_jobs: int | None = None) -> np.ndarray:
    """``T(rdms)`` of the module docstring, float64, one row per RDM (not normalised)."""
    if method == "spearman":  # ranks of the values as given (float32 sorts faster)
        ranks = np.stack(_map_rows(average_ranks, list(rdms), n_jobs))
        return ranks - (rdms.shape[1] + 1) / 2.0
    rdms = np.asarray(rdms, dtype=np.float64)
    if method == "cosine":
        return rdms
    if method == "pearson":
        return rdms - rdms.mean(axis=1, keepdims=True)
    if method == "whitened_cosine":
        return double_centred(rdms)
    if method == "whitened_pearson":
        return double_centred(rdms - rdms.mean(axis=1, keepdims=True))
    raise ValueError(f"method: {method!r} has no vector transform")


def unit_rows(vectors: np.ndarray, name: str, method: str, first: int = 0) -> np.ndarray:
    """Rows scaled to unit norm; ValueError naming the row (``first`` + index) whose
    comparison is undefined."""
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    if not norms.all():
        bad = first + int(np.flatnonzero(norms == 0)[0])
        raise ValueError(f"{name}[{bad}]: is constant (or all zero for cosine); its {method} "
                         "comparison is undefined")
    return vectors / norms[:, None]


# --------------------------------------------------------------------------- tau-a
def tau_a(models: np.ndarray, data: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
    """Kendall tau-a of each row of ``models`` (m, p) with ``data`` (p,): (m,), O(m p log p)."""
    order, bounds = rank_order(data)
    return np.array(_map_rows(lambda x: tau_a_value(x, order, bounds), list(models), n_jobs))


# --------------------------------------------------------------------------- compare
def compare(model_rdms, data_rdm, method: str = "spearman", *, n_jobs: int | None = None):
    """Similarity of each model RDM with one data RDM.

    Parameters
    ----------
    model_rdms : array, shape (n_models, n_pairs) or (n_pairs,)
        Condensed RDMs (``squareform`` order), at least 3 conditions, finite.
    data_rdm : array, shape (n_pairs,)
    method : {"spearman", "pearson", "tau_a", "cosine", "whitened_pearson", "whitened_cosine"}
        See the module docstring for the formulas.
    n_jobs : int or None
        Threads for the per-RDM sorts (Spearman ranks, tau-a); None uses every available CPU.
        Results do not depend on it.

    Returns
    -------
    array, shape (n_models,), or a 0-d array for a 1-D ``model_rdms``

    Notes
    -----
    The data RDM is transformed (ranked, for Spearman) once. Time: ``O(m p)`` for Pearson,
    cosine and whitened, and for Spearman (one radix sort per model, at most 6 passes);
    ``O(m p log p)`` for tau-a. Extra memory: ``O(p)`` per thread for the rank methods; the
    other methods transform models in blocks of at most 64 MiB.
    """
    method = check_method(method)
    single = is_single_rdm(model_rdms)
    models = as_rdm_stack(model_rdms, "model_rdms")
    data = as_rdm_stack(data_rdm, "data_rdm", models.shape[1])
    if data.shape[0] != 1:
        raise ValueError(f"data_rdm: expected one condensed RDM (n_pairs,), got shape "
                         f"{np.shape(data_rdm)}")
    if method == "tau_a":
        scores = tau_a(models, data[0], n_jobs)
    elif method == "spearman":  # one sort and one pass per model, no rank vectors kept
        target = unit_rows(transformed(data, method), "data_rdm", method)[0]
        scores = np.array(_map_rows(lambda x: spearman_with(x, target), list(models), n_jobs))
        if np.isnan(scores).any():
            raise ValueError(f"model_rdms[{int(np.flatnonzero(np.isnan(scores))[0])}]: is "
                             "constant; its spearman comparison is undefined")
    else:
        target = unit_rows(transformed(data, method), "data_rdm", method)[0]
        step = max(1, _BLOCK_BYTES // (8 * target.size))
        scores = np.concatenate([
            unit_rows(transformed(models[s:s + step], method, n_jobs), "model_rdms", method, s)
            @ target for s in range(0, models.shape[0], step)])
    return scores[0] if single else scores
