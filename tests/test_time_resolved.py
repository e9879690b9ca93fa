"""Time-resolved RSA and encoding (brainalign.metrics.time_resolved) against references:
scipy's distances and rank correlations per time point, the single-time RSA and ridge functions
applied time point by time point, and closed-form peaks."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import kendalltau, pearsonr, spearmanr

from brainalign.metrics.rdm import compute_rdm, crossnobis_rdm
from brainalign.metrics.ridge import cross_validated_encoding
from brainalign.metrics.rsa_compare import compare
from brainalign.metrics.rsa_stats import compare_resampled
from brainalign.metrics.time_resolved import (bootstrap_time_course, peak_latency, rsa_time_course,
                                              time_resolved_encoding, time_resolved_rdms, time_resolved_rsa,
                                              window_times)


@pytest.fixture(scope="module")
def responses():
    return np.random.default_rng(0).standard_normal((9, 6, 12))  # (conditions, units, times)


def test_rdms_per_time_match_scipy(responses):
    rdms = time_resolved_rdms(responses, "correlation")
    assert rdms.shape == (12, 36)
    for t in range(12):
        np.testing.assert_allclose(rdms[t], pdist(responses[:, :, t], "correlation"), rtol=0, atol=1e-12)
    np.testing.assert_allclose(time_resolved_rdms(responses, "euclidean")[5], pdist(responses[:, :, 5]),
                               rtol=1e-12)


def test_sliding_window_concatenates_samples(responses):
    rdms = time_resolved_rdms(responses, "sqeuclidean", window=3)
    assert rdms.shape == (10, 36)
    for k in (0, 4, 9):
        patterns = responses[:, :, k:k + 3].reshape(9, -1)
        np.testing.assert_allclose(rdms[k], pdist(patterns, "sqeuclidean"), rtol=1e-10)
    times = np.arange(12) * 0.01 - 0.02
    np.testing.assert_allclose(window_times(times, 3), times[1:-1], atol=1e-15)
    np.testing.assert_allclose(window_times(times, 1), times)


def test_blocked_rdms_equal_one_block(responses, monkeypatch):
    import brainalign.metrics.time_resolved as tr
    whole = time_resolved_rdms(responses, "cosine", window=2)
    monkeypatch.setattr(tr, "_BLOCK_BYTES", 1)  # one window per block
    np.testing.assert_array_equal(time_resolved_rdms(responses, "cosine", window=2), whole)


def test_crossnobis_over_time_matches_crossnobis_per_time():
    rng = np.random.default_rng(1)
    runs = np.repeat([0, 1, 2], 10)
    conditions = np.tile(np.repeat(np.arange(5), 2), 3)
    trials = rng.standard_normal((30, 4, 6))
    rdms = time_resolved_rdms(trials, "crossnobis", runs=runs, conditions=conditions)
    for t in range(6):
        np.testing.assert_allclose(rdms[t], crossnobis_rdm(trials[:, :, t], runs, conditions), rtol=1e-10,
                                   atol=1e-12)
    with pytest.raises(ValueError, match="every condition in every run"):
        time_resolved_rdms(trials[:-2], "crossnobis", runs=runs[:-2], conditions=conditions[:-2])
    with pytest.raises(ValueError, match="only used by method='crossnobis'"):
        time_resolved_rdms(trials, "correlation", runs=runs, conditions=conditions)


@pytest.mark.parametrize("method,reference", [("spearman", spearmanr), ("pearson", pearsonr),
                                              ("tau_a", kendalltau)])
def test_time_course_matches_scipy(responses, method, reference):
    rng = np.random.default_rng(2)
    models = rng.random((3, 36))
    brain = time_resolved_rdms(responses, "correlation")
    scores = rsa_time_course(models, brain, method)
    assert scores.shape == (3, 12)
    # continuous values have no ties, so scipy's tau-b is tau-a
    expected = [[reference(m, d)[0] for d in brain] for m in models]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-10)


def test_time_course_whitened_matches_compare(responses):
    models = np.random.default_rng(3).random((2, 36))
    brain = time_resolved_rdms(responses, "euclidean")
    scores = rsa_time_course(models, brain, "whitened_pearson")
    expected = np.stack([compare(models, d, "whitened_pearson") for d in brain], axis=1)
    np.testing.assert_allclose(scores, expected, atol=1e-12)


def test_bootstrap_uses_one_draw_for_all_times(responses):
    models = np.random.default_rng(4).random((2, 36))
    brain = time_resolved_rdms(responses, "correlation")
    scores, samples = bootstrap_time_course(models, brain, "spearman", n_bootstrap=20, seed=7)
    assert scores.shape == (20, 2, 12) and samples.shape == (20, 9)
    np.testing.assert_array_equal(samples, np.random.default_rng(7).integers(0, 9, (20, 9)))
    for t in (0, 6, 11):
        np.testing.assert_allclose(scores[:, :, t], compare_resampled(models, brain[t], samples, "spearman"),
                                   atol=1e-12)
    again, _ = bootstrap_time_course(models, brain, "spearman", n_bootstrap=20, seed=7)
    np.testing.assert_array_equal(scores, again)


def test_peak_latency_closed_form():
    times = np.linspace(-0.1, 0.5, 121)  # 5 ms steps
    bumps = np.exp(-((times - np.array([[0.1], [0.3]])) ** 2) / (2 * 0.03**2))
    np.testing.assert_allclose(peak_latency(bumps, times), [0.1, 0.3], atol=1e-12)
    # a larger pre-stimulus value is ignored inside the latency window
    early_artefact = bumps.copy()
    early_artefact[:, 2] = 5.0
    np.testing.assert_allclose(peak_latency(early_artefact, times), [times[2]] * 2)
    np.testing.assert_allclose(peak_latency(early_artefact, times, latency_window=(0, 0.5)), [0.1, 0.3],
                               atol=1e-12)
    with_nan = bumps.copy()
    with_nan[0] = np.nan
    with_nan[1, 80] = np.nan  # t = 0.3
    got = peak_latency(with_nan, times)
    assert np.isnan(got[0]) and got[1] in (times[79], times[81])
    with pytest.raises(ValueError, match="latency_window"):
        peak_latency(bumps, times, latency_window=(0.6, 0.7))
    with pytest.raises(ValueError, match="times"):
        peak_latency(bumps, times[:-1])


def test_time_resolved_rsa_dataset(responses):
    features = np.random.default_rng(5).standard_normal((2, 9, 7))
    models = compute_rdm(features, "correlation")
    times = np.arange(12) / 100
    result = time_resolved_rsa(responses, times, models, layers=["a", "b"], window=2, n_bootstrap=30, seed=1)
    assert dict(result.sizes) == {"layer": 2, "time": 11, "bootstrap": 30, "draw": 9}
    assert list(result["layer"].values) == ["a", "b"]
    np.testing.assert_allclose(result["time"], window_times(times, 2))
    brain = time_resolved_rdms(responses, "correlation", window=2)
    np.testing.assert_allclose(result["score"], rsa_time_course(models, brain), atol=1e-12)
    np.testing.assert_allclose(result["peak_latency"], peak_latency(result["score"].values, result["time"].values))
    np.testing.assert_allclose(result["peak_score"], result["score"].max("time"))
    assert (result["score_ci_low"] <= result["score_ci_high"]).all()
    latencies = result["peak_latency_bootstrap"].values
    assert np.isin(latencies[~np.isnan(latencies)], result["time"].values).all()
    bare = time_resolved_rsa(responses, times, models, n_bootstrap=0)
    assert "bootstrap_score" not in bare and list(bare["layer"].values) == ["0", "1"]
    with pytest.raises(ValueError, match="model_rdms"):
        time_resolved_rsa(responses[:8], times, models, n_bootstrap=0)
    with pytest.raises(ValueError, match="window"):
        time_resolved_rsa(responses, times, models, window=13)
    with pytest.raises(ValueError, match="times"):
        time_resolved_rsa(responses, times[:-1], models)


def test_encoding_equals_encoding_per_time_point():
    rng = np.random.default_rng(6)
    features = rng.standard_normal((60, 5))
    weights = rng.standard_normal((5, 3, 4))
    responses = np.einsum("sf,fut->sut", features, weights) + rng.standard_normal((60, 3, 4))
    groups = np.repeat(np.arange(4), 15)
    times = np.array([-0.1, 0.0, 0.1, 0.2])
    result = time_resolved_encoding(features, responses, times=times, groups=groups, dtype=np.float64,
                                    alphas=np.logspace(-2, 3, 6), inner_cv="logo")
    assert dict(result.sizes) == {"fold": 4, "unit": 3, "time": 4, "sample": 60, "alpha": 6}
    for t in range(4):
        single = cross_validated_encoding(features, responses[:, :, t], groups=groups, dtype=np.float64,
                                          alphas=np.logspace(-2, 3, 6), inner_cv="logo")
        for key in ("r", "r2", "alpha"):
            np.testing.assert_allclose(result[key].values[:, :, t], single[key], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(result["fold"], single["fold"])
    # signal variance ||w_ut||^2 against unit noise: the best r is s / sqrt(s^2 + 1)
    signal_sd = np.linalg.norm(weights, axis=0)
    best_r = signal_sd / np.sqrt(signal_sd**2 + 1)
    np.testing.assert_allclose(result["r"].mean("fold"), best_r, atol=0.15)


def test_encoding_rejects_bad_shapes():
    with pytest.raises(ValueError, match="responses"):
        time_resolved_encoding(np.ones((5, 2)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="times"):
        time_resolved_encoding(np.ones((5, 2)), np.ones((5, 3, 4)), times=np.arange(3))
