r"""Encoding models: ridge regression with one alpha per target chosen by cross-validation.

* :class:`RidgeCV` — fit features -> responses (voxels, sensors, units), one penalty per
  target chosen by K-fold (grouped by run), leave-one-group-out or closed-form leave-one-out CV.
* :func:`cross_validated_encoding` — nested CV: outer folds score held-out Pearson r and R²,
  the alpha of each outer fold is chosen by inner CV on its training part only.
* :func:`normalise_by_noise_ceiling` — explicit division of scores by a noise ceiling.

The solver (:mod:`brainalign.metrics.ridge_solver`) decomposes each training set once
(SVD of the centred features, or eigendecomposition of the kernel when features outnumber
samples) and gets every alpha from matrix products, one batch of targets at a time.
Banded ridge (one alpha per feature space) is in :mod:`brainalign.metrics.banded`.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .backend import get_backend
from .cv_splits import check_groups, fold_assignment, make_splits
from .regression_scores import column_pearson_r, column_r2
from .ridge_checks import (check_alphas, check_features, check_positive_int, check_solver,
                           check_targets, compute_dtype)
from .ridge_solver import CentredSpectrum, cv_r2, loo_r2, refit_dual, select_best, take_block

DEFAULT_ALPHAS = np.logspace(-2, 6, 9)
DEFAULT_TARGET_BATCH_SIZE = 4096

__all__ = ["DEFAULT_ALPHAS", "RidgeCV", "cross_validated_encoding",
           "normalise_by_noise_ceiling"]


def ridge_cv_scores(X, Y, alphas, cv, groups, rows, *, xp, solver, batch_size) -> np.ndarray:
    """CV R² (n_alphas, n_targets) on the samples ``rows``: ``cv="loo"`` gives the closed-form
    pooled leave-one-out R² (:func:`~brainalign.metrics.ridge_solver.loo_r2`), anything else
    the mean validation R² over the splits of :func:`~brainalign.metrics.cv_splits.make_splits`
    (:func:`~brainalign.metrics.ridge_solver.cv_r2`), grouped by ``groups[rows]`` if given."""
    if isinstance(cv, str) and cv == "loo":
        if groups is not None:
            raise ValueError("cv='loo' leaves out single samples and would split groups; "
                             "use cv='logo' or an int (GroupKFold) with groups")
        return loo_r2(X, Y, alphas, rows, xp=xp, solver=solver, batch_size=batch_size)
    inner = make_splits(cv, len(rows), None if groups is None else groups[rows])
    splits = [(rows[train], rows[val]) for train, val in inner]
    return cv_r2(X, Y, alphas, splits, xp=xp, solver=solver, batch_size=batch_size)


class _RidgeSearchParams(BaseEstimator):
    """The constructor shared by :class:`RidgeCV` and ``BandedRidgeCV`` (scikit-learn style:
    parameters stored as given, checked in ``fit``)."""

    def __init__(self, alphas=DEFAULT_ALPHAS, cv=5, backend="numpy",
                 target_batch_size=DEFAULT_TARGET_BATCH_SIZE, solver="auto", dtype=None):
        self.alphas = alphas
        self.cv = cv
        self.backend = backend
        self.target_batch_size = target_batch_size
        self.solver = solver
        self.dtype = dtype


class RidgeCV(_RidgeSearchParams):
    r"""Ridge regression with one penalty per target, chosen by cross-validation.

    For each target ``j`` and each candidate ``alpha`` the model
    ``ŷ = b0_j + x^T b_j`` with ``b = argmin ||y - b0 - X b||² + alpha ||b||²`` (intercept
    unpenalised, fitted by centring X and Y with the training means) is scored by CV; the
    target's best alpha is then refit on all of ``X``.

    Parameters
    ----------
    alphas : sequence of float > 0, default ``np.logspace(-2, 6, 9)``
        Candidate penalties (in units of squared feature scale x samples, as in
        ``||y - Xb||² + alpha ||b||²``).
    cv : int, "logo", "loo", splitter or list of (train, test) pairs, default 5
        int K: K contiguous folds, or ``GroupKFold(K)`` when ``groups`` is given;
        ``"logo"``: leave one group out; ``"loo"``: exact leave-one-out from the hat matrix
        diagonal (no groups); see :mod:`brainalign.metrics.cv_splits`.
    backend : {"numpy", "torch"}
        torch runs on CUDA when available, else CPU.
    target_batch_size : int
        Targets processed together; peak memory grows with this, not with the number
        of targets (beyond ``Y``, ``coef_`` and ``cv_scores_`` themselves).
    solver : {"auto", "svd", "eigh"}
        "svd": SVD of the centred features (primal); "eigh": eigendecomposition of the
        kernel ``Xc Xc^T`` (dual); "auto": "eigh" when n_features > n_samples of the
        training set being decomposed.
    dtype : None, float32 or float64
        Compute dtype; None keeps X's float dtype (float64 for integer X).

    Attributes
    ----------
    cv_scores_ : (n_alphas, n_targets) float64
        K-fold: mean over folds of the validation R² ``1 - SSE/SST`` (``SST`` about the
        validation mean; 0 for a target constant on a fold). LOO: pooled
        ``1 - PRESS / sum (y - ȳ)²``.
    best_alphas_ : (n_targets,) argmax of ``cv_scores_`` (exact ties: the larger alpha).
    coef_ : (n_features, n_targets); intercept_ : (n_targets,)
    alphas_ : (n_alphas,) the candidates, as float64.
    n_features_in_ : int
    """

    def fit(self, X, Y, groups=None):
        """Choose each target's alpha by CV (folds grouped by ``groups``), then refit on all
        rows. ``X``: (n_samples, n_features); ``Y``: (n_samples, n_targets) or (n_samples,)."""
        dtype = compute_dtype(X, self.dtype)
        X = check_features(X, "X", dtype)
        Y = check_targets(Y, X.shape[0])
        groups = check_groups(groups, X.shape[0])
        alphas = check_alphas(self.alphas)
        batch_size = check_positive_int(self.target_batch_size, "target_batch_size")
        solver = check_solver(self.solver)
        xp = get_backend(self.backend)
        rows = np.arange(X.shape[0])

        self.cv_scores_ = ridge_cv_scores(X, Y, alphas, self.cv, groups, rows, xp=xp,
                                          solver=solver, batch_size=batch_size)
        self.alphas_ = alphas
        self.best_alphas_ = alphas[select_best(self.cv_scores_, np.log(alphas))]
        spectrum = CentredSpectrum(xp.asarray(X), solver, xp)
        self.coef_ = np.empty((X.shape[1], Y.shape[1]), dtype=dtype)
        self.intercept_ = np.empty(Y.shape[1], dtype=dtype)
        for cols, y_mean, coef_dual in refit_dual(spectrum, Y, rows, self.best_alphas_,
                                                  Y.shape[1], xp=xp, dtype=dtype,
                                                  batch_size=batch_size):
            coef = spectrum.XtU @ coef_dual
            self.coef_[:, cols] = xp.to_numpy(coef)
            self.intercept_[cols] = xp.to_numpy(y_mean - spectrum.x_mean @ coef)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """``X @ coef_ + intercept_``: (n_samples, n_targets)."""
        check_is_fitted(self, "coef_")
        X = check_features(X, "X", self.coef_.dtype, min_samples=1)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model was fit with "
                             f"{self.n_features_in_}")
        return X @ self.coef_ + self.intercept_

    def score(self, X, Y) -> np.ndarray:
        """Per-target R² on (X, Y), shape (n_targets,) — unlike scikit-learn's scalar
        ``score``, since an encoding model is judged target by target."""
        prediction = self.predict(X)
        Y = check_targets(Y, prediction.shape[0]).astype(prediction.dtype, copy=False)
        return column_r2(Y, prediction, get_backend("numpy"))


def cross_validated_encoding(X, Y, *, groups=None, alphas=DEFAULT_ALPHAS, outer_cv=None,
                             inner_cv=5, backend="numpy",
                             target_batch_size=DEFAULT_TARGET_BATCH_SIZE, dtype=np.float32,
                             solver="auto") -> dict:
    r"""Nested cross-validated encoding: held-out Pearson r and R² per outer fold and target.

    For each outer split (train, test): each target's alpha is chosen by inner CV on the
    training samples only (inner folds grouped by ``groups[train]``), the model is refit on
    all training samples with that alpha, and the test predictions are scored per target:

    * Pearson ``r = sum (y - ȳ)(ŷ - mean ŷ) / sqrt(sum (y - ȳ)² sum (ŷ - mean ŷ)²)``
      (NaN if either is constant on the test fold);
    * ``R² = 1 - sum (y - ŷ)² / sum (y - ȳ)²`` with ``ȳ`` the test-fold mean (NaN if
      constant), negative when worse than predicting the test mean.

    Test samples never enter alpha selection or fitting; with groups, no group is ever on
    both sides of an outer or inner split (checked).

    Parameters
    ----------
    X : (n_samples, n_features); Y : (n_samples, n_targets)
    groups : (n_samples,) run (or session) label per sample, optional.
    alphas : candidate penalties.
    outer_cv : None, int, "logo", splitter or list of (train, test) pairs
        None: leave-one-group-out when ``groups`` is given, else 5 contiguous folds. Outer
        test sets must not overlap.
    inner_cv : int, "logo", "loo", splitter or list of pairs (indices into the training part)
        As ``RidgeCV.cv``; with groups an int means GroupKFold over the training groups.
    backend, target_batch_size, solver : as for :class:`RidgeCV`.
    dtype : compute dtype (float32 by default).

    Returns
    -------
    dict with
        ``r``, ``r2``, ``alpha`` : (n_outer_folds, n_targets) float64
        ``fold`` : (n_samples,) int, the outer fold whose test set holds each sample (-1: never)
        ``alphas`` : (n_alphas,) the candidate grid
    """
    dtype = compute_dtype(X, dtype)
    X = check_features(X, "X", dtype)
    Y = check_targets(Y, X.shape[0])
    n_samples, n_targets = Y.shape
    groups = check_groups(groups, n_samples)
    alphas = check_alphas(alphas)
    batch_size = check_positive_int(target_batch_size, "target_batch_size")
    solver = check_solver(solver)
    xp = get_backend(backend)
    if outer_cv is None:
        outer_cv = "logo" if groups is not None else 5
    if isinstance(outer_cv, str) and outer_cv == "loo":
        raise ValueError("outer_cv='loo' is not supported: Pearson r needs several test "
                         "samples per fold")
    outer = make_splits(outer_cv, n_samples, groups)
    fold = fold_assignment(outer, n_samples)

    scores = {key: np.empty((len(outer), n_targets)) for key in ("r", "r2", "alpha")}
    for i, (train, test) in enumerate(outer):
        inner_scores = ridge_cv_scores(X, Y, alphas, inner_cv, groups, train, xp=xp,
                                       solver=solver, batch_size=batch_size)
        best_alphas = alphas[select_best(inner_scores, np.log(alphas))]
        spectrum = CentredSpectrum(xp.asarray(X[train]), solver, xp)
        test_projection = spectrum.project(xp.asarray(X[test]))
        for cols, y_mean, coef_dual in refit_dual(spectrum, Y, train, best_alphas, n_targets,
                                                  xp=xp, dtype=dtype, batch_size=batch_size):
            prediction = test_projection @ coef_dual + y_mean
            y_test = take_block(Y, test, cols, dtype, xp)
            scores["r"][i, cols] = column_pearson_r(y_test, prediction, xp)
            scores["r2"][i, cols] = column_r2(y_test, prediction, xp)
        scores["alpha"][i] = best_alphas
    return {**scores, "fold": fold, "alphas": alphas}


def normalise_by_noise_ceiling(score, ceiling, kind: str = "r") -> np.ndarray:
    r"""Express encoding scores as a fraction of what noise allows: an explicit, separate step.

    ``ceiling`` is the noise ceiling *as a correlation*: the Pearson r between the
    noise-free response and the measured one, i.e. the best r any model can reach (e.g.
    from split-half reliability with the Spearman–Brown correction). Then

    * ``kind="r"``:  ``score / ceiling``
    * ``kind="r2"``: ``score / ceiling**2``

    Why the square for R²: if measured ``y = s + e`` with noise ``e`` independent of the
    signal ``s`` and ``ceiling = corr(s, y) = sqrt(var s / var y)``, the perfect prediction
    ``ŷ = s`` has ``r = ceiling`` and ``R² = 1 - var e / var y = ceiling²``; both
    normalisations map that optimum to 1.

    Shapes broadcast (e.g. score (n_folds, n_targets) with ceiling (n_targets,)). Where
    ``ceiling <= 0`` or is NaN (no reliable signal, so no meaningful fraction) the result is
    NaN. Nothing is clipped: a noisy ceiling estimate can give values above 1 and a poor
    model negative ones.
    """
    if kind not in ("r", "r2"):
        raise ValueError(f"kind must be 'r' or 'r2', got {kind!r}")
    score = np.asarray(score, dtype=np.float64)
    ceiling = np.asarray(ceiling, dtype=np.float64)
    try:
        np.broadcast_shapes(score.shape, ceiling.shape)
    except ValueError:
        raise ValueError(f"score shape {score.shape} and ceiling shape {ceiling.shape} "
                         f"do not broadcast") from None
    valid = ceiling > 0
    denominator = np.where(valid, ceiling, 1.0) ** (1 if kind == "r" else 2)
    return np.where(valid, score / denominator, np.nan)
