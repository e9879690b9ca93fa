r"""Ridge with many targets from block moments: one eigendecomposition per split, for every target.

When every training and validation set is a union of *blocks* of samples (runs or sessions),
ridge needs the data only through per-block moments::

    n_b,  s_b = sum x,  A_b = sum x x^T (p x p),      — features: once per layer
    t_b = sum y,  C_b = sum x y^T (p x targets),  q_b = sum y²   — targets: one GEMM per block

(sums over the samples of block ``b``, float64). For a training set ``T`` (means ``x̄``, ``ȳ``)
the centred moments are ``S_xx = A_T - n_T x̄ x̄^T`` and ``S_xy = C_T - n_T x̄ ȳ^T``; with
``S_xx = V diag(λ) V^T`` (one ``eigh`` per split, shared by every target and every alpha),

    B(alpha) = V diag(1 / (λ + alpha)) Z,    Z = V^T S_xy,

and the validation error of each alpha on a set ``V`` (centred with the *training* means,
``x' = x - x̄``, ``y' = y - ȳ``) is a quadratic form in the same basis::

    SSE(alpha) = sum_V y'² - 2 b~^T W + b~^T Q b~,   W = V^T sum_V x' y',  Q = V^T (sum_V x' x'^T) V,

with ``b~ = diag(1 / (λ + alpha)) Z`` per target. Validation R² is ``1 - SSE / SST`` with
``SST`` about the validation mean (0 for a target constant on the set), averaged over the inner
splits: exactly :func:`.ridge_solver.cv_r2`. The cost per split is ``(2 + n_alphas) p² t`` for
``t`` targets, against ``n_train p t + n_alphas n_val p t`` for predicting every validation
sample, so it pays when ``p`` is well below the number of samples.

An outer fold's test blocks are held out from its training set the same way, so the refit's
held-out Pearson r and R² come from the same sums (:meth:`ValidationSplit.scores`): ``p² t``
per fold instead of ``n_test p t`` for forming the test predictions.
"""

from __future__ import annotations

import numpy as np

from .regression_scores import r2_from_sums
from .ridge_solver import select_best


def block_sum(per_block: np.ndarray, total: np.ndarray, blocks) -> np.ndarray:
    """``sum_{b in blocks} per_block[b]``, added block by block (no stacked copy), or, when the other
    blocks are fewer, as ``total`` less their sum: a training set holds most blocks."""
    chosen = np.zeros(len(per_block), dtype=bool)
    chosen[np.asarray(blocks, dtype=np.intp)] = True
    if 2 * chosen.sum() > len(chosen):
        out = total.copy()
        for b in np.flatnonzero(~chosen):
            out -= per_block[b]
        return out
    out = np.zeros_like(total)
    for b in np.flatnonzero(chosen):
        out += per_block[b]
    return out


class FeatureMoments:
    """Per-block feature moments of one layer: ``n`` (B,), ``s`` (B, p), ``A`` (B, p, p)."""

    def __init__(self, X: np.ndarray, block: np.ndarray, n_blocks: int):
        x = np.asarray(X, dtype=np.float64)
        p = x.shape[1]
        self.n = np.bincount(block[block >= 0], minlength=n_blocks).astype(np.float64)  # -1: in no block
        self.s = np.zeros((n_blocks, p))
        self.A = np.zeros((n_blocks, p, p))
        for b in range(n_blocks):
            rows = x[block == b]
            self.s[b] = rows.sum(axis=0)
            self.A[b] = rows.T @ rows
        self.A_total = self.A.sum(axis=0)

    def of(self, blocks):
        """``(n, s, A)`` summed over ``blocks``."""
        return self.n[blocks].sum(), self.s[blocks].sum(axis=0), block_sum(self.A, self.A_total, blocks)


class TargetMoments:
    """Per-block target moments for a chunk of targets: ``t`` (B, k), ``C`` (B, p, k), ``q`` (B, k)."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, block: np.ndarray, n_blocks: int):
        k = Y.shape[1]
        self.t = np.zeros((n_blocks, k))
        self.q = np.zeros((n_blocks, k))
        self.C = np.zeros((n_blocks, X.shape[1], k))
        for b in range(n_blocks):
            rows = np.flatnonzero(block == b)
            y = np.asarray(Y[rows], dtype=np.float64)
            self.t[b] = y.sum(axis=0)
            self.q[b] = np.einsum("ij,ij->j", y, y)
            self.C[b] = np.asarray(X[rows], dtype=np.float64).T @ y
        self.C_total = self.C.sum(axis=0)

    def of(self, blocks):
        """``(t, C, q)`` summed over ``blocks``."""
        return self.t[blocks].sum(axis=0), block_sum(self.C, self.C_total, blocks), self.q[blocks].sum(axis=0)


class TrainingSet:
    """The eigendecomposition of one training set's centred feature moments."""

    def __init__(self, features: FeatureMoments, blocks):
        self.blocks = np.asarray(blocks)
        self.n, s, A = features.of(self.blocks)
        self.x_mean = s / self.n
        eigvals, self.V = np.linalg.eigh(A - self.n * np.outer(self.x_mean, self.x_mean))
        self.eigvals = np.clip(eigvals, 0.0, None)

    def centred_cross(self, targets: TargetMoments):
        """``(ȳ, Z = V^T S_xy)`` for a chunk of targets."""
        t, C, _ = targets.of(self.blocks)
        y_mean = t / self.n
        return y_mean, self.V.T @ (C - self.n * np.outer(self.x_mean, y_mean))

    def coefficients(self, Z: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """``B`` (p, k) with one alpha per target: ``V diag(1/(λ + alpha_j)) Z_j``."""
        return self.V @ (Z / (self.eigvals[:, None] + alpha[None, :]))


class ValidationSplit:
    """A training set and held-out blocks (an inner split's validation set, or an outer fold's
    test set): the :class:`TrainingSet` and the held-out blocks' moments in its basis."""

    def __init__(self, features: FeatureMoments, train_blocks, val_blocks):
        self.train = TrainingSet(features, train_blocks)
        self.val_blocks = np.asarray(val_blocks)
        n, s, A = features.of(self.val_blocks)
        m = self.train.x_mean
        centred = A - np.outer(s, m) - np.outer(m, s) + n * np.outer(m, m)  # sum_V x' x'^T
        self.Q = self.train.V.T @ centred @ self.train.V
        self.x_sum = self.train.V.T @ (s - n * m)  # V^T sum_V x'
        self.n_val, self.s_val = n, s

    def _sums(self, targets: TargetMoments):
        """``Z`` (p, k) of the training set and, over the held-out blocks, ``W = V^T sum x' y'``
        (p, k), ``sum y'²``, ``sum y'`` and ``SST = sum (y - mean_V y)²`` (k,)."""
        y_mean, Z = self.train.centred_cross(targets)
        t, C, q = targets.of(self.val_blocks)
        m, n = self.train.x_mean, self.n_val
        cross = C - np.outer(m, t) - np.outer(self.s_val, y_mean) + n * np.outer(m, y_mean)
        W = self.train.V.T @ cross
        yy = q - 2 * y_mean * t + n * y_mean**2
        return Z, W, yy, t - n * y_mean, held_out_variance(q, t, n)

    def r2(self, targets: TargetMoments, alphas: np.ndarray) -> np.ndarray:
        """Validation R² (n_alphas, k) of the training fit for every alpha (0 for a target
        constant on the held-out blocks)."""
        Z, W, yy, _, sst = self._sums(targets)
        out = np.empty((len(alphas), Z.shape[1]))
        for a, alpha in enumerate(alphas):
            b = Z / (self.train.eigvals[:, None] + alpha)
            sse = yy - 2 * np.einsum("kj,kj->j", b, W) + np.einsum("kj,kj->j", b, self.Q @ b)
            out[a] = r2_from_sums(sse, sst, 0.0)
        return out

    def scores(self, targets: TargetMoments, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Pearson r and R² (k,) on the held-out blocks of the training fit with one alpha per
        target, from moments alone (no prediction is formed).

        With ``e = x'^T B`` the fitted deviation from the training mean ``ȳ`` (``ŷ = ȳ + e``),
        ``b~ = diag(1/(λ + alpha)) Z`` and sums over the held-out trials::

            sum y' e = b~^T W,    sum e² = b~^T Q b~,    sum e = b~^T V^T sum x'
            r  = (sum y' e - sum y' sum e / n) / sqrt((sum e² - (sum e)² / n) SST)
            R² = 1 - (sum y'² - 2 sum y' e + sum e²) / SST

        :func:`.regression_scores.column_pearson_r` and ``column_r2`` of the predictions, up to
        float64 rounding; NaN where the target or the prediction is constant on the held-out trials.
        """
        Z, W, yy, y_sum, sst = self._sums(targets)
        b = Z / (self.train.eigvals[:, None] + alpha[None, :])
        fitted = np.einsum("kj,kj->j", b, W)
        squares = np.einsum("kj,kj->j", b, self.Q @ b)
        e_sum = self.x_sum @ b
        n = self.n_val
        r2 = r2_from_sums(yy - 2 * fitted + squares, sst)
        norms = held_out_variance(squares, e_sum, n) * sst
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(norms > 0, (fitted - y_sum * e_sum / n) / np.sqrt(norms), np.nan)
        return r, r2


def held_out_variance(squares: np.ndarray, sums: np.ndarray, n: float) -> np.ndarray:
    """``sum (v - mean v)² = sum v² - (sum v)² / n`` from the sums; 0 where it is below
    ``1e-12 sum v²`` (a constant column, whose two sums differ by rounding only)."""
    variance = squares - sums**2 / n
    return np.where(variance > 1e-12 * squares, variance, 0.0)


class MomentFold:
    """One outer fold: its inner splits and its training set against its test blocks, all
    decomposed once."""

    def __init__(self, features: FeatureMoments, train_blocks, inner: list[tuple], test_blocks):
        self.inner = [ValidationSplit(features, t, v) for t, v in inner]
        self.test = ValidationSplit(features, train_blocks, test_blocks)
        self.train = self.test.train

    def best_alphas(self, targets: TargetMoments, alphas: np.ndarray) -> np.ndarray:
        """Each target's alpha: the best mean inner R² (exact ties: the larger alpha)."""
        scores = np.mean([split.r2(targets, alphas) for split in self.inner], axis=0)
        return alphas[select_best(scores, np.log(alphas))]

    def predict(self, targets: TargetMoments, alpha: np.ndarray, X_test: np.ndarray) -> np.ndarray:
        """Predictions (m, k) for the test features ``X_test`` of the refit on the training set."""
        y_mean, Z = self.train.centred_cross(targets)
        B = self.train.coefficients(Z, alpha)
        return (np.asarray(X_test, dtype=np.float64) - self.train.x_mean) @ B + y_mean
