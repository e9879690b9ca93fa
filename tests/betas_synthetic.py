"""Small synthetic copies of NSD, THINGS-fMRI and BOLD5000 in the file layouts, names and dtypes
those datasets ship (a tiny grid, few sessions, few images), for the recipes in config/examples.

Each writer returns a dict describing what it wrote, so tests can read the files back directly.
A stimulus drives a voxel pattern (so encoding and RSA have something to find); every voxel has
its own noise. Tiny PNG images whose stems are the stimulus ids go into an image folder.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
from PIL import Image
from scipy.io import savemat

GRID = (8, 6, 5)


def write_images(folder: Path, ids, rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for sid in ids:
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{sid}.png")


def _responses(stimulus_index: np.ndarray, n_stimuli: int, rng, scale: float = 1.0) -> np.ndarray:
    """(n_trials, I, J, K) float64: a pattern per stimulus plus noise."""
    patterns = rng.normal(size=(n_stimuli, *GRID))
    return scale * (patterns[stimulus_index] + 0.5 * rng.normal(size=(len(stimulus_index), *GRID)))


def _nifti(data, path: Path, zoom: float, dtype=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = np.diag([zoom, zoom, zoom, 1.0])
    affine[:3, 3] = [-20.0, -30.0, -10.0]
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype) if dtype else np.asarray(data), affine)
    nib.save(img, path)


def write_nsd(root: Path, *, n_sessions: int = 4, per_run: int = 6, n_images: int = 24, seed: int = 0) -> dict:
    """NSD subject 1: nsd_expdesign.mat, betas_sessionNN.hdf5 (int16 (n, K, J, I), % x 300),
    brainmask.nii.gz, ncsnr.nii.gz, prf-visualrois.nii.gz (-1, 0, 1..7) with its .ctab. Sessions
    have 12 runs of ``per_run`` trials (NSD: 62 or 63, 750 per session), as stimpattern says."""
    rng = np.random.default_rng(seed)
    per_session = 12 * per_run
    n_trials = per_session * n_sessions
    nsd_ids = rng.choice(np.arange(1, 73001), size=n_images, replace=False)
    subjectim = np.vstack([nsd_ids] + [rng.permutation(nsd_ids) for _ in range(7)])  # (8, n_images)
    order = np.resize(rng.permutation(n_images) + 1, n_trials)
    rng.shuffle(order)
    stimpattern = np.zeros((n_sessions, 12, 75), np.uint8)
    for s in range(n_sessions):
        for r in range(12):
            stimpattern[s, r, rng.choice(75, per_run, replace=False)] = 1
    design = root / "nsddata/experiments/nsd/nsd_expdesign.mat"
    design.parent.mkdir(parents=True)
    savemat(design, {"masterordering": order[None, :].astype(np.float64), "subjectim": subjectim.astype(np.float64),
                     "sharedix": nsd_ids[:6][None, :].astype(np.float64), "stimpattern": stimpattern})
    func = root / "nsddata/ppdata/subj01/func1pt8mm"
    brain = np.ones(GRID, bool)
    brain[0] = False  # the liberal brain mask: betas are zero outside it
    _nifti(brain.astype(np.int16), func / "brainmask.nii.gz", 1.8)
    betas_dir = root / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR"
    raw = np.clip(np.round(_responses(order - 1, n_images, rng, 300.0) * brain), -32768, 32767).astype(np.int16)
    files = []
    for s in range(n_sessions):
        path = betas_dir / f"betas_session{s + 1:02d}.hdf5"
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:  # h5py order (trial, k, j, i) of the (i, j, k) grid; NSD's chunks
            f.create_dataset("betas", data=raw[per_session * s:per_session * (s + 1)].transpose(0, 3, 2, 1),
                             chunks=(per_session, 1, 1, 1))
        files.append(path)
    _nifti(rng.uniform(0.1, 1.5, GRID).astype(np.float32), betas_dir / "ncsnr.nii.gz", 1.8)
    labels = np.full(GRID, -1, np.int16)
    labels[1:] = 0
    for value in range(1, 8):
        labels[1 + (value - 1) % 7, :, (value - 1) % 5] = value
    labels[0, 0, 0] = 1  # a V1v voxel outside the brain mask: zero in every trial
    _nifti(labels, func / "roi/prf-visualrois.nii.gz", 1.8)
    ctab = root / "nsddata/freesurfer/subj01/label/prf-visualrois.mgz.ctab"
    ctab.parent.mkdir(parents=True)
    ctab.write_text("".join(f"{v} {n}\n" for v, n in enumerate(["Unknown", "V1v", "V1d", "V2v", "V2d", "V3v", "V3d",
                                                               "hV4"])))
    write_images(root / "brainalign/images", [f"nsd{i:05d}" for i in nsd_ids], rng)
    return {"design": design, "files": files, "per_session": per_session, "order": order, "subjectim": subjectim,
            "raw": raw, "labels": labels,
            "ncsnr": betas_dir / "ncsnr.nii.gz", "brain": brain}


def write_things(root: Path, *, n_sessions: int = 2, n_runs: int = 2, n_per_run: int = 10, seed: int = 1) -> dict:
    """THINGS-fMRI sub-01: betas_vol/scalematched/sub-01/ses-thingsNN/..._run-NN_betas.nii.gz (float32,
    one volume per trial) and betas_csv/sub-01_StimulusMetadata.csv (stimulus, concept, session, run,
    trial_type: train/test/catch)."""
    rng = np.random.default_rng(seed)
    concepts = ["aardvark", "abacus", "accordion", "acorn", "air_conditioner", "airplane"]
    images = [f"{c}_{k:02d}{s}" for c in concepts for k, s in ((1, "b"), (2, "s"))]
    test_images = images[:3]
    rows, volumes = [], {}
    for s in range(1, n_sessions + 1):
        for r in range(1, n_runs + 1):
            chosen = [test_images[(s + r) % 3]] + list(rng.choice(images[3:], n_per_run - 2, replace=False))
            kinds = ["test"] + ["train"] * (n_per_run - 2) + ["catch"]
            names = [f"{n}.jpg" for n in chosen] + ["catch_image_01.jpg"]
            for name, kind in zip(names, kinds):
                rows.append({"subject_id": 1, "trial_id": len(rows), "session": s, "run": r, "trial_type": kind,
                             "stimulus": name, "concept": name.rsplit("_", 1)[0]})
            index = np.array([images.index(n[:-4]) if n[:-4] in images else 0 for n in names])
            data = _responses(index, len(images), rng).astype(np.float32)
            data[:, 0, 0, 0] = np.nan if (s, r) == (1, 1) else data[:, 0, 0, 0]  # a voxel outside the data
            path = (root / f"betas_vol/scalematched/sub-01/ses-things{s:02d}/"
                    f"sub-01_ses-things{s:02d}_run-{r:02d}_betas.nii.gz")
            _nifti(np.moveaxis(data, 0, -1), path, 2.0)
            volumes[path] = np.moveaxis(data, 0, -1)
    table = root / "betas_csv/sub-01_StimulusMetadata.csv"
    table.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(table, index=False)
    mask = np.zeros(GRID, np.uint8)
    mask[:4] = 1
    _nifti(mask, root / "rois/sub-01/sub-01_task-floc_roi-LOC_mask.nii.gz", 2.0)
    write_images(root / "images", images, rng)
    return {"table": table, "volumes": volumes, "rows": pd.DataFrame(rows), "mask": mask}


def write_bold5000(root: Path, *, n_sessions: int = 2, n_per_session=(20, 17), seed: int = 2) -> dict:
    """BOLD5000 CSI1: CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-NN.nii.gz (float32, one volume per
    trial), CSI1_imgnames.txt (one image name per trial, all sessions in order), CSI1_brainmask.nii.gz
    and the ROI masks sub-CSI1/sub-CSI1_mask-{LH,RH}EarlyVis.nii.gz."""
    rng = np.random.default_rng(seed)
    images = ([f"COCO_train2014_{i:012d}.jpg" for i in (36, 49, 61, 74, 77, 86)]
              + [f"n01440764_{i}.JPEG" for i in (10110, 1016, 10254, 10323)]
              + ["airplanecabin1.jpg", "alley2.jpg", "badlands3.jpg", "bakery1.jpg", "bathroom4.jpg", "beach2.jpg"])
    names, files = [], []
    for s in range(n_sessions):
        chosen = list(rng.choice(images, n_per_session[s]))
        names += chosen
        index = np.array([images.index(n) for n in chosen])
        data = np.moveaxis(_responses(index, len(images), rng).astype(np.float32), 0, -1)
        path = root / f"CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-{s + 1:02d}.nii.gz"
        _nifti(data, path, 2.0)
        files.append(path)
    (root / "CSI1_imgnames.txt").write_text("".join(f"{n}\n" for n in names))
    _nifti(np.ones(GRID, np.uint8), root / "CSI1_brainmask.nii.gz", 2.0)
    for hemi, half in (("LH", slice(0, 4)), ("RH", slice(4, 8))):
        mask = np.zeros(GRID, np.uint8)
        mask[half, :3] = 1
        _nifti(mask, root / f"sub-CSI1/sub-CSI1_mask-{hemi}EarlyVis.nii.gz", 2.0)
    write_images(root / "images", [n.rsplit(".", 1)[0] for n in images], rng)
    return {"files": files, "names": names}
