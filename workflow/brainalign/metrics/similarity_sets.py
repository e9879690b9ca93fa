"""Model-model similarity over several stimulus sets, and against the models' probe behaviour.

Inputs are model x model matrices ``S_s`` (m, m) of one metric, one per stimulus set ``s``, models
in the same order (each model represented by one layer).

* :func:`consistency_matrix`: ``R[i, j]`` = Pearson (or Spearman) correlation, over the model
  pairs ``a < b``, of ``S_i[a, b]`` and ``S_j[a, b]`` (Ciernik et al. 2025): does the metric rank
  the pairs of models the same way on both sets? (:func:`.similarity.cross_set_consistency`; an
  asymmetric matrix is symmetrised, ``(S + S^T) / 2``, first.)
* :func:`tag_consistency`: the same correlation restricted to the model pairs of one group of a
  model tag (``within <value>``: both models have that value; ``between``: their values differ),
  averaged over the set pairs ``i < j``; a group of fewer than 3 pairs gets NaN.
* :func:`similarity_gap`: per model pair, the similarity on one set against the gap in probe
  accuracy ``|acc_a - acc_b|`` (rounded to 1e-12, so that equal gaps tie); Spearman's rho over pairs, and a permutation p-value that keeps
  the dependence between pairs sharing a model (a Mantel test: the models' accuracies are permuted,
  every permutation when ``m!`` is at most ``n_permutations``, else ``n_permutations`` random ones;
  two-sided, ``p = (1 + #{|rho*| >= |rho|}) / (1 + n)`` for random permutations and
  ``#{|rho*| >= |rho|} / m!`` for all of them, the identity included).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats

from .similarity import cross_set_consistency

__all__ = ["symmetrised", "consistency_matrix", "tag_consistency", "similarity_gap"]


def symmetrised(matrix) -> np.ndarray:
    """``(S + S^T) / 2``."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return (matrix + matrix.T) / 2


def consistency_matrix(matrices: list, method: str = "pearson") -> np.ndarray:
    """(n_sets, n_sets) correlations of every two sets' model x model matrices (module docstring);
    the diagonal is 1."""
    sym = [symmetrised(m) for m in matrices]
    n = len(sym)
    out = np.eye(n)
    for i, j in itertools.combinations(range(n), 2):
        out[i, j] = out[j, i] = cross_set_consistency(sym[i], sym[j], method)
    return out


def _pair_correlation(x: np.ndarray, y: np.ndarray, method: str) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    return float(stats.spearmanr(x, y).statistic if method == "spearman" else np.corrcoef(x, y)[0, 1])


def tag_consistency(matrices: list, tags: list, method: str = "pearson") -> list[dict]:
    """Consistency across sets within and between the groups of one tag (module docstring).

    ``tags`` holds each model's value (None: untagged, left out). Returns one dict per group with
    ``group`` (``within <value>`` or ``between``), ``n_pairs`` and ``consistency`` (the mean over set
    pairs; NaN for fewer than 3 model pairs or a constant similarity).
    """
    sym = [symmetrised(m) for m in matrices]
    pairs = [(a, b) for a, b in itertools.combinations(range(len(tags)), 2)
             if tags[a] is not None and tags[b] is not None]
    groups: dict[str, list] = {}
    for a, b in pairs:
        key = f"within {tags[a]}" if tags[a] == tags[b] else "between"
        groups.setdefault(key, []).append((a, b))
    out = []
    for key in sorted(groups):
        index = tuple(np.array(groups[key]).T)
        values = [_pair_correlation(sym[i][index], sym[j][index], method)
                  for i, j in itertools.combinations(range(len(sym)), 2)]
        out.append({"group": key, "n_pairs": len(groups[key]),
                    "consistency": float(np.mean(values)) if values else np.nan})
    return out


def _permutations(m: int, n_permutations: int, seed: int) -> tuple[np.ndarray, bool]:
    """Every permutation of ``m`` models when ``m! <= n_permutations`` (exact), else random ones."""
    if math.factorial(m) <= n_permutations:
        return np.array(list(itertools.permutations(range(m)))), True
    rng = np.random.default_rng(seed)
    return np.array([rng.permutation(m) for _ in range(n_permutations)]), False


def similarity_gap(matrix, accuracy, *, n_permutations: int = 1000, seed: int = 0) -> dict:
    """Similarity against the probe-accuracy gap over model pairs (module docstring).

    Parameters
    ----------
    matrix : array (m, m)
        Model x model similarity (or distance) on one set, symmetrised here.
    accuracy : array (m,)
        Each model's probe accuracy on that set.

    Returns ``similarity`` and ``gap`` (n_pairs,) of the pairs ``a < b``, ``rho`` (Spearman),
    ``p_value``, ``n_permutations`` and ``exact``.
    """
    sym, acc = symmetrised(matrix), np.asarray(accuracy, dtype=np.float64)
    m = len(acc)
    if sym.shape != (m, m) or m < 3:
        raise ValueError(f"similarity_gap needs an (m, m) matrix and m >= 3 accuracies, got {sym.shape} and {m}")
    upper = np.triu_indices(m, k=1)
    x = sym[upper]

    def gaps(a: np.ndarray) -> np.ndarray:
        # rounded so that equal gaps (accuracies are fractions k / n) tie whatever float rounding did
        return np.round(np.abs(a[:, None] - a[None, :])[upper], 12)

    def rho(a: np.ndarray) -> float:
        return _pair_correlation(x, gaps(a), "spearman")

    observed = rho(acc)
    perms, exact = _permutations(m, n_permutations, seed)
    null = np.array([rho(acc[p]) for p in perms])
    hits = int(np.sum(np.abs(null) >= abs(observed) - 1e-12)) if np.isfinite(observed) else 0
    p = hits / len(perms) if exact else (1 + hits) / (1 + len(perms))
    return {"similarity": x, "gap": gaps(acc), "rho": observed,
            "p_value": float(p) if np.isfinite(observed) else np.nan, "n_permutations": len(perms), "exact": exact}
