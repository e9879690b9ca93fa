"""Orthogonal Procrustes shape distances (Williams et al. 2021, "Generalized shape metrics on
neural representations").

Each representation is centred over stimuli and scaled to unit Frobenius norm,
``X^ = (X - 1 mean(X)) / ||X - 1 mean(X)||_F``; the one with fewer units is padded with zero
columns so both have ``max(p, q)`` units. The distance minimises over orthogonal ``Q``:

    d(X, Y)^2 = min_Q ||X^ Q - Y^||_F^2 = 2 - 2 ||X^^T Y^||_*,

where ``||.||_*`` is the nuclear norm (sum of singular values; zero padding leaves it
unchanged, so it is computed without padding). The angular form is
``theta(X, Y) = arccos ||X^^T Y^||_*`` in radians, in [0, pi/2]. Both are metrics: symmetric,
0 exactly when one representation is a rotation/reflection of the other after centring and
scaling, and invariant to orthogonal transforms, isotropic scaling and translation of either.
"""

from __future__ import annotations

import numpy as np

from ._paired_input import as_paired

__all__ = ["procrustes_distance", "procrustes_angular", "procrustes_nuclear_norm"]


def procrustes_distance(X, Y) -> float:
    """Orthogonal Procrustes distance ``sqrt(2 - 2 ||X^^T Y^||_*)``, in [0, sqrt(2)].

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    Y : array, shape (n_stimuli, q)
        Representations of the same stimuli, rows in the same order.
    """
    return float(np.sqrt(max(2.0 - 2.0 * procrustes_nuclear_norm(X, Y), 0.0)))


def procrustes_angular(X, Y) -> float:
    """Angular Procrustes distance ``arccos ||X^^T Y^||_*`` in radians, in [0, pi/2]."""
    return float(np.arccos(min(procrustes_nuclear_norm(X, Y), 1.0)))


def procrustes_nuclear_norm(X, Y) -> float:
    """``||X^^T Y^||_*`` for the centred, unit-Frobenius-norm ``X^``, ``Y^``: in [0, 1].

    A representation with more units than stimuli is first replaced by its coordinates in its
    own row space, ``U S`` from the thin SVD ``X^ = U S V^T``; ``V`` has orthonormal columns,
    so the nuclear norm is unchanged. The singular values of the ``(min(n, p), min(n, q))``
    cross product are then computed in float64: ``O(n p min(n, p) + n q min(n, q))`` time.
    """
    X, Y = as_paired(X, Y)
    X = _row_space_coordinates(_centred_unit_norm(X, "X"))
    Y = _row_space_coordinates(_centred_unit_norm(Y, "Y"))
    return float(np.linalg.svd(X.T @ Y, compute_uv=False).sum())


def _centred_unit_norm(X: np.ndarray, name: str) -> np.ndarray:
    X = X.astype(np.float64)
    X -= X.mean(axis=0)
    norm = np.linalg.norm(X)
    if norm == 0:
        raise ValueError(f"{name} is constant across stimuli: its centred Frobenius norm is 0")
    return X / norm


def _row_space_coordinates(X: np.ndarray) -> np.ndarray:
    if X.shape[1] <= X.shape[0]:
        return X
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    return U * s
