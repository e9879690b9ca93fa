"""Pairing a brain store with a features store: the rows of a layer's features for each trial."""

from __future__ import annotations

import numpy as np
import xarray as xr


def rows_for(stimulus_ids, layer: xr.Dataset, *, where: str) -> np.ndarray:
    """Row index in ``layer`` of each of ``stimulus_ids``; a clear error names ids it lacks."""
    position = {s: i for i, s in enumerate(layer.stimulus_id.values.astype(str))}
    ids = np.asarray(stimulus_ids).astype(str)
    missing = sorted(set(ids) - set(position))
    if missing:
        raise ValueError(f"{where}: stimuli {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                         f"({len(missing)} in all) have no features")
    return np.array([position[s] for s in ids])


def layer_rows(features, layer: str, stimulus_ids) -> np.ndarray:
    """A layer's features (one row per entry of ``stimulus_ids``, in that order) from the
    features store at ``features``; a clear error names the stimuli it lacks."""
    from .. import store

    feats = store.open_dataset(features, group=layer)
    return feats.features.values[rows_for(stimulus_ids, feats, where=str(features))]


def scaled_features(features: np.ndarray) -> np.ndarray:
    """Features centred per unit and divided by one scalar, float32.

    ``x~ = (x - mean_s x) / sqrt(mean_s ||x_s - mean_s x||^2)``: the rows then have unit root
    mean squared norm, so one alpha grid means the same for layers of any width or scale. Units
    are not z-scored one by one, which would give low-variance units as much weight in the ridge
    penalty as the units that carry the layer's variance. Only features are used, never brain
    data, so nothing leaks from held-out trials into the fit.
    """
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0)
    norm = np.sqrt((x**2).sum(axis=1).mean())
    return (x / (norm if norm > 0 else 1.0)).astype(np.float32)


def stimulus_means(betas: np.ndarray, stimulus_ids) -> tuple[np.ndarray, np.ndarray]:
    """Average the trials of each stimulus: returns (unique ids in first-seen order, (n_stim, n_units))."""
    ids = np.asarray(stimulus_ids).astype(str)
    unique, first = np.unique(ids, return_index=True)
    order = unique[np.argsort(first)]
    index = {s: i for i, s in enumerate(order)}
    codes = np.array([index[s] for s in ids])
    sums = np.zeros((len(order), betas.shape[1]))
    np.add.at(sums, codes, betas)
    return order, sums / np.bincount(codes)[:, None]


def stimulus_time_courses(brain) -> xr.Dataset:
    """A MEG/EEG brain store as one response per stimulus: ``data`` (stimulus, unit, time).

    A store of single trials (``trial`` dimension) is averaged per stimulus
    (:func:`brainalign.brain.meg.average_trials`); an averaged store is returned as it is.
    """
    from .. import store
    from ..brain.meg import average_trials

    ds = store.open_dataset(brain).load()
    if "time" not in ds.dims:
        raise ValueError(f"{brain}: not a MEG/EEG store (no 'time' dimension; dims {dict(ds.sizes)})")
    return average_trials(ds) if "trial" in ds.dims else ds
