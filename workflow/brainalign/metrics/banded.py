r"""Banded ridge: one penalty per feature space (band), and the variance each band explains.

Model
-----
With feature spaces ``X_1..X_m`` (n, p_i) and one penalty ``alpha_i`` per space, per target::

    b = argmin ||y - b0 - sum_i X_i b_i||² + sum_i alpha_i ||b_i||²    (b0 unpenalised)

Search
------
An exhaustive grid search: the candidates are either the Cartesian product of a 1-D grid
over the bands (``alphas**m`` candidates) or an explicit ``(n_candidates, m)`` list. Each
candidate is scored by the same CV as :class:`~brainalign.metrics.ridge.RidgeCV`
(validation R²) and each target keeps its best candidate.

Reusing one decomposition for many candidates: write ``alpha_i = c * rho_i`` with
``rho_1 = 1``. Scaling ``Z_i = X_i / sqrt(rho_i)`` turns the problem into plain ridge
``||y - Z beta||² + c ||beta||²`` with ``b_i = beta_i / sqrt(rho_i)``. All candidates with the
same ratio vector ``rho`` (equal to 1e-9 relative) therefore share one decomposition of
``Z`` per fold, and their overall scales ``c`` cost only matrix products. A log-spaced
1-D grid of ``k`` values over ``m`` bands has ``(2k - 1)^(m - 1)`` distinct ratio vectors.
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .backend import get_backend
from .cv_splits import check_groups
from .regression_scores import column_r2
from .ridge import _RidgeSearchParams, ridge_cv_scores
from .ridge_checks import (check_alphas, check_features, check_positive_int, check_solver,
                           check_targets, compute_dtype)
from .ridge_solver import CentredSpectrum, refit_dual, select_best

__all__ = ["BandedRidgeCV", "r2_score_split"]


class BandedRidgeCV(_RidgeSearchParams):
    r"""Ridge with one penalty per feature space, chosen per target by CV grid search.

    Parameters
    ----------
    alphas : 1-D sequence (grid for every band; Cartesian product) or 2-D array
        (n_candidates, n_bands) of explicit per-band penalties, all > 0.
    cv, backend, target_batch_size, solver, dtype : as for
        :class:`~brainalign.metrics.ridge.RidgeCV` (``cv="loo"`` included).

    Attributes
    ----------
    alpha_candidates_ : (n_candidates, n_bands) the candidates searched.
    cv_scores_ : (n_candidates, n_targets) CV R² of each candidate (as ``RidgeCV.cv_scores_``).
    best_alphas_ : (n_bands, n_targets) the chosen penalty of each band for each target
        (exact ties: the candidate with the largest ``sum_i log alpha_i``).
    coef_ : (n_features_total, n_targets), bands stacked in order; intercept_ : (n_targets,)
    band_slices_ : list of slices of ``coef_`` rows, one per band.
    """

    def fit(self, Xs, Y, groups=None):
        """``Xs``: sequence of (n_samples, p_i) arrays, one per band; ``Y``: (n_samples,
        n_targets) or (n_samples,); ``groups``: run label per sample for grouped CV."""
        Xs = _check_bands(Xs, self.dtype)
        dtype = Xs[0].dtype
        n_samples = Xs[0].shape[0]
        Y = check_targets(Y, n_samples)
        groups = check_groups(groups, n_samples)
        candidates = _candidate_grid(self.alphas, len(Xs))
        batch_size = check_positive_int(self.target_batch_size, "target_batch_size")
        solver = check_solver(self.solver)
        xp = get_backend(self.backend)
        rows = np.arange(n_samples)
        n_targets = Y.shape[1]

        classes = _ratio_classes(candidates)
        scores = np.empty((len(candidates), n_targets))
        for ratio, members in classes:
            scores[members] = ridge_cv_scores(_scaled_concat(Xs, ratio), Y,
                                              candidates[members, 0], self.cv, groups, rows,
                                              xp=xp, solver=solver, batch_size=batch_size)
        best = select_best(scores, np.log(candidates).sum(1))

        self.band_slices_ = _band_slices(Xs)
        self.coef_ = np.empty((sum(X.shape[1] for X in Xs), n_targets), dtype=dtype)
        self.intercept_ = np.empty(n_targets, dtype=dtype)
        first_band_alpha = candidates[best, 0]
        for ratio, members in classes:
            targets = np.flatnonzero(np.isin(best, members))
            if targets.size == 0:
                continue
            spectrum = CentredSpectrum(xp.asarray(_scaled_concat(Xs, ratio)), solver, xp)
            unscale = xp.asarray(np.concatenate(
                [np.full(X.shape[1], 1 / np.sqrt(r)) for X, r in zip(Xs, ratio)]), dtype)
            for cols, y_mean, coef_dual in refit_dual(spectrum, Y, rows, first_band_alpha,
                                                      targets, xp=xp, dtype=dtype,
                                                      batch_size=batch_size):
                coef_scaled = spectrum.XtU @ coef_dual
                self.intercept_[cols] = xp.to_numpy(y_mean - spectrum.x_mean @ coef_scaled)
                self.coef_[:, cols] = xp.to_numpy(coef_scaled * unscale[:, None])
        self.alpha_candidates_ = candidates
        self.cv_scores_ = scores
        self.best_alphas_ = candidates[best].T
        self.n_features_in_ = self.coef_.shape[0]
        return self

    def predict_split(self, Xs) -> np.ndarray:
        """Each band's contribution ``X_i @ coef_i``: (n_bands, n_samples, n_targets).
        ``predict`` = their sum + ``intercept_``."""
        check_is_fitted(self, "coef_")
        Xs = _check_bands(Xs, self.coef_.dtype, min_samples=1)
        widths = [s.stop - s.start for s in self.band_slices_]
        if [X.shape[1] for X in Xs] != widths:
            raise ValueError(f"Xs band widths {[X.shape[1] for X in Xs]} differ from the "
                             f"fitted ones {widths}")
        return np.stack([X @ self.coef_[s] for X, s in zip(Xs, self.band_slices_)])

    def predict(self, Xs) -> np.ndarray:
        """``sum_i X_i @ coef_i + intercept_``: (n_samples, n_targets)."""
        return self.predict_split(Xs).sum(0) + self.intercept_

    def score(self, Xs, Y) -> np.ndarray:
        """Per-target R² of :meth:`predict` on (Xs, Y), shape (n_targets,)."""
        prediction = self.predict(Xs)
        Y = check_targets(Y, prediction.shape[0]).astype(prediction.dtype, copy=False)
        return column_r2(Y, prediction, get_backend("numpy"))

    def score_split(self, Xs, Y) -> np.ndarray:
        """Per-band share of R² (:func:`r2_score_split`): (n_bands, n_targets)."""
        split = self.predict_split(Xs)
        return r2_score_split(check_targets(Y, split.shape[1]), split)


def r2_score_split(Y, band_predictions) -> np.ndarray:
    r"""Split R² across bands by the product measure: (n_bands, n_targets).

    With ``ỹ = y - mean(y)`` and each band's prediction centred, ``ỹ_i = ŷ_i - mean(ŷ_i)``
    (means over samples, per target)::

        R²_i = sum_n ( 2 ỹ ỹ_i - ỹ_i sum_k ỹ_k ) / sum_n ỹ²

    Summed over bands this is exactly ``1 - sum_n (ỹ - sum_k ỹ_k)² / sum_n ỹ²``: the R² of the
    joint prediction once its mean offset on this data is removed (so it equals the
    R² of ``predict`` when the intercept matches the evaluation mean). Each band's share
    is its own ``2 cov(y, ŷ_i)`` minus its share of the joint prediction's variance, so
    correlated bands split their common variance; a share can be negative. NaN for a
    constant target.

    Parameters
    ----------
    Y : (n_samples, n_targets); band_predictions : (n_bands, n_samples, n_targets)
    """
    Y = np.asarray(Y, dtype=np.float64)
    band_predictions = np.asarray(band_predictions, dtype=np.float64)
    if band_predictions.ndim != 3 or band_predictions.shape[1:] != Y.shape:
        raise ValueError(f"band_predictions must have shape (n_bands, *{Y.shape}), got "
                         f"{band_predictions.shape}")
    y = Y - Y.mean(0)
    parts = band_predictions - band_predictions.mean(1, keepdims=True)
    joint = parts.sum(0)
    sst = (y * y).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = (parts * (2 * y - joint)[None]).sum(1) / sst
    return np.where(sst > 0, shares, np.nan)


def _check_bands(Xs, dtype, min_samples: int = 2) -> list[np.ndarray]:
    if isinstance(Xs, np.ndarray) or not hasattr(Xs, "__len__") or len(Xs) == 0:
        raise TypeError("Xs must be a non-empty list of 2-D arrays, one per feature space")
    dtype = compute_dtype(Xs[0], dtype)
    Xs = [check_features(X, f"Xs[{i}]", dtype, min_samples) for i, X in enumerate(Xs)]
    rows = {X.shape[0] for X in Xs}
    if len(rows) != 1:
        raise ValueError(f"all feature spaces in Xs need the same number of samples, got "
                         f"{[X.shape[0] for X in Xs]}")
    return Xs


def _candidate_grid(alphas, n_bands: int) -> np.ndarray:
    """(n_candidates, n_bands): the Cartesian product of a 1-D grid, or a 2-D list as given."""
    grid = np.asarray(alphas, dtype=np.float64)
    if grid.ndim == 2:
        if grid.shape[1] != n_bands:
            raise ValueError(f"alphas has {grid.shape[1]} columns but there are {n_bands} bands")
        check_alphas(grid.ravel(), "alphas", distinct=False)
        if len(np.unique(grid, axis=0)) != len(grid):
            raise ValueError("alphas must not repeat a candidate row")
        return grid
    grid = check_alphas(grid)
    return np.array(list(itertools.product(grid, repeat=n_bands)))


def _ratio_classes(candidates: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group candidates by ``rho = alpha / alpha_1`` (log equal to 1e-9): [(rho, members)]."""
    keys = np.round(np.log(candidates / candidates[:, :1]), 9)
    _, first, label = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    label = label.ravel()
    return [(candidates[i] / candidates[i, 0], np.flatnonzero(label == k))
            for k, i in enumerate(first)]


def _scaled_concat(Xs: list[np.ndarray], ratio: np.ndarray) -> np.ndarray:
    """``[X_1 / sqrt(rho_1), ..., X_m / sqrt(rho_m)]`` in the dtype of ``Xs``."""
    return np.concatenate([X * X.dtype.type(1 / np.sqrt(r)) for X, r in zip(Xs, ratio)], axis=1)


def _band_slices(Xs: list[np.ndarray]) -> list[slice]:
    edges = np.cumsum([0] + [X.shape[1] for X in Xs])
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
