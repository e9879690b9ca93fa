"""Soft-matching distance (Khosla & Williams 2024): optimal transport between the units of two
representations.

Unit ``i`` of ``X`` is its tuning curve over the ``n`` stimuli, the column ``x_i`` (length
``n``); likewise ``y_j`` for ``Y``. With ``p`` and ``q`` units, each unit carries mass ``1/p``
(resp. ``1/q``) and

    d(X, Y)^2 = min_{P in T(p, q)} sum_ij P_ij ||x_i - y_j||^2,
    T(p, q) = {P >= 0 (p, q) : P 1_q = 1_p / p, P^T 1_p = 1_q / q},

the squared 2-Wasserstein distance between the two uniform distributions of tuning curves. It
is a metric; invariant to permutations of either set of units but not to rotations. For
``p == q`` the optimum is a permutation (Birkhoff–von Neumann) and
``d^2 = min_sigma (1/p) sum_i ||x_i - y_sigma(i)||^2``.

Solvers: ``p == q``: exact assignment, :func:`scipy.optimize.linear_sum_assignment`
(``O(p^3)``). ``p != q``: the transport linear program above (``p q`` variables,
``p + q`` equality constraints), solved exactly by :func:`scipy.optimize.linprog` with the
HiGHS simplex solver (feasibility tolerance 1e-9 on the cost scaled to max 1); practical up to
about ``10^6`` unit pairs.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment, linprog

from ._paired_input import as_paired

__all__ = ["soft_matching_distance", "soft_matching_plan"]


def soft_matching_distance(X, Y, *, center: bool = True) -> float:
    """Soft-matching distance ``d(X, Y)`` between the units of ``X`` and ``Y``.

    Parameters
    ----------
    X : array, shape (n_stimuli, p)
    Y : array, shape (n_stimuli, q)
        Representations of the same stimuli, rows in the same order.
    center : bool
        Subtract each unit's mean over stimuli first (the distance then ignores unit offsets).

    Returns
    -------
    float
        ``d >= 0`` in the units of the activations; 0 when ``Y`` is ``X`` with its units
        permuted.
    """
    return soft_matching_plan(X, Y, center=center)[0]


def soft_matching_plan(X, Y, *, center: bool = True) -> tuple[float, np.ndarray]:
    """Soft-matching distance and the optimal transport plan ``P`` (p, q) between the units.

    ``P_ij`` is the mass moved from unit ``i`` of ``X`` to unit ``j`` of ``Y``; rows sum to
    ``1/p`` and columns to ``1/q``. See :func:`soft_matching_distance`.
    """
    X, Y = as_paired(X, Y)
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    if center:
        X -= X.mean(axis=0)
        Y -= Y.mean(axis=0)
    cost = (np.einsum("ij,ij->j", X, X)[:, None] + np.einsum("ij,ij->j", Y, Y)[None, :]
            - 2.0 * (X.T @ Y))
    np.maximum(cost, 0.0, out=cost)
    plan = _assignment_plan(cost) if cost.shape[0] == cost.shape[1] else _transport_plan(cost)
    return float(np.sqrt(max(np.sum(plan * cost), 0.0))), plan


def _assignment_plan(cost: np.ndarray) -> np.ndarray:
    rows, columns = linear_sum_assignment(cost)
    plan = np.zeros_like(cost)
    plan[rows, columns] = 1.0 / cost.shape[0]
    return plan


def _transport_plan(cost: np.ndarray) -> np.ndarray:
    p, q = cost.shape
    row_sums = sparse.kron(sparse.eye(p), np.ones((1, q)))  # sum_j P_ij for each i
    column_sums = sparse.kron(np.ones((1, p)), sparse.eye(q))  # sum_i P_ij for each j
    constraints = sparse.vstack([row_sums, column_sums]).tocsr()
    marginals = np.concatenate([np.full(p, 1.0 / p), np.full(q, 1.0 / q)])
    scale = cost.max() if cost.max() > 0 else 1.0
    result = linprog((cost / scale).ravel(), A_eq=constraints, b_eq=marginals, bounds=(0, None),
                     method="highs", options={"primal_feasibility_tolerance": 1e-9,
                                              "dual_feasibility_tolerance": 1e-9})
    if not result.success:
        raise RuntimeError(f"the transport linear program failed: {result.message}")
    return np.maximum(result.x.reshape(p, q), 0.0)
