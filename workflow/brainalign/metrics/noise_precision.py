"""Noise precision of voxel patterns, and the RDMs that use it: Mahalanobis and standardized units.

The noise is estimated from the residuals of the single-trial betas around their condition
means, ``e_t = b_t - mean_{t' : s(t') = s(t)} b_t'`` (``n`` trials, ``k`` conditions,
``dof = n - k``): rsatoolbox's ``cov_from_unbalanced(dataset, obs_desc)``. Its covariance is
shrunk (``c`` channels, ``X`` the residuals, ``S = X^T X / n``):

* ``"shrinkage_eye"`` (Ledoit & Wolf 2004), towards ``m I`` with ``m = tr(S) / c``:
  ``d^2 = ||S - m I||_F^2``, ``b^2 = min(d^2, sum_jk (mean_t (x_tj x_tk)^2 - S_jk^2) / n)``,
  ``Sigma = (b^2 / d^2 m I + (1 - b^2 / d^2) S) n / dof``;
* ``"shrinkage_diag"`` (Schäfer & Strimmer 2005), towards the diagonal: with
  ``S' = X^T X / dof``, the off-diagonal correlations are scaled by ``1 - lambda``,
  ``lambda = sum_{j != k} Var^(r_jk) / sum_{j != k} r_jk^2`` clipped to [0, 1],
  ``Var^(r_jk) = n / dof^2 (mean-free 4th moment of standardized residuals - r_jk^2)``
  (rsatoolbox's ``_covariance_diag``, whose definitions these are).

The precision is ``Sigma^-1``. Both match ``rsatoolbox.data.noise`` to rounding.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SHRINKAGE", "condition_residuals", "noise_precision", "mahalanobis_rdm", "standardize_units"]

SHRINKAGE = ("shrinkage_diag", "shrinkage_eye")


def condition_residuals(patterns, conditions) -> tuple[np.ndarray, int]:
    """Residuals of each row around its condition's mean, and their degrees of freedom
    ``n - k``; ValueError when no condition is observed twice (no residual to estimate from)."""
    x = np.asarray(patterns, dtype=np.float64)
    labels, codes = np.unique(np.asarray(conditions).astype(str), return_inverse=True)
    counts = np.bincount(codes)
    dof = x.shape[0] - labels.size
    if dof < 2:
        raise ValueError(f"noise precision: {x.shape[0]} trials of {labels.size} conditions leave {dof} "
                         "degree(s) of freedom for the residuals; each condition needs repeated trials")
    sums = np.zeros((labels.size, x.shape[1]))
    np.add.at(sums, codes, x)
    return x - (sums / counts[:, None])[codes], dof


def _shrunk_covariance(x: np.ndarray, dof: int, method: str) -> np.ndarray:
    x = x - x.mean(axis=0)
    n, c = x.shape
    gram = x.T @ x
    fourth = (x**2).T @ (x**2)  # sum_t x_tj^2 x_tk^2
    if method == "shrinkage_eye":
        s = gram / n
        b2 = np.sum(fourth / n - s * s) / n
        m = np.trace(s) / c
        d2 = np.sum((s - m * np.eye(c)) ** 2)
        b2 = min(d2, b2)
        return (b2 / d2 * m * np.eye(c) + (d2 - b2) / d2 * s) * n / dof
    s = gram / dof
    var = np.diag(s)
    std = np.sqrt(var)
    r = gram / np.outer(std, std) / (n - 1)
    r4 = fourth / np.outer(var, var) / (n - 1)
    var_hat = n / dof**2 * (r4 - r**2)
    off = ~np.eye(c, dtype=bool)
    lam = float(np.clip(var_hat[off].sum() / np.sum(r[off] ** 2), 0, 1))
    return s * np.where(off, 1 - lam, 1.0)


def noise_precision(patterns, conditions, method: str = "shrinkage_diag") -> np.ndarray:
    """``(c, c)`` noise precision from single-trial ``patterns`` (n, c) labelled by ``conditions``
    (module docstring)."""
    if method not in SHRINKAGE:
        raise ValueError(f"noise shrinkage: expected one of {SHRINKAGE}, got {method!r}")
    residuals, dof = condition_residuals(patterns, conditions)
    if not np.all(residuals.var(axis=0) > 0):
        raise ValueError("noise precision: a channel has no residual variance (its repeated trials are identical)")
    return np.linalg.inv(_shrunk_covariance(residuals, dof, method))


def mahalanobis_rdm(patterns, precision) -> np.ndarray:
    """Condensed Mahalanobis RDM ``d_ij = (x_i - x_j) L (x_i - x_j)^T / c`` of condition patterns
    (n, c) with noise precision ``L`` (c, c): rsatoolbox's ``calc_rdm(method="mahalanobis",
    noise=L)``; squared Euclidean over ``c`` when ``L = I``."""
    x = np.asarray(patterns, dtype=np.float64)
    lam = np.asarray(precision, dtype=np.float64)
    if lam.shape != (x.shape[1], x.shape[1]):
        raise ValueError(f"precision: expected shape ({x.shape[1]}, {x.shape[1]}), got {lam.shape}")
    x = x - x.mean(axis=0)
    gram = x @ lam @ x.T
    rows, cols = np.triu_indices(x.shape[0], 1)
    diag = np.diag(gram)
    return (diag[rows] + diag[cols] - 2 * gram[rows, cols]) / x.shape[1]


def standardize_units(patterns) -> np.ndarray:
    """Each unit (column) z-scored over the conditions (rows), ``(x - mean) / sd`` with the
    population s.d. (``ddof = 0``, scikit-learn's ``StandardScaler``, which Net2Brain applies to
    a layer's features before its RDM); constant units become 0. float32 input stays float32
    (its means and s.d. accumulated in float64)."""
    x = np.asarray(patterns)
    x = x - x.mean(axis=0, dtype=np.float64).astype(np.result_type(x.dtype, np.float32))
    sd = np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=0)).astype(x.dtype)
    return np.divide(x, sd, out=np.zeros_like(x), where=sd > 0)
