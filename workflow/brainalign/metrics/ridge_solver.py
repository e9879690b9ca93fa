r"""Ridge regression for many alphas and many targets from one decomposition per training set.

Model and intercept
-------------------
For training features ``X`` (n, p) and targets ``Y`` (n, t), ridge with penalty ``alpha`` and
an unpenalised intercept minimises ``||Y - 1 b0^T - X B||² + alpha ||B||²`` per target.
Centring ``Xc = X - 1 x̄^T`` and ``Yc = Y - 1 ȳ^T`` with the *training* means solves the
intercept exactly: ``b0 = ȳ - B^T x̄``; held-out features are centred with the same ``x̄``.

One decomposition, every alpha
------------------------------
With the thin SVD ``Xc = U S V^T`` and ``λ = s²``::

    B(alpha)    = V diag(s / (λ + alpha)) U^T Yc = Xc^T U diag(1 / (λ + alpha)) U^T Yc
    Ŷ_Z(alpha)  = ȳ + G diag(1 / (λ + alpha)) U^T Yc,      G = (Z - 1 x̄^T) Xc^T U

so the decomposition (``U``, ``λ``, ``Xc^T U``) is computed once and each alpha costs only
matrix products. ``solver="svd"`` takes ``U, s`` from the SVD of ``Xc`` (primal, cheaper when
p <= n); ``solver="eigh"`` takes ``U, λ`` from the eigendecomposition of the kernel
``K = Xc Xc^T`` (dual, cheaper when p > n), then ``Xc^T U`` by one product; ``"auto"`` picks
``eigh`` exactly when p > n. Eigenvalues below 0 (float rounding of a PSD kernel) are set to 0.

Targets are processed ``batch_size`` columns at a time; a decomposition is reused across all
batches, and no array larger than ``(n_alphas, n_rows, batch_size)`` is built from targets.
"""

from __future__ import annotations

import numpy as np

from .regression_scores import r2_from_sums


class CentredSpectrum:
    """Decomposition of centred training features that solves ridge for any alpha.

    Parameters
    ----------
    X : backend array (n_train, n_features)
    solver : {"auto", "svd", "eigh"}
    xp : backend (see :mod:`brainalign.metrics.backend`)

    Attributes
    ----------
    x_mean : (n_features,) training mean ``x̄``.
    U : (n_train, rank) left singular vectors of ``Xc`` (kernel eigenvectors).
    eigvals : (rank,) ``λ = s²``, descending, >= 0.
    XtU : (n_features, rank) ``Xc^T U = V S``.
    """

    def __init__(self, X, solver: str, xp):
        self.x_mean = X.mean(0)
        Xc = X - self.x_mean
        n_train, n_features = X.shape
        if solver == "eigh" or (solver == "auto" and n_features > n_train):
            eigvals, self.U = xp.eigh(Xc @ Xc.T)
            self.eigvals = xp.clip_min(eigvals, 0.0)
            self.XtU = Xc.T @ self.U
        else:
            self.U, s, Vt = xp.svd(Xc)
            self.eigvals = s * s
            self.XtU = Vt.T * s

    @property
    def rank(self) -> int:
        return self.U.shape[1]

    def project(self, Z):
        """``G = (Z - x̄) Xc^T U`` (n_rows, rank): held-out features in the spectral basis."""
        return (Z - self.x_mean) @ self.XtU

    def shrinkage(self, alphas):
        """``1 / (λ + alpha)`` for each alpha: (n_alphas, rank); ``alphas`` a backend array."""
        return 1.0 / (self.eigvals[None, :] + alphas[:, None])


def target_batches(targets, batch_size: int):
    """Yield column selectors for ``Y[:, selector]`` covering ``targets`` in order.

    ``targets`` is a count (all columns; yields slices, so ``Y[:, s]`` is a view) or an
    array of column indices (yields index arrays).
    """
    if isinstance(targets, (int, np.integer)):
        for start in range(0, int(targets), batch_size):
            yield slice(start, min(start + batch_size, int(targets)))
    else:
        for start in range(0, len(targets), batch_size):
            yield targets[start:start + batch_size]


def take_block(Y: np.ndarray, rows: np.ndarray, cols, dtype, xp):
    """A fresh backend copy of ``Y[rows][:, cols]`` in ``dtype`` (safe to modify in place)."""
    block = np.take(Y[:, cols], rows, axis=0)
    return xp.asarray(block.astype(dtype, copy=False))


def cv_r2(X, Y, alphas, splits, *, xp, solver: str, batch_size: int) -> np.ndarray:
    r"""Mean validation R² over ``splits`` for every alpha and target, shape (n_alphas, n_targets).

    For split ``(train, val)`` and alpha, the model is fit on ``train`` (centred with the
    training means) and scored on ``val``: ``R² = 1 - SSE / SST`` with
    ``SSE = sum_val (y - ŷ)²`` and ``SST = sum_val (y - mean_val(y))²`` (R² := 0 for a
    target constant on ``val``, so it cannot drive the choice of alpha). The result is the
    unweighted mean over splits. ``X`` is a numpy array in the compute dtype; the splits
    index the rows of ``X`` and ``Y``.

    Per split, predictions for all alphas of a target batch come from one product
    ``[G diag(1/(λ+α_1)); ...; G diag(1/(λ+α_A))] U^T Y_train`` (associated in whichever
    order needs fewer flops).
    """
    dtype = X.dtype
    n_alphas, n_targets = len(alphas), Y.shape[1]
    alphas_x = xp.asarray(alphas, dtype)
    total = np.zeros((n_alphas, n_targets))
    for train, val in splits:
        spectrum = CentredSpectrum(xp.asarray(X[train]), solver, xp)
        n_train, n_val, rank = len(train), len(val), spectrum.rank
        stacked = (spectrum.project(xp.asarray(X[val]))[None, :, :]
                   * spectrum.shrinkage(alphas_x)[:, None, :]).reshape(n_alphas * n_val, rank)
        precompose = n_alphas * n_val * n_train < rank * (n_train + n_alphas * n_val)
        if precompose:
            stacked = stacked @ spectrum.U.T
        for cols in target_batches(n_targets, batch_size):
            y_train = take_block(Y, train, cols, dtype, xp)
            y_mean = y_train.mean(0)
            y_train -= y_mean
            y_val = take_block(Y, val, cols, dtype, xp)
            y_val -= y_mean
            pred = stacked @ y_train if precompose else stacked @ (spectrum.U.T @ y_train)
            residual = pred.reshape(n_alphas, n_val, -1)
            residual -= y_val[None]
            sse = xp.einsum("anj,anj->aj", residual, residual)
            del pred, residual
            y_val -= y_val.mean(0)
            sst = xp.einsum("nj,nj->j", y_val, y_val)
            total[:, cols] += r2_from_sums(xp.to_numpy(sse), xp.to_numpy(sst)[None], 0.0)
    return total / len(splits)


def loo_r2(X, Y, alphas, rows, *, xp, solver: str, batch_size: int) -> np.ndarray:
    r"""Leave-one-out R² for every alpha and target in closed form, shape (n_alphas, n_targets).

    Ridge with an unpenalised intercept is a linear smoother ``ŷ = H y`` with hat matrix
    ``H = 11^T/n + U diag(λ / (λ + alpha)) U^T`` (``U ⟂ 1`` because ``Xc`` is centred).
    Its leave-one-out residuals are exact without refitting:
    ``e_i = (y_i - ŷ_i) / (1 - H_ii)``, ``H_ii = 1/n + sum_k U_ik² λ_k / (λ_k + alpha)``.
    The score is pooled over samples, ``R²_loo = 1 - sum_i e_i² / sum_i (y_i - ȳ)²``
    (0 for a constant target), a decreasing function of the PRESS ``sum_i e_i²``, so it ranks
    alphas exactly as the mean squared LOO error does. A sample with ``H_ii -> 1`` (leverage
    one, possible when alpha is tiny and p >= n) makes ``e_i`` blow up for that alpha.
    Only the samples ``rows`` of ``X`` and ``Y`` are used.
    """
    dtype = X.dtype
    n_samples, n_targets = len(rows), Y.shape[1]
    n_alphas = len(alphas)
    spectrum = CentredSpectrum(xp.asarray(X[rows]), solver, xp)
    smoothing = spectrum.eigvals[None, :] * spectrum.shrinkage(xp.asarray(alphas, dtype))
    hat_diag = 1.0 / n_samples + (spectrum.U * spectrum.U) @ smoothing.T    # (n, n_alphas)
    loo_scale = (1.0 / (1.0 - hat_diag)).T[:, :, None]                    # (n_alphas, n, 1)
    stacked = (spectrum.U[None, :, :] * smoothing[:, None, :]).reshape(n_alphas * n_samples, -1)
    total = np.zeros((n_alphas, n_targets))
    for cols in target_batches(n_targets, batch_size):
        y = take_block(Y, rows, cols, dtype, xp)
        y -= y.mean(0)
        residual = (stacked @ (spectrum.U.T @ y)).reshape(n_alphas, n_samples, -1)
        residual -= y[None]
        residual *= loo_scale
        press = xp.einsum("anj,anj->aj", residual, residual)
        del residual
        sst = xp.einsum("nj,nj->j", y, y)
        total[:, cols] = r2_from_sums(xp.to_numpy(press), xp.to_numpy(sst)[None], 0.0)
    return total


def select_best(scores: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """Index of the best-scoring candidate per target (argmax over axis 0 of ``scores``);
    exact ties go to the candidate with the largest ``penalty`` (the most regularised one)."""
    order = np.argsort(-np.asarray(penalty), kind="stable")
    return order[np.argmax(scores[order], axis=0)]


def refit_dual(spectrum: CentredSpectrum, Y, rows, alpha_per_target, targets, *, xp, dtype,
               batch_size: int):
    r"""Refit on the training rows ``rows`` of ``Y`` (those ``spectrum`` was built from), one
    alpha per target, in batches of targets.

    Yields ``(cols, y_mean, C)`` per batch with ``C = diag(1/(λ + alpha_j)) U^T Yc`` column
    by column (rank, batch): the coefficients are ``Xc^T U C`` and predictions for features
    ``Z`` are ``project(Z) @ C + y_mean``. ``alpha_per_target`` is indexed like ``Y``'s columns;
    ``targets`` is a count or an index array (see :func:`target_batches`).
    """
    for cols in target_batches(targets, batch_size):
        y = take_block(Y, rows, cols, dtype, xp)
        y_mean = y.mean(0)
        y -= y_mean
        alpha = xp.asarray(alpha_per_target[cols], dtype)
        coef_dual = spectrum.U.T @ y
        coef_dual *= 1.0 / (spectrum.eigvals[:, None] + alpha[None, :])
        yield cols, y_mean, coef_dual
