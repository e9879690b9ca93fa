"""Benchmark brainalign's single-trial GLM against nilearn's FirstLevelModel, same data, same run.

Workload (float32 data, fixed seed): one run of ``n_volumes`` (200) volumes at TR 2 s, an ROI
of ``n_voxels`` (~2000) voxels, ``n_trials`` (40) one-second trials, AR(1) noise model, glover
HRF, cosine drifts.

* LSA: ours (:func:`brainalign.brain.glm.lsa_betas` on the masked data matrix) against one
  ``FirstLevelModel.fit`` with the ROI as ``mask_img`` plus one ``compute_contrast`` (effect
  size) per trial.
* LSS-1: ours (:func:`~brainalign.brain.glm.lss_betas`) against one ``FirstLevelModel.fit`` and
  ``compute_contrast`` per trial; nilearn runs on ``n_lss_reference`` (8) trials and its time is
  extrapolated linearly to all trials (the JSON says so).

Both report the largest absolute beta difference relative to the largest beta: nilearn scales
float32 data and we scale float64, so expect ~1e-5, or ~1e-3 where a voxel's AR(1) estimate
lands on the other side of one of nilearn's 0.01-wide AR bins. Prints one JSON object.

Usage: ``python bench/bench_fmri_glm.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
from _common import machine_info, peak_rss_mib
from nilearn.glm.first_level import FirstLevelModel

from brainalign.brain.glm import GlmOptions, lsa_betas, lss_betas


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def simulate(n_volumes: int, shape: tuple[int, int, int], n_trials: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    data = (1000 + 10 * rng.standard_normal(shape + (n_volumes,))).astype(np.float32)
    onsets = np.linspace(6, (n_volumes - 12) * 2.0, n_trials) + rng.uniform(-1, 1, n_trials)
    events = pd.DataFrame({"onset": onsets, "duration": 1.0})
    return nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0])), events


def nilearn_betas(img, mask_img, events, trial_types, wanted):
    model = FirstLevelModel(t_r=2.0, hrf_model="glover", noise_model="ar1", mask_img=mask_img)
    model.fit(img, events=events.assign(trial_type=trial_types))
    mask = mask_img.get_fdata().astype(bool)
    return np.array([model.compute_contrast(w, output_type="effect_size").get_fdata()[mask] for w in wanted])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, to check that the script runs")
    args = parser.parse_args()
    n_volumes, shape, n_trials, n_lss_reference = (60, (5, 5, 4), 8, 2) if args.quick else (200, (13, 13, 12), 40, 8)
    img, events = simulate(n_volumes, shape, n_trials)
    mask_img = nib.Nifti1Image(np.ones(shape, np.uint8), img.affine)
    data = img.get_fdata(dtype=np.float32).reshape(-1, n_volumes).T
    options = GlmOptions(hrf_model="glover", noise_model="ar1")
    names = [f"trial_{e:05d}" for e in range(n_trials)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ours_lsa, ours_lsa = timed(lambda: lsa_betas(data, events, 2.0, options))
        t_ref_lsa, ref_lsa = timed(lambda: nilearn_betas(img, mask_img, events, names, names))
        t_ours_lss, ours_lss = timed(lambda: lss_betas(data, events, 2.0, options))
        ref_lss = []
        t0 = time.perf_counter()
        for target in range(n_lss_reference):
            types = np.where(np.arange(n_trials) == target, "target", "other_trials")
            ref_lss.append(nilearn_betas(img, mask_img, events, types, ["target"])[0])
        t_ref_lss = (time.perf_counter() - t0) * n_trials / n_lss_reference

    def rel_diff(a, b):
        return float(np.abs(a - b).max() / np.abs(b).max())

    print(json.dumps({
        "benchmark": "fmri_glm",
        "machine": machine_info(),
        "workload": {"n_volumes": n_volumes, "n_voxels": int(np.prod(shape)), "n_trials": n_trials,
                     "noise_model": "ar1", "hrf_model": "glover"},
        "lsa": {"ours_s": round(t_ours_lsa, 3), "nilearn_s": round(t_ref_lsa, 3),
                "speedup": round(t_ref_lsa / t_ours_lsa, 1), "max_rel_diff": rel_diff(ours_lsa, ref_lsa)},
        "lss": {"ours_s": round(t_ours_lss, 3), "nilearn_s": round(t_ref_lss, 3),
                "speedup": round(t_ref_lss / t_ours_lss, 1),
                "nilearn_extrapolated_from_trials": n_lss_reference,
                "max_rel_diff": rel_diff(ours_lss[:n_lss_reference], np.array(ref_lss))},
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }))


if __name__ == "__main__":
    main()
