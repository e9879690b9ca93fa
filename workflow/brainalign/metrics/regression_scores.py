"""Per-target prediction scores: coefficient of determination R² and Pearson r.

Both work column by column on ``(n_samples, n_targets)`` arrays of any backend and return
float64 numpy arrays of shape ``(n_targets,)``.
"""

from __future__ import annotations

import numpy as np


def r2_from_sums(sse, sst, constant_value: float = np.nan) -> np.ndarray:
    """``R² = 1 - SSE / SST`` with ``SST = sum_i (y_i - mean(y))²``.

    Where ``SST == 0`` (a constant target) R² is undefined; it is set to ``constant_value``.
    """
    sse = np.asarray(sse, dtype=np.float64)
    sst = np.asarray(sst, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - sse / sst
    return np.where(sst > 0, r2, constant_value)


def column_r2(y_true, y_pred, xp) -> np.ndarray:
    """R² of each column, ``1 - sum_i (y_i - ŷ_i)² / sum_i (y_i - mean(y))²``; NaN for a
    constant column of ``y_true``. Can be negative (worse than predicting the mean)."""
    residual = y_true - y_pred
    centred = y_true - y_true.mean(0)
    return r2_from_sums(xp.to_numpy(xp.einsum("ij,ij->j", residual, residual)),
                        xp.to_numpy(xp.einsum("ij,ij->j", centred, centred)))


def column_pearson_r(y_true, y_pred, xp) -> np.ndarray:
    """Pearson correlation of each column,
    ``r = sum_i a_i b_i / sqrt(sum_i a_i² sum_i b_i²)`` with ``a = y - mean(y)``,
    ``b = ŷ - mean(ŷ)``; NaN where either column is constant."""
    a = y_true - y_true.mean(0)
    b = y_pred - y_pred.mean(0)
    cross = xp.to_numpy(xp.einsum("ij,ij->j", a, b)).astype(np.float64)
    norms = (xp.to_numpy(xp.einsum("ij,ij->j", a, a)).astype(np.float64)
             * xp.to_numpy(xp.einsum("ij,ij->j", b, b)).astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms > 0, cross / np.sqrt(norms), np.nan)
