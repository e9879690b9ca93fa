"""Precomputed single-trial betas into a brain store, one betas file at a time.

Steps, for a subject's betas files (:mod:`.betas_io`) and trial table (:mod:`.betas_trials`):

1. trials whose stimulus the study does not know are an error listing them, or, with
   ``drop_unknown``, left out (counted in the attributes);
2. every ROI is put on the betas grid (:func:`brainalign.brain.rois.mask_on_grid`); for data
   already masked (``npy``/``zarr``) an ROI holds the array's voxels that fall inside it;
3. each file in turn: the union of the ROIs' voxels is read (``raw * scale``, float32) and its
   kept trials are written to a scratch array ``(trial, union voxel)`` chunked in small unit
   blocks; voxels that hold a NaN (or inf) anywhere, or are constant within a file (NSD's zeros
   outside its brain mask), are noted;
4. such voxels are dropped (logged, counted in the attributes); the noise ceiling of every other
   voxel comes from a given ``ncsnr`` map, or from the repeats (:func:`.noise_ceiling.ncsnr`, betas
   z-scored within each ``run`` coordinate), one block of units at a time;
5. the ROI groups are written row block by row block from the scratch array, which is deleted.

Peak memory: one file's union voxels (float32, plus the raw block read), one row block of the
scratch array, and one unit block of all trials for the noise ceiling (about
:data:`UNIT_BLOCK_BYTES`); never all files at once. The store has the layout that
:mod:`brainalign.stages.fmri` writes from a GLM: ``betas`` (trial, unit) float32 with trial
coordinates ``stimulus_id``, ``run``, ``onset`` (plus ``session``, ``session_run`` and the trial
table's other columns), voxel coordinates ``i, j, k`` and ``x, y, z`` (mm), and ``ncsnr`` and
``noise_ceiling`` (unit).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from .. import store
from .betas_io import BetasFormat, read_columns, read_voxels, volume_shape
from .betas_trials import BetasFile
from .noise_ceiling import ncsnr as ncsnr_from_repeats
from .noise_ceiling import noise_ceiling
from .rois import mask_on_grid, same_grid

__all__ = ["UNIT_BLOCK_BYTES", "write_betas_store"]

log = logging.getLogger(__name__)
UNIT_BLOCK_BYTES = 16 * 2**20  # float64 (all trials x unit block) held for the noise ceiling
ROW_BLOCK = store.MAX_ROW_CHUNK


def _kept_trials(trials: pd.DataFrame, known, drop_unknown: bool, table) -> tuple[np.ndarray, list, int]:
    """Which trials stay, the unknown stimuli, and the number of trials dropped (step 1)."""
    if known is None:
        return np.ones(len(trials), bool), [], 0
    known = {str(s) for s in known}
    keep = trials["stimulus_id"].isin(known).to_numpy()
    unknown = sorted(set(trials.loc[~keep, "stimulus_id"]))
    if unknown and not drop_unknown:
        raise ValueError(f"trial table {table}: {int((~keep).sum())} trials name {len(unknown)} stimuli missing "
                         f"from the stimulus set: {unknown[:20]}{' ...' if len(unknown) > 20 else ''}; "
                         "set trials.drop_unknown: true to leave them out")
    if not keep.any():
        raise ValueError(f"trial table {table}: no trial names a stimulus of the stimulus set")
    if unknown:
        log.warning("dropping %d of %d trials whose %d stimuli are not in the stimulus set: %s",
                    int((~keep).sum()), len(keep), len(unknown), unknown[:20])
    return keep, unknown, int((~keep).sum())


def _roi_voxels(rois: Mapping, grid, fmt: BetasFormat, voxels: np.ndarray | None, files) -> tuple:
    """Union voxels (ijk, (n, 3)), each ROI's columns into the union, resampling notes, and the ROI
    masks on the grid (step 2)."""
    shape = tuple(int(n) for n in grid.shape[:3])
    if fmt.volumetric:
        for f in files:
            if volume_shape(f.path, fmt) != shape:
                raise ValueError(f"betas file {f.path}: grid {volume_shape(f.path, fmt)} (axes {list(fmt.axes)}) "
                                 f"is not the grid {shape} of the reference image")
    elif (voxels >= np.array(shape)).any():
        raise ValueError(f"voxel table: indices outside the grid {shape} of the reference image")
    masks, notes = {}, {}
    for name, roi in rois.items():
        masks[name], notes[name] = mask_on_grid(roi, grid, name=name)
    if fmt.volumetric:
        ijk = np.argwhere(np.logical_or.reduce(list(masks.values())))
    else:
        ijk = voxels[np.logical_or.reduce([m[tuple(voxels.T)] for m in masks.values()])]
    inside = {name: m[tuple(ijk.T)] for name, m in masks.items()}
    for name, where in inside.items():
        if not where.any():
            raise ValueError(f"ROI {name!r} has no voxel of the betas (grid {shape})")
    return ijk, {name: np.flatnonzero(w) for name, w in inside.items()}, notes, masks


def _scratch_pass(scratch, files: Sequence[BetasFile], trials, keep, fmt, ijk, columns, grid_shape) -> tuple:
    """Write the kept trials of every file to the scratch array (step 3); bad voxels found."""
    n_union = len(ijk)
    has_nan = np.zeros(n_union, bool)
    constant = np.zeros(n_union, bool)
    union_mask = None
    if fmt.volumetric:
        union_mask = np.zeros(grid_shape, bool)
        union_mask[tuple(ijk.T)] = True
    row = 0
    for index, f in enumerate(files):
        rows = keep[(trials["file"] == index).to_numpy()]
        block = read_voxels(f.path, fmt, union_mask) if fmt.volumetric else read_columns(f.path, fmt, columns)
        if len(block) != f.n_trials:
            raise ValueError(f"betas file {f.path}: read {len(block)} trials, its header says {f.n_trials}")
        block = block[rows]
        if not len(block):
            continue
        finite = np.isfinite(block)
        bad = ~finite.all(0)
        if bad.any():
            log.warning("betas file %s: %d voxels hold NaN or inf (dropped)", f.path, int(bad.sum()))
        has_nan |= bad
        if len(block) > 1:
            constant |= np.ptp(np.where(finite, block, 0), axis=0) == 0
        scratch.write_rows(None, "betas", row, block)
        row += len(block)
        log.info("betas file %s: %d of %d trials kept, %d voxels", f.path.name, len(block), f.n_trials, n_union)
    return has_nan, constant & ~has_nan


def _ncsnr(scratch, trials, ncsnr_map, grid, ijk, valid) -> tuple[np.ndarray, str]:
    """Every union voxel's ncsnr (NaN for dropped voxels), and where it came from (step 4)."""
    snr = np.full(len(ijk), np.nan)
    if ncsnr_map is not None:
        img = nib.load(ncsnr_map)
        if not same_grid(img, grid):
            raise ValueError(f"ncsnr map {ncsnr_map} (shape {img.shape[:3]}) is not on the betas grid "
                             f"(shape {tuple(grid.shape[:3])})")
        values = np.asanyarray(img.dataobj)
        snr[valid] = values[tuple(ijk[valid].T)]
        return snr, f"ncsnr map {ncsnr_map}"
    ids, runs = trials["stimulus_id"].to_numpy(), trials["run"].to_numpy()
    if len(np.unique(ids)) == len(ids):
        log.warning("no stimulus is shown twice: the noise ceiling is undefined (NaN)")
        return snr, "repeats (none: NaN)"
    step = max(1, UNIT_BLOCK_BYTES // (8 * len(ids)))
    for start in range(0, len(ijk), step):
        stop = min(start + step, len(ijk))
        cols = np.flatnonzero(valid[start:stop]) + start
        if len(cols):
            snr[cols] = ncsnr_from_repeats(scratch.read(None, "betas", (slice(None), slice(start, stop)))[
                :, cols - start], ids, runs=runs)
    return snr, "repeats (betas z-scored per run)"


def _trial_coords(trials: pd.DataFrame) -> dict:
    coords = {}
    for name in trials.columns.drop("file"):
        values = trials[name].to_numpy()
        if values.dtype.kind not in "biuf":
            values = values.astype(str)
        coords[name] = ("trial", values)
    return coords


def write_betas_store(out, files: Sequence[BetasFile], trials: pd.DataFrame, rois: Mapping, *, fmt: BetasFormat,
                      grid, voxels: np.ndarray | None = None, known_stimuli=None, drop_unknown: bool = False,
                      ncsnr_map=None, table="trial table", params: Mapping, inputs=(), seed=None,
                      root_attrs: Mapping | None = None) -> dict:
    """Write the brain store ``out`` from precomputed betas (module docstring); return its summary.

    Parameters
    ----------
    files : the subject's :class:`~.betas_trials.BetasFile` in order.
    trials : :func:`~.betas_trials.read_trials` of those files.
    rois : mapping ROI name -> mask image or path.
    fmt : :class:`~.betas_io.BetasFormat`.
    grid : nibabel image (or path) whose shape and affine are the betas' voxel grid.
    voxels : ``(n_voxels, 3)`` grid indices of the array columns (``npy``/``zarr`` only).
    known_stimuli, drop_unknown : the study's stimulus ids; see step 1.
    ncsnr_map : NIfTI of per-voxel ncsnr on the grid, or None (computed from repeats).
    """
    grid = nib.load(grid) if isinstance(grid, (str, Path)) else grid
    out = Path(out)
    keep, unknown, n_dropped_trials = _kept_trials(trials, known_stimuli, drop_unknown, table)
    ijk, roi_columns, notes, masks = _roi_voxels(rois, grid, fmt, voxels, files)
    columns = None
    if not fmt.volumetric:  # array columns of the union voxels, in array order
        position = {tuple(v): c for c, v in enumerate(voxels)}
        columns = np.array([position[tuple(v)] for v in ijk])
    kept = trials[keep].reset_index(drop=True)
    n_rows, n_union = len(kept), len(ijk)
    for stale in out.parent.glob(f".{out.name}.scratch-*"):  # left by a killed run of this stage
        shutil.rmtree(stale)
    scratch_path = out.with_name(f".{out.name}.scratch-{uuid.uuid4().hex[:8]}")
    try:
        scratch = store.StreamingStore(scratch_path, stage="scratch", params={}, n_rows=n_rows)
        unit_chunk = max(1, min(n_union, UNIT_BLOCK_BYTES // (8 * n_rows)))
        scratch.create(None, "betas", ("trial", "unit"), (n_rows, n_union), "float32", unit_chunk=unit_chunk)
        has_nan, constant = _scratch_pass(scratch, files, trials, keep, fmt, ijk, columns, grid.shape[:3])
        valid = ~(has_nan | constant)
        snr, snr_source = _ncsnr(scratch, kept, ncsnr_map, grid, ijk, valid)
        summary = _write_groups(out, scratch, kept, roi_columns, ijk, valid, has_nan, constant, snr, grid,
                                common={"method": "precomputed", "betas_format": fmt.format, "betas_scale": fmt.scale,
                                        "betas_files": [str(f.path) for f in files], "trial_table": str(table),
                                        "noise_ceiling_source": snr_source,
                                        "n_dropped_unknown_trials": n_dropped_trials,
                                        "dropped_unknown_stimuli": unknown[:1000]},
                                roi_attrs={name: {"n_voxels_roi": int(masks[name].sum()),
                                                  "roi_resampled": bool(notes[name]), "roi_resampling": notes[name]}
                                           for name in roi_columns},
                                params=params, inputs=inputs, seed=seed, root_attrs=root_attrs)
    finally:
        for leftover in (scratch_path, scratch_path.with_name(scratch_path.name + ".partial")):
            if leftover.exists():
                shutil.rmtree(leftover)
    return summary


def _write_groups(out, scratch, trials, roi_columns, ijk, valid, has_nan, constant, snr, grid, *, common,
                  roi_attrs, params, inputs, seed, root_attrs) -> dict:
    """The ROI groups, row block by row block from the scratch array (step 5)."""
    xyz = nib.affines.apply_affine(grid.affine, ijk)
    nc = noise_ceiling(snr, 1).astype(np.float32)
    summary, kept_columns = {}, {}
    with store.StreamingStore(out, stage="fmri", params=params, inputs=inputs, n_rows=len(trials),
                              seed=seed) as target:
        trial_coords = _trial_coords(trials)
        for name, cols in roi_columns.items():
            n_nan, n_constant = int(has_nan[cols].sum()), int(constant[cols].sum())
            if n_nan + n_constant:
                log.warning("ROI %r: dropped %d of %d voxels (%d with NaN or inf, %d constant within a betas file)",
                            name, n_nan + n_constant, len(cols), n_nan, n_constant)
            cols = cols[valid[cols]]
            if not len(cols):
                raise ValueError(f"ROI {name!r}: every voxel holds NaN or is constant within a betas file")
            kept_columns[name] = cols
            unit_coords = {**{c: ("unit", ijk[cols, d]) for d, c in enumerate("ijk")},
                           **{c: ("unit", xyz[cols, d]) for d, c in enumerate("xyz")}}
            target.create(name, "betas", ("trial", "unit"), (len(trials), len(cols)), "float32",
                          coords={**trial_coords, **unit_coords})
            target.create(name, "ncsnr", ("unit",), (len(cols),), "float32", attrs={
                "description": "sigma_signal / sigma_noise: " + common["noise_ceiling_source"]})
            target.create(name, "noise_ceiling", ("unit",), (len(cols),), "float32", attrs={
                "description": "percentage of single-trial variance explained by the stimulus: "
                               "100 ncsnr^2 / (ncsnr^2 + 1)", "units": "%"})
            target.write_rows(name, "ncsnr", 0, snr[cols].astype(np.float32))
            target.write_rows(name, "noise_ceiling", 0, nc[cols])
            target.set_attrs(name, {**common, **roi_attrs[name], "n_dropped_voxels": n_nan + n_constant,
                                    "n_dropped_nan_voxels": n_nan, "n_dropped_constant_voxels": n_constant})
            summary[name] = {"trials": len(trials), "voxels": len(cols), "dropped_nan": n_nan,
                             "dropped_constant": n_constant}
        for start in range(0, len(trials), ROW_BLOCK):
            block = scratch.read(None, "betas", slice(start, start + ROW_BLOCK))
            for name, cols in kept_columns.items():
                target.write_rows(name, "betas", start, block[:, cols])
        target.commit_rows(len(trials))
        target.set_attrs(None, dict(root_attrs or {}))
        target.finish()
    return summary
