"""Model–model similarity metrics (brainalign.metrics.{cka,neighbours,procrustes,cca,
soft_matching,similarity}).

Each metric is checked against a reference written out here from its paper, in the naive form
(n x n Gram matrices, covariance inverses, brute-force assignment), and against the
invariances it claims. Tolerances are stated per assertion: ``rtol=1e-10`` for float64
formulas that only differ in the order of operations, looser where float32 or an iterative
solver is involved.
"""

from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pytest
from brainalign.metrics.cca import canonical_correlations, pwcca, svcca
from brainalign.metrics.cka import (
    hsic_unbiased,
    linear_cka,
    median_pairwise_distance,
    rbf_cka,
)
from brainalign.metrics.neighbours import cknna, mutual_knn, nearest_neighbours
from brainalign.metrics.procrustes import procrustes_angular, procrustes_distance
from brainalign.metrics.similarity import (
    ASYMMETRIC,
    DISTANCES,
    METRICS,
    cross_set_consistency,
    similarity,
    similarity_matrix,
)
from brainalign.metrics.soft_matching import soft_matching_distance, soft_matching_plan
from scipy.linalg import orthogonal_procrustes
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import pdist, squareform
from scipy.stats import ortho_group, pearsonr, spearmanr


def _pair(n=60, p=12, q=8, noise=1.0, seed=0, offset=3.0):
    """Two related representations: ``Y`` is a linear map of ``X`` plus noise; ``X`` is not
    centred (``offset``) so that every metric's own centring is exercised."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + offset
    Y = X @ rng.standard_normal((p, q)) + noise * rng.standard_normal((n, q))
    return X, Y


# --------------------------------------------------------------------------- references
def ref_hsic_biased(K, L):
    """Gretton et al. (2005): tr(K H L H) / (n-1)^2 with explicit H."""
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def ref_hsic_unbiased(K, L):
    """Song et al. (2012), eq. 5, on zero-diagonal kernels."""
    n = K.shape[0]
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ Kt @ Lt @ one) / (n * (n - 3))


def ref_hsic_u_statistic(K, L):
    """HSIC_u as the U-statistic over ordered distinct 4-tuples (t, u, v, w):
    E[k_tu l_tu] + E[k_tu l_vw] - 2 E[k_tu l_tv]."""
    n = K.shape[0]
    t, u, v, w = np.array(list(itertools.permutations(range(n), 4))).T
    return np.mean(K[t, u] * L[t, u] + K[t, u] * L[v, w] - 2 * K[t, u] * L[t, v])


def ref_cka(K, L, hsic):
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def ref_rbf(X, fraction):
    D = squareform(pdist(X))
    sigma = fraction * np.median(pdist(X))
    return np.exp(-D**2 / (2 * sigma**2))


def ref_knn_masks(X, k):
    """Platonic-representation reference: full cosine matrix, self set to -inf, argsort."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Xn @ Xn.T
    np.fill_diagonal(S, -np.inf)
    mask = np.zeros_like(S)
    np.put_along_axis(mask, np.argsort(-S, axis=1, kind="stable")[:, :k], 1.0, axis=1)
    np.fill_diagonal(S, 1.0)
    return mask, S


def ref_mutual_knn(X, Y, k):
    mask_x, _ = ref_knn_masks(X, k)
    mask_y, _ = ref_knn_masks(Y, k)
    return np.mean((mask_x * mask_y).sum(axis=1) / k)


def ref_cknna(X, Y, k):
    """Huh et al. (2024) code: HSIC_u(M*K, M*L) / sqrt(HSIC_u(M_K*K, ..) HSIC_u(M_L*L, ..))."""
    mask_x, K = ref_knn_masks(X, k)
    mask_y, L = ref_knn_masks(Y, k)

    def hsic(A, B):  # Song et al. on possibly non-symmetric masked kernels
        n = A.shape[0]
        A, B = A - np.diag(np.diag(A)), B - np.diag(np.diag(B))
        return (np.sum(A * B.T) + A.sum() * B.sum() / ((n - 1) * (n - 2))
                - 2 * np.sum(A @ B) / (n - 2)) / (n * (n - 3))

    mutual = mask_x * mask_y
    return hsic(mutual * K, mutual * L) / np.sqrt(hsic(mask_x * K, mask_x * K)
                                                   * hsic(mask_y * L, mask_y * L))


def ref_canonical(X, Y):
    """Classical CCA: rho^2 and weights from eig(Sxx^-1 Sxy Syy^-1 Syx)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Sxx, Syy, Sxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    M = np.linalg.solve(Sxx, Sxy) @ np.linalg.solve(Syy, Sxy.T)
    values, vectors = np.linalg.eig(M)
    order = np.argsort(-values.real)[:min(X.shape[1], Y.shape[1])]
    return np.sqrt(np.clip(values.real[order], 0, 1)), vectors.real[:, order]


def ref_pwcca(X, Y):
    """Morcos et al. (2018): alpha_i = sum_j |<h_i, x_j>|, h_i unit-norm canonical variates
    of the side with fewer units (X here)."""
    rho, weights = ref_canonical(X, Y)
    Xc = X - X.mean(0)
    H = Xc @ weights
    H /= np.linalg.norm(H, axis=0)
    alpha = np.abs(H.T @ Xc).sum(axis=1)
    return np.sum(alpha * rho) / alpha.sum()


def ref_procrustes(X, Y):
    """min over orthogonal R of ||X^ R - Y^||_F via scipy, after centring, scaling, padding."""
    def prep(A, width):
        A = A - A.mean(0)
        A = A / np.linalg.norm(A)
        return np.hstack([A, np.zeros((A.shape[0], width - A.shape[1]))])

    width = max(X.shape[1], Y.shape[1])
    Xp, Yp = prep(X, width), prep(Y, width)
    R, _ = orthogonal_procrustes(Xp, Yp)
    return np.linalg.norm(Xp @ R - Yp)


def ref_soft_matching(X, Y):
    """Uniform measures on p and q units equal uniform measures on lcm(p, q) replicated
    units, where optimal transport is an assignment (Birkhoff)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    m = math.lcm(Xc.shape[1], Yc.shape[1])
    Xr, Yr = np.repeat(Xc, m // Xc.shape[1], axis=1), np.repeat(Yc, m // Yc.shape[1], axis=1)
    cost = ((Xr[:, :, None] - Yr[:, None, :]) ** 2).sum(axis=0)
    rows, cols = linear_sum_assignment(cost)
    return np.sqrt(cost[rows, cols].mean())


# --------------------------------------------------------------------------- CKA
@pytest.mark.parametrize("shape", [(40, 12, 8), (15, 40, 30), (30, 50, 6)])
def test_linear_cka_matches_gram_formulas(shape):
    # shapes cover p, q < n (feature route) and p, q > n (sample route) of the blocked sums
    n, p, q = shape
    X, Y = _pair(n, p, q)
    K, L = X @ X.T, Y @ Y.T
    for block in (3, 1024):
        assert linear_cka(X, Y, block_size=block) == pytest.approx(
            ref_cka(K, L, ref_hsic_biased), rel=1e-10)
        assert linear_cka(X, Y, unbiased=True, block_size=block) == pytest.approx(
            ref_cka(K, L, ref_hsic_unbiased), rel=1e-10)


def test_linear_cka_float32_close_to_float64():
    X, Y = _pair(500, 64, 32)
    for unbiased in (False, True):
        exact = linear_cka(X, Y, unbiased=unbiased)
        assert linear_cka(X.astype(np.float32), Y.astype(np.float32),
                          unbiased=unbiased) == pytest.approx(exact, abs=1e-5)


def test_unbiased_hsic_formula_is_the_u_statistic():
    X, Y = _pair(7, 3, 2)
    K, L = X @ X.T, np.exp(-squareform(pdist(Y)) ** 2)
    assert ref_hsic_unbiased(K, L) == pytest.approx(ref_hsic_u_statistic(K, L), rel=1e-10)
    assert hsic_unbiased(K, L) == pytest.approx(ref_hsic_u_statistic(K, L), rel=1e-10)


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("fraction", [0.5, 1.0])
def test_rbf_cka_matches_gram_formula(unbiased, fraction):
    X, Y = _pair(30, 5, 4)
    hsic = ref_hsic_unbiased if unbiased else ref_hsic_biased
    expected = ref_cka(ref_rbf(X, fraction), ref_rbf(Y, fraction), hsic)
    assert rbf_cka(X, Y, bandwidth_fraction=fraction, unbiased=unbiased) == pytest.approx(
        expected, rel=1e-10)
    assert median_pairwise_distance(X) == pytest.approx(np.median(pdist(X)), rel=1e-12)


def test_cka_against_repsim_when_installed():
    repsim = pytest.importorskip("repsim")  # peer C++ implementation (Kisung You), optional
    X, Y = _pair(50, 7, 5)
    assert linear_cka(X, Y) == pytest.approx(repsim.cka([X, Y], "linear", "gretton")[0, 1],
                                             rel=1e-10)
    # repsim's "rbf" kernel: sigma = median of the pairwise distances over i < j
    assert rbf_cka(X, Y) == pytest.approx(repsim.cka([X, Y], "rbf", "gretton")[0, 1], rel=1e-10)


@pytest.mark.parametrize("metric", ["cka_linear", "cka_linear_unbiased", "cka_rbf",
                                    "cka_rbf_unbiased"])
def test_cka_identity_symmetry_and_invariances(metric):
    X, Y = _pair(50, 10, 6)
    rng = np.random.default_rng(1)
    Q = ortho_group.rvs(10, random_state=2)
    assert similarity(X, X, metric) == pytest.approx(1.0, abs=1e-12)
    value = similarity(X, Y, metric)
    assert similarity(Y, X, metric) == pytest.approx(value, rel=1e-12)
    # orthogonal transform, isotropic scaling and translation leave CKA unchanged
    assert similarity(3.5 * X @ Q + 7.0, Y, metric) == pytest.approx(value, rel=1e-9)
    # a general invertible (non-orthogonal) map does change it
    A = np.diag(np.linspace(0.2, 5.0, 10)) @ rng.standard_normal((10, 10))
    assert abs(similarity(X @ A, Y, metric) - value) > 0.01


def test_unbiased_cka_removes_the_bias_for_independent_data():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((2000, 100)), rng.standard_normal((2000, 100))
    assert abs(linear_cka(X, Y, unbiased=True)) < 0.02
    assert linear_cka(X, Y) > 0.03  # biased: about p / n-scale positive offset
    X, Y = rng.standard_normal((20, 500)), rng.standard_normal((20, 500))
    assert linear_cka(X, Y) > 0.8  # few stimuli, many units: biased CKA near 1 for noise


def test_cka_errors_name_the_argument():
    X, Y = _pair(10, 3, 3)
    with pytest.raises(ValueError, match="same number of stimuli"):
        linear_cka(X, Y[:9])
    with pytest.raises(ValueError, match="X has no variance"):
        linear_cka(np.ones((10, 3)), Y)
    with pytest.raises(ValueError, match="at least 4 stimuli"):
        linear_cka(X[:3], Y[:3], unbiased=True)
    with pytest.raises(ValueError, match="bandwidth_fraction"):
        rbf_cka(X, Y, bandwidth_fraction=0.0)
    with pytest.raises(ValueError, match="NaN"):
        linear_cka(np.where(X > 3, np.nan, X), Y)
    with pytest.raises(TypeError, match="real numbers"):
        linear_cka(X.astype(str), Y)
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(X[:, 0], Y)


# --------------------------------------------------------------------------- k-NN metrics
def test_mutual_knn_hand_built_case():
    # unit vectors at these angles (degrees); cosine neighbours are the nearest angles
    def circle(degrees):
        radians = np.deg2rad(degrees)
        return np.column_stack([np.cos(radians), np.sin(radians)])

    X = circle([0, 10, 40, 100, 105, 200])  # 1-NN: 0->1, 1->0, 2->1, 3->4, 4->3, 5->4
    Y = circle([0, 48, 60, 100, 170, 180])  # 1-NN: 0->1, 1->2, 2->1, 3->2, 4->5, 5->4
    assert nearest_neighbours(X, 1)[0].ravel().tolist() == [1, 0, 1, 4, 3, 4]
    assert nearest_neighbours(Y, 1)[0].ravel().tolist() == [1, 2, 1, 2, 5, 4]
    assert mutual_knn(X, Y, k=1) == pytest.approx(3 / 6, abs=1e-12)  # rows 0, 2, 5 agree
    # k = 2 by hand: X {1,2},{0,2},{0,1},{4,2},{3,2},{4,3}; Y {1,2},{2,0},{1,3},{2,1},{5,3},{4,3}
    assert mutual_knn(X, Y, k=2) == pytest.approx((2 + 2 + 1 + 1 + 1 + 2) / 12, abs=1e-12)


def test_nearest_neighbour_ties_go_to_the_lower_index():
    X = np.array([[1.0, 0], [1, 0], [1, 0], [0, 1]])
    indices, sims = nearest_neighbours(X, 1)
    assert indices.ravel().tolist() == [1, 0, 0, 0]
    np.testing.assert_allclose(sims.ravel(), [1, 1, 1, 0], atol=1e-12)
    assert nearest_neighbours(X, 2)[0].tolist() == [[1, 2], [0, 2], [0, 1], [0, 1]]


@pytest.mark.parametrize("k", [1, 5])
def test_mutual_knn_and_cknna_match_reference(k):
    X, Y = _pair(83, 10, 6, noise=2.0)  # 83: the chunked k-th value search has a remainder
    assert mutual_knn(X, Y, k) == pytest.approx(ref_mutual_knn(X, Y, k), abs=1e-12)
    assert mutual_knn(X, Y, k, block_size=7) == pytest.approx(ref_mutual_knn(X, Y, k), abs=1e-12)
    if k >= 2:
        assert cknna(X, Y, k) == pytest.approx(ref_cknna(X, Y, k), rel=1e-10)
        assert cknna(X, Y, k, block_size=9) == pytest.approx(ref_cknna(X, Y, k), rel=1e-10)


def test_knn_metrics_identity_symmetry_invariance():
    X, Y = _pair(60, 8, 5, noise=1.5)
    Q = ortho_group.rvs(8, random_state=3)
    row_scale = np.random.default_rng(4).uniform(0.5, 2.0, size=(60, 1))
    assert mutual_knn(Y, X, 4) == pytest.approx(mutual_knn(X, Y, 4), abs=1e-12)
    # CKNNA is not symmetric: 1^T A B 1 != 1^T B A 1 for non-symmetric k-NN masks
    assert cknna(Y, X, 4) == pytest.approx(ref_cknna(Y, X, 4), rel=1e-10)
    assert cknna(Y, X, 4) != pytest.approx(cknna(X, Y, 4), rel=1e-6)
    for metric in (mutual_knn, cknna):
        value = metric(X, Y, 4)
        assert metric(X, X, 4) == pytest.approx(1.0, abs=1e-12)
        # cosine neighbours ignore rotations and the norm of each row
        assert metric(row_scale * (X @ Q), Y, 4) == pytest.approx(value, rel=1e-9)


def test_knn_search_is_blocked():
    # 2000 x 2000 float64 similarities would be 32 MB; a 100-row block is 1.6 MB
    X, Y = _pair(2000, 16, 8)
    tracemalloc.start()
    mutual_knn(X, Y, 10, block_size=100)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 12 * 2**20


def test_knn_errors():
    X, Y = _pair(10, 3, 3)
    with pytest.raises(ValueError, match="k must be at least 1 and at most 9"):
        mutual_knn(X, Y, k=10)
    with pytest.raises(ValueError, match="k must be at least 2"):
        cknna(X, Y, k=1)
    with pytest.raises(TypeError, match="k must be an integer"):
        mutual_knn(X, Y, k=2.5)
    with pytest.raises(ValueError, match="all-zero rows"):
        mutual_knn(np.vstack([X[:9], np.zeros((1, 3))]), Y, k=2)


# --------------------------------------------------------------------------- Procrustes
@pytest.mark.parametrize("shape", [(50, 8, 5), (50, 6, 6), (12, 30, 20)])
def test_procrustes_matches_scipy_orthogonal_procrustes(shape):
    X, Y = _pair(*shape)
    expected = ref_procrustes(X, Y)
    assert procrustes_distance(X, Y) == pytest.approx(expected, rel=1e-9)
    # cos(theta) = nuclear norm = 1 - d^2 / 2
    assert procrustes_angular(X, Y) == pytest.approx(np.arccos(1 - expected**2 / 2), rel=1e-9)


def test_procrustes_identity_symmetry_invariance_triangle():
    X, Y = _pair(40, 7, 5)
    Z = _pair(40, 6, 4, seed=9)[1]
    Q = ortho_group.rvs(7, random_state=5)
    for metric in (procrustes_distance, procrustes_angular):
        value = metric(X, Y)
        assert metric(X, X) == pytest.approx(0.0, abs=1e-6)
        assert metric(Y, X) == pytest.approx(value, rel=1e-10)
        assert metric(0.1 * X @ Q - 4.0, Y) == pytest.approx(value, rel=1e-9)
        assert metric(X, Z) <= metric(X, Y) + metric(Y, Z) + 1e-12
    A = np.random.default_rng(6).standard_normal((7, 7))
    assert abs(procrustes_distance(X @ A, Y) - procrustes_distance(X, Y)) > 0.01


# --------------------------------------------------------------------------- CCA
def test_canonical_correlations_match_covariance_formula():
    X, Y = _pair(200, 7, 5, noise=1.5)
    np.testing.assert_allclose(canonical_correlations(X, Y), ref_canonical(X, Y)[0], rtol=1e-8)


def test_cca_invariant_to_invertible_linear_maps():
    X, Y = _pair(200, 7, 5, noise=1.5)
    A = np.random.default_rng(7).standard_normal((7, 7)) + 3 * np.eye(7)
    B = np.random.default_rng(8).standard_normal((5, 5)) + 3 * np.eye(5)
    np.testing.assert_allclose(canonical_correlations(X @ A, Y @ B),
                               canonical_correlations(X, Y), rtol=1e-8)
    assert svcca(X @ A, Y @ B, variance_fraction=1.0) == pytest.approx(
        svcca(X, Y, variance_fraction=1.0), rel=1e-8)
    # PWCCA weights by the units of the smaller side (Y), so it does depend on B
    assert pwcca(X, Y @ B) != pytest.approx(pwcca(X, Y), rel=1e-3)


def test_svcca_matches_reference():
    X, Y = _pair(300, 20, 12, noise=2.0)

    def reduce(A, fraction=None, k=None):
        U, s, _ = np.linalg.svd(A - A.mean(0), full_matrices=False)
        if k is None:
            k = int(np.argmax(np.cumsum(s**2) / np.sum(s**2) >= fraction)) + 1
        return U[:, :k] * s[:k]

    for fraction in (0.5, 0.9, 0.99):
        expected = ref_canonical(reduce(X, fraction), reduce(Y, fraction))[0].mean()
        assert svcca(X, Y, variance_fraction=fraction) == pytest.approx(expected, rel=1e-8)
    expected = ref_canonical(reduce(X, k=4), reduce(Y, k=4))[0].mean()
    assert svcca(X, Y, n_components=4) == pytest.approx(expected, rel=1e-8)
    assert svcca(X, X) == pytest.approx(1.0, abs=1e-10)
    assert svcca(Y, X) == pytest.approx(svcca(X, Y), rel=1e-10)


def test_pwcca_matches_reference():
    X, Y = _pair(300, 5, 9, noise=2.0)
    assert pwcca(X, Y) == pytest.approx(ref_pwcca(X, Y), rel=1e-8)
    assert pwcca(Y, X) == pytest.approx(ref_pwcca(X, Y), rel=1e-8)  # "smaller" picks X again
    assert pwcca(X, Y, weights_from="y") != pytest.approx(pwcca(X, Y), rel=1e-3)
    assert pwcca(X, X) == pytest.approx(1.0, abs=1e-10)


def test_cca_errors():
    X, Y = _pair(30, 4, 3)
    with pytest.raises(ValueError, match="exceeds the numerical rank 3 of Y"):
        svcca(X, Y, n_components=4)
    with pytest.raises(ValueError, match="variance_fraction"):
        svcca(X, Y, variance_fraction=1.5)
    with pytest.raises(ValueError, match="weights_from"):
        pwcca(X, Y, weights_from="both")
    with pytest.raises(ValueError, match="Y is constant"):
        canonical_correlations(X, np.ones((30, 2)))


# --------------------------------------------------------------------------- soft matching
def test_soft_matching_equal_counts_is_the_best_permutation():
    X, Y = _pair(20, 5, 5, noise=3.0)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    brute = min(np.mean(np.sum((Xc - Yc[:, list(perm)]) ** 2, axis=0))
                for perm in itertools.permutations(range(5)))
    assert soft_matching_distance(X, Y) == pytest.approx(np.sqrt(brute), rel=1e-10)
    permuted = X[:, np.random.default_rng(0).permutation(5)]
    assert soft_matching_distance(X, permuted) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("units", [(4, 6), (9, 6), (3, 10)])
def test_soft_matching_unequal_counts_matches_replicated_assignment(units):
    p, q = units
    rng = np.random.default_rng(p * q)
    X, Y = rng.standard_normal((25, p)), rng.standard_normal((25, q))
    distance, plan = soft_matching_plan(X, Y)
    assert distance == pytest.approx(ref_soft_matching(X, Y), rel=1e-7)
    np.testing.assert_allclose(plan.sum(axis=1), 1 / p, atol=1e-9)
    np.testing.assert_allclose(plan.sum(axis=0), 1 / q, atol=1e-9)
    assert soft_matching_distance(Y, X) == pytest.approx(distance, rel=1e-7)


def test_soft_matching_properties():
    X, _ = _pair(30, 6, 2)
    doubled = np.repeat(X, 2, axis=1)  # every unit twice: transport splits each unit's mass
    assert soft_matching_distance(X, doubled) == pytest.approx(0.0, abs=1e-6)
    Q = ortho_group.rvs(6, random_state=0)
    assert soft_matching_distance(X, X @ Q) > 0.1  # rotations are not ignored
    assert soft_matching_distance(X + 5.0, X) == pytest.approx(0.0, abs=1e-6)
    assert soft_matching_distance(X + 5.0, X, center=False) == pytest.approx(
        5.0 * np.sqrt(30), rel=1e-9)  # every unit moved by 5 on each of 30 stimuli


# --------------------------------------------------------------------------- dispatcher
def test_dispatcher_calls_each_metric():
    X, Y = _pair(40, 6, 5)
    assert similarity(X, Y, "cka_linear_unbiased") == linear_cka(X, Y, unbiased=True)
    assert similarity(X, Y, "cka_rbf", bandwidth_fraction=0.5) == rbf_cka(
        X, Y, bandwidth_fraction=0.5)
    assert similarity(X, Y, "mutual_knn", k=3) == mutual_knn(X, Y, 3)
    assert similarity(X, Y, "procrustes_angular") == procrustes_angular(X, Y)
    assert similarity(X, Y, "soft_matching") == soft_matching_distance(X, Y)
    with pytest.raises(ValueError, match="unknown metric 'cka'"):
        similarity(X, Y, "cka")


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_similarity_matrix(metric):
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((40, 4))
    representations = {f"model{i}": latent @ rng.standard_normal((4, 5 + i))
                       + 0.5 * rng.standard_normal((40, 5 + i)) for i in range(3)}
    kwargs = {"k": 5} if metric in ("mutual_knn", "cknna") else {}
    names, matrix = similarity_matrix(representations, metric, **kwargs)
    assert names == ["model0", "model1", "model2"]
    np.testing.assert_allclose(np.diag(matrix), 0.0 if metric in DISTANCES else 1.0, atol=1e-6)
    assert matrix[1, 2] == similarity(representations["model1"], representations["model2"],
                                      metric, **kwargs)
    if metric in ASYMMETRIC:
        assert matrix[2, 1] == similarity(representations["model2"], representations["model1"],
                                          metric, **kwargs)
    else:
        np.testing.assert_array_equal(matrix, matrix.T)


def test_similarity_matrix_errors():
    with pytest.raises(ValueError, match="same number of stimuli"):
        similarity_matrix({"a": np.ones((5, 2)), "b": np.ones((6, 2))}, "cka_linear")
    with pytest.raises(ValueError, match="non-empty mapping"):
        similarity_matrix({}, "cka_linear")


def test_cross_set_consistency():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(5, 5))
    a = a + a.T
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    values_a = [a[i, j] for i, j in pairs]
    b = a + 0.3 * rng.standard_normal((5, 5))
    values_b = [b[i, j] for i, j in pairs]
    assert cross_set_consistency(a, b) == pytest.approx(pearsonr(values_a, values_b)[0],
                                                        rel=1e-12)
    assert cross_set_consistency(a, b, "spearman") == pytest.approx(
        spearmanr(values_a, values_b)[0], rel=1e-12)
    assert cross_set_consistency(a, 2 * a + 1) == pytest.approx(1.0, abs=1e-12)
    monotone = np.exp(5 * a)
    assert cross_set_consistency(a, monotone, "spearman") == pytest.approx(1.0, abs=1e-12)
    assert cross_set_consistency(a, monotone) < 0.99
    with pytest.raises(ValueError, match="at least 3 models"):
        cross_set_consistency(a[:2, :2], a[:2, :2])
    with pytest.raises(ValueError, match="same models"):
        cross_set_consistency(a, a[:4, :4])
    with pytest.raises(ValueError, match="method"):
        cross_set_consistency(a, a, "kendall")
