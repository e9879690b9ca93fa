r"""Cross-validated banded ridge over several feature spaces, and variance partitioning per voxel.

For feature spaces ``X_1..X_m`` (bands, e.g. two layers or two models) and runs as groups, each
outer fold leaves one run out. On the training runs:

* the joint model is :class:`~.banded.BandedRidgeCV` (one penalty per band, chosen per voxel
  by inner cross-validation grouped by run over the grid ``alphas^m``);
* for each band ``i``, the model of every band but ``i`` is fitted the same way (one band left:
  plain ridge, :class:`~.ridge.RidgeCV`).

On the held-out run, per voxel: the joint model's Pearson ``r`` and ``R^2``; each band's share
``split_r2`` of the joint ``R^2`` (:func:`~.banded.r2_score_split`); and the variance
partition (de Heer et al. 2017), from held-out ``R^2`` of the fitted models:

    unique_i = R^2(all bands) - R^2(all bands but i)

and, with two bands, ``shared = R^2(1) + R^2(2) - R^2(1, 2)`` (the variance both explain).
Held-out estimates are noisy: a unique or shared part can be negative.
"""

from __future__ import annotations

import numpy as np

from .banded import BandedRidgeCV
from .cv_splits import check_groups, make_splits
from .backend import get_backend
from .regression_scores import column_pearson_r, column_r2
from .ridge import RidgeCV

NP = get_backend("numpy")

__all__ = ["banded_encoding"]


def _fit(Xs, Y, train, groups, alphas, inner_cv, candidates=None):
    """Joint banded model (or ridge, for one band) fitted on the training rows."""
    if len(Xs) == 1:
        return RidgeCV(alphas=alphas, cv=inner_cv, dtype=np.float64).fit(Xs[0][train], Y[train], groups=groups[train])
    return BandedRidgeCV(alphas=alphas if candidates is None else candidates, cv=inner_cv, dtype=np.float64).fit(
        [X[train] for X in Xs], Y[train], groups=groups[train])


def _predict(model, Xs, rows):
    return model.predict(Xs[0][rows]) if len(Xs) == 1 else model.predict([X[rows] for X in Xs])


def banded_encoding(Xs, Y, *, groups, alphas, inner_cv=3, candidates=None) -> dict:
    """Leave-one-run-out banded encoding and variance partition (module docstring).

    Parameters
    ----------
    Xs : list of (n_samples, p_i) arrays, at least 2; Y : (n_samples, n_targets)
    groups : (n_samples,) run per sample; alphas : 1-D grid (every band); inner_cv : as RidgeCV
    candidates : optional (n_candidates, m) explicit penalties of the joint model (default: the
        Cartesian product ``alphas^m``); the models of fewer bands use ``alphas^(m-1)``

    Returns
    -------
    dict of float64 arrays: ``r``, ``r2`` (fold, target); ``split_r2``, ``unique_r2``,
    ``best_alphas`` (band, fold, target); ``shared_r2`` (fold, target) with two bands; ``fold``
    (n_samples,) the outer fold of each sample.
    """
    Xs = [np.asarray(X, dtype=np.float64) for X in Xs]
    if len(Xs) < 2:
        raise ValueError(f"banded encoding needs at least 2 feature spaces, got {len(Xs)}")
    Y = np.asarray(Y, dtype=np.float64)
    groups = check_groups(groups, Y.shape[0])
    outer = make_splits("logo", Y.shape[0], groups)
    m, n_folds, n_targets = len(Xs), len(outer), Y.shape[1]
    out = {"r": np.empty((n_folds, n_targets)), "r2": np.empty((n_folds, n_targets)),
           "split_r2": np.empty((m, n_folds, n_targets)), "unique_r2": np.empty((m, n_folds, n_targets)),
           "best_alphas": np.empty((m, n_folds, n_targets)), "fold": np.full(Y.shape[0], -1)}
    if m == 2:
        out["shared_r2"] = np.empty((n_folds, n_targets))
    for f, (train, test) in enumerate(outer):
        out["fold"][test] = f
        joint = _fit(Xs, Y, train, groups, alphas, inner_cv, candidates)
        prediction = _predict(joint, Xs, test)
        out["r"][f] = column_pearson_r(Y[test], prediction, NP)
        out["r2"][f] = r2 = column_r2(Y[test], prediction, NP)
        out["split_r2"][:, f] = joint.score_split([X[test] for X in Xs], Y[test])
        out["best_alphas"][:, f] = joint.best_alphas_
        without = []
        for i in range(m):
            rest = Xs[:i] + Xs[i + 1:]
            without.append(column_r2(Y[test], _predict(_fit(rest, Y, train, groups, alphas, inner_cv), rest, test), NP))
            out["unique_r2"][i, f] = r2 - without[-1]
        if m == 2:
            out["shared_r2"][f] = without[0] + without[1] - r2
    return out
