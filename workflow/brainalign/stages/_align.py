"""Pairing a brain store with a features store: the rows of a layer's features for each trial."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import sparse

from .. import store


def rows_for(stimulus_ids, layer: xr.Dataset, *, where: str) -> np.ndarray:
    """Row index in ``layer`` of each of ``stimulus_ids``; a clear error names ids it lacks."""
    position = {s: i for i, s in enumerate(layer.stimulus_id.values.astype(str))}
    ids = np.asarray(stimulus_ids).astype(str)
    missing = sorted(set(ids) - set(position))
    if missing:
        raise ValueError(f"{where}: stimuli {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                         f"({len(missing)} in all) have no features")
    return np.array([position[s] for s in ids])


def layer_rows(features, layer: str, stimulus_ids, noise=None) -> np.ndarray:
    """A layer's features (one row per entry of ``stimulus_ids``, in that order) from the
    features store at ``features``; a clear error names the stimuli it lacks. ``noise``: a
    transform of the whole stored array (:func:`brainalign.added_noise.noise_for`)."""
    feats = store.open_dataset(features, group=layer)
    values = feats.features.values if noise is None else noise(feats.features.values)
    return values[rows_for(stimulus_ids, feats, where=str(features))]


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


def return_large_blocks() -> None:
    """Have glibc give every freed block over 4 MiB back to the system at once.

    glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB), after which
    freed chunk-sized buffers stay in the heap: a job's peak RSS then grows with the size of the
    stored chunks it reads rather than with its data. ``mallopt(M_MMAP_THRESHOLD, 4 MiB)`` fixes
    the threshold (1 MiB cost a third more CPU time in page faults for no less memory). No-op
    where the C library is not glibc.
    """
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


class UnitReader:
    """Column blocks ``reader[:, a:b]`` of one ROI's betas (trial, unit) in a brain store, read one
    stored row chunk at a time: beyond the block itself, reading holds one chunk (at most
    ``store.UNIT_BLOCK`` units wide), however many units the ROI has. ``units`` selects a range of the
    ROI's units (a part), ``trials`` the trials returned (an index array; all by default);
    ``noise`` a transform ``(block of all trials, index of its first unit in the ROI)``
    (:func:`brainalign.added_noise.noise_for`) applied before the trials are selected."""

    def __init__(self, brain, roi: str, units: slice = slice(None), trials=None, noise=None):
        import zarr

        self.array = zarr.open_group(str(brain), mode="r")[roi]["betas"]
        start, stop, _ = units.indices(self.array.shape[1])
        self.offset = start
        self.trials = trials
        self.noise = noise
        self.shape = (self.array.shape[0] if trials is None else len(trials), stop - start)

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = key
        if rows != slice(None):
            raise IndexError("UnitReader reads column blocks of all trials: reader[:, a:b]")
        a, b, _ = cols.indices(self.shape[1])
        step = self.array.chunks[0]
        out = np.empty((self.array.shape[0], b - a), dtype=self.array.dtype)
        for r in range(0, self.array.shape[0], step):
            out[r:r + step] = self.array[r:r + step, self.offset + a:self.offset + b]
        if self.noise is not None:
            out = self.noise(out, self.offset + a)
        return out if self.trials is None else out[self.trials]


def stimulus_codes(stimulus_ids) -> tuple[np.ndarray, np.ndarray]:
    """Unique ids in first-seen order and each trial's index into them."""
    ids = np.asarray(stimulus_ids).astype(str)
    unique, first, codes = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.empty(len(unique), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(unique))
    return unique[np.argsort(first)], rank[codes.ravel()]


def averaging_sums(codes: np.ndarray, n_rows: int) -> sparse.csr_array:
    """The (n_rows, n_trials) 0/1 matrix ``S`` with ``S[codes[t], t] = 1``: ``S @ betas`` sums
    each stimulus's trials in trial order."""
    trials = np.arange(len(codes))
    return sparse.csr_array((np.ones(len(codes)), (codes, trials)), shape=(n_rows, len(codes)))


def stimulus_means(betas, stimulus_ids, *, block_units: int = store.UNIT_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """Average the trials of each stimulus: returns (unique ids in first-seen order, (n_stim, n_units)).

    ``means[s] = sum_{t: stimulus t = s} betas[t] / n_s`` in float64, by one sparse product per
    block of ``block_units`` units (``betas`` may be a lazy array: only one block is read at once).
    """
    order, codes = stimulus_codes(stimulus_ids)
    sums = averaging_sums(codes, len(order))
    counts = np.bincount(codes, minlength=len(order))[:, None]
    means = np.empty((len(order), betas.shape[1]))
    for start in range(0, betas.shape[1], block_units):
        block = np.asarray(betas[:, start:start + block_units], dtype=np.float64)
        means[:, start:start + block_units] = (sums @ block) / counts
    return order, means


def trial_mask(ds: xr.Dataset, subset: dict | None, *, where: str) -> np.ndarray | None:
    """Trials whose coordinate ``subset["column"]`` equals ``subset["value"]`` (None: all).

    Strings in the store match a boolean value as ``true``/``false``/``1``/``0`` (any case), so
    a trial table's ``shared`` column selects NSD's shared images however it was written.
    """
    if not subset:
        return None
    column, value = subset["column"], subset["value"]
    if column not in ds.coords or ds[column].dims != ("trial",):
        raise ValueError(f"{where}: no trial coordinate {column!r} to select stimuli by "
                         f"(trial coordinates: {sorted(c for c in ds.coords if ds[c].dims == ('trial',))})")
    values = ds[column].values
    if isinstance(value, bool) and values.dtype.kind in "UOT":
        text = np.char.lower(values.astype(str))
        mask = np.isin(text, ["true", "1"] if value else ["false", "0"])
    else:
        mask = values == value
    if not mask.any():
        raise ValueError(f"{where}: no trial has {column} == {value!r}")
    return mask


def stimulus_time_courses(brain) -> xr.Dataset:
    """A MEG/EEG brain store as one response per stimulus: ``data`` (stimulus, unit, time).

    A store of single trials (``trial`` dimension) is averaged per stimulus
    (:func:`brainalign.brain.meg.average_trials`); an averaged store is returned as it is.
    """
    from ..brain.meg import average_trials

    ds = store.open_dataset(brain).load()
    if "time" not in ds.dims:
        raise ValueError(f"{brain}: not a MEG/EEG store (no 'time' dimension; dims {dict(ds.sizes)})")
    return average_trials(ds) if "trial" in ds.dims else ds
