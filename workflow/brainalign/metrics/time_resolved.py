r"""Time-resolved alignment of MEG/EEG responses with model layers: RSA and encoding over time.

RSA. For responses ``X`` (n_conditions, n_units, n_times) and a window of ``w`` samples, the
pattern of condition ``i`` at window ``k`` is the concatenation of its units over samples
``k .. k + w - 1`` (``w = 1``: one time point), a vector of ``n_units * w`` values; the window's
time is the mean of its samples' times. The brain RDM at window ``k`` is ``D_k = rdm(X[:, :, k:k+w])``
(:func:`brainalign.metrics.rdm.compute_rdm`, or crossnobis over runs), every window in one batched
call. Each model layer ``m`` is scored against it,

    S[m, k] = compare(M_m, D_k),

(:func:`brainalign.metrics.rsa_compare.compare`: Spearman, Pearson, ...), giving a score time
course per layer. Bootstrap over stimuli: sample ``b`` draws ``n`` conditions with replacement,
the same draw for every window, and rescores every layer on it
(:func:`brainalign.metrics.rsa_stats.compare_resampled`; pairs of a condition with its own copy
left out), so a sample's whole time course, and hence its peak, comes from one resampled
stimulus set. The peak latency of layer ``m`` is

    lat_m = t[argmax_k S[m, k]]     (argmax over windows with t in ``latency_window``),

and its bootstrap distribution is ``t[argmax_k S_b[m, k]]`` over samples ``b``; intervals are
percentile intervals ``[q_{(1-ci)/2}, q_{(1+ci)/2}]``.

Encoding. The same ridge regression as :func:`brainalign.metrics.ridge.cross_validated_encoding`
with every (unit, time) pair a target: ``Y[i, u * n_times + t] = X[i, u, t]``, so each unit and time
point gets its own penalty and held-out scores, reshaped back to (fold, unit, time).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .rdm import PATTERN_METHODS, compute_rdm, crossnobis_rdm, n_conditions_from_pairs
from .ridge import DEFAULT_ALPHAS, DEFAULT_TARGET_BATCH_SIZE, cross_validated_encoding
from .rsa_compare import as_rdm_stack, check_method, compare, transformed, unit_rows
from .rsa_stats import compare_resampled

__all__ = ["bootstrap_time_course", "peak_latency", "rsa_time_course", "time_course_summary", "time_resolved_encoding",
           "time_resolved_rdms", "time_resolved_rsa", "window_times"]

RDM_METHODS = PATTERN_METHODS + ("crossnobis",)
_BLOCK_BYTES = 64 * 2**20  # window patterns copied at once by time_resolved_rdms


# --------------------------------------------------------------------------- inputs
def _as_responses(responses, name: str = "responses") -> np.ndarray:
    x = np.asarray(responses)
    if x.ndim != 3:
        raise ValueError(f"{name}: expected shape (n_conditions or n_trials, n_units, n_times), got {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name}: expected a real numeric array, got dtype {x.dtype}")
    return x


def _check_window(window, n_times: int) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or not 1 <= window <= n_times:
        raise ValueError(f"window: expected an integer number of samples in [1, {n_times}], got {window!r}")
    return int(window)


def window_times(times, window: int = 1) -> np.ndarray:
    """Time of each window of ``window`` consecutive samples: the mean of its samples' times,
    shape (n_times - window + 1,)."""
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"times: expected a 1-D array, got shape {times.shape}")
    window = _check_window(window, times.size)
    return np.convolve(times, np.full(window, 1.0 / window), mode="valid")


def _run_condition_means(x: np.ndarray, runs, conditions) -> np.ndarray:
    """(n_trials, ...) -> (n_runs, n_conditions, ...) means per (run, condition), sorted labels."""
    runs, conditions = np.asarray(runs), np.asarray(conditions)
    for name, labels in (("runs", runs), ("conditions", conditions)):
        if labels.shape != (x.shape[0],):
            raise ValueError(f"{name}: expected one label per trial, shape ({x.shape[0]},), got {labels.shape}")
    run_values, run_idx = np.unique(runs, return_inverse=True)
    cond_values, cond_idx = np.unique(conditions, return_inverse=True)
    counts = np.zeros((run_values.size, cond_values.size))
    np.add.at(counts, (run_idx, cond_idx), 1)
    if (counts == 0).any():
        r, c = np.argwhere(counts == 0)[0]
        raise ValueError(f"conditions: condition {cond_values[c]!r} has no trial in run {run_values[r]!r}; "
                         "crossnobis needs every condition in every run")
    sums = np.zeros((run_values.size, cond_values.size) + x.shape[1:])
    np.add.at(sums, (run_idx, cond_idx), x)
    return sums / counts.reshape(counts.shape + (1,) * (x.ndim - 1))


# --------------------------------------------------------------------------- brain RDMs
def time_resolved_rdms(responses, method: str = "correlation", *, window: int = 1, runs=None,
                       conditions=None, dtype=None) -> np.ndarray:
    """Brain RDM at every time window (module docstring), condensed.

    Parameters
    ----------
    responses : array (n_conditions, n_units, n_times)
        One response per condition; for ``"crossnobis"``, one per trial (n_trials, n_units,
        n_times) with ``runs`` and ``conditions`` labelling the trials (conditions in
        ``np.unique`` order in the RDM).
    method : {"euclidean", "sqeuclidean", "correlation", "cosine", "crossnobis"}
    window : int
        Samples per window (1: one time point); windows advance by one sample.
    dtype : None, float32 or float64
        Precision, as for :func:`~brainalign.metrics.rdm.compute_rdm`.

    Returns
    -------
    array (n_times - window + 1, n_pairs)

    Notes
    -----
    Each block of windows is copied as patterns (at most 64 MiB at a time, at least one
    window) and passed to one batched RDM call.
    """
    if method not in RDM_METHODS:
        raise ValueError(f"method: expected one of {RDM_METHODS}, got {method!r}")
    x = _as_responses(responses)
    window = _check_window(window, x.shape[2])
    if method == "crossnobis":
        if runs is None or conditions is None:
            raise ValueError("runs, conditions: crossnobis needs the run and condition of every trial")
        x = _run_condition_means(x, runs, conditions)  # (n_runs, n_conditions, n_units, n_times)
    elif runs is not None or conditions is not None:
        raise ValueError(f"runs, conditions: only used by method='crossnobis', not {method!r}")
    n_windows = x.shape[-1] - window + 1
    per_window = x[..., :window].size * max(np.dtype(dtype or np.float64).itemsize, x.dtype.itemsize)
    step = max(1, _BLOCK_BYTES // per_window)
    blocks = []
    for start in range(0, n_windows, step):
        stop = min(start + step, n_windows)
        # (..., units, windows, window) -> (windows, ..., units * window)
        views = np.lib.stride_tricks.sliding_window_view(x[..., start:stop + window - 1], window, axis=-1)
        patterns = np.moveaxis(views, -2, 0).reshape((stop - start,) + x.shape[:-2] + (-1,))
        if method == "crossnobis":
            blocks.append(crossnobis_rdm(patterns, dtype=dtype))
        else:
            blocks.append(compute_rdm(patterns, method, dtype=dtype))
    return np.concatenate(blocks)


# --------------------------------------------------------------------------- scores
def rsa_time_course(model_rdms, brain_rdms, method: str = "spearman", *, n_jobs: int | None = None) -> np.ndarray:
    """``S[m, k] = compare(model_rdms[m], brain_rdms[k], method)``: (n_models, n_windows).

    Every comparator but tau-a is a cosine of transformed RDMs (:mod:`~brainalign.metrics.rsa_compare`),
    so ``S = U(T(models)) U(T(brain))^T`` with ``U`` scaling rows to unit norm: one matrix product
    for all windows. tau-a is computed window by window.
    """
    method = check_method(method)
    models = as_rdm_stack(model_rdms, "model_rdms")
    brain = as_rdm_stack(brain_rdms, "brain_rdms", models.shape[1])
    if method == "tau_a":
        return np.stack([compare(models, d, method, n_jobs=n_jobs) for d in brain], axis=1)
    unit_models = unit_rows(transformed(models, method, n_jobs), "model_rdms", method)
    unit_brain = unit_rows(transformed(brain, method, n_jobs), "brain_rdms", method)
    return unit_models @ unit_brain.T


def bootstrap_time_course(model_rdms, brain_rdms, method: str = "spearman", *, n_bootstrap: int = 1000,
                          seed=0, n_jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap over stimuli of the score time course (module docstring).

    The draws are ``numpy.random.default_rng(seed).integers(0, n, (n_bootstrap, n))``, the same
    for every window (as :func:`~brainalign.metrics.rsa_stats.bootstrap_stimuli` draws them).

    Returns
    -------
    scores : array (n_bootstrap, n_models, n_windows)
        NaN for a sample with fewer than 3 distinct conditions.
    samples : int array (n_bootstrap, n_conditions)
        The drawn condition indices.
    """
    method = check_method(method)
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap: expected a positive integer, got {n_bootstrap!r}")
    models = as_rdm_stack(model_rdms, "model_rdms")
    brain = as_rdm_stack(brain_rdms, "brain_rdms", models.shape[1])
    n = n_conditions_from_pairs(models.shape[1])
    samples = np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))
    scores = np.empty((n_bootstrap, models.shape[0], brain.shape[0]))
    for k, data_rdm in enumerate(brain):
        scores[:, :, k] = compare_resampled(models, data_rdm, samples, method, n_jobs=n_jobs)
    return scores, samples


def _searched(times: np.ndarray, latency_window) -> np.ndarray:
    """Times inside ``latency_window`` (all when None); ValueError if none is."""
    if latency_window is None:
        return np.ones(times.size, dtype=bool)
    start, end = latency_window
    searched = (times >= start) & (times <= end)
    if not searched.any():
        raise ValueError(f"latency_window: {list(latency_window)} holds none of the times "
                         f"[{times[0]:g}, {times[-1]:g}] s")
    return searched


def peak_latency(scores, times, *, latency_window: Sequence[float] | None = None) -> np.ndarray:
    """Time of the maximum score along the last axis: ``t[argmax_k S[..., k]]``.

    Parameters
    ----------
    scores : array (..., n_times)
    times : array (n_times,), seconds
    latency_window : (start, end) or None
        Search only times with ``start <= t <= end`` (e.g. to exclude the baseline).

    Returns
    -------
    array (...,): NaN where every searched score is NaN. The first of tied maxima is taken.
    """
    scores = np.asarray(scores, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or scores.shape[-1:] != times.shape:
        raise ValueError(f"times: expected shape ({scores.shape[-1] if scores.ndim else 0},) to match the last axis "
                         f"of scores {scores.shape}, got {times.shape}")
    masked = np.where(_searched(times, latency_window) & ~np.isnan(scores), scores, -np.inf)
    latency = times[np.argmax(masked, axis=-1)]
    return np.where(np.isneginf(masked.max(axis=-1)), np.nan, latency)


def time_course_summary(score, times, bootstrap=None, *, ci: float = 0.95,
                        latency_window: Sequence[float] | None = None) -> dict:
    """Peak and percentile bands of score time courses, as xarray ``(dims, values)`` pairs.

    ``score`` (layer, time) gives ``peak_latency = t[argmax_k score[:, k]]`` and ``peak_score``
    (its maximum over the searched times); ``bootstrap`` (bootstrap, layer, time), if given,
    gives ``score_ci_low``/``score_ci_high`` (layer, time), the ``(1 - ci) / 2`` and
    ``(1 + ci) / 2`` quantiles over samples, ``peak_latency_bootstrap`` (bootstrap, layer), each
    sample's own peak, and its quantiles ``peak_latency_ci_low``/``peak_latency_ci_high`` (layer).
    """
    score = np.asarray(score, dtype=np.float64)
    latency = peak_latency(score, times, latency_window=latency_window)
    peak = np.where(_searched(times, latency_window), score, -np.inf).max(axis=1)
    data = {"score": (("layer", "time"), score), "peak_latency": ("layer", latency), "peak_score": ("layer", peak)}
    if bootstrap is not None:
        quantiles = [(1 - ci) / 2, (1 + ci) / 2]
        band = np.nanquantile(bootstrap, quantiles, axis=0)
        boot_latency = peak_latency(bootstrap, times, latency_window=latency_window)
        latency_band = np.nanquantile(boot_latency, quantiles, axis=0)
        data.update(bootstrap_score=(("bootstrap", "layer", "time"), bootstrap),
                    score_ci_low=(("layer", "time"), band[0]), score_ci_high=(("layer", "time"), band[1]),
                    peak_latency_bootstrap=(("bootstrap", "layer"), boot_latency),
                    peak_latency_ci_low=("layer", latency_band[0]), peak_latency_ci_high=("layer", latency_band[1]))
    return data


def time_resolved_rsa(responses, times, model_rdms, *, layers: Sequence[str] | None = None,
                      rdm_method: str = "correlation", compare_method: str = "spearman", window: int = 1,
                      runs=None, conditions=None, n_bootstrap: int = 1000, ci: float = 0.95,
                      latency_window: Sequence[float] | None = None, seed=0,
                      n_jobs: int | None = None) -> xr.Dataset:
    """RSA of every model layer against the brain RDM over time, with bootstrap bands and peak latencies.

    Parameters
    ----------
    responses : array (n_conditions, n_units, n_times)
        Responses per condition, in the order of the model RDMs' conditions (per trial, with
        ``runs`` and ``conditions``, for ``rdm_method="crossnobis"``).
    times : array (n_times,), seconds
    model_rdms : array (n_layers, n_pairs)
        Condensed model RDMs (:func:`~brainalign.metrics.rdm.compute_rdm` of each layer's features).
    layers : layer names (default ``"0", "1", ...``)
    rdm_method, window, runs, conditions : as for :func:`time_resolved_rdms`
    compare_method : one of :data:`~brainalign.metrics.rsa_compare.COMPARE_METHODS`
        (Spearman, Pearson, tau-a or cosine when bootstrapping).
    n_bootstrap : int
        Bootstrap samples over stimuli (0: none).
    ci : float in (0, 1)
        Level of the percentile intervals.
    latency_window : (start, end) in s, or None
        Times searched for the peak.
    seed : int or numpy.random.SeedSequence

    Returns
    -------
    xarray.Dataset with dimensions ``layer``, ``time`` (window times), and with a bootstrap:
        ``score`` (layer, time); ``peak_latency`` (layer) s; ``peak_score`` (layer), the score
        at the peak;
        ``bootstrap_score`` (bootstrap, layer, time), ``score_ci_low``/``score_ci_high``
        (layer, time), ``peak_latency_bootstrap`` (bootstrap, layer),
        ``peak_latency_ci_low``/``peak_latency_ci_high`` (layer), ``bootstrap_samples``
        (bootstrap, draw). Attributes record the methods and settings.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci: expected a level in (0, 1), got {ci!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap: expected an integer >= 0, got {n_bootstrap!r}")
    x = _as_responses(responses)
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (x.shape[2],):
        raise ValueError(f"times: expected shape ({x.shape[2]},) to match responses {x.shape}, got {times.shape}")
    models = as_rdm_stack(model_rdms, "model_rdms")
    layers = [str(i) for i in range(models.shape[0])] if layers is None else [str(name) for name in layers]
    if len(layers) != models.shape[0]:
        raise ValueError(f"layers: {len(layers)} names for {models.shape[0]} model RDMs")
    brain = time_resolved_rdms(x, rdm_method, window=window, runs=runs, conditions=conditions)
    if brain.shape[1] != models.shape[1]:
        raise ValueError(f"model_rdms: {models.shape[1]} pairs, but the responses give "
                         f"{n_conditions_from_pairs(brain.shape[1])} conditions ({brain.shape[1]} pairs)")
    centres = window_times(times, window)
    score = rsa_time_course(models, brain, compare_method, n_jobs=n_jobs)
    boot = samples = None
    if n_bootstrap:
        boot, samples = bootstrap_time_course(models, brain, compare_method, n_bootstrap=n_bootstrap, seed=seed,
                                              n_jobs=n_jobs)
    data = time_course_summary(score, centres, boot, ci=ci, latency_window=latency_window)
    if n_bootstrap:
        data["bootstrap_samples"] = (("bootstrap", "draw"), samples)
    attrs = {"rdm_method": rdm_method, "compare_method": compare_method, "window": int(window),
             "n_bootstrap": int(n_bootstrap), "ci": float(ci),
             "latency_window": [] if latency_window is None else [float(t) for t in latency_window]}
    return xr.Dataset(data, coords={"layer": layers, "time": centres}, attrs=attrs)


# --------------------------------------------------------------------------- encoding
def time_resolved_encoding(features, responses, *, times=None, groups=None, alphas=DEFAULT_ALPHAS,
                           outer_cv=None, inner_cv=5, backend: str = "numpy",
                           target_batch_size: int = DEFAULT_TARGET_BATCH_SIZE, dtype=np.float32,
                           solver: str = "auto") -> xr.Dataset:
    """Cross-validated ridge encoding of every unit at every time point.

    ``responses`` (n_samples, n_units, n_times) become targets ``Y`` (n_samples, n_units * n_times)
    by a reshape (no copy for C-ordered input); :func:`~brainalign.metrics.ridge.cross_validated_encoding`
    chooses one penalty per target by inner CV and scores held-out Pearson r and R² per outer fold;
    the scores are reshaped back to (fold, unit, time). Because every target has its own penalty,
    this equals running the encoding separately at each time point.

    Parameters
    ----------
    features : array (n_samples, n_features)
    responses : array (n_samples, n_units, n_times)
    times : array (n_times,), seconds, optional (the ``time`` coordinate)
    groups, alphas, outer_cv, inner_cv, backend, target_batch_size, dtype, solver :
        as for :func:`~brainalign.metrics.ridge.cross_validated_encoding`.

    Returns
    -------
    xarray.Dataset
        ``r``, ``r2``, ``alpha`` (fold, unit, time); ``fold`` (sample) the outer fold testing each
        sample; ``alphas`` (alpha) the candidate penalties.
    """
    y = _as_responses(responses)
    n_samples, n_units, n_times = y.shape
    if times is not None:
        times = np.asarray(times, dtype=np.float64)
        if times.shape != (n_times,):
            raise ValueError(f"times: expected shape ({n_times},) to match responses {y.shape}, got {times.shape}")
    result = cross_validated_encoding(features, y.reshape(n_samples, n_units * n_times), groups=groups,
                                      alphas=alphas, outer_cv=outer_cv, inner_cv=inner_cv, backend=backend,
                                      target_batch_size=target_batch_size, dtype=dtype, solver=solver)
    shape = (-1, n_units, n_times)
    data = {key: (("fold", "unit", "time"), result[key].reshape(shape)) for key in ("r", "r2", "alpha")}
    data.update(fold=("sample", result["fold"]), alphas=("alpha", result["alphas"]))
    coords = {} if times is None else {"time": times}
    return xr.Dataset(data, coords=coords)
