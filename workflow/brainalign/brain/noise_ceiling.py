"""Per-unit noise ceilings from repeated presentations of the same stimuli.

NCSNR (Allen et al. 2022, Nature Neuroscience 25:116, the Natural Scenes Dataset). With betas
``b[t, v]`` z-scored within each run (so a unit's betas have unit variance in every run),
stimuli ``s`` shown ``m_s >= 2`` times,

    sigma_noise^2[v]  = mean_s var_{t in s}(b[t, v])          (ddof = 1)
    sigma_signal^2[v] = max(0, 1 - sigma_noise^2[v])
    ncsnr[v]          = sigma_signal[v] / sigma_noise[v]

and the fraction of variance of the average of ``n`` trials that the signal can explain is

    NC(n) = ncsnr^2 / (ncsnr^2 + 1/n),        (100 NC(n) in percent)

or, for stimuli averaged over different numbers of trials ``n_s``,
``ncsnr^2 / (ncsnr^2 + mean_s 1/n_s)``.

Split-half reliability: the trials of each stimulus are split at random into two halves, each
half averaged, and the two (n_stimuli,) profiles correlated per unit (Pearson); the mean over
random splits is stepped up to the full data with Spearman-Brown,
``r_k = k r / (1 + (k - 1) r)`` with ``k = 2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ncsnr", "noise_ceiling", "spearman_brown", "split_half_reliability", "zscore_by_run"]


def _betas(betas, labels, name: str) -> tuple[np.ndarray, np.ndarray]:
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 2:
        raise ValueError(f"betas must be 2D (trial, unit), got shape {betas.shape}")
    labels = np.asarray(labels)
    if labels.shape != (betas.shape[0],):
        raise ValueError(f"{name} must have one entry per trial ({betas.shape[0]}), got shape {labels.shape}")
    return betas, labels


def _repeated_groups(stimulus_ids: np.ndarray) -> list[np.ndarray]:
    """Trial indices of each stimulus shown at least twice."""
    _, inverse, counts = np.unique(stimulus_ids, return_inverse=True, return_counts=True)
    groups = [np.flatnonzero(inverse == s) for s in np.flatnonzero(counts >= 2)]
    if not groups:
        raise ValueError("stimulus_ids has no stimulus shown at least twice: no repetitions to estimate noise")
    return groups


def zscore_by_run(betas, runs: Sequence) -> np.ndarray:
    """Z-score each unit's betas within each run: ``(b - mean_run) / std_run`` (ddof = 0).

    A unit constant within a run gets NaN there.
    """
    betas, runs = _betas(betas, runs, "runs")
    out = np.empty_like(betas)
    for run in np.unique(runs):
        rows = runs == run
        block = betas[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rows] = (block - block.mean(0)) / block.std(0)
    return out


def ncsnr(betas, stimulus_ids: Sequence, *, runs: Sequence | None = None, zscore: bool = True) -> np.ndarray:
    """Noise-ceiling signal-to-noise ratio per unit, (n_units,) (module docstring).

    Parameters
    ----------
    betas : array (n_trials, n_units)
    stimulus_ids : sequence (n_trials,)
        The stimulus of each trial; stimuli shown once do not enter ``sigma_noise``.
    runs : sequence (n_trials,) or None
        Run (or session) of each trial; betas are z-scored within each. ``None``: z-scored
        over all trials together.
    zscore : bool
        ``False`` when the betas are already z-scored (the formula assumes unit variance).
    """
    betas, stimulus_ids = _betas(betas, stimulus_ids, "stimulus_ids")
    if zscore:
        betas = zscore_by_run(betas, np.zeros(len(betas)) if runs is None else runs)
    groups = _repeated_groups(stimulus_ids)
    noise_var = np.mean([betas[g].var(axis=0, ddof=1) for g in groups], axis=0)
    signal_var = np.maximum(0.0, 1.0 - noise_var)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(signal_var) / np.sqrt(noise_var)


def noise_ceiling(ncsnr_values, n_trials=1, *, percent: bool = True) -> np.ndarray:
    """Noise ceiling of the average of ``n_trials`` trials: ``ncsnr^2 / (ncsnr^2 + mean(1/n))``.

    ``n_trials`` is one count, or the count of each stimulus (then ``mean(1/n_s)``). Returned
    in percent of variance (``percent=True``) or as a fraction.
    """
    counts = np.atleast_1d(np.asarray(n_trials, dtype=np.float64))
    if counts.ndim != 1 or counts.size == 0 or not (counts >= 1).all():
        raise ValueError(f"n_trials must be a count >= 1 or a 1D array of such counts, got {n_trials!r}")
    snr2 = np.asarray(ncsnr_values, dtype=np.float64) ** 2
    with np.errstate(invalid="ignore"):
        fraction = np.where(np.isinf(snr2), 1.0, snr2 / (snr2 + np.mean(1.0 / counts)))
    return 100.0 * fraction if percent else fraction


def spearman_brown(r, factor: float = 2.0) -> np.ndarray:
    """Reliability of ``factor`` times as much data: ``factor r / (1 + (factor - 1) r)``."""
    if not factor > 0:
        raise ValueError(f"Spearman-Brown factor must be positive, got {factor!r}")
    r = np.asarray(r, dtype=np.float64)
    return factor * r / (1.0 + (factor - 1.0) * r)


def split_half_reliability(betas, stimulus_ids: Sequence, *, n_splits: int = 20, seed: int = 0,
                           correct: bool = True) -> np.ndarray:
    """Split-half reliability per unit, (n_units,), averaged over ``n_splits`` random splits.

    Only stimuli shown at least twice enter; a stimulus with an odd count ``m`` puts
    ``floor(m/2)`` trials in the first half. ``correct`` applies Spearman-Brown (factor 2) to
    the mean split-half correlation.
    """
    betas, stimulus_ids = _betas(betas, stimulus_ids, "stimulus_ids")
    if not isinstance(n_splits, int) or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    groups = _repeated_groups(stimulus_ids)
    if len(groups) < 3:
        raise ValueError(f"split-half reliability needs at least 3 repeated stimuli, got {len(groups)}")
    trials = np.concatenate(groups)
    codes = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    counts = np.array([len(g) for g in groups])
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    cuts = counts // 2
    # rows sorted by stimulus then by a random key: each stimulus's first ``cut`` rows are half A
    boundaries = np.ravel(np.column_stack([starts, starts + cuts]))
    sizes = np.ravel(np.column_stack([cuts, counts - cuts]))[:, None]
    rng = np.random.default_rng(seed)
    r = np.zeros(betas.shape[1])
    for _ in range(n_splits):
        order = trials[np.lexsort((rng.random(len(trials)), codes))]
        means = np.add.reduceat(betas[order], boundaries, axis=0) / sizes
        a, b = means[0::2] - means[0::2].mean(0), means[1::2] - means[1::2].mean(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r += (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))
    r /= n_splits
    return spearman_brown(r) if correct else r
