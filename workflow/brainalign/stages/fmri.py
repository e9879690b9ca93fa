"""Stage ``fmri``: single-trial (or condition) betas of one subject, one store group per ROI.

Besides ``betas`` (trial, unit), each ROI group holds every voxel's noise ceiling from the
repeated presentations of a stimulus (:mod:`brainalign.brain.noise_ceiling`, Allen et al. 2022):
``ncsnr`` (unit) and ``noise_ceiling`` (unit), the percentage of a single trial's variance that
the stimulus explains, ``NC = 100 ncsnr^2 / (ncsnr^2 + 1)`` (betas z-scored within each run).
Without repeated stimuli both are NaN. The root attributes ``affine`` (4 x 4, voxel indices
``i, j, k`` to ``x, y, z`` in mm) and ``grid_shape`` keep the voxel grid, so that any per-voxel
result can be put back into a NIfTI image; the root variable ``mean_image`` (grid_i, grid_j,
grid_k) is the mean of the first run's first :data:`MEAN_VOLUMES` volumes, the subject's own
anatomical underlay for brain maps (a GLM dataset only: a betas dataset has no BOLD to average).

A ``layout: betas`` dataset starts from precomputed single-trial betas instead of a GLM
(:mod:`brainalign.brain.betas`): same store, one betas file read at a time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import xarray as xr

from .. import store
from ..brain.betas import write_betas_store
from ..brain.betas_config import betas_inputs, dataset_file, label_names
from ..brain.betas_io import BetasFormat, voxel_table
from ..brain.betas_trials import TrialOptions, betas_files, read_trials
from ..brain.bids import find_bids_runs, find_fmriprep_runs
from ..brain.fmri import fmri_stage
from ..brain.noise_ceiling import ncsnr, noise_ceiling
from ..brain.openfmri import find_openfmri_runs
from ..brain.rois import atlas_masks, field_of_view_mask, load_mask, sphere_mask
from ..stimuli import read_stimulus_ids

log = logging.getLogger(__name__)
MEAN_VOLUMES = 10  # enough for an EPI underlay; a .nii.gz is decompressed only up to them
GLM_KEYS = ("hrf_model", "drift_model", "high_pass", "drift_order", "noise_model", "signal_scaling",
            "slice_time_ref")


def find_runs(spec: dict, root: Path, subject: str) -> list:
    """The subject's runs in the dataset's layout (``bids``, ``fmriprep`` or ``openfmri``)."""
    layout = spec.get("layout", "bids")
    if layout == "bids":
        return find_bids_runs(root, subject, session=spec.get("session"), task=spec["task"])
    if layout == "fmriprep":
        return find_fmriprep_runs(spec["derivatives"], root, subject, space=spec["space"],
                                  res=spec.get("res"), session=spec.get("session"), task=spec["task"])
    if layout == "openfmri":
        # OpenFMRI subject folders are "sub001": config subject "001" (or "sub001") names one
        return find_openfmri_runs(root, f"sub{subject.removeprefix('sub')}", task=spec["task"],
                                  bold=spec.get("bold", "bold_25mm"))
    raise ValueError(f"dataset layout {layout!r} is not one of 'bids', 'fmriprep', 'openfmri'")


def roi_images(spec: dict, root: Path, reference) -> dict:
    """ROI name -> mask image or path, from the dataset's ``rois`` entries (``mask``,
    ``atlas`` + ``labels`` + ``label``, ``sphere``, or ``field_of_view``), or the masks a simulated dataset wrote."""
    if "simulate" in spec:
        return {name: root / "derivatives" / "rois" / f"roi-{name}_mask.nii.gz"
                for name in spec["simulate"]["rois"]}
    images = {}
    for name, roi in spec["rois"].items():
        if roi.get("all_labels"):  # a label volume holding several ROIs: each label its own ROI
            for label, mask in atlas_masks(roi["atlas"], label_names(roi["labels"])).items():
                if label in images or label in spec["rois"]:
                    raise ValueError(f"ROI {label!r} of label volume {roi['atlas']} (entry {name!r}) is "
                                     "named twice among the dataset's ROIs")
                images[label] = mask
        elif "mask" in roi:
            images[name] = load_mask(roi["mask"], name=f"key 'rois.{name}.mask'")
        elif "atlas" in roi:
            masks = atlas_masks(roi["atlas"], label_names(roi["labels"]))
            label = str(roi.get("label", name))
            if label not in masks:
                raise ValueError(f"ROI {name!r}: label {label!r} is not in atlas {roi['atlas']} "
                                 f"(labels: {sorted(masks)})")
            images[name] = masks[label]
        elif roi.get("field_of_view"):
            images[name] = field_of_view_mask(reference)
        elif "sphere" in roi:
            images[name] = sphere_mask(roi["sphere"]["center"], roi["sphere"]["radius"], reference)
        else:
            raise ValueError(f"ROI {name!r} needs one of 'mask', 'atlas', 'sphere' or 'field_of_view'")
    return images


def with_noise_ceiling(ds: xr.Dataset) -> xr.Dataset:
    """Add ``ncsnr`` and ``noise_ceiling`` (unit) to one ROI's betas (module docstring)."""
    ids = ds.stimulus_id.values.astype(str)
    if len(np.unique(ids)) == len(ids):
        log.warning("no stimulus is shown twice: the noise ceiling is undefined (NaN)")
        snr = np.full(ds.sizes["unit"], np.nan)
    else:
        snr = ncsnr(ds.betas.values, ids, runs=ds.run.values.astype(str))
    ds = ds.assign(ncsnr=("unit", snr.astype(np.float32)),
                   noise_ceiling=("unit", noise_ceiling(snr, 1).astype(np.float32)))
    ds["ncsnr"].attrs["description"] = "sigma_signal / sigma_noise from repeated stimuli (betas z-scored per run)"
    ds["noise_ceiling"].attrs.update(description="percentage of single-trial variance explained by the stimulus: "
                                                 "100 ncsnr^2 / (ncsnr^2 + 1)", units="%")
    return ds


def _with_paths(spec: dict, subject: str) -> dict:
    """The entry with its ROI files (relative to the dataset's ``path``, ``{subject}`` replaced) resolved."""
    rois = {name: {k: (str(dataset_file(spec, v, subject)) if k in ("mask", "atlas", "labels") and isinstance(v, str)
                       else v) for k, v in roi.items()} for name, roi in spec["rois"].items()}
    return {**spec, "rois": rois}


def run_betas(spec: dict, *, subject: str, stimuli, out, seed: int) -> dict:
    """Brain store of ``subject`` from the precomputed betas of a ``layout: betas`` dataset."""
    betas, spec = spec["betas"], _with_paths(spec, subject)
    fmt = BetasFormat.from_spec(betas)
    paths = betas_inputs(spec, subject)
    files = betas_files(betas["files"], spec["path"], subject, fmt, sessions=betas["sessions"], runs=betas.get("runs"))
    log.info("sub-%s: %d betas files, %d trials (%s)", subject, len(files), sum(f.n_trials for f in files), fmt)
    table = paths["trials"][0]
    trials = read_trials(table, files, TrialOptions.from_dict(spec["trials"]))
    grid = nib.load(paths["grid"][0] if paths["grid"] else files[0].path)
    summary = write_betas_store(
        out, files, trials, roi_images(spec, Path(spec["path"]), grid), fmt=fmt, grid=grid,
        voxels=voxel_table(paths["voxels"][0]) if paths["voxels"] else None,
        known_stimuli=read_stimulus_ids(stimuli), drop_unknown=spec["trials"].get("drop_unknown",
                                                                                                     False),
        ncsnr_map=paths["ncsnr"][0] if paths["ncsnr"] else None, table=table, params=spec,
        inputs=[p for kind in paths.values() for p in kind] + [stimuli], seed=seed,
        root_attrs={"subject": subject, "affine": grid.affine.tolist(), "grid_shape": list(grid.shape[:3])})
    for name, s in summary.items():
        log.info("ROI %s: %d trials x %d voxels (%d with NaN, %d constant: dropped)", name, s["trials"], s["voxels"],
                 s["dropped_nan"], s["dropped_constant"])
    return summary


def mean_image(bold: nib.Nifti1Image) -> xr.DataArray:
    """The mean of the first :data:`MEAN_VOLUMES` volumes of ``bold`` (float32, on its grid)."""
    n = min(MEAN_VOLUMES, bold.shape[3]) if bold.ndim == 4 else 1
    volumes = np.asarray(bold.dataobj[..., :n] if bold.ndim == 4 else bold.dataobj, dtype=np.float32)
    mean = volumes.reshape(*bold.shape[:3], -1).mean(axis=3)
    return xr.DataArray(mean, dims=("grid_i", "grid_j", "grid_k"),
                        attrs={"description": f"mean of the first {n} volumes of the first run (BOLD units)"})


def run(spec: dict, *, bids, subject: str, stimuli, out, seed: int) -> None:
    """Betas of ``subject`` in the dataset ``spec`` (a ``datasets.<name>`` config entry) at ``bids``;
    ``stimuli``: the stimulus set's store, or a JSON list of its ids."""
    if spec.get("layout") == "betas":
        run_betas(spec, subject=subject, stimuli=stimuli, out=out, seed=seed)
        return
    root = Path(bids)
    runs = find_runs(spec, root, subject)
    log.info("sub-%s: %d runs (%s)", subject, len(runs), ", ".join(r.label for r in runs))
    glm = spec["glm"]
    known = read_stimulus_ids(stimuli)
    reference = nib.load(runs[0].bold)
    rois = fmri_stage(runs, roi_images(spec, root, reference), method=glm["method"],
                      glm={k: glm[k] for k in GLM_KEYS if k in glm}, confounds=spec.get("confounds"),
                      stimulus_column=glm["stimulus_column"], known_stimuli=known,
                      drop_unknown=glm["drop_unknown"])
    rois = {name: with_noise_ceiling(ds) for name, ds in rois.items()}
    for name, ds in rois.items():
        log.info("ROI %s: %d trials x %d voxels (%d dropped), median noise ceiling %.1f %%", name,
                 ds.sizes["trial"], ds.sizes["unit"], ds.attrs.get("n_dropped_voxels", 0),
                 np.nanmedian(ds.noise_ceiling.values) if np.isfinite(ds.noise_ceiling.values).any() else np.nan)
    inputs = [r.bold for r in runs] + [r.events for r in runs] + [stimuli]
    store.write_tree(out, rois, stage="fmri", params=spec, inputs=inputs, seed=seed,
                     root=xr.Dataset({"mean_image": mean_image(reference)},
                                     attrs={"subject": subject, "affine": reference.affine.tolist(),
                                            "grid_shape": list(reference.shape[:3])}))
