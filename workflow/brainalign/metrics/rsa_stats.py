"""Inference for RSA: noise ceilings, bootstrap over stimuli or subjects, permutation tests.

A model's score against several subjects' RDMs is the mean over subjects of
``compare(model, subject)`` (rsatoolbox's convention, which the noise ceilings share).
Seeds are arguments (an int or a ``numpy.random.SeedSequence``); every bootstrap or
permutation sample is returned, so the caller can store them all.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from .rank_kernels import rank_order, tau_a_value
from .rdm import n_conditions_from_pairs, pair_indices
from .rdm_forms import is_single_rdm
from .rsa_compare import (as_rdm_stack, average_ranks, check_method, compare, n_workers,
                          transformed, unit_rows)

__all__ = ["NoiseCeiling", "BootstrapResult", "PermutationResult", "pool_rdms",
           "noise_ceiling", "pair_weights", "compare_resampled", "bootstrap_stimuli",
           "bootstrap_subjects", "permutation_test"]


_BLOCK_BYTES = 64 * 2**20  # resampling weights / permuted vectors held at once


class NoiseCeiling(NamedTuple):
    lower: float
    upper: float
    lower_per_subject: np.ndarray
    upper_per_subject: np.ndarray


class BootstrapResult(NamedTuple):
    scores: np.ndarray   # (n_bootstrap, n_models), or (n_bootstrap,) for one model RDM
    samples: np.ndarray  # (n_bootstrap, n_conditions or n_subjects) drawn indices


class PermutationResult(NamedTuple):
    observed: np.ndarray  # (n_models,)
    null: np.ndarray      # (n_permutations, n_models)
    p_value: np.ndarray   # (n_models,)


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _models_and_data(model_rdms, data_rdms):
    """(models (m, p), data (S, p), single_model) from a model stack and 1 or S data RDMs."""
    single = is_single_rdm(model_rdms)
    models = as_rdm_stack(model_rdms, "model_rdms")
    data = as_rdm_stack(data_rdms, "data_rdms", models.shape[1])
    return models, data, single


def _subject_stack(subject_rdms, minimum: int = 2) -> np.ndarray:
    rdms = as_rdm_stack(subject_rdms, "subject_rdms")
    if is_single_rdm(subject_rdms) or rdms.shape[0] < minimum:
        raise ValueError(f"subject_rdms: expected at least {minimum} subject RDMs, shape "
                         f"(n_subjects, n_pairs), got shape {np.shape(subject_rdms)}")
    return rdms


# --------------------------------------------------------------------------- noise ceiling
def pool_rdms(rdms, method: str = "spearman") -> np.ndarray:
    """The RDM that best represents a group under ``method`` (rsatoolbox's ``pool_rdm``).

    ``mean_s B(d_s) / N(d_s)`` with ``B`` = the ranks for ``"spearman"`` and ``"tau_a"``
    (``N = 1``: mean of ranks; rsatoolbox also pools tau-a so), ``d - mean(d)`` for the
    Pearson forms and ``d`` for the cosine forms, and ``N = ||T(d)||`` (the comparator's
    transform, see :mod:`.rsa_compare`), so that each subject weighs the same in the metric
    the comparator uses. Scale and offset of the result do not matter to ``method``.
    For the whitened methods this is ``rsatoolbox.util.pooling.pool_rdm``; the pooling inside
    ``rsatoolbox.inference.boot_noise_ceiling`` scales those by the unwhitened RMS (cosine)
    or standard deviation (Pearson) instead.
    """
    method = check_method(method)
    rdms = as_rdm_stack(rdms, "rdms").astype(np.float64)
    if method in ("spearman", "tau_a"):
        return np.mean([average_ranks(d) for d in rdms], axis=0)
    base = rdms - rdms.mean(axis=1, keepdims=True) if method.endswith("pearson") else rdms
    norms = np.linalg.norm(transformed(rdms, method), axis=1)
    if not norms.all():
        raise ValueError(f"rdms[{int(np.flatnonzero(norms == 0)[0])}]: is constant; its "
                         f"{method} comparison is undefined")
    return (base / norms[:, None]).mean(axis=0)


POOLINGS = ("rank_mean", "mean")


def noise_ceiling(subject_rdms, method: str = "spearman", *, pooling: str = "rank_mean",
                  n_jobs: int | None = None) -> NoiseCeiling:
    """Lower and upper noise ceiling of a group of subject RDMs.

    With ``pool`` = :func:`pool_rdms` (for ``"spearman"`` and ``"tau_a"`` the mean of the
    subjects' ranks, rsatoolbox's choice):

        lower = mean_s compare(d_s, pool({d_t : t != s}))   (leave one subject out)
        upper = mean_s compare(d_s, pool({d_t : all t}))

    the same as ``rsatoolbox.inference.boot_noise_ceiling(rdms, method)`` (for the whitened
    methods, with the whitened pooling noted in :func:`pool_rdms`). ``pooling="mean"`` pools
    by the plain mean of the raw RDMs instead (Net2Brain, the Algonauts 2019 evaluation). A model scored as
    the mean over subjects of ``compare(model, d_s)`` is expected below ``upper``; ``lower``
    is what the group's own pooled RDM reaches on a left-out subject.

    Parameters
    ----------
    subject_rdms : array, shape (n_subjects, n_pairs), n_subjects >= 2
    method : str
        A :data:`~.rsa_compare.COMPARE_METHODS` name.
    """
    rdms = _subject_stack(subject_rdms)
    method = check_method(method)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling: expected one of {POOLINGS}, got {pooling!r}")
    pool = (lambda d: d.mean(axis=0)) if pooling == "mean" else (lambda d: pool_rdms(d, method))
    upper = compare(rdms, pool(rdms), method, n_jobs=n_jobs)
    lower = np.array([compare(rdms[s], pool(np.delete(rdms, s, axis=0)), method, n_jobs=n_jobs)
                      for s in range(rdms.shape[0])])
    return NoiseCeiling(float(lower.mean()), float(upper.mean()), lower, upper)


# --------------------------------------------------------------------------- resampled stimuli
def pair_weights(samples, n_conditions: int) -> np.ndarray:
    """Multiplicity of each RDM entry in bootstrap samples of conditions.

    A sample (drawn with replacement) holding condition ``i`` ``c_i`` times repeats entry
    ``(i, j)`` ``w_ij = c_i c_j`` times. Pairs of a condition with its own copy are left out
    (their dissimilarity is 0 by construction and would reward any model), which is
    rsatoolbox's handling (``RDMs.subsample_pattern`` marks them NaN and ``compare`` drops them).

    Parameters
    ----------
    samples : int array, shape (n_samples, n_drawn) or (n_drawn,)
    n_conditions : int

    Returns
    -------
    int64 array, shape (n_samples, n_pairs) or (n_pairs,)
    """
    samples = np.asarray(samples)
    single = samples.ndim == 1
    samples = np.atleast_2d(samples)
    if not np.issubdtype(samples.dtype, np.integer) or samples.ndim != 2:
        raise ValueError(f"samples: expected integer condition indices, shape (n_samples, "
                         f"n_drawn), got dtype {samples.dtype} shape {samples.shape}")
    if samples.size and (samples.min() < 0 or samples.max() >= n_conditions):
        raise ValueError(f"samples: condition indices must lie in [0, {n_conditions})")
    offsets = n_conditions * np.arange(samples.shape[0])[:, None]
    counts = np.bincount((samples + offsets).ravel(), minlength=samples.shape[0] * n_conditions
                         ).reshape(samples.shape[0], n_conditions)
    rows, cols = pair_indices(n_conditions)
    weights = counts[:, rows] * counts[:, cols]
    return weights[0] if single else weights


def _weighted_corr(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Row-wise weighted Pearson correlation of ``x`` and ``y`` (B, p) under weights ``w``."""
    total = w.sum(axis=1, keepdims=True)
    x = x - (w * x).sum(axis=1, keepdims=True) / total
    y = y - (w * y).sum(axis=1, keepdims=True) / total
    wx = w * x
    return (wx * y).sum(axis=1) / np.sqrt((wx * x).sum(axis=1) * (w * y * y).sum(axis=1))


def _rank_structure(x: np.ndarray):
    """Sort order of ``x``, the tie group of each sorted position, and the groups' ends."""
    order, bounds = rank_order(x)
    group = np.repeat(np.arange(bounds.size - 1), np.diff(bounds))
    return order, group, bounds[1:] - 1


def _weighted_ranks(structure, weights: np.ndarray) -> np.ndarray:
    """Average ranks of ``x`` with entry k repeated ``weights[:, k]`` times: (B, p).

    Tie group ``g`` with cumulative weight ``E_g`` up to and including it gets rank
    ``(E_{g-1} + E_g + 1) / 2``, the mean of positions ``E_{g-1} + 1 .. E_g``.
    """
    order, group, ends = structure
    cumulative = np.cumsum(weights[:, order], axis=1)[:, ends]
    previous = np.concatenate([np.zeros((weights.shape[0], 1)), cumulative[:, :-1]], axis=1)
    ranks = np.empty(weights.shape, dtype=np.float64)
    ranks[:, order] = ((previous + cumulative + 1) / 2)[:, group]
    return ranks


def _resampled_scorer(models, data, method, n_jobs):
    """A function mapping weights (B, p) to the scores (B, m) of every model against
    ``data`` on those resampled entries; what does not depend on the weights is done here."""
    if method in ("pearson", "cosine"):
        if method == "pearson":  # centre first so the weighted moments stay well conditioned
            models = models - models.mean(axis=1, keepdims=True)
            data = data - data.mean()
        products, squares = (models * data).T, (models * models).T

        def score(weights):
            sum_xy, sum_xx = weights @ products, weights @ squares
            sum_yy = (weights @ (data * data))[:, None]
            if method == "cosine":
                return sum_xy / np.sqrt(sum_xx * sum_yy)
            total = weights.sum(axis=1, keepdims=True)
            sum_x, sum_y = weights @ models.T, (weights @ data)[:, None]
            return (sum_xy - sum_x * sum_y / total) / np.sqrt(
                (sum_xx - sum_x**2 / total) * (sum_yy - sum_y**2 / total))
        return score
    if method == "spearman":
        data_structure = _rank_structure(data)
        model_structures = [_rank_structure(m) for m in models]

        def score(weights):
            data_ranks = _weighted_ranks(data_structure, weights)
            return np.stack([_weighted_corr(_weighted_ranks(st, weights), data_ranks, weights)
                             for st in model_structures], axis=1)
        return score
    if method == "tau_a":
        order, bounds = rank_order(data)

        def one_sample(w):
            return [tau_a_value(m, order, bounds, w) for m in models]

        def score(weights):
            with ThreadPoolExecutor(n_workers(n_jobs)) as pool:
                return np.array(list(pool.map(one_sample, weights.astype(np.int64))))
        return score
    raise ValueError(f"method: {method!r} is not defined on resampled stimuli: the whitened "
                     "comparisons assume each condition appears once (a duplicated condition "
                     "leaves its self-pair undefined); use bootstrap over subjects instead")


def compare_resampled(model_rdms, data_rdm, samples, method: str = "spearman", *,
                      n_jobs: int | None = None) -> np.ndarray:
    """Compare RDMs restricted to resampled conditions, without building the resampled RDMs.

    For a sample of conditions drawn with replacement, the resampled RDM holds entry
    ``(i, j)`` ``w_ij`` times (:func:`pair_weights`; self-pairs of copies left out). Every
    comparator is evaluated on that multiset through weights: weighted means and sums for
    Pearson and cosine, average ranks within the multiset for Spearman, weight products
    for tau-a. Equal to ``compare`` on the resampled RDMs with the self-pairs removed
    (rsatoolbox's ``subsample_pattern`` + ``compare``). Not defined for the whitened methods.

    Parameters
    ----------
    model_rdms : array, shape (n_models, n_pairs) or (n_pairs,)
    data_rdm : array, shape (n_pairs,)
    samples : int array, shape (n_samples, n_drawn) or (n_drawn,)
        Drawn condition indices.
    method : {"spearman", "pearson", "tau_a", "cosine"}

    Returns
    -------
    array, shape (n_samples, n_models) (axes dropped for 1-D inputs). A sample with fewer
    than 3 distinct conditions, or on which an RDM is constant, gives NaN.
    """
    method = check_method(method)
    models, data, single_model = _models_and_data(model_rdms, data_rdm)
    if data.shape[0] != 1:
        raise ValueError(f"data_rdm: expected one condensed RDM, got shape "
                         f"{np.shape(data_rdm)}")
    n = n_conditions_from_pairs(models.shape[1])
    single_sample = np.ndim(samples) == 1
    samples = np.atleast_2d(samples)
    scores = _resampled_scores(models.astype(np.float64), data[0].astype(np.float64),
                               samples, n, method, n_jobs)
    scores = scores[0] if single_sample else scores
    return scores[..., 0] if single_model else scores


def _resampled_scores(models, data, samples, n, method, n_jobs) -> np.ndarray:
    score = _resampled_scorer(models, data, method, n_jobs)
    step = max(1, _BLOCK_BYTES // (8 * 8 * data.size))  # a few (B, p) float64 temporaries
    out = np.empty((samples.shape[0], models.shape[0]))
    for s in range(0, samples.shape[0], step):
        block = samples[s:s + step]
        weights = pair_weights(block, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + step] = score(weights if method == "tau_a" else weights.astype(np.float64))
        distinct = np.array([np.unique(b).size for b in block])
        out[s:s + step][distinct < 3] = np.nan
    return out


def bootstrap_stimuli(model_rdms, data_rdms, method: str = "spearman", *,
                      n_bootstrap: int = 1000, seed=0,
                      n_jobs: int | None = None) -> BootstrapResult:
    """Bootstrap over stimuli: resample conditions with replacement, rescore every model.

    Sample ``b`` draws ``n`` condition indices uniformly with replacement
    (``numpy.random.default_rng(seed).integers(0, n, (n_bootstrap, n))``); the score is the
    mean over data RDMs of :func:`compare_resampled` on that sample (self-pairs of duplicated
    conditions excluded). Samples with fewer than 3 distinct conditions score NaN, as in
    rsatoolbox's ``eval_bootstrap_pattern``.

    Parameters
    ----------
    model_rdms : array, shape (n_models, n_pairs) or (n_pairs,)
    data_rdms : array, shape (n_pairs,) or (n_subjects, n_pairs)
    method : {"spearman", "pearson", "tau_a", "cosine"}
    n_bootstrap : int
    seed : int or numpy.random.SeedSequence

    Returns
    -------
    BootstrapResult
        ``scores`` (n_bootstrap, n_models) and the drawn ``samples`` (n_bootstrap, n_conditions).
    """
    method = check_method(method)
    n_bootstrap = _check_count(n_bootstrap, "n_bootstrap", 1)
    models, data, single = _models_and_data(model_rdms, data_rdms)
    n = n_conditions_from_pairs(models.shape[1])
    samples = np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))
    models = models.astype(np.float64)
    scores = np.mean([_resampled_scores(models, d.astype(np.float64), samples, n, method,
                                        n_jobs) for d in data], axis=0)
    return BootstrapResult(scores[:, 0] if single else scores, samples)


def bootstrap_subjects(model_rdms, subject_rdms, method: str = "spearman", *,
                       n_bootstrap: int = 1000, seed=0,
                       n_jobs: int | None = None) -> BootstrapResult:
    """Bootstrap over subjects: the mean score over subjects drawn with replacement.

    ``scores[b] = mean_{t} compare(model, d_{s_bt})`` for subjects ``s_b`` drawn by
    ``numpy.random.default_rng(seed).integers(0, S, (n_bootstrap, S))``. Each subject is
    compared once; a sample only averages those scores.

    Returns
    -------
    BootstrapResult
        ``scores`` (n_bootstrap, n_models) and ``samples`` (n_bootstrap, n_subjects).
    """
    method = check_method(method)
    n_bootstrap = _check_count(n_bootstrap, "n_bootstrap", 1)
    single = is_single_rdm(model_rdms)
    models = as_rdm_stack(model_rdms, "model_rdms")
    rdms = _subject_stack(subject_rdms)
    if rdms.shape[1] != models.shape[1]:
        raise ValueError(f"subject_rdms: expected {models.shape[1]} pairs to match model_rdms, "
                         f"got {rdms.shape[1]}")
    per_subject = np.stack([compare(models, d, method, n_jobs=n_jobs) for d in rdms])
    samples = np.random.default_rng(seed).integers(0, rdms.shape[0],
                                                   size=(n_bootstrap, rdms.shape[0]))
    scores = per_subject[samples].mean(axis=1)
    return BootstrapResult(scores[:, 0] if single else scores, samples)


# --------------------------------------------------------------------------- permutation
def _symmetric_square(condensed: np.ndarray, n: int, diagonal=None) -> np.ndarray:
    """Square (n, n) matrix with ``condensed`` on both triangles (and ``diagonal``)."""
    rows, cols = pair_indices(n)
    square = np.zeros((n, n), dtype=condensed.dtype)
    square[rows, cols] = square[cols, rows] = condensed
    if diagonal is not None:
        np.fill_diagonal(square, diagonal)
    return square


def _permuted_pairs(flat_square: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Condensed entries of ``S'_ij = S_{perm(i) perm(j)}`` from the flattened square ``S``."""
    n = perm.size
    rows, cols = pair_indices(n)
    flat = perm[rows]
    flat *= n
    flat += perm[cols]
    return flat_square[flat]


def permutation_test(model_rdms, data_rdms, method: str = "spearman", *,
                     n_permutations: int = 1000, seed=0,
                     n_jobs: int | None = None) -> PermutationResult:
    """Stimulus-label permutation test of each model's score.

    Each permutation ``pi`` of the ``n`` conditions (drawn by
    ``numpy.random.default_rng(seed).permuted`` of ``arange(n)``, one row per permutation)
    reorders rows and columns of every data RDM together, ``D'_ij = D_{pi(i) pi(j)}``, and
    rescores every model (mean over data RDMs). One-sided p-value per model:

        p = (1 + #{null >= observed}) / (1 + n_permutations)

    (``>=`` up to a relative 1e-12, so permutations that leave the score unchanged count).
    For every method but tau-a the score is a dot product of unit transformed vectors (see
    :mod:`.rsa_compare`); the transform commutes with permuting conditions, so each
    permutation only gathers the data's transformed vector (through its square form,
    ``S'_ij = S_{pi(i) pi(j)}``): ``O(p m)`` per permutation, no re-ranking. tau-a
    re-counts, ``O(m p log p)`` per permutation. Memory: the transformed models, ``O(m p)``.

    Returns
    -------
    PermutationResult
        ``observed`` (n_models,), ``null`` (n_permutations, n_models), ``p_value`` (n_models,).
    """
    method = check_method(method)
    n_permutations = _check_count(n_permutations, "n_permutations", 1)
    models, data, single = _models_and_data(model_rdms, data_rdms)
    models, data = models.astype(np.float64), data.astype(np.float64)
    n = n_conditions_from_pairs(models.shape[1])
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(np.arange(n), (n_permutations, 1)), axis=1)
    if method == "tau_a":
        observed, null = _tau_a_permutations(models, data, perms, n, n_jobs)
    else:
        unit_models = unit_rows(transformed(models, method, n_jobs), "model_rdms", method)
        target = unit_rows(transformed(data, method, n_jobs), "data_rdms", method).mean(axis=0)
        observed = unit_models @ target
        p = models.shape[1]
        whitened = method.startswith("whitened")
        flat_square = _symmetric_square(target[:p], n, target[p:] if whitened else None).ravel()
        step = max(1, _BLOCK_BYTES // (8 * target.size))
        null = np.empty((n_permutations, models.shape[0]))
        for s in range(0, n_permutations, step):
            block = np.empty((min(step, n_permutations - s), target.size))
            for b, perm in enumerate(perms[s:s + step]):
                block[b, :p] = _permuted_pairs(flat_square, perm)
                if whitened:
                    block[b, p:] = flat_square[perm * (n + 1)]
            null[s:s + step] = block @ unit_models.T
    exceed = null >= observed - 1e-12 * np.maximum(1.0, np.abs(observed))
    p_value = (1 + exceed.sum(axis=0)) / (1 + n_permutations)
    if single:
        return PermutationResult(observed[0], null[:, 0], p_value[0])
    return PermutationResult(observed, null, p_value)


def _tau_a_permutations(models, data, perms, n, n_jobs):
    structures = [rank_order(d) for d in data]
    pair_square = _symmetric_square(np.arange(models.shape[1]), n).ravel()
    observed = np.mean([[tau_a_value(m, o, b) for m in models] for o, b in structures],
                       axis=0)

    def one_permutation(perm):
        positions = _permuted_pairs(pair_square, perm)
        inverse = np.empty(positions.size, dtype=np.int32)
        inverse[positions] = np.arange(positions.size, dtype=np.int32)
        return np.mean([[tau_a_value(m, inverse[o], b) for m in models]
                        for o, b in structures], axis=0)

    with ThreadPoolExecutor(n_workers(n_jobs)) as pool:
        null = np.array(list(pool.map(one_permutation, perms)))
    return observed, null
