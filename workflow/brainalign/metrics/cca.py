"""Canonical correlation analysis between representations: SVCCA and PWCCA.

With column-centred ``X`` (n, p) and ``Y`` (n, q) and orthonormal bases ``Q_X`` (n, r_X) and
``Q_Y`` (n, r_Y) of their column spaces (from the thin SVD; ``r`` is the numerical rank,
singular values above ``s_max * max(n, p) * eps(dtype)``), the canonical correlations are the
singular values of

    Q_X^T Q_Y = A diag(rho_1 >= ... >= rho_c) B^T,     c = min(r_X, r_Y),

and the canonical variates are ``H_X = Q_X A`` and ``H_Y = Q_Y B`` (orthonormal columns). This
is the same as the classical ``rho_i^2 = eig(S_XX^-1 S_XY S_YY^-1 S_YX)`` but without
inverting covariance matrices. The ``rho_i`` are invariant to any invertible linear map of
either representation. With ``r_X + r_Y > n`` some ``rho_i`` are 1 by construction (not
enough stimuli), so keep ``n`` well above the number of units or reduce with SVCCA first.
Cost: a thin SVD of each representation, ``O(n p min(n, p) + n q min(n, q))``, in float64.
"""

from __future__ import annotations

import numpy as np

from ._paired_input import as_paired, check_fraction, check_int

__all__ = ["canonical_correlations", "svcca", "pwcca"]


def canonical_correlations(X, Y) -> np.ndarray:
    """Canonical correlations ``rho_1 >= ... >= rho_c`` of ``X`` and ``Y``, shape (c,)."""
    X, Y = as_paired(X, Y)
    basis_x, _ = _principal_components(X, "X")
    basis_y, _ = _principal_components(Y, "Y")
    return _cca(basis_x, basis_y)[0]


def svcca(X, Y, *, variance_fraction: float = 0.99, n_components: int | None = None) -> float:
    """SVCCA similarity (Raghu et al. 2017): CCA between the leading principal subspaces.

    Each centred representation is reduced by SVD to its leading ``r`` components: the
    ``n_components`` largest if given, else the fewest whose squared singular values reach
    ``variance_fraction`` of the total (the variance explained). The result is the mean
    canonical correlation ``(1/c) sum_i rho_i`` of the two reduced representations, in [0, 1].

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    Y : array, shape (n_stimuli, q)
    variance_fraction : float in (0, 1]
        Fraction of variance the kept components explain (ignored if ``n_components`` given).
    n_components : int, optional
        Number of components kept in each representation; at most its numerical rank.
    """
    X, Y = as_paired(X, Y)
    if n_components is None:
        variance_fraction = check_fraction(variance_fraction, "variance_fraction")
    else:
        n_components = check_int(n_components, "n_components", 1)
    basis_x, spectrum_x = _principal_components(X, "X")
    basis_y, spectrum_y = _principal_components(Y, "Y")
    kept_x = _n_kept(spectrum_x, variance_fraction, n_components, "X")
    kept_y = _n_kept(spectrum_y, variance_fraction, n_components, "Y")
    rho = _cca(basis_x[:, :kept_x], basis_y[:, :kept_y])[0]
    return float(rho.mean())


def pwcca(X, Y, *, weights_from: str = "smaller") -> float:
    """Projection-weighted CCA (Morcos et al. 2018): canonical correlations weighted by how
    much of one representation's units each canonical variate accounts for.

    With canonical variates ``h_i`` of the weighting side (say ``X``, centred columns ``x_j``),

        alpha_i = sum_j |<h_i, x_j>|,   PWCCA = sum_i alpha_i rho_i / sum_i alpha_i,

    in [0, 1]. Not symmetric in general.

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    Y : array, shape (n_stimuli, q)
    weights_from : {"smaller", "x", "y"}
        Representation whose units give the weights: ``"smaller"`` (the one with fewer units,
        ``X`` when ``p == q``, as in the authors' code), ``"x"`` or ``"y"``.

    Notes
    -----
    The weights use centred activations; the authors' code projects the uncentred ones onto
    the canonical directions with the means added back, which differs slightly when the unit
    means are large.
    """
    if weights_from not in ("smaller", "x", "y"):
        raise ValueError(f"weights_from must be 'smaller', 'x' or 'y', got {weights_from!r}")
    X, Y = as_paired(X, Y)
    basis_x, _ = _principal_components(X, "X")
    basis_y, _ = _principal_components(Y, "Y")
    rho, rotation_x, rotation_y = _cca(basis_x, basis_y)
    use_x = weights_from == "x" or (weights_from == "smaller" and X.shape[1] <= Y.shape[1])
    basis, rotation, units = (basis_x, rotation_x, X) if use_x else (basis_y, rotation_y, Y)
    variates = basis @ rotation  # (n, c) canonical variates
    centred = units - units.mean(axis=0, dtype=np.float64)
    alpha = np.abs(variates.T @ centred).sum(axis=1)
    return float(alpha @ rho / alpha.sum())


# --------------------------------------------------------------------------- helpers
def _principal_components(X: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Left singular vectors ``U`` (n, r) and singular values (r,) of the centred ``X``,
    truncated to its numerical rank ``r``."""
    eps = np.finfo(X.dtype).eps
    centred = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    U, s, _ = np.linalg.svd(centred, full_matrices=False)
    rank = int(np.sum(s > s[0] * max(X.shape) * eps)) if s[0] > 0 else 0
    if rank == 0:
        raise ValueError(f"{name} is constant across stimuli: nothing to correlate")
    return U[:, :rank], s[:rank]


def _n_kept(spectrum: np.ndarray, variance_fraction: float, n_components, name: str) -> int:
    if n_components is not None:
        if n_components > spectrum.size:
            raise ValueError(f"n_components={n_components} exceeds the numerical rank "
                             f"{spectrum.size} of {name}")
        return n_components
    explained = np.cumsum(spectrum**2) / np.sum(spectrum**2)
    return int(np.searchsorted(explained, variance_fraction - 1e-12) + 1)


def _cca(basis_x: np.ndarray, basis_y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical correlations and the rotations ``A`` (r_X, c), ``B`` (r_Y, c)."""
    A, rho, Bt = np.linalg.svd(basis_x.T @ basis_y, full_matrices=False)
    return np.clip(rho, 0.0, 1.0), A, Bt.T
