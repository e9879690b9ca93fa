"""The fMRI stage: trial (or condition) betas of each ROI from a subject's runs.

Steps, for runs that share one voxel grid:

1. check every run (TR of the sidecar against the header, events table and stimulus
   column, run long enough for its events, stimuli known);
2. put every ROI on the data grid (nearest-neighbour resampling with a warning when its grid
   differs), restricted to the runs' brain masks where they have them;
3. read the union of the ROIs from every run and drop voxels that hold a NaN or are constant
   in some run (logged, counted in the attributes);
4. fit one GLM per run (LSA, condition) or per trial (LSS) on those voxels
   (:mod:`brainalign.brain.glm`), with the run's confounds (:mod:`brainalign.brain.confounds`);
5. split the betas by ROI.

Each ROI gives an :class:`xarray.Dataset` with ``betas`` (trial, unit) float32, trial
coordinates ``stimulus_id``, ``run``, ``onset`` (s), unit coordinates ``i, j, k`` (voxel
indices) and ``x, y, z`` (mm), and attributes recording the decisions taken.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence

import nibabel as nib
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import reading
from .bids import Run
from .confounds import ConfoundOptions, applied_confounds, run_confounds
from .glm import (
    MISSING_STIMULUS,
    GlmOptions,
    check_repetition_time,
    check_run_length,
    condition_betas,
    lsa_betas,
    lss_betas,
    read_events,
)
from .rois import load_mask, mask_on_grid, same_grid, voxel_coordinates

__all__ = ["METHODS", "fmri_stage"]

log = logging.getLogger(__name__)

METHODS = {
    "lsa": "LSA: one regressor per trial, one model per run",
    "lss": ("LSS-1 (Mumford et al. 2012): one model per trial, with a regressor for that trial and one "
            "regressor for all other trials of the run"),
    "condition": "one regressor per stimulus value (trial_type in a block design) per run",
}


def _check_runs(runs: Sequence[Run], stimulus_column: str) -> list[pd.DataFrame]:
    """Validate the runs against the first run's grid; return their events tables."""
    labels = [r.label for r in runs]
    repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if repeated:
        raise ValueError(f"runs must have distinct labels; repeated: {repeated}")
    reference = nib.load(runs[0].bold)
    events = []
    for run in runs:
        with reading(run.bold, "a NIfTI image", "give a NIfTI file (.nii or .nii.gz)", label="BOLD run"):
            img = nib.load(run.bold)
        check_repetition_time(img, run.tr, bold=run.bold, tr_source=run.tr_source)
        if not same_grid(img, reference):
            raise ValueError(f"{run.bold} (shape {img.shape[:3]}) is not on the voxel grid of {runs[0].bold} "
                             f"(shape {reference.shape[:3]}); all runs must share one grid")
        table = read_events(run.events, stimulus_column)
        check_run_length(img.shape[3], run.tr, table, bold=run.bold, events_path=run.events)
        events.append(table)
    return events


def _stimuli_to_keep(runs, events, known: set[str] | None, drop_unknown: bool, stimulus_column: str):
    """Stimuli whose trials get output rows, the dropped stimuli, and the number of dropped trials.

    A missing stimulus, or one not in ``known``, is an error naming it and its events file,
    unless ``drop_unknown``.
    """
    unknown = {}
    for run, table in zip(runs, events):
        bad = {s for s in table["stimulus"] if s == MISSING_STIMULUS or (known is not None and s not in known)}
        if bad:
            unknown[str(run.events)] = sorted(bad)
    if unknown and not drop_unknown:
        listing = "; ".join(f"{f}: {v[:20]}" for f, v in unknown.items())
        raise ValueError(f"trials with unknown or missing stimulus ({stimulus_column!r}); pass drop_unknown=True "
                         f"to drop them: {listing}")
    dropped = sorted({s for v in unknown.values() for s in v})
    keep = {s for table in events for s in table["stimulus"]} - set(dropped)
    if not keep:
        raise ValueError(f"no trial has a known stimulus ({stimulus_column!r}); unknown: {dropped[:20]}")
    n_dropped = sum(int((~t["stimulus"].isin(keep)).sum()) for t in events)
    if n_dropped:
        log.warning("dropping %d trials with unknown or missing stimulus: %s", n_dropped, dropped)
    return keep, dropped, n_dropped


def _brain_mask(runs: Sequence[Run]) -> np.ndarray | None:
    """Intersection of the runs' brain masks (fMRIPrep), or None when no run has one."""
    masks = [r for r in runs if r.mask is not None]
    if not masks:
        return None
    reference = nib.load(runs[0].bold)
    inside = np.ones(reference.shape[:3], bool)
    for run in masks:
        img = load_mask(run.mask, name=f"brain mask {run.mask}")
        if not same_grid(img, reference):
            raise ValueError(f"brain mask {run.mask} is not on the voxel grid of {run.bold}")
        inside &= np.asanyarray(img.dataobj).astype(bool)
    return inside


def _roi_masks(rois: Mapping, runs: Sequence[Run], reference) -> tuple[dict, dict, dict]:
    """ROI masks on the data grid (inside the brain mask), resampling notes, voxels outside it."""
    brain = _brain_mask(runs)
    masks, notes, outside = {}, {}, {}
    for name, roi in rois.items():
        mask, notes[name] = mask_on_grid(roi, reference, name=name)
        if not mask.any():
            raise ValueError(f"ROI {name!r} has no voxel on the data grid of {runs[0].bold}")
        outside[name] = 0 if brain is None else int((mask & ~brain).sum())
        masks[name] = mask if brain is None else mask & brain
        if not masks[name].any():
            raise ValueError(f"ROI {name!r} has no voxel inside the runs' brain masks")
    return masks, notes, outside


def _read_voxels(run: Run, union: np.ndarray) -> np.ndarray:
    """(n_volumes, n_union_voxels) float32 time series of the union's voxels, C order.

    Only the bounding box of the union is read into memory.
    """
    corners = np.argwhere(union)
    box = tuple(slice(a, b + 1) for a, b in zip(corners.min(0), corners.max(0)))
    with reading(run.bold, "a NIfTI image", "the file is truncated or damaged: copy it again", label="BOLD run"):
        block = np.asanyarray(nib.load(run.bold).dataobj[box + (slice(None),)], dtype=np.float32)
    return block[union[box]].T


def _bad_voxels(series: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Voxels with a non-finite value in some run, and (other) voxels constant in some run."""
    has_nan = np.logical_or.reduce([~np.isfinite(s).all(0) for s in series])
    constant = np.logical_or.reduce([np.ptp(np.nan_to_num(s), axis=0) == 0 for s in series]) & ~has_nan
    return has_nan, constant


def _run_betas(method, data, events, run, options, confounds, keep):
    """Betas (n_kept, n_voxels), stimulus ids and onsets of one run's kept trials."""
    conf, sample_mask = confounds
    if method == "condition":
        stimuli, betas = condition_betas(data, events, run.tr, options, confounds=conf, sample_mask=sample_mask)
        first_onset = events.groupby("stimulus", sort=False)["onset"].min()
        kept = [s for s in stimuli if s in keep]
        return betas[[s in keep for s in stimuli]], kept, first_onset.loc[kept].to_numpy()
    targets = events["stimulus"].isin(keep).to_numpy()
    if method == "lsa":
        betas = lsa_betas(data, events, run.tr, options, confounds=conf, sample_mask=sample_mask)[targets]
    else:
        betas = lss_betas(data, events, run.tr, options, confounds=conf, sample_mask=sample_mask, targets=targets)
    return betas, events["stimulus"][targets].tolist(), events["onset"][targets].to_numpy()


def fmri_stage(runs: Sequence[Run], rois: Mapping, *, method: str = "lsa", glm: Mapping | None = None,
               confounds: Mapping | None = None, stimulus_column: str = "stimulus_id",
               known_stimuli: Iterable[str] | None = None, drop_unknown: bool = False) -> dict[str, xr.Dataset]:
    """Trial (or condition) betas of every ROI.

    Parameters
    ----------
    runs : sequence of Run
        A subject's runs (:func:`brainalign.brain.bids.find_bids_runs`,
        :func:`~brainalign.brain.bids.find_fmriprep_runs`,
        :func:`brainalign.brain.openfmri.find_openfmri_runs`), all on one voxel grid.
    rois : mapping name -> mask image or path
        Binary masks (see :mod:`brainalign.brain.rois` for atlases and spheres); a mask on
        another grid is resampled to the data's (nearest neighbour, with a warning).
    method : {"lsa", "lss", "condition"}
        Single-trial LSA or LSS (LSS-1), or one beta per stimulus value per run.
    glm : mapping
        :class:`brainalign.brain.glm.GlmOptions` keys.
    confounds : mapping
        :class:`brainalign.brain.confounds.ConfoundOptions` keys.
    stimulus_column : str
        Events column that names each trial's stimulus.
    known_stimuli : iterable of str or None
        The stimulus ids the study knows; a trial with another (or a missing) stimulus is an
        error, unless ``drop_unknown``: then it stays in the model but gets no output row.
    drop_unknown : bool
        See ``known_stimuli``.

    Returns
    -------
    dict ROI name -> xarray.Dataset
        ``betas`` (trial, unit) float32 in the units of ``attrs["beta_units"]``. The attributes
        record what was done: ``confounds`` (JSON) only when confounds entered the GLM
        (:func:`brainalign.brain.confounds.applied_confounds`), ``n_censored_volumes`` only for
        fMRIPrep runs (the only ones that can censor).
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {sorted(METHODS)}")
    runs = list(runs)
    if not runs or not all(isinstance(r, Run) for r in runs):
        raise ValueError("runs must be a non-empty sequence of brainalign.brain.bids.Run")
    if not isinstance(rois, Mapping) or not rois:
        raise ValueError("rois must be a non-empty mapping of ROI name -> mask image or path")
    glm_options, confound_options = GlmOptions.from_dict(glm), ConfoundOptions.from_dict(confounds)
    if (glm_options.drift_model == "cosine" and "high_pass" in confound_options.strategy
            and any(r.confounds is not None for r in runs)):
        warnings.warn("confounds strategy 'high_pass' (fMRIPrep cosines) and glm drift_model='cosine' both "
                      "model slow drifts; use one of them", UserWarning, stacklevel=2)
    known = None if known_stimuli is None else {str(s) for s in known_stimuli}

    events = _check_runs(runs, stimulus_column)
    keep, dropped_stimuli, n_dropped_trials = _stimuli_to_keep(runs, events, known, drop_unknown, stimulus_column)

    reference = nib.load(runs[0].bold)
    masks, notes, outside = _roi_masks(rois, runs, reference)
    union = np.logical_or.reduce(list(masks.values()))
    union_index = np.flatnonzero(union)
    series = [_read_voxels(run, union) for run in runs]
    has_nan, constant = _bad_voxels(series)
    valid = ~(has_nan | constant)
    valid_index = union_index[valid]
    columns, dropped = {}, {}
    for name, mask in masks.items():
        in_union = np.searchsorted(union_index, np.flatnonzero(mask))
        dropped[name] = (int(has_nan[in_union].sum()), int(constant[in_union].sum()))
        if sum(dropped[name]):
            log.warning("ROI %r: dropped %d of %d voxels (%d with NaN, %d constant in a run)",
                        name, sum(dropped[name]), len(in_union), *dropped[name])
        if sum(dropped[name]) == len(in_union):
            raise ValueError(f"ROI {name!r}: all {len(in_union)} voxels hold NaN or are constant in a run")
        columns[name] = np.searchsorted(valid_index, union_index[in_union[valid[in_union]]])

    run_confs = [run_confounds(run, len(s), confound_options) for run, s in zip(runs, series)]
    n_censored = sum(len(s) - len(c[1]) for s, c in zip(series, run_confs) if c[1] is not None)
    betas, stimulus_ids, onsets, run_labels = [], [], [], []
    for run, data, table, conf in zip(runs, series, events, run_confs):
        b, ids, on = _run_betas(method, data[:, valid], table, run, glm_options, conf, keep)
        betas.append(b)
        stimulus_ids += ids
        onsets.append(on)
        run_labels += [run.label] * len(ids)
    betas = np.concatenate(betas).astype(np.float32)
    trial_coords = {"stimulus_id": ("trial", np.asarray(stimulus_ids, dtype=str)),
                    "run": ("trial", np.asarray(run_labels, dtype=str)),
                    "onset": ("trial", np.concatenate(onsets).astype(np.float64))}
    common = {
        "method": method, "method_description": METHODS[method], "glm": json.dumps(glm_options.to_dict()),
        "stimulus_column": stimulus_column, "beta_units": glm_options.beta_units, "runs": [r.label for r in runs],
        "n_dropped_unknown_trials": n_dropped_trials, "dropped_unknown_stimuli": dropped_stimuli,
    }
    applied = applied_confounds(runs, confound_options, run_confs)
    if applied:  # only what entered the GLM: no record of a strategy that had no confounds to act on
        common["confounds"] = json.dumps(applied)
    if any(run.confounds is not None for run in runs):  # only fMRIPrep's scrubbing censors volumes
        common["n_censored_volumes"] = int(n_censored)
    out = {}
    for name, cols in columns.items():
        kept = np.zeros(union.shape, bool)
        kept.flat[valid_index[cols]] = True
        ijk, xyz = voxel_coordinates(kept, reference.affine)
        n_nan, n_constant = dropped[name]
        out[name] = xr.Dataset(
            {"betas": (("trial", "unit"), betas[:, cols])},
            coords={**trial_coords, **{c: ("unit", ijk[:, d]) for d, c in enumerate("ijk")},
                    **{c: ("unit", xyz[:, d]) for d, c in enumerate("xyz")}},
            attrs={**common, "n_voxels_roi": int(masks[name].sum()) + outside[name],
                   "n_voxels_outside_brain_mask": outside[name], "n_dropped_voxels": n_nan + n_constant,
                   "n_dropped_nan_voxels": n_nan, "n_dropped_constant_voxels": n_constant,
                   "roi_resampled": bool(notes[name]), "roi_resampling": notes[name]})
    return out
