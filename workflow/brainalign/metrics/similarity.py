"""Model–model similarity by metric name, model x model matrices, and their consistency across
stimulus sets.

Every metric takes two representations ``X`` (n_stimuli, p) and ``Y`` (n_stimuli, q) of the
same stimuli in the same row order and returns one float. The metrics live in their own
modules (:mod:`.cka`, :mod:`.neighbours`, :mod:`.procrustes`, :mod:`.cca`,
:mod:`.soft_matching`); this module names them for configs and the similarity stage.

=======================  ==========  =====================================================
name                     kind        function and fixed arguments
=======================  ==========  =====================================================
``cka_linear``           similarity  :func:`.cka.linear_cka`
``cka_linear_unbiased``  similarity  :func:`.cka.linear_cka` (``unbiased=True``)
``cka_rbf``              similarity  :func:`.cka.rbf_cka` (``bandwidth_fraction``)
``cka_rbf_unbiased``     similarity  :func:`.cka.rbf_cka` (``unbiased=True``)
``mutual_knn``           similarity  :func:`.neighbours.mutual_knn` (``k``)
``cknna``                similarity  :func:`.neighbours.cknna` (``k``; not symmetric)
``svcca``                similarity  :func:`.cca.svcca` (``variance_fraction``/``n_components``)
``pwcca``                similarity  :func:`.cca.pwcca` (``weights_from``; not symmetric)
``procrustes``           distance    :func:`.procrustes.procrustes_distance`
``procrustes_angular``   distance    :func:`.procrustes.procrustes_angular` (radians)
``soft_matching``        distance    :func:`.soft_matching.soft_matching_distance`
=======================  ==========  =====================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np
from scipy import stats

from ._paired_input import as_representation, as_square_pair
from .cca import pwcca, svcca
from .cka import linear_cka, rbf_cka
from .neighbours import cknna, mutual_knn
from .procrustes import procrustes_angular, procrustes_distance
from .soft_matching import soft_matching_distance

__all__ = ["METRICS", "DISTANCES", "ASYMMETRIC", "similarity", "similarity_matrix",
           "cross_set_consistency"]

METRICS = {
    "cka_linear": linear_cka,
    "cka_linear_unbiased": partial(linear_cka, unbiased=True),
    "cka_rbf": rbf_cka,
    "cka_rbf_unbiased": partial(rbf_cka, unbiased=True),
    "mutual_knn": mutual_knn,
    "cknna": cknna,
    "svcca": svcca,
    "pwcca": pwcca,
    "procrustes": procrustes_distance,
    "procrustes_angular": procrustes_angular,
    "soft_matching": soft_matching_distance,
}
"""Metric name -> function ``f(X, Y, **kwargs) -> float``."""

DISTANCES = frozenset({"procrustes", "procrustes_angular", "soft_matching"})
"""Metrics where 0 means identical and larger means less similar."""

ASYMMETRIC = frozenset({"pwcca", "cknna"})
"""Metrics where ``f(X, Y)`` and ``f(Y, X)`` can differ."""


def similarity(X, Y, metric: str, **kwargs) -> float:
    """Similarity (or, for names in :data:`DISTANCES`, distance) of ``X`` and ``Y``.

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    Y : array, shape (n_stimuli, q)
    metric : str
        A key of :data:`METRICS`.
    **kwargs
        Passed to the metric's function (e.g. ``k`` for ``mutual_knn``).
    """
    return float(_metric_function(metric)(X, Y, **kwargs))


def similarity_matrix(representations: Mapping[str, object], metric: str,
                      **kwargs) -> tuple[list[str], np.ndarray]:
    """All pairwise similarities between named representations of the same stimuli.

    Parameters
    ----------
    representations : mapping name -> array (n_stimuli, n_units)
        Models (or layers) in the order wanted for the matrix; at least one.
    metric : str
        A key of :data:`METRICS`.
    **kwargs
        Passed to the metric's function.

    Returns
    -------
    names : list of str
        The keys of ``representations`` in their order.
    matrix : float64 array, shape (m, m)
        ``matrix[a, b] = metric(representations[a], representations[b])``; the diagonal is
        computed too. Symmetric metrics are computed once per pair and mirrored; for those in
        :data:`ASYMMETRIC` every ordered pair is computed.
    """
    function = _metric_function(metric)
    if not isinstance(representations, Mapping) or len(representations) == 0:
        raise ValueError("representations must be a non-empty mapping of name -> array")
    names = list(representations)
    arrays = [as_representation(representations[name], f"representations[{name!r}]")
              for name in names]
    if len({array.shape[0] for array in arrays}) != 1:
        shapes = {name: array.shape for name, array in zip(names, arrays, strict=True)}
        raise ValueError(f"all representations must have the same number of stimuli: {shapes}")
    m = len(names)
    matrix = np.empty((m, m))
    for a in range(m):
        for b in range(m) if metric in ASYMMETRIC else range(a, m):
            matrix[a, b] = function(arrays[a], arrays[b], **kwargs)
            if metric not in ASYMMETRIC:
                matrix[b, a] = matrix[a, b]
    return names, matrix


def cross_set_consistency(matrix_a, matrix_b, method: str = "pearson") -> float:
    """Agreement of two model x model similarity matrices computed on two stimulus sets.

    The correlation (Pearson, or Spearman's rank correlation) between the strict upper
    triangles ``{M[a, b] : a < b}`` of the two matrices, models in the same order in both:
    ``m (m - 1) / 2`` pairs, so at least 3 models. For an asymmetric metric, symmetrise first.

    Parameters
    ----------
    matrix_a, matrix_b : array, shape (m, m)
    method : {"pearson", "spearman"}
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    a, b = as_square_pair(matrix_a, matrix_b, ("matrix_a", "matrix_b"), "(m, m) matrix",
                          "list the same models")
    if a.shape[0] < 3:
        raise ValueError(f"need at least 3 models (3 pairs) to correlate, got {a.shape[0]}")
    upper = np.triu_indices(a.shape[0], k=1)
    x, y = a[upper], b[upper]
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("the similarity matrices contain NaN or infinite values off the diagonal")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise ValueError("a matrix has the same similarity for every pair: correlation undefined")
    if method == "spearman":
        return float(stats.spearmanr(x, y).statistic)
    return float(np.corrcoef(x, y)[0, 1])


def _metric_function(metric: str):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")
    return METRICS[metric]
