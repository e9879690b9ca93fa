"""Input checks shared by the ridge estimators: every failure names the argument at fault."""

from __future__ import annotations

import numbers

import numpy as np

SOLVERS = ("auto", "svd", "eigh")
_FINITE_CHECK_COLUMNS = 4096


def compute_dtype(X, dtype) -> np.dtype:
    """The floating dtype to compute in: ``dtype`` if given, else X's when it is float32 or
    float64, else float64."""
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        return dtype
    x_dtype = np.asarray(X).dtype
    return x_dtype if x_dtype in (np.float32, np.float64) else np.dtype(np.float64)


def check_features(X, name: str, dtype, min_samples: int = 2) -> np.ndarray:
    """``X`` as a finite 2-D array of ``dtype`` (samples x features), with at least
    ``min_samples`` rows (2 to fit: centring needs them; 1 to predict)."""
    X = _as_numeric(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] < min_samples or X.shape[1] < 1:
        raise ValueError(f"{name} needs at least {min_samples} sample(s) and 1 feature, "
                         f"got shape {X.shape}")
    X = X.astype(dtype, copy=False)
    _check_finite(X, name)
    return X


def check_targets(Y, n_samples: int, name: str = "Y") -> np.ndarray:
    """``Y`` as a finite 2-D array with ``n_samples`` rows (a 1-D ``Y`` becomes one column).

    The dtype is kept: the solvers cast one block of targets at a time, so a float64 ``Y``
    never needs a float32 copy of the whole array.
    """
    Y = _as_numeric(Y, name)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (n_samples, n_targets), got shape {Y.shape}")
    if Y.shape[0] != n_samples:
        raise ValueError(f"{name} has {Y.shape[0]} rows but X has {n_samples} samples")
    _check_finite(Y, name)
    return Y


def check_alphas(alphas, name: str = "alphas", distinct: bool = True) -> np.ndarray:
    """``alphas`` as a non-empty 1-D float64 array of finite, positive (and, if
    ``distinct``, distinct) values."""
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if alphas.ndim != 1 or alphas.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {alphas.shape}")
    if not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {alphas.tolist()}")
    if distinct and np.unique(alphas).size != alphas.size:
        raise ValueError(f"{name} must not repeat values, got {alphas.tolist()}")
    return alphas


def check_positive_int(value, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_solver(solver: str) -> str:
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    return solver


def _as_numeric(A, name: str) -> np.ndarray:
    A = np.asarray(A)
    if not (np.issubdtype(A.dtype, np.floating) or np.issubdtype(A.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
    return A


def _check_finite(A: np.ndarray, name: str) -> None:
    """Raise if ``A`` holds NaN or inf; checks column blocks, so the mask stays small."""
    if not np.issubdtype(A.dtype, np.floating):
        return
    for start in range(0, A.shape[1], _FINITE_CHECK_COLUMNS):
        block = A[:, start:start + _FINITE_CHECK_COLUMNS]
        if not np.isfinite(block).all():
            rows, cols = np.nonzero(~np.isfinite(block))
            raise ValueError(f"{name} contains NaN or inf (first at row {rows[0]}, "
                             f"column {start + cols[0]})")
