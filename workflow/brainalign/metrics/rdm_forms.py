"""RDMs given square or condensed: recognise the form and return condensed RDMs.

Everywhere an RDM is accepted it may be given

* condensed: ``(n_pairs,)``, ``n_pairs = n (n - 1) / 2``, the upper triangle in
  ``scipy.spatial.distance.squareform`` order, or a stack ``(n_rdms, n_pairs)``;
* square: ``(n, n)``, symmetric with a zero diagonal, or a stack ``(n_rdms, n, n)``.

A 2-D array ``(n, n)`` whose diagonal is zero is read as one square RDM (so a 78 x 78 RDM is
not taken for 78 condensed RDMs of 13 conditions); it must then be symmetric, within
``1e-6 max |D|`` (float32 rounding of a symmetric matrix). Any other 2-D array is a stack of
condensed RDMs. The only ambiguous shape is ``(3, 3)`` with a zero diagonal, read as square.
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_square_form", "is_single_rdm", "condensed_stack", "square_to_condensed", "CONVERT_HINT"]

CONVERT_HINT = ("give a condensed RDM (its upper triangle, i < j, row by row: "
                "scipy.spatial.distance.squareform(D, checks=False) of a square RDM D) or the "
                "square RDM itself (n x n, symmetric, zero diagonal)")
SYMMETRY_RTOL = 1e-6  # of max |D|


def is_square_form(x: np.ndarray) -> bool:
    """True when ``x`` is ``(n, n)`` (or ``(k, n, n)``) with ``n >= 2`` and every diagonal
    entry zero: the square form of one RDM (of ``k`` RDMs)."""
    if x.ndim not in (2, 3) or x.shape[-1] != x.shape[-2] or x.shape[-1] < 2:
        return False
    return bool(np.all(np.diagonal(x, axis1=-2, axis2=-1) == 0))


def square_to_condensed(square: np.ndarray, name: str = "rdm") -> np.ndarray:
    """``(..., n, n)`` symmetric zero-diagonal RDMs -> ``(..., n (n - 1) / 2)``, squareform order.

    ValueError naming ``name`` when a matrix is not symmetric or its diagonal is not zero."""
    x = np.asarray(square)
    n = x.shape[-1]
    if x.ndim < 2 or x.shape[-2] != n:
        raise ValueError(f"{name}: a square RDM must be (n, n), got shape {x.shape}")
    if not np.all(np.diagonal(x, axis1=-2, axis2=-1) == 0):
        raise ValueError(f"{name}: square RDM ({n} x {n}) has a non-zero diagonal; an RDM's "
                         "diagonal (a condition's distance to itself) is 0")
    scale = float(np.nanmax(np.abs(x))) if x.size else 0.0
    gap = np.abs(x - np.swapaxes(x, -1, -2))
    if np.nanmax(gap, initial=0.0) > SYMMETRY_RTOL * scale:
        where = np.unravel_index(np.nanargmax(gap), gap.shape)[-2:]
        raise ValueError(f"{name}: square RDM ({n} x {n}) is not symmetric (entry {tuple(int(w) for w in where)} "
                         f"differs from its transpose by {float(gap.max()):.3g}); {CONVERT_HINT}")
    rows, cols = np.triu_indices(n, 1)
    return x[..., rows, cols]


def condensed_stack(rdms, name: str = "rdm") -> tuple[np.ndarray, bool]:
    """``rdms`` in any accepted form (module docstring) as ``(n_rdms, n_pairs)``, and whether
    it was given as a single RDM (condensed 1-D or one square matrix)."""
    x = np.asarray(rdms)
    if x.ndim == 3:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"{name}: a 3-D array must be a stack of square RDMs (n_rdms, n, n), "
                             f"got shape {x.shape}")
        return square_to_condensed(x, name), False
    if x.ndim == 2 and is_square_form(x):
        return square_to_condensed(x, name)[None], True
    return np.atleast_2d(x), x.ndim == 1


def is_single_rdm(rdms) -> bool:
    """True when ``rdms`` is one RDM: condensed ``(n_pairs,)`` or square ``(n, n)``."""
    x = np.asarray(rdms)
    return x.ndim == 1 or (x.ndim == 2 and is_square_form(x))
