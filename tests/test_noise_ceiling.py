"""Noise ceilings against simulations with known signal and noise variances (closed forms).

Simulation: unit v has a signal profile over stimuli with variance ``s_v^2`` and every trial
adds independent noise of variance ``sigma^2``. Then ncsnr_v = s_v / sigma, the ceiling of an
n-trial average is ``s^2 / (s^2 + sigma^2 / n)``, and the reliability of an m-trial average is
the same quantity with n = m.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import zscore

from brainalign.brain.noise_ceiling import (
    ncsnr,
    noise_ceiling,
    spearman_brown,
    split_half_reliability,
    zscore_by_run,
)

LEVELS = np.array([0.25, 0.5, 1.0, 2.0, 3.0])
UNITS_PER_LEVEL = 20
SIGNAL_SD = np.repeat(LEVELS, UNITS_PER_LEVEL)  # units 0-19 have signal sd 0.25, ...
NOISE_SD = 1.0


def level_means(values):
    """Mean over the units of each signal level, (5,)."""
    return np.asarray(values).reshape(len(LEVELS), UNITS_PER_LEVEL).mean(1)


def simulate(n_stimuli, n_repeats, seed, run_effects=True):
    """Betas (n_repeats * n_stimuli, n_units): run r shows every stimulus once, in random order;
    each run adds its own offset and gain per unit (removed by z-scoring within runs)."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_stimuli, len(SIGNAL_SD))) * SIGNAL_SD
    betas, stimuli, runs = [], [], []
    for run in range(n_repeats):
        order = rng.permutation(n_stimuli)
        trial = signal[order] + rng.normal(0, NOISE_SD, (n_stimuli, len(SIGNAL_SD)))
        if run_effects:
            trial = trial * rng.uniform(0.5, 2.0, len(SIGNAL_SD)) + rng.normal(0, 5, len(SIGNAL_SD))
        betas.append(trial)
        stimuli.append(order)
        runs.append(np.full(n_stimuli, run))
    return np.concatenate(betas), np.concatenate(stimuli), np.concatenate(runs)


def test_ncsnr_and_ceiling_match_closed_form():
    """1000 stimuli x 3 repeats, means over 20 units per signal level; tolerance 5 % relative on
    ncsnr, 2 points on NC(3) in percent (0.02 as a fraction)."""
    betas, stimuli, runs = simulate(1000, 3, seed=0)
    estimate = ncsnr(betas, stimuli, runs=runs)
    np.testing.assert_allclose(level_means(estimate), LEVELS / NOISE_SD, rtol=0.05)
    expected_nc3 = 100 * LEVELS**2 / (LEVELS**2 + NOISE_SD**2 / 3)
    np.testing.assert_allclose(level_means(noise_ceiling(estimate, 3)), expected_nc3, atol=2.0)
    np.testing.assert_allclose(level_means(noise_ceiling(estimate, 3, percent=False)), expected_nc3 / 100, atol=0.02)


def test_zscoring_within_runs_removes_run_gain_and_offset():
    """Invariance: a positive gain and an offset per run and unit leave ncsnr unchanged; and
    z-scoring within runs equals scipy.stats.zscore applied run by run."""
    betas, stimuli, runs = simulate(300, 3, seed=1, run_effects=False)
    rng = np.random.default_rng(5)
    gains, offsets = rng.uniform(0.2, 5.0, (3, betas.shape[1])), rng.normal(0, 10, (3, betas.shape[1]))
    distorted = betas * gains[runs] + offsets[runs]
    np.testing.assert_allclose(ncsnr(distorted, stimuli, runs=runs), ncsnr(betas, stimuli, runs=runs), rtol=1e-10)
    by_hand = np.empty_like(betas)
    for r in range(3):
        by_hand[runs == r] = zscore(betas[runs == r], axis=0)
    np.testing.assert_allclose(zscore_by_run(betas, runs), by_hand, rtol=1e-12)
    np.testing.assert_allclose(ncsnr(by_hand, stimuli, zscore=False), ncsnr(betas, stimuli, runs=runs), rtol=1e-12)


def test_noise_ceiling_with_unequal_trial_counts():
    """NSD's form for stimuli averaged over 3, 3, 2 and 1 trials: 1/n -> mean_s 1/n_s."""
    snr = np.array([0.5, 1.0, 2.0])
    mean_inverse = (1 / 3 + 1 / 3 + 1 / 2 + 1) / 4
    np.testing.assert_allclose(noise_ceiling(snr, [3, 3, 2, 1]), 100 * snr**2 / (snr**2 + mean_inverse))
    np.testing.assert_allclose(noise_ceiling(snr, 1, percent=False), snr**2 / (snr**2 + 1))
    assert noise_ceiling(np.inf, 1) == 100.0 and noise_ceiling(0.0, 5) == 0.0
    with pytest.raises(ValueError, match="n_trials must be a count >= 1"):
        noise_ceiling(snr, 0)


def test_spearman_brown_closed_form_and_composition():
    np.testing.assert_allclose(spearman_brown(0.5), 2 / 3)
    np.testing.assert_allclose(spearman_brown(0.5, factor=3), 0.75)
    r = np.linspace(-0.5, 0.95, 7)
    np.testing.assert_allclose(spearman_brown(spearman_brown(r, 2), 3), spearman_brown(r, 6))  # k-fold steps compose
    np.testing.assert_allclose(spearman_brown(spearman_brown(r, 4), 0.25), r)
    with pytest.raises(ValueError, match="factor must be positive"):
        spearman_brown(r, 0)


def test_split_half_reliability_matches_closed_form_and_ncsnr():
    """1000 stimuli x 4 repeats, means over 20 units per level. Half-averages of 2 trials
    correlate at s^2 / (s^2 + sigma^2/2); Spearman-Brown steps that to the 4-trial reliability
    s^2 / (s^2 + sigma^2/4) = NC(4)/100. Tolerance 0.02 (absolute, on a correlation) for both,
    and between the two estimators."""
    betas, stimuli, runs = simulate(1000, 4, seed=2, run_effects=False)
    half = split_half_reliability(betas, stimuli, n_splits=10, seed=0, correct=False)
    np.testing.assert_allclose(level_means(half), LEVELS**2 / (LEVELS**2 + NOISE_SD**2 / 2), atol=0.02)
    full = split_half_reliability(betas, stimuli, n_splits=10, seed=0)
    np.testing.assert_allclose(level_means(full), LEVELS**2 / (LEVELS**2 + NOISE_SD**2 / 4), atol=0.02)
    from_ncsnr = noise_ceiling(ncsnr(betas, stimuli, runs=runs), 4, percent=False)
    np.testing.assert_allclose(level_means(full), level_means(from_ncsnr), atol=0.02)
    np.testing.assert_array_equal(full, split_half_reliability(betas, stimuli, n_splits=10, seed=0))  # seeded


def test_split_half_with_odd_counts_matches_a_loop():
    """Reference: the same random split drawn trial by trial in a plain loop (3 trials -> 1 + 2)."""
    rng = np.random.default_rng(4)
    betas = rng.normal(size=(15, 3))
    stimuli = np.repeat(list("abcde"), 3)
    ours = split_half_reliability(betas, stimuli, n_splits=1, seed=7, correct=False)
    keys = np.random.default_rng(7).random(15)
    halves = [[], []]
    for s in "abcde":
        trials = np.flatnonzero(stimuli == s)
        ordered = trials[np.argsort(keys[trials])]
        halves[0].append(betas[ordered[:1]].mean(0))
        halves[1].append(betas[ordered[1:]].mean(0))
    expected = [np.corrcoef(np.array(halves[0])[:, u], np.array(halves[1])[:, u])[0, 1] for u in range(3)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_bad_inputs():
    betas = np.zeros((6, 2))
    with pytest.raises(ValueError, match="no stimulus shown at least twice"):
        ncsnr(np.random.default_rng(0).normal(size=(6, 2)), list("abcdef"))
    with pytest.raises(ValueError, match=r"stimulus_ids must have one entry per trial \(6\)"):
        ncsnr(betas, list("abc"))
    with pytest.raises(ValueError, match="betas must be 2D"):
        ncsnr(np.zeros(6), list("aabbcc"))
    with pytest.raises(ValueError, match="at least 3 repeated stimuli"):
        split_half_reliability(betas, list("aabbcd"))
