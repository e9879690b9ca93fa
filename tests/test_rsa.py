"""RSA metrics against independent references: rsatoolbox, scipy, direct O(n^2) sums.

Tolerances are stated per test; "1e-8" means ``np.testing.assert_allclose(rtol=1e-8, atol=1e-10)``
unless said otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg
from scipy.spatial.distance import pdist, squareform

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.data import Dataset  # noqa: E402
from rsatoolbox.inference import boot_noise_ceiling  # noqa: E402
from rsatoolbox.rdm import RDMs, calc_rdm  # noqa: E402
from rsatoolbox.rdm.rdms import permute_rdms  # noqa: E402
from rsatoolbox.rdm import compare as rsa_compare  # noqa: E402

from brainalign.metrics import rdm as rdm_module  # noqa: E402
from brainalign.metrics.rsa import (  # noqa: E402
    COMPARE_METHODS, bootstrap_stimuli, bootstrap_subjects, compare, compare_resampled,
    compute_rdm, crossnobis_rdm, noise_ceiling, permutation_test, rsa_scores)
from brainalign.metrics.rsa_stats import pair_weights  # noqa: E402

RSATOOLBOX_NAME = {"spearman": "spearman", "pearson": "corr", "tau_a": "tau-a",
                   "cosine": "cosine", "whitened_pearson": "corr_cov",
                   "whitened_cosine": "cosine_cov"}
UNWHITENED = ("spearman", "pearson", "tau_a", "cosine")


def close(actual, expected, rtol=1e-8, atol=1e-10):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _rdm_set(rng, n_models=4, n=12, noise=1.0):
    """A data RDM, model RDMs related to it (one with many ties), all condensed."""
    p = n * (n - 1) // 2
    data = rng.random(p)
    models = data + noise * rng.random((n_models, p))
    models[1] = np.round(models[1] * 2)  # a categorical-like model with ties
    return models, data


def _tau_a_direct(x, y):
    """Kendall tau-a by the O(n^2) definition (ties count 0)."""
    s = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])
    n = x.size
    return np.triu(s, 1).sum() / (n * (n - 1) / 2)


# --------------------------------------------------------------------------- RDMs
def test_pattern_rdms_match_rsatoolbox_and_scipy(rng):
    x = rng.standard_normal((9, 30))
    ds = Dataset(x)
    c = x.shape[1]
    # rsatoolbox's "euclidean" is the squared distance over channels.  Tolerance 1e-8.
    close(compute_rdm(x, "sqeuclidean") / c,
          calc_rdm(ds, method="euclidean").get_vectors()[0])
    close(compute_rdm(x, "correlation"), calc_rdm(ds, method="correlation").get_vectors()[0])
    close(compute_rdm(x, "euclidean"), pdist(x, "euclidean"))
    close(compute_rdm(x, "correlation"), pdist(x, "correlation"))
    close(compute_rdm(x, "cosine"), pdist(x, "cosine"))  # rsatoolbox has no cosine RDM


def test_batched_rdms_equal_one_by_one_and_do_not_depend_on_blocks(rng, monkeypatch):
    x = rng.standard_normal((5, 2, 7, 11))
    for method in rdm_module.PATTERN_METHODS:
        batched = compute_rdm(x, method)
        assert batched.shape == (5, 2, 21)
        close(batched, [[pdist(s, "sqeuclidean" if method == "sqeuclidean" else method)
                         for s in t] for t in x], rtol=1e-10)  # 1e-10
        monkeypatch.setattr(rdm_module, "_BLOCK_BYTES", 1)  # one pattern set per block
        np.testing.assert_array_equal(compute_rdm(x, method), batched)
        monkeypatch.undo()


def test_float32_input_and_float64_accumulation(rng):
    x = rng.standard_normal((20, 200)).astype(np.float32)
    reference = pdist(x.astype(np.float64), "correlation")
    single = compute_rdm(x, "correlation")
    double = compute_rdm(x, "correlation", dtype=np.float64)
    assert single.dtype == np.float32 and double.dtype == np.float64
    close(single, reference, rtol=0, atol=1e-5)  # float32 products: 1e-5 absolute
    close(double, reference, rtol=1e-10)  # float64 accumulation of the same values: 1e-10


def _crossnobis_dataset(rng, n_runs=4, n_cond=6, n_chan=15, reps=1):
    signal = rng.standard_normal((n_cond, n_chan))
    runs, conds, rows = [], [], []
    for r in range(n_runs):
        for _ in range(reps):
            for i in rng.permutation(n_cond):
                runs.append(r)
                conds.append(i)
                rows.append(signal[i] + rng.standard_normal(n_chan))
    return np.array(rows), np.array(runs), np.array(conds)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # inside rsatoolbox
@pytest.mark.parametrize("reps", [1, 2])
@pytest.mark.parametrize("with_precision", [False, True])
def test_crossnobis_matches_rsatoolbox(rng, reps, with_precision):
    x, runs, conds = _crossnobis_dataset(rng, reps=reps)
    precision = None
    if with_precision:
        a = rng.standard_normal((x.shape[1], x.shape[1]))
        precision = np.linalg.inv(a @ a.T / x.shape[1] + np.eye(x.shape[1]))
        precision = (precision + precision.T) / 2
    ds = Dataset(x, obs_descriptors={"cond": conds, "run": runs})
    expected = calc_rdm(ds, method="crossnobis", descriptor="cond", cv_descriptor="run",
                        noise=precision).get_vectors()[0]
    # Tolerance 1e-8 relative to the RDM's scale (crossnobis entries can be near 0).
    ours = crossnobis_rdm(x, runs, conds, precision=precision)
    close(ours, expected, rtol=0, atol=1e-8 * np.abs(expected).max())
    if reps == 1:  # the same data as (n_runs, n_conditions, n_channels)
        per_run = np.empty((4, 6, x.shape[1]))
        per_run[runs, conds] = x
        close(crossnobis_rdm(per_run, precision=precision), ours, rtol=1e-10, atol=1e-12)


def test_crossnobis_of_noise_free_runs_is_squared_distance_per_channel(rng):
    # Invariance: identical runs make every cross-run product the true squared distance.
    pattern = rng.standard_normal((7, 13))
    runs = np.broadcast_to(pattern, (3, 7, 13))
    close(crossnobis_rdm(runs), pdist(pattern, "sqeuclidean") / 13, rtol=1e-10)


# --------------------------------------------------------------------------- comparators
@pytest.mark.parametrize("method", COMPARE_METHODS)
def test_compare_matches_rsatoolbox(rng, method):
    models, data = _rdm_set(rng)
    expected = rsa_compare(models, data, RSATOOLBOX_NAME[method])[:, 0]
    close(compare(models, data, method), expected)  # 1e-8
    close(compare(models.astype(np.float32), data, method),
          rsa_compare(models.astype(np.float32).astype(np.float64), data,
                      RSATOOLBOX_NAME[method])[:, 0])  # float32 RDMs accepted, 1e-8
    assert compare(models[2], data, method).shape == ()


def test_whitened_equals_cosine_in_inverse_rdm_covariance_metric(rng):
    # Independent reference: a^T V^-1 b with V = (C C^T)**2, C the pair contrasts.
    n = 8
    models, data = _rdm_set(rng, n=n)
    rows, cols = np.triu_indices(n, 1)
    contrasts = np.zeros((rows.size, n))
    contrasts[np.arange(rows.size), rows], contrasts[np.arange(rows.size), cols] = 1, -1
    v = (contrasts @ contrasts.T) ** 2

    def inner(a, b):
        return a @ np.linalg.solve(v, b)

    for centre, method in ((False, "whitened_cosine"), (True, "whitened_pearson")):
        a_all = models - models.mean(1, keepdims=True) if centre else models
        b = data - data.mean() if centre else data
        expected = [inner(a, b) / np.sqrt(inner(a, a) * inner(b, b)) for a in a_all]
        close(compare(models, data, method), expected)  # 1e-8


def test_tau_a_equals_direct_count_with_ties(rng):
    for trial in range(30):
        n_pairs = [3, 6, 10, 45, 190][trial % 5]
        x = rng.integers(0, 4, n_pairs).astype(float) if trial % 2 else rng.random(n_pairs)
        y = rng.integers(0, 3, n_pairs).astype(float)
        close(compare(x, y, "tau_a"), _tau_a_direct(x, y), rtol=1e-12, atol=1e-15)  # 1e-12
    # long vectors: many bit levels; runs of tied y short (insertion) and long (mergesort)
    x, y = rng.integers(0, 50, 1770).astype(float), rng.random(1770).round(2)
    close(compare(x, y, "tau_a"), _tau_a_direct(x, y), rtol=1e-12, atol=1e-15)
    close(compare(y, x, "tau_a"), _tau_a_direct(y, x), rtol=1e-12, atol=1e-15)


def test_inversion_counts_equal_direct_count(rng):
    # The bit-partition counts of tau-a's discordant pairs, plain and weighted, against the
    # O(n^2) definition, exactly: sizes below, at and above the 16-value pairwise blocks,
    # powers of two and not.
    from brainalign.metrics.rank_kernels import _inversions, _weighted_inversions

    for n in (0, 1, 2, 15, 16, 17, 64, 300, 1000):
        perm = rng.permutation(n).astype(np.int32)
        weights = rng.integers(0, 5, n).astype(np.int64)
        before = np.triu(perm[:, None] > perm[None, :], 1)
        assert _inversions(perm.copy()) == before.sum()
        assert (_weighted_inversions(perm.copy(), weights.copy())
                == (before * np.outer(weights, weights)).sum())
    assert _inversions(np.arange(1000, dtype=np.int32)[::-1].copy()) == 1000 * 999 // 2


def test_radix_ranks_equal_scipy_rankdata(rng):
    # Signs, -0.0 vs +0.0, ties, subnormals, both precisions; exact equality.
    from scipy.stats import rankdata

    from brainalign.metrics.rank_kernels import average_ranks

    values = np.r_[rng.standard_normal(3000) * 10.0 ** rng.integers(-30, 30, 3000),
                   [0.0, -0.0, 5e-324, -5e-324, 1.5, 1.5, -1.5, -1.5]]
    values = np.round(values, 1)  # many ties
    for dtype in (np.float64, np.float32):
        x = rng.permutation(values).astype(dtype)
        np.testing.assert_array_equal(average_ranks(x), rankdata(x))


def test_compare_does_not_depend_on_threads(rng):
    models, data = _rdm_set(rng, n_models=6)
    for method in ("spearman", "tau_a"):
        np.testing.assert_array_equal(compare(models, data, method, n_jobs=1),
                                      compare(models, data, method, n_jobs=3))


# --------------------------------------------------------------------------- noise ceilings
def _subjects(rng, n_subjects=6, n=10):
    p = n * (n - 1) // 2
    return rng.random(p) + 0.7 * rng.random((n_subjects, p))


@pytest.mark.filterwarnings("ignore:Noise ceiling for tau")
@pytest.mark.parametrize("method", UNWHITENED)
def test_noise_ceiling_matches_rsatoolbox(rng, method):
    subjects = _subjects(rng)
    lower, upper = boot_noise_ceiling(RDMs(subjects), method=RSATOOLBOX_NAME[method])
    ceiling = noise_ceiling(subjects, method)
    close([ceiling.lower, ceiling.upper], [lower, upper])  # 1e-8
    assert ceiling.lower < ceiling.upper


@pytest.mark.parametrize("method", ["whitened_pearson", "whitened_cosine"])
def test_whitened_noise_ceiling_matches_rsatoolbox_whitened_pooling(rng, method, monkeypatch):
    # boot_noise_ceiling pools whitened RDMs scaled by their plain RMS/std
    # (util.inference_util.pool_rdm); ours scales each subject by its whitened norm, as
    # rsatoolbox's util.pooling.pool_rdm does. With that pooling (and exact solves in place of
    # its conjugate gradients, rtol 1e-5) the ceilings agree to 1e-8.
    import rsatoolbox.inference.noise_ceiling as rsa_nc
    from rsatoolbox.util import pooling

    monkeypatch.setattr(rsa_nc, "pool_rdm", pooling.pool_rdm)
    monkeypatch.setattr(scipy.sparse.linalg, "cg",
                        lambda a, b, **kw: (scipy.sparse.linalg.spsolve(a.tocsc(), b), 0))
    subjects = _subjects(rng)
    lower, upper = boot_noise_ceiling(RDMs(subjects), method=RSATOOLBOX_NAME[method])
    ceiling = noise_ceiling(subjects, method)
    close([ceiling.lower, ceiling.upper], [lower, upper])


# --------------------------------------------------------------------------- bootstrap
def test_pair_weights_exclude_self_pairs():
    sample = np.array([0, 0, 2, 3, 3, 3])  # condition 0 twice, 3 three times, 1 absent
    w = squareform(pair_weights(sample, 4).astype(float))
    # pairs of sample slots holding distinct conditions: C(6,2) minus C(2,2) + C(3,2) copies
    assert w.sum() / 2 == 15 - 1 - 3
    assert w[0, 2] == 2 and w[0, 3] == 6 and w[2, 3] == 3 and w[1].sum() == 0


@pytest.mark.parametrize("method", UNWHITENED)
def test_resampled_compare_matches_rsatoolbox_subsample_pattern(rng, method):
    models, data = _rdm_set(rng, n=11)
    for _ in range(3):
        sample = rng.integers(0, 11, 11)
        # rsatoolbox: RDMs with duplicated patterns, self-pairs NaN and dropped by compare
        expected = rsa_compare(RDMs(models).subsample_pattern("index", sample),
                               RDMs(data[None]).subsample_pattern("index", sample),
                               RSATOOLBOX_NAME[method])[:, 0]
        close(compare_resampled(models, data, sample, method), expected)  # 1e-8


def test_bootstrap_stimuli_is_seeded_and_rescores_each_sample(rng):
    models, data = _rdm_set(rng, n=9)
    first = bootstrap_stimuli(models, data, "spearman", n_bootstrap=20, seed=3)
    again = bootstrap_stimuli(models, data, "spearman", n_bootstrap=20, seed=3)
    other = bootstrap_stimuli(models, data, "spearman", n_bootstrap=20, seed=4)
    assert first.scores.shape == (20, 4) and first.samples.shape == (20, 9)
    np.testing.assert_array_equal(first.scores, again.scores)
    assert not np.array_equal(first.samples, other.samples)
    close(first.scores[5], compare_resampled(models, data, first.samples[5], "spearman"))
    degenerate = compare_resampled(models, data, np.array([1, 1, 2, 2, 2, 1, 1, 1, 2]))
    assert np.isnan(degenerate).all()  # fewer than 3 distinct conditions


def test_bootstrap_subjects_averages_resampled_subject_scores(rng):
    subjects = _subjects(rng, n_subjects=5)
    models = subjects.mean(0) + rng.random((3, subjects.shape[1]))
    result = bootstrap_subjects(models, subjects, "pearson", n_bootstrap=7, seed=1)
    per_subject = np.array([compare(models, s, "pearson") for s in subjects])
    close(result.scores, per_subject[result.samples].mean(axis=1), rtol=1e-12)


# --------------------------------------------------------------------------- permutation
def _permuted(rdm, perm):
    square = squareform(rdm)
    return squareform(square[np.ix_(perm, perm)], checks=False)


@pytest.mark.parametrize("method", COMPARE_METHODS)
def test_permutation_null_equals_rescoring_permuted_rdms(rng, method):
    models, data = _rdm_set(rng, n_models=2, n=8)
    result = permutation_test(models, data, method, n_permutations=5, seed=2)
    perms = np.random.default_rng(2).permuted(np.tile(np.arange(8), (5, 1)), axis=1)
    expected = [compare(models, _permuted(data, p), method) for p in perms]
    close(result.null, expected, rtol=1e-10, atol=1e-12)  # 1e-10
    # rsatoolbox's permute_rdms reorders the same way (p_new[i] = p_old[perm[i]])
    close(_permuted(data, perms[0]),
          permute_rdms(RDMs(data[None]), perms[0]).get_vectors()[0], rtol=0, atol=0)
    assert ((result.p_value >= 1 / 6) & (result.p_value <= 1)).all()


def test_permutation_p_values_uniform_under_null_and_small_for_effect(rng):
    # Coarse check: 60 unrelated (model, data) pairs, 99 permutations each.
    p_null = np.array([permutation_test(rng.random(28), rng.random(28), "spearman",
                                        n_permutations=99, seed=s).p_value for s in range(60)])
    assert 0.35 < p_null.mean() < 0.65
    assert (p_null <= 0.1).mean() < 0.25
    models, data = _rdm_set(rng, n=20, noise=0.2)
    effect = permutation_test(models[0], data, "spearman", n_permutations=199, seed=0)
    assert effect.p_value == 1 / 200


# --------------------------------------------------------------------------- one call
def test_rsa_scores_for_subjects(rng):
    subjects = _subjects(rng)
    models = subjects.mean(0) + rng.random((3, subjects.shape[1]))
    out = rsa_scores(models, subjects, "spearman", n_bootstrap=30, n_permutations=19, seed=5)
    close(out["score"], np.mean([compare(models, s) for s in subjects], axis=0), rtol=1e-12)
    assert out["bootstrap"].shape == (30, 3) and out["bootstrap_samples"].shape == (30, 10)
    assert out["null"].shape == (19, 3) and out["p_value"].shape == (3,)
    assert (out["ci_low"] <= out["ci_high"]).all()
    assert out["noise_ceiling_lower"] < out["noise_ceiling_upper"]
    again = rsa_scores(models, subjects, "spearman", n_bootstrap=30, n_permutations=19, seed=5)
    for key in out:
        np.testing.assert_array_equal(out[key], again[key])
    whitened = rsa_scores(models, subjects, "whitened_cosine", bootstrap="subjects",
                          n_bootstrap=10)
    assert whitened["bootstrap_samples"].shape == (10, 6)


def test_rsa_scores_for_one_data_rdm(rng):
    models, data = _rdm_set(rng)
    out = rsa_scores(models, data, "tau_a", n_bootstrap=5)
    assert "noise_ceiling_lower" not in out and "subject_scores" not in out
    close(out["score"], compare(models, data, "tau_a"), rtol=1e-12)


# --------------------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors(rng):
    x = rng.standard_normal((6, 5))
    models, data = _rdm_set(rng)
    cases = [
        (lambda: compute_rdm(x, "manhattan"), ValueError, "method"),
        (lambda: compute_rdm(x[0], "euclidean"), ValueError, "at least 2 dimensions"),
        (lambda: compute_rdm(x[:1], "euclidean"), ValueError, "at least 2 conditions"),
        (lambda: compute_rdm(np.where(x > 1, np.nan, x)), ValueError, "NaN"),
        (lambda: compute_rdm(np.ones((3, 4))), ValueError, "zero variance"),
        (lambda: compute_rdm(x, dtype=np.int32), TypeError, "dtype"),
        (lambda: crossnobis_rdm(x[None, None]), ValueError, "at least 2 runs"),
        (lambda: crossnobis_rdm(x, runs=np.zeros(6), conditions=np.arange(6)), ValueError,
         "at least 2 runs"),
        (lambda: crossnobis_rdm(x, runs=np.r_[0, 0, 0, 1, 1, 1],
                                conditions=np.r_[0, 1, 2, 0, 1, 1]),
         ValueError, "no observation in run"),
        (lambda: crossnobis_rdm(x), ValueError, "patterns per run"),
        (lambda: crossnobis_rdm(np.stack([x, x]), precision=np.eye(4)), ValueError, "precision"),
        (lambda: compare(models[:, :-1], data), ValueError, r"not n \(n - 1\) / 2"),
        (lambda: compare(models, data[:-1]), ValueError, "pairs to match"),
        (lambda: compare(models[:, :1], data[:1]), ValueError, "at least 3 conditions"),
        (lambda: compare(models, np.where(data > 0.9, np.nan, data)), ValueError, "NaN"),
        (lambda: compare(models, np.ones_like(data), "pearson"), ValueError, "data_rdm"),
        (lambda: compare(models, data, "kendall"), ValueError, "method"),
        (lambda: compare(models[None], data), ValueError, "shape"),
        (lambda: bootstrap_stimuli(models, data, "whitened_cosine", n_bootstrap=2), ValueError,
         "subjects"),
        (lambda: bootstrap_stimuli(models, data, n_bootstrap=0), ValueError, "n_bootstrap"),
        (lambda: noise_ceiling(data), ValueError, "at least 2 subject"),
        (lambda: rsa_scores(models, data, bootstrap="subjects"), ValueError, "n_subjects >= 2"),
        (lambda: permutation_test(models, data, n_permutations=-1), ValueError,
         "n_permutations"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
