"""The gLocal probe of one layer, end to end: item-disjoint split, reduction, calibration,
regularisation chosen by cross-validation, and held-out accuracy before and after.

1. **Split by item**: the stimuli are permuted (seeded) and a fraction ``test_fraction`` of them
   are test items; training triplets have all three items among the training items, test
   triplets all three among the test items (triplets that mix the two are used by neither), so
   no test item is seen in training.
2. **Reduce**: the features are centred on the training items' mean and projected on the first
   ``k = min(n_components, n_train - 1, p)`` principal axes of the training items (the transform
   has ``k^2 + k`` parameters), then divided by the training rows' root mean squared norm.
3. **Calibrate**: a scalar ``c`` minimising the training cross-entropy of ``c X`` (bounded scalar
   search) sets the scale of the logits, so that ``W = I`` is the best identity-like start and
   ``||W - I||`` penalises only what the transform changes.
4. **Choose lambda**: for every ``lam`` in ``lambdas``, :func:`.glocal.fit_glocal` on
   ``folds - 1`` folds of the training triplets (folds by unordered triplet, so repeats of a
   triplet stay together) and the mean cross-entropy on the held-out fold; the ``lam`` of the
   lowest mean held-out cross-entropy is refitted on every training triplet.
5. **Score**: odd-one-out accuracy on the test triplets with the dot product of the reduced
   features (``before``: the identity) and of the transformed ones (``after``).

The local batch of the gLocal term is the training items (at most ``local_batch`` of them,
drawn at random).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from .glocal import fit_glocal, odd_position_accuracy, transform, triplet_logits


@dataclass
class ProbeResult:
    weight: np.ndarray          # (k, k)
    bias: np.ndarray            # (k,)
    components: np.ndarray      # (k, p) principal axes of the training items
    mean: np.ndarray            # (p,) training mean
    scale: float                # the reduced features are (x - mean) @ components.T * scale
    lam: float                  # chosen regularisation
    cv_loss: np.ndarray         # (n_lambdas,) mean held-out cross-entropy
    before: float               # test accuracy with W = I
    after: float                # test accuracy with the fitted transform
    test_correct: np.ndarray    # (n_test,) 0/1 after
    test_rows: np.ndarray       # indices of the test triplets among the input triplets
    test_items: np.ndarray      # (n,) bool: stimulus is a test item


def item_split(n_items: int, test_fraction: float, triplets: np.ndarray, rng: np.random.Generator):
    """``(test item mask (n,), training triplet rows, test triplet rows)`` (module docstring, 1)."""
    test = np.zeros(n_items, dtype=bool)
    test[rng.permutation(n_items)[:int(round(test_fraction * n_items))]] = True
    in_test = test[triplets]
    return test, np.flatnonzero(~in_test.any(axis=1)), np.flatnonzero(in_test.all(axis=1))


def _cross_entropy(z, triplets, odd_position) -> float:
    return float(-log_softmax(triplet_logits(z, triplets), axis=1)[np.arange(len(triplets)), odd_position].mean())


def fit_probe(features: np.ndarray, triplets: np.ndarray, odd_position: np.ndarray, *, lambdas, alpha: float,
              tau: float, n_components: int, test_fraction: float, folds: int, local_batch: int,
              max_iter: int, seed) -> ProbeResult:
    """The probe of the module docstring. ``triplets`` (T, 3) rows of ``features`` (n, p);
    ``odd_position`` (T,) the position (0-2) of the human odd one out."""
    rng = np.random.default_rng(seed)
    x_all = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    test_items, train, test = item_split(len(x_all), test_fraction, triplets, rng)
    if len(train) < folds or len(test) == 0:
        raise ValueError(f"gLocal probe: {len(train)} training and {len(test)} test triplets after the item split "
                         f"(test_fraction {test_fraction}); give more triplets")
    train_items = np.flatnonzero(~test_items)
    mean = x_all[train_items].mean(axis=0)
    _, _, vt = np.linalg.svd(x_all[train_items] - mean, full_matrices=False)
    components = vt[:min(n_components, len(train_items) - 1, x_all.shape[1])]
    x = (x_all - mean) @ components.T
    rms = np.sqrt((x[train_items] ** 2).sum(axis=1).mean())
    x /= rms
    tt, to = triplets[train], odd_position[train]
    scale = minimize_scalar(lambda c: _cross_entropy(c * x, tt, to), bounds=(1e-3, 1e3), method="bounded").x
    x *= scale
    local = train_items if len(train_items) <= local_batch else rng.choice(train_items, local_batch, replace=False)
    _, group = np.unique(np.sort(tt, axis=1), axis=0, return_inverse=True)
    fold = rng.permutation(group.max() + 1)[group.ravel()] % folds
    cv_loss = np.array([np.mean([
        _cross_entropy(transform(x, *fit_glocal(x, tt[fold != f], to[fold != f], local, alpha=alpha, lam=lam,
                                                 tau=tau, max_iter=max_iter)), tt[fold == f], to[fold == f])
        for f in range(folds)]) for lam in lambdas])
    lam = float(lambdas[int(np.argmin(cv_loss))])
    weight, bias = fit_glocal(x, tt, to, local, alpha=alpha, lam=lam, tau=tau, max_iter=max_iter)
    z = transform(x, weight, bias)
    correct = np.argmax(triplet_logits(z, triplets[test]), axis=1) == odd_position[test]
    before = odd_position_accuracy(x, triplets[test], odd_position[test])
    return ProbeResult(weight, bias, components, mean, float(scale / rms), lam, cv_loss, before,
                       float(correct.mean()), correct.astype(np.int8), test, test_items)
