"""Paired and group-level inference.

References: rsatoolbox for the two-factor bootstrap (each sample's RDMs subsampled by
``RDMs.subsample`` / ``subsample_pattern`` and compared, 1e-8); scipy.stats for the group tests
(``ttest_1samp``, ``false_discovery_control``, 1e-12); the sign-flip test against a direct
enumeration of the flips; simulated studies with a known answer for the paired decisions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.rdm import RDMs  # noqa: E402
from rsatoolbox.rdm import compare as rsa_compare  # noqa: E402

from brainalign.metrics.group_stats import benjamini_hochberg, group_tests  # noqa: E402
from brainalign.metrics.paired import sign_flip_p, two_factor_bootstrap  # noqa: E402
from brainalign.metrics.rdm import compute_rdm  # noqa: E402
from brainalign.stages import inference  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(5)


@pytest.mark.parametrize("method, name", [("spearman", "spearman"), ("pearson", "corr")])
def test_two_factor_bootstrap_matches_rsatoolbox_subsampling(rng, method, name):
    subjects = rng.random((4, 45)) + rng.random(45)
    models = rng.random((3, 45)) + rng.random(45)
    res = two_factor_bootstrap(models, subjects, method, n_bootstrap=6, seed=2)
    for b in range(6):
        data = RDMs(subjects).subsample("index", res["subjects"][b]).subsample_pattern("index", res["stimuli"][b])
        cands = RDMs(models).subsample_pattern("index", res["stimuli"][b])
        expected = rsa_compare(cands, data, method=name).mean(axis=1)  # mean over the drawn subjects
        np.testing.assert_allclose(res["scores"][b], expected, rtol=1e-8)


def test_sign_flip_p_is_the_enumerated_fraction(rng):
    d = rng.standard_normal((5, 3)) + [0, 0.5, 2]
    flips = np.array(list(itertools.product([1, -1], repeat=5)))
    expected = [np.mean(np.abs((flips * d[:, k]).mean(1)) >= abs(d[:, k].mean()) - 1e-12) for k in range(3)]
    np.testing.assert_allclose(sign_flip_p(d, n_permutations=1000), expected, rtol=0, atol=1e-15)
    assert sign_flip_p(np.array([1.0, 2.0]), 1000) == 0.5  # 2 subjects: p >= 2/4


def test_group_tests_match_scipy(rng):
    x = rng.standard_normal((12, 6)) + np.linspace(0, 2, 12)[:, None]
    out = group_tests(x, n_permutations=10000, seed=0)
    t = stats.ttest_1samp(x, 0, axis=1)
    np.testing.assert_allclose(out["t"], t.statistic, rtol=1e-12)
    np.testing.assert_allclose(out["p_t"], t.pvalue, rtol=1e-12)
    np.testing.assert_allclose(out["p_fdr"], stats.false_discovery_control(t.pvalue, method="bh"), rtol=1e-12)
    np.testing.assert_allclose(benjamini_hochberg([0.04, np.nan, 0.01, 0.03]),
                               np.r_[stats.false_discovery_control([0.04, 0.01, 0.03])[[0]], np.nan,
                                     stats.false_discovery_control([0.04, 0.01, 0.03])[1:]], rtol=1e-12)
    # exact flips (2^6 = 64): the max statistic is at least as strict as the per-score flip test
    assert (out["p_max"] >= out["p_sign_flip"] - 1e-15).all() and out["p_sign_flip"].min() >= 1 / 64
    # max statistic controls the family-wise error: null families of 10 scores, 8 subjects
    hits = [group_tests(np.random.default_rng(s).standard_normal((10, 8)), seed=s)["p_max"].min() <= 0.05
            for s in range(200)]
    assert np.mean(hits) <= 0.09  # 0.05 expected; binomial s.d. 0.015 over 200 families


# ------------------------------------------------------------------------------ simulated studies
def _study(seed, noise_a, noise_b, n=24, n_subjects=6):
    """Subject RDMs of true patterns plus subject noise; layers A and B are the true patterns
    plus their own noise (s.d. noise_a, noise_b)."""
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((n, 30))
    data = [compute_rdm(truth + 1.0 * rng.standard_normal(truth.shape)) for _ in range(n_subjects)]
    layers = np.stack([compute_rdm(truth + s * rng.standard_normal(truth.shape)) for s in (noise_a, noise_b)])
    draws = np.random.default_rng([seed, 1]).integers(0, n, size=(300, n))
    fam = inference.Family("sim", "v1", "rsa", "spearman", [("net", "A"), ("net", "B")],
                           [f"{s:02d}" for s in range(n_subjects)], np.zeros(0), np.zeros(0), "stimuli")
    fam = inference.rsa_family(fam, data, [layers] * n_subjects, "spearman", 1, draws)
    return inference.paired_table([fam], n_bootstrap=300, n_permutations=1000, ci=0.95, seed=seed).iloc[0]


def test_equally_good_layers_are_reported_indistinguishable():
    """Layers A and B equally noisy (s.d. 1.5 each): over 30 simulated studies the two-factor
    interval of A - B contains 0 in at least 90 % (95 % nominal; the two-factor bootstrap is
    conservative)."""
    rows = [_study(seed, 1.5, 1.5) for seed in range(30)]
    assert all(r.decided_by == "both" for r in rows)
    assert np.mean([r.indistinguishable for r in rows]) >= 0.9


def test_better_layer_has_the_right_sign_and_an_interval_excluding_zero():
    """Layer A (noise s.d. 0.5) better than B (s.d. 3): a mean Spearman margin of about 0.4;
    every one of 20 studies gives A - B > 0 with its interval above 0."""
    rows = [_study(seed, 0.5, 3.0) for seed in range(20)]
    margins = np.array([r.difference for r in rows])
    assert 0.25 < margins.mean() < 0.6
    assert all(r.difference > 0 and r.both_low > 0 and not r.indistinguishable for r in rows)
    assert all(r.resampled_low > 0 for r in rows)


def test_group_columns_and_recovery_intervals():
    summary = pd.DataFrame({
        "dataset": "d", "subject": np.repeat(["01", "02", "03"], 4), "roi": np.tile(["a", "a", "b", "b"], 3),
        "model": "m", "layer": np.tile(["l1", "l2"], 6), "method": "rsa", "metric": "spearman",
        "score": [0.5, 0.1, 0.4, 0.0, 0.6, 0.2, 0.5, -0.1, 0.55, 0.15, 0.45, 0.05]})
    cols = inference.group_columns(summary, n_permutations=100, seed=0)
    wide = summary.pivot_table(index=["roi", "layer"], columns="subject", values="score")
    t = stats.ttest_1samp(wide.to_numpy(), 0, axis=1)
    got = cols.groupby([summary.roi, summary.layer]).group_t.first()
    np.testing.assert_allclose(got.to_numpy(), t.statistic, rtol=1e-12)
    assert (cols.group_p_sign_flip >= 1 / 8).all()  # 3 subjects: 8 flips


def test_figure_title_names_an_indistinguishable_runner_up():
    from brainalign.figures.score_by_layer import best_title

    part = pd.DataFrame({"model": ["m", "m", "n"], "layer": ["a", "b", "c"], "score": [0.50, 0.52, 0.1],
                         "vs_best_low": [-0.01, 0.0, 0.3]})
    assert best_title(part) == "best: m b (0.52)\nindistinguishable from m a"
    part.loc[0, "vs_best_low"] = 0.005  # the interval of best - runner-up above 0
    assert best_title(part) == "best: m b (0.52)"


def test_condensed_positions_reorder_like_squareform(rng):
    from scipy.spatial.distance import squareform

    order = np.array([f"s{k}" for k in rng.permutation(9)])
    rdm = rng.random(36)
    ids = sorted(order[:7])  # a subset, in another order
    square = squareform(rdm)
    where = [list(order).index(s) for s in ids]
    np.testing.assert_array_equal(rdm[inference.condensed_positions(order, ids)],
                                  squareform(square[np.ix_(where, where)], checks=False))


def test_study_families_rescore_the_stored_rsa_scores_and_pair_every_layer(study):
    """On the test study: the RSA stores re-read in one stimulus order give each subject's stored
    score (1e-7), and paired.csv holds every pair of the 12 layers of each family."""
    import xarray as xr

    paths = sorted(study.glob("rsa/sim/sub-*/*.zarr"))
    families = inference.rsa_families(paths, n_bootstrap=5, seed=0)
    scores = xr.open_zarr(study / "scores.zarr").drop_vars("score_bootstrap").to_dataframe().reset_index()
    for fam in families:
        for s, subject in enumerate(fam.subjects):
            part = scores[(scores.method == "rsa") & (scores.subject == subject) & (scores["roi"] == fam.roi)]
            stored = part.set_index(["model", "layer"]).score
            np.testing.assert_allclose(fam.x[s], stored.loc[fam.candidates].to_numpy(), rtol=1e-7)
    paired = pd.read_csv(study / "paired.csv")
    assert len(paired) == 3 * 3 * 66  # (encoding r, R², RSA) x ROIs x 12 * 11 / 2 pairs
    recovery = pd.read_csv(study / "recovery.csv", dtype={"subject": str})
    assert not recovery.indistinguishable.any() and (recovery.margin_low > 0).all()
