"""Linear probes of a representation: cross-validated and n-shot accuracy of a logistic regression.

A probe is scikit-learn's multinomial ``LogisticRegression`` (lbfgs) with an L2 penalty: it
minimises, over weights ``W`` (p, k) and intercepts ``b`` (k,),

    ``sum_i -log softmax(x_i W + b)[y_i] + ||W||^2 / (2 C)``

(the intercept is not penalised). With ``standardize``, each unit is first divided by its s.d.
over all stimuli of the set (no label is used; a constant unit is left as it is). Because the
penalty is on ``||W||`` alone, the optimum ``W`` lies in the span of the training rows, and
because the intercept is free, shifting every row by the same vector changes nothing: each probe is
fitted on the training rows centred on their mean and expressed in an orthonormal basis of their
span, computed from the Gram matrix ``K = X X^T`` (n, n) alone (:func:`span_coordinates`). ``K``
is computed once per representation, so a probe's cost grows with the number of stimuli, not
with the number of units.

* :func:`cv_accuracy`: stratified outer folds (seeded); in each, ``C`` is chosen from a list by
  inner stratified cross-validation on the training rows (the largest mean inner accuracy; ties go
  to the smallest ``C``), refitted on all training rows and scored on the held-out fold.
  Accuracy = correct held-out predictions / stimuli.
* :func:`nshot_accuracy`: for each of ``n_draws`` random draws (seeded), ``n`` training examples
  of every class and all the others as test set; accuracy on the test set, one value per draw.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

__all__ = ["gram", "span_coordinates", "fit_predict", "outer_folds", "choose_C", "cv_accuracy", "nshot_draws",
           "nshot_accuracy"]

MAX_ITER = 2000


def gram(X, standardize: bool = True) -> np.ndarray:
    """``K = X_s X_s^T`` (n, n) float64, ``X_s`` = ``X`` with each unit divided by its s.d. over the
    rows (``standardize``; s.d. 0: divided by 1) or ``X`` itself."""
    X = np.asarray(X, np.float64)
    if standardize:
        sd = X.std(0)
        sd[sd == 0] = 1.0
        X = X / sd
    return X @ X.T


def span_coordinates(K: np.ndarray, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training and test rows, centred on the training mean, in an orthonormal basis of the centred
    training rows' span, from the Gram matrix ``K`` (n, n) alone.

    With ``C = I - 11^T / t`` (t = n_train), the centred Gram blocks are ``K_tt = C K[train, train] C``
    and ``K_st = (K[test, train] - 1 k^T) C`` (``k`` the column means of ``K[train, train]``); with
    ``K_tt = U diag(w) U^T`` and the ``r`` eigenvalues ``w > w_max t eps`` kept, the coordinates are
    ``U diag(w)^(1/2)`` (t, r) and ``K_st U diag(w)^(-1/2)`` (n_test, r).
    """
    k_train = K[np.ix_(train, train)]
    col = k_train.mean(0)
    centred = k_train - col[:, None] - col[None, :] + col.mean()
    cross = K[np.ix_(test, train)]
    cross = cross - cross.mean(1, keepdims=True) - col[None, :] + col.mean()
    w, u = np.linalg.eigh(centred)
    keep = w > max(w[-1], 0.0) * len(train) * np.finfo(float).eps
    w, u = w[keep], u[:, keep]
    return u * np.sqrt(w), cross @ (u / np.sqrt(w))


def fit_predict(K: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, C: float) -> np.ndarray:
    """Labels of the ``test`` rows predicted by the probe (module docstring) fitted on the ``train``
    rows, from the Gram matrix ``K`` (:func:`gram`) and labels ``y`` of all rows."""
    if len(np.unique(y[train])) < 2:
        raise ValueError("probe: the training rows hold a single class")
    z_train, z_test = span_coordinates(K, train, test)
    model = LogisticRegression(C=C, max_iter=MAX_ITER, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # separable data: C bounds the weights
        model.fit(z_train, y[train])
    return model.predict(z_test)


def _one_thread():
    """BLAS on one thread: the fits are (n, n) problems, which threads slow down when cores are busy."""
    return threadpool_limits(limits=1, user_api="blas")


def _accuracy(predicted, truth) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(truth)))


def outer_folds(labels: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_folds`` stratified (train, test) index pairs, stimuli shuffled with ``seed``: every test
    fold holds each class's stimuli in proportion (counts differ by at most one between folds)."""
    labels = np.asarray(labels)
    _, counts = np.unique(labels, return_counts=True)
    if counts.min() < n_folds:
        raise ValueError(f"probe: a class has {counts.min()} stimuli, fewer than the {n_folds} folds")
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def choose_C(K, y, rows, Cs, n_folds: int, seed: int) -> tuple[float, np.ndarray]:
    """The ``C`` of ``Cs`` (increasing) with the largest mean accuracy over ``n_folds`` stratified
    folds of the stimuli ``rows`` (ties: the first, the strongest penalty); returns it and the
    mean accuracy of every ``C`` (len(Cs),)."""
    scores = np.zeros(len(Cs))
    for train, test in outer_folds(y[rows], n_folds, seed):
        for c, C in enumerate(Cs):
            scores[c] += _accuracy(fit_predict(K, y, rows[train], rows[test], C), y[rows[test]])
    scores /= n_folds
    return float(Cs[int(np.argmax(scores))]), scores


def cv_accuracy(X, y, *, Cs, outer: int = 5, inner: int = 3, seed: int = 0, standardize: bool = True) -> dict:
    """Cross-validated probe accuracy of ``X`` (n, p) for labels ``y`` (n,) (module docstring).

    Returns ``accuracy`` (float, over all stimuli), ``fold_accuracy`` (outer,), ``C`` (outer,) the
    chosen penalty of each fold, ``inner_accuracy`` (outer, len(Cs)) and ``predicted`` (n,) each
    stimulus's held-out prediction. The inner folds of outer fold ``f`` are seeded ``seed + 1 + f``.
    """
    K, y = gram(X, standardize), np.asarray(y)
    Cs = sorted(float(c) for c in Cs)
    predicted = np.empty(len(y), dtype=y.dtype)
    fold_accuracy, chosen, inner_scores = [], [], []
    with _one_thread():
        for f, (train, test) in enumerate(outer_folds(y, outer, seed)):
            C, scores = choose_C(K, y, train, Cs, inner, seed + 1 + f)
            predicted[test] = fit_predict(K, y, train, test, C)
            fold_accuracy.append(_accuracy(predicted[test], y[test]))
            chosen.append(C)
            inner_scores.append(scores)
    return {"accuracy": _accuracy(predicted, y), "fold_accuracy": np.array(fold_accuracy), "C": np.array(chosen),
            "inner_accuracy": np.array(inner_scores), "predicted": predicted}


def nshot_draws(labels, n: int, n_draws: int, seed: int) -> np.ndarray:
    """Training indices of ``n_draws`` n-shot draws, (n_draws, n * n_classes) int: in each draw
    ``n`` stimuli of every class, drawn without replacement (classes in sorted order; every
    class needs more than ``n`` stimuli so that each leaves at least one to test)."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() <= n:
        small = str(classes[int(np.argmin(counts))])
        raise ValueError(f"probe: {n}-shot needs more than {n} stimuli of every class; class {small!r} "
                         f"has {counts.min()}")
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(labels == c) for c in classes]
    return np.array([np.concatenate([rng.choice(m, n, replace=False) for m in members])
                     for _ in range(n_draws)])


def nshot_accuracy(X, y, *, n: int, n_draws: int, C: float, seed: int = 0, standardize: bool = True) -> np.ndarray:
    """Test accuracy of each n-shot draw (:func:`nshot_draws`), (n_draws,): the probe with penalty
    ``C`` trained on the draw's stimuli and tested on all the others."""
    K, y = gram(X, standardize), np.asarray(y)
    out = np.empty(n_draws)
    with _one_thread():
        for d, train in enumerate(nshot_draws(y, n, n_draws, seed)):
            test = np.setdiff1d(np.arange(len(y)), train)
            out[d] = _accuracy(fit_predict(K, y, train, test, C), y[test])
    return out
