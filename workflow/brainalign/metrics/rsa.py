"""Representational similarity analysis in one call, and the public RSA API.

:func:`rsa_scores` scores many model RDMs against one data RDM or a group of subject RDMs,
with bootstrap confidence intervals, noise ceilings and (optionally) a permutation test, and
returns every sample so that the RSA stage can store them all. The building blocks:

* RDMs — :func:`~.rdm.compute_rdm` (euclidean, squared euclidean, correlation, cosine; batched)
  and :func:`~.rdm.crossnobis_rdm` (:mod:`.rdm`);
* comparators — :func:`~.rsa_compare.compare` (:mod:`.rsa_compare`);
* inference — :func:`~.rsa_stats.noise_ceiling`, :func:`~.rsa_stats.bootstrap_stimuli`,
  :func:`~.rsa_stats.bootstrap_subjects`, :func:`~.rsa_stats.permutation_test`
  (:mod:`.rsa_stats`).
"""

from __future__ import annotations

import numpy as np

from .rdm import PATTERN_METHODS, compute_rdm, crossnobis_rdm, n_conditions_from_pairs
from .rdm_forms import is_single_rdm
from .rsa_compare import COMPARE_METHODS, as_rdm_stack, check_method, compare
from .rsa_stats import (bootstrap_stimuli, bootstrap_subjects, compare_resampled,
                        noise_ceiling, permutation_test, pool_rdms)

__all__ = [
    "PATTERN_METHODS", "COMPARE_METHODS", "BOOTSTRAP_KINDS", "compute_rdm", "crossnobis_rdm",
    "compare", "compare_resampled", "pool_rdms", "noise_ceiling", "bootstrap_stimuli",
    "bootstrap_subjects", "permutation_test", "rsa_scores", "n_conditions_from_pairs",
]

BOOTSTRAP_KINDS = ("stimuli", "subjects")


def rsa_scores(model_rdms, data_rdms, method: str = "spearman", *,
               bootstrap: str | None = "stimuli", n_bootstrap: int = 1000, ci: float = 0.95,
               n_permutations: int = 0, seed=0, n_jobs: int | None = None) -> dict:
    """Score model RDMs against data RDM(s) with bootstrap intervals, noise ceiling, p-values.

    ``score_m = mean_s compare(model_m, data_s)`` over the data RDMs (one, or one per
    subject). The bootstrap distribution is drawn over stimuli (:func:`bootstrap_stimuli`,
    self-pairs of duplicated conditions excluded) or over subjects
    (:func:`bootstrap_subjects`); the interval is its percentile interval,
    ``[q_{(1-ci)/2}, q_{(1+ci)/2}]``, NaN samples (fewer than 3 distinct conditions) ignored.
    Bootstrap and permutations draw from independent streams spawned from ``seed``
    (``numpy.random.SeedSequence(seed).spawn(2)``), so the result depends on ``seed`` only.

    Parameters
    ----------
    model_rdms : array, shape (n_models, n_pairs) or (n_pairs,)
    data_rdms : array, shape (n_pairs,) or (n_subjects, n_pairs)
    method : str
        One of :data:`COMPARE_METHODS`.
    bootstrap : {"stimuli", "subjects", None}
        "subjects" needs at least 2 subject RDMs; the whitened methods need "subjects" or None.
    n_bootstrap : int
    ci : float in (0, 1)
    n_permutations : int
        Stimulus-label permutations for :func:`permutation_test` (0: none).
    seed : int or numpy.random.SeedSequence
    n_jobs : int or None
        Threads for sorting and counting; None uses every available CPU.

    Returns
    -------
    dict of numpy arrays (``m`` models, ``S`` subjects, ``B`` bootstrap samples):

    * ``score`` (m,); ``subject_scores`` (S, m) when ``data_rdms`` is 2-D;
    * ``bootstrap`` (B, m), ``bootstrap_samples`` (B, n_conditions or S) drawn indices,
      ``ci_low``, ``ci_high`` (m,) — when ``bootstrap`` is not None;
    * ``noise_ceiling_lower``, ``noise_ceiling_upper`` (scalars) and their per-subject
      values ``noise_ceiling_lower_per_subject``, ``noise_ceiling_upper_per_subject`` (S,) —
      when there are at least 2 subject RDMs;
    * ``p_value`` (m,) and ``null`` (n_permutations, m) — when ``n_permutations > 0``.
    """
    method = check_method(method)
    if bootstrap not in BOOTSTRAP_KINDS + (None,):
        raise ValueError(f"bootstrap: expected one of {BOOTSTRAP_KINDS} or None, got "
                         f"{bootstrap!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci: expected a level in (0, 1), got {ci!r}")
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) \
            or n_permutations < 0:
        raise ValueError(f"n_permutations: expected an integer >= 0, got {n_permutations!r}")
    models = as_rdm_stack(model_rdms, "model_rdms")
    data = as_rdm_stack(data_rdms, "data_rdms", models.shape[1])
    subjects = not is_single_rdm(data_rdms)
    boot_seed, perm_seed = np.random.SeedSequence(seed).spawn(2)

    per_subject = np.stack([compare(models, d, method, n_jobs=n_jobs) for d in data])
    out = {"score": per_subject.mean(axis=0)}
    if subjects:
        out["subject_scores"] = per_subject
    if data.shape[0] >= 2:
        ceiling = noise_ceiling(data, method, n_jobs=n_jobs)
        out.update(noise_ceiling_lower=ceiling.lower, noise_ceiling_upper=ceiling.upper,
                   noise_ceiling_lower_per_subject=ceiling.lower_per_subject,
                   noise_ceiling_upper_per_subject=ceiling.upper_per_subject)
    if bootstrap is not None:
        if bootstrap == "subjects":
            if data.shape[0] < 2:
                raise ValueError("bootstrap: 'subjects' needs data_rdms of shape (n_subjects, "
                                 f"n_pairs) with n_subjects >= 2, got shape {np.shape(data_rdms)}")
            result = bootstrap_subjects(models, data, method, n_bootstrap=n_bootstrap,
                                        seed=boot_seed, n_jobs=n_jobs)
        else:
            result = bootstrap_stimuli(models, data, method, n_bootstrap=n_bootstrap,
                                       seed=boot_seed, n_jobs=n_jobs)
        low, high = np.nanquantile(result.scores, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
        out.update(bootstrap=result.scores, bootstrap_samples=result.samples,
                   ci_low=low, ci_high=high)
    if n_permutations:
        test = permutation_test(models, data, method, n_permutations=n_permutations,
                                seed=perm_seed, n_jobs=n_jobs)
        out.update(p_value=test.p_value, null=test.null)
    return out
