"""gLocal alignment probe (Muttenthaler et al. 2023, "Improving neural network representations
using human similarity judgments"): an affine transform of a representation trained on human
odd-one-out choices, kept close to the representation's own neighbourhood structure.

Notation: ``X`` (n_items, k) the representation (rows: items), ``Z = X W^T + 1 b^T`` the
transformed one (``W`` (k, k), ``b`` (k,)). For a triplet ``(a, b, c)`` with the human odd one
out ``o``, the logits of the three possible odd ones out are the pair similarities that leave
each out,

    l_c = <z_a, z_b>,   l_b = <z_a, z_c>,   l_a = <z_b, z_c>,   p = softmax(l),

and the loss is, over the T training triplets and the items B of the local batch,

    L(W, b) = (1/T) sum_t -log p_t[o_t]                                   (global: human choices)
            + alpha * (1/|B|) sum_i KL(P_i || Q_i)                          (local: neighbourhoods)
            + lam * ||W - I||_F^2                                           (stay near the identity)

where ``P_i(j) = softmax_{j != i}(<x_i, x_j> / tau)`` is item i's neighbourhood in the original
representation and ``Q_i(j) = softmax_{j != i}(<z_i, z_j> / tau)`` the same in the transformed
one. :func:`loss_and_gradient` gives ``L`` and its exact gradient; :func:`fit_glocal` minimises it
with L-BFGS (scipy, float64) from ``W = I, b = 0``.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import log_softmax

__all__ = ["loss_and_gradient", "fit_glocal", "transform", "triplet_logits", "odd_position_accuracy"]

_PAIRS = ((0, 1), (0, 2), (1, 2))  # pair u, v; its logit is the odd-one-out logit of the third item
_LEFT_OUT = (2, 1, 0)


def transform(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``Z = X W^T + b``, shape (n_items, k)."""
    return x @ weight.T + bias


def triplet_logits(z: np.ndarray, triplets: np.ndarray) -> np.ndarray:
    """(n_triplets, 3): column ``j`` is the logit that the triplet's ``j``-th item is odd (the
    similarity of the other two)."""
    out = np.empty((len(triplets), 3))
    for (u, v), odd in zip(_PAIRS, _LEFT_OUT):
        out[:, odd] = np.einsum("ij,ij->i", z[triplets[:, u]], z[triplets[:, v]])
    return out


def _neighbourhood(z: np.ndarray, tau: float) -> np.ndarray:
    """Row-wise log softmax of ``<z_i, z_j> / tau`` over ``j != i`` (diagonal: -inf)."""
    s = z @ z.T / tau
    np.fill_diagonal(s, -np.inf)
    return log_softmax(s, axis=1)


def loss_and_gradient(params: np.ndarray, x: np.ndarray, triplets: np.ndarray, odd_position: np.ndarray,
                      local: np.ndarray, alpha: float, lam: float, tau: float):
    """``(L, dL/dparams)`` of the module docstring.

    Parameters
    ----------
    params : float64 (k * k + k,)
        ``W`` (row-major) then ``b``.
    x : float64 (n_items, k)
    triplets : int (T, 3)
        Rows of ``x``.
    odd_position : int (T,)
        Position (0, 1, 2) of the human odd one out in each triplet.
    local : int (B,)
        Rows of ``x`` forming the local batch.
    alpha, lam, tau : float
    """
    k = x.shape[1]
    weight, bias = params[:k * k].reshape(k, k), params[k * k:]
    z = transform(x, weight, bias)
    log_p = log_softmax(triplet_logits(z, triplets), axis=1)
    rows = np.arange(len(triplets))
    loss = -log_p[rows, odd_position].mean()
    d_logits = np.exp(log_p)
    d_logits[rows, odd_position] -= 1.0
    d_logits /= len(triplets)
    coef = np.concatenate([d_logits[:, odd] for odd in _LEFT_OUT])  # d L / d <z_u, z_v> of each pair
    u = np.concatenate([triplets[:, a] for a, _ in _PAIRS])
    v = np.concatenate([triplets[:, b] for _, b in _PAIRS])
    pair_grad = sparse.coo_array((np.concatenate([coef, coef]), (np.concatenate([u, v]), np.concatenate([v, u]))),
                                 shape=(len(z), len(z))).tocsr()
    grad_z = pair_grad @ z  # d<z_u, z_v>/dz_u = z_v
    if alpha > 0 and len(local) > 1:
        log_target = _neighbourhood(x[local], tau)
        log_q = _neighbourhood(z[local], tau)
        target = np.exp(log_target)
        off = ~np.eye(len(local), dtype=bool)
        loss += alpha * np.sum(target[off] * (log_target[off] - log_q[off])) / len(local)
        d_s = alpha * (np.exp(log_q) - target) / len(local)  # d KL / d s, zero on the diagonal
        np.fill_diagonal(d_s, 0.0)
        grad_z[local] += (d_s + d_s.T) @ z[local] / tau
    eye = np.eye(k)
    loss += lam * np.sum((weight - eye) ** 2)
    grad_w = grad_z.T @ x + 2.0 * lam * (weight - eye)
    return float(loss), np.concatenate([grad_w.ravel(), grad_z.sum(axis=0)])


def fit_glocal(x: np.ndarray, triplets: np.ndarray, odd_position: np.ndarray, local: np.ndarray, *,
               alpha: float, lam: float, tau: float, max_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` minimising :func:`loss_and_gradient` by L-BFGS from the identity."""
    x = np.asarray(x, dtype=np.float64)
    k = x.shape[1]
    start = np.concatenate([np.eye(k).ravel(), np.zeros(k)])
    result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B",
                      args=(x, triplets, odd_position, local, alpha, lam, tau), options={"maxiter": max_iter})
    return result.x[:k * k].reshape(k, k), result.x[k * k:]


def odd_position_accuracy(z: np.ndarray, triplets: np.ndarray, odd_position: np.ndarray) -> float:
    """Fraction of triplets whose largest logit (:func:`triplet_logits`) is the human odd one out."""
    return float(np.mean(np.argmax(triplet_logits(z, triplets), axis=1) == odd_position))

