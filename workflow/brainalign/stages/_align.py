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


def standardised(features: np.ndarray) -> np.ndarray:
    """Each unit z-scored across stimuli (float32); constant units become 0.

    ``z = (x - mean) / sd`` per column. Only the features are used, never brain data, so this
    leaks nothing from held-out trials into the fit.
    """
    x = np.asarray(features, dtype=np.float64)
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return z.astype(np.float32)


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
