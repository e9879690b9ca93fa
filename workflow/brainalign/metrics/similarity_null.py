"""Permutation null of model-model similarity: the stimulus correspondence shuffled.

For representations ``X`` (source) and ``Y`` (target) of the same ``n`` stimuli and a metric
``f``, permutation ``pi`` of the stimuli gives ``f(X, Y[pi])``: what ``f`` reads when the two
representations share no stimulus structure but keep their own (dimensionality, spectrum,
scale). Scores such as CKA are well above 0 under this null at small ``n`` and high
dimensionality, so a score is read against its null:

* ``p = (1 + #{pi : f(X, Y[pi]) >= f(X, Y)}) / (1 + P)`` for a similarity; ``<=`` for a
  distance (:data:`brainalign.metrics.similarity.DISTANCES`);
* the same ``P`` permutations (``numpy.random.default_rng(seed).permutation(n)`` in turn) for
  every pair, so the null of every pair is paired with every other's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .similarity import DISTANCES, _metric_function, as_representation

__all__ = ["stimulus_permutations", "similarity_null", "null_p_values"]


def stimulus_permutations(n_stimuli: int, n_permutations: int, seed) -> np.ndarray:
    """(P, n) permutations of the stimuli, seeded."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n_stimuli) for _ in range(n_permutations)]) if n_permutations else \
        np.zeros((0, n_stimuli), dtype=int)


def similarity_null(representations: Mapping[str, object], metric: str, permutations: np.ndarray,
                    **kwargs) -> np.ndarray:
    """``null[p, a, b] = f(rep_a, rep_b[pi_p])`` over every ordered pair of the named
    representations (P, m, m)."""
    function = _metric_function(metric)
    arrays = [as_representation(r, f"representations[{k!r}]") for k, r in representations.items()]
    m = len(arrays)
    null = np.empty((len(permutations), m, m))
    for p, perm in enumerate(permutations):
        for b in range(m):
            shuffled = arrays[b][perm]
            for a in range(m):
                null[p, a, b] = function(arrays[a], shuffled, **kwargs)
    return null


def null_p_values(observed: np.ndarray, null: np.ndarray, metric: str) -> np.ndarray:
    """Permutation p-values of ``observed`` (m, m) against ``null`` (P, m, m) (module docstring)."""
    tol = 1e-12 * np.maximum(np.abs(observed), 1)
    beyond = null <= observed + tol if metric in DISTANCES else null >= observed - tol
    return (1 + beyond.sum(axis=0)) / (1 + null.shape[0])
