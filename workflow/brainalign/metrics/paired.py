"""Paired inference between scores: layer vs layer, model vs model.

Two scores are compared through their difference ``Delta = score_a - score_b``, where a score is
the mean over subjects of a per-subject score ``x_s`` (an RSA comparison, an encoding mean over
voxels). Because both scores come from the same subjects and stimuli, every resample below is
applied to both at once (the samples are *paired*), which cancels what the two share:

* over stimuli: ``Delta_b`` on the stimuli drawn by sample ``b`` (the same draw for every subject,
  model and layer; :func:`brainalign.metrics.rsa_stats.bootstrap_stimuli`);
* over subjects: ``Delta_b = mean_{t} (x_{a, s_bt} - x_{b, s_bt})`` with ``S`` subjects drawn
  with replacement;
* over both (rsatoolbox's two-factor bootstrap, ``eval_bootstrap``): sample ``b`` draws subjects
  and stimuli, and scores the drawn subjects' RDMs restricted to the drawn stimuli.
  Resampling both factors counts each factor's variance more than once, so this interval is
  conservative (Schütt et al. 2023 correct for it; the uncorrected one errs toward
  "indistinguishable").

The interval is the percentile interval ``[q_{(1-ci)/2}, q_{(1+ci)/2}]`` of ``Delta_b`` (NaN
samples ignored); two scores are *indistinguishable* when it contains 0. The sign-flip test
over subjects (:func:`sign_flip_p`) tests ``E[x_a - x_b] = 0`` with exact enumeration of the
``2^S`` flips when they are at most ``n_permutations``.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from .rdm import n_conditions_from_pairs
from .rsa_compare import as_rdm_stack, check_method
from .rsa_stats import _resampled_scores

__all__ = ["percentile_interval", "indistinguishable", "subject_resamples", "two_factor_samples",
           "two_factor_bootstrap", "sign_flips", "sign_flip_p"]


def percentile_interval(samples, ci: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap ``samples`` along ``axis`` (NaN samples ignored; NaN
    where there are none)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.shape[axis] == 0 or np.isnan(x).all():
        shape = np.delete(np.array(x.shape), axis)
        return np.full(shape, np.nan), np.full(shape, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        low, high = np.nanquantile(x, [(1 - ci) / 2, (1 + ci) / 2], axis=axis)
    return low, high


def indistinguishable(low, high) -> np.ndarray:
    """True where the interval ``[low, high]`` of a difference contains 0 (or is undefined)."""
    low, high = np.asarray(low), np.asarray(high)
    return ~((low > 0) | (high < 0))


def subject_resamples(n_subjects: int, n_bootstrap: int, seed) -> np.ndarray:
    """(n_bootstrap, n_subjects) subject indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n_subjects, size=(n_bootstrap, n_subjects))


def two_factor_samples(per_subject_samples, subjects: np.ndarray) -> np.ndarray:
    """Two-factor bootstrap samples from per-subject stimulus-bootstrap samples.

    ``per_subject_samples`` (S, B, ...): subject ``s``'s score on stimulus draw ``b`` (the same
    draws for every subject); ``subjects`` (B, S) drawn subject indices. Sample ``b`` is
    ``mean_t per_subject_samples[s_bt, b]`` (NaN subjects ignored)."""
    x = np.asarray(per_subject_samples, dtype=np.float64)
    b = np.arange(x.shape[1])[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x[subjects, b], axis=1)


def two_factor_bootstrap(model_rdms, subject_rdms, method: str = "spearman", *, n_bootstrap: int = 1000,
                         seed=0, n_jobs: int | None = None) -> dict:
    """rsatoolbox's two-factor (subjects x stimuli) bootstrap of model scores, in one call.

    Sample ``b`` draws subjects ``s_b`` (S with replacement) and stimuli ``c_b`` (n with
    replacement); its score is ``mean_t compare_resampled(model, d_{s_bt}, c_b)`` (self-pairs of
    duplicated stimuli left out). Draws: ``SeedSequence(seed).spawn(2)``, subjects first.

    Returns ``scores`` (B, m), ``subjects`` (B, S), ``stimuli`` (B, n).
    """
    method = check_method(method)
    models = as_rdm_stack(model_rdms, "model_rdms").astype(np.float64)
    data = as_rdm_stack(subject_rdms, "subject_rdms", models.shape[1]).astype(np.float64)
    n = n_conditions_from_pairs(models.shape[1])
    subject_seed, stimulus_seed = np.random.SeedSequence(seed).spawn(2)
    subjects = subject_resamples(data.shape[0], n_bootstrap, subject_seed)
    stimuli = np.random.default_rng(stimulus_seed).integers(0, n, size=(n_bootstrap, n))
    per_subject = np.stack([_resampled_scores(models, d, stimuli, n, method, n_jobs) for d in data])
    return {"scores": two_factor_samples(per_subject, subjects), "subjects": subjects, "stimuli": stimuli}


def sign_flips(n_subjects: int, n_permutations: int, seed) -> np.ndarray:
    """(P, S) signs: all ``2^S`` patterns when ``2^S <= n_permutations`` (exact test; the first
    row is the identity), else the identity and ``n_permutations`` random ones."""
    if 2**n_subjects <= n_permutations:
        return np.array(list(itertools.product([1.0, -1.0], repeat=n_subjects)))
    random = np.random.default_rng(seed).choice([1.0, -1.0], size=(n_permutations, n_subjects))
    return np.vstack([np.ones(n_subjects), random])


def sign_flip_p(differences, n_permutations: int = 10000, seed=0, axis: int = 0) -> np.ndarray:
    """Two-sided sign-flip p-value of ``mean_s d_s = 0`` for per-subject ``differences`` along
    ``axis``: ``p = #{f : |mean_s f_s d_s| >= |mean_s d_s|} / #f`` over the flips of
    :func:`sign_flips` (the identity included, so ``p >= 1 / #f``)."""
    d = np.moveaxis(np.asarray(differences, dtype=np.float64), axis, 0)
    flips = sign_flips(d.shape[0], n_permutations, seed)
    observed = np.abs(d.mean(axis=0))
    null = np.abs(np.tensordot(flips, d, axes=(1, 0)) / d.shape[0])
    return np.mean(null >= observed - 1e-12 * np.maximum(observed, 1), axis=0)
