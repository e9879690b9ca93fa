"""Input checks shared by the model–model similarity metrics.

A *representation* is a 2-D array ``(n_stimuli, n_units)``: one row per stimulus, one column
per unit (model unit, voxel, sensor). Two representations compared by a metric hold the same
stimuli in the same row order. float32 input stays float32 (the large matrix products run in
single precision); every other real dtype is promoted to float64.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_representation", "as_paired", "as_square_pair", "check_int", "check_fraction"]


def as_representation(values, name: str, min_stimuli: int = 2) -> np.ndarray:
    """Check that ``values`` is a finite 2-D real array with at least ``min_stimuli`` rows and
    one column; return it as float32 (if it was float32) or float64."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_stimuli, n_units), got shape {array.shape}")
    if array.shape[0] < min_stimuli:
        raise ValueError(f"{name} needs at least {min_stimuli} stimuli (rows), "
                         f"got {array.shape[0]}")
    if array.shape[1] < 1:
        raise ValueError(f"{name} has no units (columns): shape {array.shape}")
    dtype = np.float32 if array.dtype == np.float32 else np.float64
    array = np.ascontiguousarray(array, dtype=dtype)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def as_paired(X, Y, min_stimuli: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Check two representations of the same stimuli; return them in one common dtype
    (float32 only when both are float32)."""
    X = as_representation(X, "X", min_stimuli)
    Y = as_representation(Y, "Y", min_stimuli)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must have the same number of stimuli (rows): "
                         f"X has {X.shape[0]}, Y has {Y.shape[0]}")
    dtype = np.result_type(X, Y)
    return X.astype(dtype, copy=False), Y.astype(dtype, copy=False)


def check_int(value, name: str, low: int, high: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[low, high]``; return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" and at most {high}"
        raise ValueError(f"{name} must be at least {low}{upper}, got {value}")
    return int(value)


def check_fraction(value, name: str, include_zero: bool = False) -> float:
    """Check that ``value`` is a real number in ``(0, 1]`` (or ``[0, 1]``); return it as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    low_ok = value >= 0 if include_zero else value > 0
    if not (low_ok and value <= 1):
        interval = "[0, 1]" if include_zero else "(0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return float(value)


def as_square_pair(a, b, names: tuple[str, str], what: str, mismatch: str) -> tuple[np.ndarray, np.ndarray]:
    """Two square float64 matrices of one shape (kernels, model x model matrices); ``what``
    names the kind in the error, ``mismatch`` says what unequal shapes mean."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    for matrix, name in ((a, names[0]), (b, names[1])):
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"{name} must be a square {what}, got shape {matrix.shape}")
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must {mismatch}, got shapes {a.shape} and {b.shape}")
    return a, b
