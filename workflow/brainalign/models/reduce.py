"""Reducing a layer's ``d`` pooled units to ``k`` components: sparse random projection or PCA.

**Sparse random projection** (Achlioptas 2003; Li, Hastie & Church 2006). ``y = x R`` with
``R`` a ``(d, k)`` matrix of independent entries

    R_ij = sqrt(s / k) * (+1 with probability 1 / (2 s), 0 with probability 1 - 1 / s,
                          -1 with probability 1 / (2 s)),      s = sqrt(d),

so ``E[R_ij^2] = 1 / k`` and ``E ||x R||^2 = ||x||^2``: squared distances are preserved in
expectation, and by the Johnson-Lindenstrauss lemma all ``n (n - 1) / 2`` pairwise squared
distances of ``n`` points lie within a factor ``1 +- eps`` with high probability once
``k >= 4 ln(n) / (eps^2 / 2 - eps^3 / 3)``. ``R`` depends only on ``(d, k, seed)``, so it is
never stored and every batch is projected independently.

**PCA** fitted on a subset of stimuli ``X_fit`` (``m x d``): with ``mu`` its column mean and
``X_fit - mu = U S V^T`` (thin SVD), ``y = (x - mu) V_k`` for the first ``k`` right singular
vectors. Each component's sign is fixed so that its largest-magnitude loading is positive.
Fitting holds ``X_fit`` in float64 (``8 m d`` bytes).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse


def sparse_random_matrix(n_features: int, n_components: int, seed: int) -> scipy.sparse.csc_array:
    """The ``(d, k)`` projection matrix ``R`` of the module docstring, float64, seeded."""
    d, k = int(n_features), int(n_components)
    if d < 1 or k < 1:
        raise ValueError(f"sparse random projection needs d >= 1 and k >= 1, got d={d}, k={k}")
    s = max(np.sqrt(d), 1.0)
    rng = np.random.default_rng(seed)
    rows, cols, values = [], [], []
    for j in range(k):
        nnz = rng.binomial(d, 1.0 / s)
        rows.append(rng.choice(d, size=nnz, replace=False))
        values.append(rng.integers(0, 2, size=nnz) * 2.0 - 1.0)
        cols.append(np.full(nnz, j))
    scale = np.sqrt(s / k)
    return scipy.sparse.csc_array(
        (np.concatenate(values) * scale, (np.concatenate(rows), np.concatenate(cols))),
        shape=(d, k))


class SparseRandomProjection:
    """``x -> x R`` (module docstring); :meth:`fit` only needs the number of units ``d``."""

    method = "srp"

    def __init__(self, n_components: int, seed: int):
        self.n_components = int(n_components)
        self.seed = int(seed)
        self.matrix = None

    def fit(self, n_features: int) -> SparseRandomProjection:
        self.matrix = sparse_random_matrix(n_features, self.n_components, self.seed)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(n, d)`` -> ``(n, k)`` float32 (products accumulated in float64)."""
        return np.asarray((self.matrix.T @ np.asarray(x, dtype=np.float64).T).T, dtype=np.float32)

    def describe(self) -> dict:
        d = self.matrix.shape[0]
        return {"method": "srp", "n_components": self.n_components, "seed": self.seed,
                "density": float(1.0 / max(np.sqrt(d), 1.0)),
                "scaling": "R_ij = sqrt(s/k) * {+1, 0, -1} w.p. {1/(2s), 1-1/s, 1/(2s)}, s=sqrt(d)"}


class PCA:
    """Principal components of a fitting subset (module docstring)."""

    method = "pca"

    def __init__(self, n_components: int):
        self.n_components = int(n_components)
        self.mean = self.components = self.explained_variance_ratio = None
        self.n_fit = 0

    def fit(self, x_fit: np.ndarray) -> PCA:
        """Fit on ``x_fit`` ``(m, d)``; needs ``k <= min(m, d)``."""
        x = np.asarray(x_fit, dtype=np.float64)
        m, d = x.shape
        if self.n_components > min(m, d):
            raise ValueError(f"model spec key 'reduce.n_components': PCA of {m} fitting stimuli "
                             f"x {d} units gives at most {min(m, d)} components, "
                             f"not {self.n_components}")
        self.mean = x.mean(axis=0)
        _, svals, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        comps = vt[: self.n_components]
        signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
        self.components = comps * signs[:, None]
        var = svals**2
        self.explained_variance_ratio = var[: self.n_components] / var.sum()
        self.n_fit = m
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(n, d)`` -> ``(n, k)`` float32: ``(x - mu) V_k``."""
        return ((np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T).astype(np.float32)

    def describe(self) -> dict:
        return {"method": "pca", "n_components": self.n_components, "n_fit": self.n_fit,
                "explained_variance_ratio": [float(v) for v in self.explained_variance_ratio]}


def fit_subset(n_stimuli: int, fit_on: int | None, seed: int) -> np.ndarray:
    """Sorted indices of the stimuli PCA is fitted on: ``fit_on`` drawn without replacement
    from a generator seeded with ``seed``, or all stimuli when ``fit_on`` is None or ``>= n``."""
    if fit_on is None or fit_on >= n_stimuli:
        return np.arange(n_stimuli)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_stimuli, size=int(fit_on), replace=False))
