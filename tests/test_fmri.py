"""The fMRI stage on small synthetic BIDS / fMRIPrep datasets written with nibabel.

Data: a 6x6x6 grid (3 mm voxels), 2 runs of 80 volumes at TR 2 s, 16 one-second trials per
run (8 stimuli shown twice), each voxel's response to trial k is ``a[k, v]`` percent signal
change times the trial's boxcar convolved with an SPM-style double-gamma HRF (written here with
scipy), plus a linear drift and white noise.
"""

from __future__ import annotations

import json
import logging
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from nilearn.glm.first_level import FirstLevelModel
from scipy.stats import gamma

from brainalign import store
from brainalign.brain.bids import Run, find_bids_runs, find_fmriprep_runs, parse_entities
from brainalign.brain.confounds import ConfoundOptions, motion_confounds, run_confounds
from brainalign.brain.fmri import fmri_stage
from brainalign.brain.glm import GlmOptions, lsa_betas, read_events
from brainalign.brain.rois import atlas_masks, field_of_view_mask, sphere_mask

TR, N_VOLUMES, SHAPE, VOXEL_MM = 2.0, 80, (6, 6, 6), 3.0
AFFINE = np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
AFFINE[:3, 3] = [-9.0, -9.0, -9.0]
STIMULI = [f"stim{s}" for s in range(8)]


def double_gamma_hrf(t: np.ndarray) -> np.ndarray:
    """SPM-style canonical HRF: gamma(6) - gamma(16) / 6 densities, t in s."""
    return gamma.pdf(t, 6.0) - gamma.pdf(t, 16.0) / 6.0


def trial_regressors(onsets, duration: float, n_volumes: int, tr: float) -> np.ndarray:
    """(n_volumes, n_trials) boxcar * HRF, sampled at the volume times, peak-normalised."""
    dt = 0.05
    t = np.arange(0, n_volumes * tr + 32, dt)
    hrf = double_gamma_hrf(np.arange(0, 32, dt))
    columns = []
    for onset in onsets:
        boxcar = ((t >= onset) & (t < onset + duration)).astype(float)
        response = np.convolve(boxcar, hrf)[: len(t)]
        columns.append(response[np.round(np.arange(n_volumes) * tr / dt).astype(int)])
    columns = np.array(columns).T
    return columns / columns.max()


def simulate_run(rng, *, n_volumes=N_VOLUMES, noise_psc=0.2, n_trials=16):
    """Data (x, y, z, t), events table and true amplitudes (n_trials, n_voxels) of one run."""
    onsets = 6.0 + np.arange(n_trials) * 8.0 + rng.uniform(-1.0, 1.0, n_trials)
    stimuli = rng.permutation(STIMULI * (n_trials // len(STIMULI)))
    amplitudes = rng.normal(2.0, 1.0, (n_trials, int(np.prod(SHAPE))))
    psc = trial_regressors(onsets, 1.0, n_volumes, TR) @ amplitudes
    drift = np.linspace(-1.0, 1.0, n_volumes)[:, None] * rng.normal(0, 1.0, (1, psc.shape[1]))
    psc = psc + drift + rng.normal(0, noise_psc, psc.shape)
    baseline = rng.uniform(800, 1200, psc.shape[1])
    series = baseline * (1 + psc / 100)
    data = series.T.reshape(*SHAPE, n_volumes).astype(np.float32)
    events = pd.DataFrame({"onset": onsets, "duration": 1.0, "trial_type": "image", "stimulus_id": stimuli})
    return data, events, amplitudes


def bold_image(data, tr=TR):
    img = nib.Nifti1Image(data, AFFINE)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((VOXEL_MM,) * 3 + (tr,))
    return img


def write_bids(root, *, n_runs=2, seed=0, sidecar_tr=TR, header_tr=TR, noise_psc=0.2):
    """A raw BIDS dataset (TR in the top-level sidecar); returns the true amplitudes per run."""
    rng = np.random.default_rng(seed)
    func = root / "sub-01" / "func"
    func.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "synthetic", "BIDSVersion": "1.8.0"}))
    (root / "task-demo_bold.json").write_text(json.dumps({"RepetitionTime": sidecar_tr, "TaskName": "demo"}))
    truth = []
    for r in range(1, n_runs + 1):
        data, events, amplitudes = simulate_run(rng, noise_psc=noise_psc)
        nib.save(bold_image(data, header_tr), func / f"sub-01_task-demo_run-{r}_bold.nii.gz")
        events.to_csv(func / f"sub-01_task-demo_run-{r}_events.tsv", sep="\t", index=False)
        truth.append((events.sort_values("onset"), amplitudes[np.argsort(events["onset"].to_numpy(), kind="stable")]))
    return truth


def full_roi():
    return {"cube": nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFFINE)}


# ------------------------------------------------------------------------------ discovery
def test_parse_entities():
    assert parse_entities("sub-01_ses-a_task-x_run-02_space-T1w_desc-preproc_bold.nii.gz") == (
        {"sub": "01", "ses": "a", "task": "x", "run": "02", "space": "T1w", "desc": "preproc"}, "bold")
    with pytest.raises(ValueError, match="not a key-value"):
        parse_entities("sub-01_oops_bold.nii.gz")


def test_find_bids_runs_inherits_sidecar_and_orders_runs(tmp_path):
    write_bids(tmp_path, n_runs=2)
    func = tmp_path / "sub-01" / "func"
    # a run-level sidecar overrides the top-level RepetitionTime for that run only
    (func / "sub-01_task-demo_run-2_bold.json").write_text(json.dumps({"RepetitionTime": 1.5}))
    runs = find_bids_runs(tmp_path, "sub-01", task="demo")
    assert [r.label for r in runs] == ["task-demo_run-1", "task-demo_run-2"]
    assert [r.tr for r in runs] == [2.0, 1.5]
    assert runs[0].tr_source == tmp_path / "task-demo_bold.json"
    assert runs[1].tr_source == func / "sub-01_task-demo_run-2_bold.json"
    assert runs[0].events == func / "sub-01_task-demo_run-1_events.tsv"
    assert find_bids_runs(tmp_path, "01", run=2)[0].label == "task-demo_run-2"
    assert find_bids_runs(tmp_path, "01", run="02")[0].label == "task-demo_run-2"  # run indices match as numbers


def test_find_bids_runs_errors(tmp_path):
    write_bids(tmp_path, n_runs=2)
    func = tmp_path / "sub-01" / "func"
    with pytest.raises(ValueError, match="no folder sub-02"):
        find_bids_runs(tmp_path, "02")
    with pytest.raises(ValueError, match="no BOLD runs"):
        find_bids_runs(tmp_path, "01", task="rest")
    with pytest.raises(ValueError, match="no motion estimates for .*run-1_bold"):
        find_bids_runs(tmp_path, "01", motion_suffix="motion")
    (func / "sub-01_task-demo_run-2_events.tsv").unlink()
    with pytest.raises(ValueError, match=r"no events file .*sub-01_task-demo_run-2_bold\.nii\.gz"):
        find_bids_runs(tmp_path, "01")
    (tmp_path / "task-demo_bold.json").write_text(json.dumps({"TaskName": "demo"}))
    with pytest.raises(ValueError, match=r"no RepetitionTime for .*run-1_bold\.nii\.gz"):
        find_bids_runs(tmp_path, "01", run=1)


def test_find_bids_runs_sessions_and_numeric_run_order(tmp_path):
    """Discovery reads names and sidecars only: empty image files suffice here."""
    (tmp_path / "task-a_bold.json").write_text(json.dumps({"RepetitionTime": 2.0}))
    (tmp_path / "task-a_events.tsv").write_text("onset\tduration\tstimulus_id\n")  # inherited by every run
    for ses, run in [("2", "1"), ("1", "10"), ("1", "2")]:
        func = tmp_path / "sub-01" / f"ses-{ses}" / "func"
        func.mkdir(parents=True, exist_ok=True)
        (func / f"sub-01_ses-{ses}_task-a_run-{run}_bold.nii.gz").touch()
    (tmp_path / "sub-01" / "ses-2" / "sub-01_ses-2_task-a_bold.json").write_text(json.dumps({"RepetitionTime": 1.0}))
    runs = find_bids_runs(tmp_path, "01")
    assert [r.label for r in runs] == ["ses-1_task-a_run-2", "ses-1_task-a_run-10", "ses-2_task-a_run-1"]
    assert [r.tr for r in runs] == [2.0, 2.0, 1.0]
    assert {r.events for r in runs} == {tmp_path / "task-a_events.tsv"}
    assert [r.label for r in find_bids_runs(tmp_path, "01", session="2")] == ["ses-2_task-a_run-1"]


def write_fmriprep(root, *, n_volumes=N_VOLUMES, spike_at=None, seed=1):
    """Raw dataset with one run plus fMRIPrep derivatives of it (confounds, mask)."""
    raw, deriv = root / "raw", root / "derivatives" / "fmriprep"
    raw.mkdir()
    write_bids(raw, n_runs=1, seed=seed)
    func = deriv / "sub-01" / "func"
    func.mkdir(parents=True)
    data = nib.load(raw / "sub-01" / "func" / "sub-01_task-demo_run-1_bold.nii.gz").get_fdata(dtype=np.float32)
    prefix = "sub-01_task-demo_run-1"
    nib.save(bold_image(data), func / f"{prefix}_space-MNI_desc-preproc_bold.nii.gz")
    mask = np.ones(SHAPE, np.uint8)
    mask[0] = 0  # one slab outside the brain
    nib.save(nib.Nifti1Image(mask, AFFINE), func / f"{prefix}_space-MNI_desc-brain_mask.nii.gz")
    rng = np.random.default_rng(seed)
    table = {c: rng.normal(0, 0.1, n_volumes) for c in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")}
    table.update({f"{c}_derivative1": np.r_[np.nan, np.diff(v)] for c, v in list(table.items())})
    table.update({"csf": rng.normal(0, 1, n_volumes), "white_matter": rng.normal(0, 1, n_volumes),
                  "global_signal": rng.normal(0, 1, n_volumes), "cosine00": np.cos(np.linspace(0, np.pi, n_volumes))})
    table["framewise_displacement"] = np.r_[np.nan, np.full(n_volumes - 1, 0.1)]
    table["std_dvars"] = np.r_[np.nan, np.ones(n_volumes - 1)]
    if spike_at is not None:
        table["framewise_displacement"][spike_at] = 2.0
    pd.DataFrame(table).to_csv(func / f"{prefix}_desc-confounds_timeseries.tsv", sep="\t", index=False, na_rep="n/a")
    (func / f"{prefix}_desc-confounds_timeseries.json").write_text("{}")
    return raw, deriv


def test_find_fmriprep_runs(tmp_path):
    raw, deriv = write_fmriprep(tmp_path)
    (run,) = find_fmriprep_runs(deriv, raw, "01", space="MNI")
    func = deriv / "sub-01" / "func"
    assert run.bold.name == "sub-01_task-demo_run-1_space-MNI_desc-preproc_bold.nii.gz"
    assert run.confounds == func / "sub-01_task-demo_run-1_desc-confounds_timeseries.tsv"
    assert run.mask == func / "sub-01_task-demo_run-1_space-MNI_desc-brain_mask.nii.gz"
    assert run.events == raw / "sub-01" / "func" / "sub-01_task-demo_run-1_events.tsv"
    assert (run.tr, run.tr_source) == (TR, raw / "task-demo_bold.json")
    with pytest.raises(ValueError, match="no BOLD runs"):
        find_fmriprep_runs(deriv, raw, "01", space="T1w")
    run.confounds.unlink()
    with pytest.raises(ValueError, match="no confounds table for .*desc-preproc_bold"):
        find_fmriprep_runs(deriv, raw, "01", space="MNI")


def test_find_fmriprep_runs_needs_res_when_ambiguous(tmp_path):
    raw, deriv = write_fmriprep(tmp_path)
    func = deriv / "sub-01" / "func"
    for res in ("1", "2"):
        (func / f"sub-01_task-demo_run-1_space-MNI_res-{res}_desc-preproc_bold.nii.gz").touch()
        (func / f"sub-01_task-demo_run-1_space-MNI_res-{res}_desc-brain_mask.nii.gz").touch()
    with pytest.raises(ValueError, match=r"several preprocessed images per run .*\(give res=...\)"):
        find_fmriprep_runs(deriv, raw, "01", space="MNI")
    (run,) = find_fmriprep_runs(deriv, raw, "01", space="MNI", res=2)
    assert run.mask.name == "sub-01_task-demo_run-1_space-MNI_res-2_desc-brain_mask.nii.gz"


# ---------------------------------------------------------------------------- confounds
def test_fmriprep_confounds_strategy_and_scrubbing(tmp_path):
    raw, deriv = write_fmriprep(tmp_path, spike_at=40)
    (run,) = find_fmriprep_runs(deriv, raw, "01", space="MNI")
    options = ConfoundOptions(strategy=("motion", "wm_csf", "scrub"), motion="derivatives", scrub=0)
    confounds, sample_mask = run_confounds(run, N_VOLUMES, options)
    assert sorted(confounds.columns) == sorted(
        [f"{c}{d}" for c in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
         for d in ("", "_derivative1")] + ["csf", "white_matter"])
    assert len(confounds) == N_VOLUMES and np.isfinite(confounds.to_numpy()).all()
    assert 40 not in sample_mask and len(sample_mask) == N_VOLUMES - 1  # scrub=0: only the spike volume
    with pytest.raises(ValueError, match="strategy .*'aroma'"):
        ConfoundOptions(strategy=("motion", "aroma"))
    with pytest.raises(ValueError, match=r"unknown confounds option\(s\) \['motions'\]"):
        ConfoundOptions.from_dict({"motions": "basic"})


def test_motion_confounds_table(tmp_path):
    values = np.random.default_rng(0).normal(size=(10, 6))
    np.savetxt(tmp_path / "moest.txt", values)
    table = motion_confounds(tmp_path / "moest.txt", 10)
    assert list(table.columns) == [f"motion_{c}" for c in range(1, 7)]
    np.testing.assert_allclose(table.to_numpy(), values, rtol=1e-6)
    pd.DataFrame(values, columns=list("abcdef")).to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    assert list(motion_confounds(tmp_path / "m.tsv", 10).columns) == list("abcdef")
    with pytest.raises(ValueError, match=r"moest\.txt have 10 rows but the run has 12 volumes"):
        motion_confounds(tmp_path / "moest.txt", 12)


# ---------------------------------------------------------------------------------- GLM
def test_lsa_betas_equal_nilearn_first_level_model():
    """Reference: nilearn's FirstLevelModel on the same image, events and confounds (AR(1)),
    one effect-size contrast per trial. Tolerance 1e-4 of the largest beta: nilearn's masker
    hands the GLM float32 data, which is scaled in float32; here the scaling is in float64."""
    rng = np.random.default_rng(3)
    data, events, _ = simulate_run(rng, noise_psc=1.0)
    img = bold_image(data)
    mask = np.zeros(SHAPE, bool)
    mask[1:4, 2:5, 3] = True
    names = [f"trial_{e:05d}" for e in range(len(events))]
    confounds = pd.DataFrame(rng.normal(size=(N_VOLUMES, 3)), columns=["c1", "c2", "c3"])
    sample_mask = np.delete(np.arange(N_VOLUMES), [10, 11, 50])
    options = GlmOptions(hrf_model="glover", noise_model="ar1", high_pass=0.008)
    ours = lsa_betas(data[mask].T, events, TR, options, confounds=confounds, sample_mask=sample_mask)

    model = FirstLevelModel(t_r=TR, hrf_model="glover", noise_model="ar1", high_pass=0.008,
                            mask_img=nib.Nifti1Image(mask.astype(np.uint8), AFFINE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(img, events=events.assign(trial_type=names)[["onset", "duration", "trial_type"]],
                  confounds=confounds, sample_masks=sample_mask)
        checked = range(0, len(names), 3)
        reference = np.array([model.compute_contrast(names[e], output_type="effect_size").get_fdata()[mask]
                              for e in checked])
    np.testing.assert_allclose(ours[list(checked)], reference, rtol=0, atol=1e-4 * np.abs(reference).max())


@pytest.mark.parametrize(("method", "threshold"), [("lsa", 0.97), ("lss", 0.9)])
def test_single_trial_betas_recover_amplitudes(tmp_path, method, threshold):
    """High SNR (noise 0.2 % vs amplitudes 2 +- 1 %): per-voxel correlation of betas with the
    simulated amplitudes across the 32 trials, median over voxels, above the threshold. LSS-1's
    threshold is lower: its single "other trials" regressor assumes equal amplitudes, so the
    spread of the neighbours' amplitudes leaks into each trial's estimate."""
    truth = write_bids(tmp_path)
    runs = find_bids_runs(tmp_path, "01")
    (ds,) = fmri_stage(runs, full_roi(), method=method, glm={"hrf_model": "spm"}).values()
    true = np.concatenate([a for _, a in truth])
    assert ds.betas.shape == true.shape
    r = [np.corrcoef(ds.betas.values[:, v], true[:, v])[0, 1] for v in range(true.shape[1])]
    assert np.median(r) > threshold
    expected_ids = np.concatenate([e["stimulus_id"].to_numpy() for e, _ in truth])
    np.testing.assert_array_equal(ds.stimulus_id.values, expected_ids)
    np.testing.assert_allclose(ds.onset.values, np.concatenate([e["onset"].to_numpy() for e, _ in truth]))
    assert list(ds.run.values) == ["task-demo_run-1"] * 16 + ["task-demo_run-2"] * 16


def test_stage_output_layout_and_store_roundtrip(tmp_path):
    write_bids(tmp_path / "bids")
    runs = find_bids_runs(tmp_path / "bids", "01")
    roi = np.zeros(SHAPE, np.uint8)
    roi[2, 3, 4] = roi[5, 0, 1] = 1
    out = fmri_stage(runs, {"pair": nib.Nifti1Image(roi, AFFINE), **full_roi()}, method="condition")
    ds = out["pair"]
    assert ds.betas.dtype == np.float32 and ds.betas.dims == ("trial", "unit")
    assert ds.sizes == {"trial": 16, "unit": 2}  # 8 stimuli x 2 runs
    assert sorted(set(ds.stimulus_id.values)) == STIMULI
    np.testing.assert_array_equal(np.c_[ds.i, ds.j, ds.k], [[2, 3, 4], [5, 0, 1]])
    np.testing.assert_allclose(np.c_[ds.x, ds.y, ds.z], [[-3.0, 0.0, 3.0], [6.0, -9.0, -6.0]])
    # the ROI's voxels hold the same betas as in the whole-cube ROI (one GLM per voxel)
    cube = out["cube"].set_index(unit=["i", "j", "k"])
    np.testing.assert_array_equal(cube.betas.sel(unit=(2, 3, 4)).values, ds.betas.values[:, 0])
    assert json.loads(ds.attrs["glm"])["hrf_model"] == "glover" and ds.attrs["beta_units"] == "percent signal change"
    store.write_tree(tmp_path / "brain.zarr", out, stage="fmri", params={"method": "condition"})
    back = store.open_dataset(tmp_path / "brain.zarr", group="pair").load()
    xr.testing.assert_equal(back.drop_attrs(), ds.drop_attrs())


def test_stage_with_atlas_and_sphere_rois(tmp_path):
    write_bids(tmp_path, n_runs=1)
    runs = find_bids_runs(tmp_path, "01")
    labels = np.zeros(SHAPE, np.int16)
    labels[:3], labels[3:] = 1, 2
    rois = {**atlas_masks(nib.Nifti1Image(labels, AFFINE), {1: "left", 2: "right"}),
            "ball": sphere_mask([0.0, 0.0, 0.0], 3.0, runs[0].bold)}
    out = fmri_stage(runs, rois, method="condition")
    assert {n: ds.sizes["unit"] for n, ds in out.items()} == {"left": 108, "right": 108, "ball": 7}
    assert set(out["left"].i.values) == {0, 1, 2} and set(out["right"].i.values) == {3, 4, 5}
    np.testing.assert_array_less(np.linalg.norm(np.c_[out["ball"].x, out["ball"].y, out["ball"].z], axis=1), 3.0 + 1e-9)


# ------------------------------------------------------------------------------ bad input
def test_tr_mismatch_names_both_values_and_files(tmp_path):
    write_bids(tmp_path, sidecar_tr=2.0, header_tr=2.5, n_runs=1)
    runs = find_bids_runs(tmp_path, "01")
    with pytest.raises(ValueError, match=r"repetition time 2\.0 s from .*task-demo_bold\.json disagrees with "
                                         r"2\.5 s in the header of .*run-1_bold\.nii\.gz"):
        fmri_stage(runs, full_roi())


def test_run_shorter_than_events(tmp_path):
    write_bids(tmp_path, n_runs=1)
    runs = find_bids_runs(tmp_path, "01")
    events = pd.read_csv(runs[0].events, sep="\t")
    events.loc[len(events)] = [158.0, 4.0, "image", "stim0"]  # ends at 162 s > 80 volumes x 2 s
    events.to_csv(runs[0].events, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"has 80 volumes \(160 s at TR 2 s\) but events in .*events\.tsv run "
                                         r"until 162 s"):
        fmri_stage(runs, full_roi())


def test_events_without_stimulus_column(tmp_path):
    write_bids(tmp_path, n_runs=1)
    runs = find_bids_runs(tmp_path, "01")
    with pytest.raises(ValueError, match=r"events file .*run-1_events\.tsv has no column 'image_id'"):
        fmri_stage(runs, full_roi(), stimulus_column="image_id")
    # the same file with the column named explicitly reads fine
    assert list(read_events(runs[0].events, "trial_type")["stimulus"].unique()) == ["image"]


def test_unknown_stimuli_raise_or_are_dropped_and_counted(tmp_path):
    write_bids(tmp_path)
    runs = find_bids_runs(tmp_path, "01")
    known = STIMULI[:6]
    with pytest.raises(ValueError, match=r"unknown or missing stimulus .*\['stim6', 'stim7'\]"):
        fmri_stage(runs, full_roi(), known_stimuli=known)
    (ds,) = fmri_stage(runs, full_roi(), known_stimuli=known, drop_unknown=True).values()
    assert ds.sizes["trial"] == 24 and set(ds.stimulus_id.values) == set(known)
    assert ds.attrs["n_dropped_unknown_trials"] == 8
    assert ds.attrs["dropped_unknown_stimuli"] == ["stim6", "stim7"]
    with pytest.raises(ValueError, match="no trial has a known stimulus"):
        fmri_stage(runs, full_roi(), known_stimuli=["other"], drop_unknown=True)
    # dropped trials stay in the model: the kept trials' betas are those of the full LSA fit
    (full,) = fmri_stage(runs, full_roi()).values()
    kept = np.isin(full.stimulus_id.values, known)
    np.testing.assert_array_equal(ds.betas.values, full.betas.values[kept])


def test_missing_stimulus_is_unknown(tmp_path):
    write_bids(tmp_path, n_runs=1)
    runs = find_bids_runs(tmp_path, "01")
    events = pd.read_csv(runs[0].events, sep="\t")
    events.loc[0, "stimulus_id"] = np.nan
    events.to_csv(runs[0].events, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(ValueError, match=r"\['n/a'\]"):
        fmri_stage(runs, full_roi())
    (ds,) = fmri_stage(runs, full_roi(), drop_unknown=True).values()
    assert ds.sizes["trial"] == 15 and ds.attrs["n_dropped_unknown_trials"] == 1


def test_bad_options_and_grids(tmp_path):
    write_bids(tmp_path)
    runs = find_bids_runs(tmp_path, "01")
    with pytest.raises(ValueError, match="method='lsx'"):
        fmri_stage(runs, full_roi(), method="lsx")
    with pytest.raises(ValueError, match=r"unknown glm option\(s\) \['hrf'\]"):
        fmri_stage(runs, full_roi(), glm={"hrf": "spm"})
    with pytest.raises(ValueError, match="noise_model='ar2'"):
        fmri_stage(runs, full_roi(), glm={"noise_model": "ar2"})
    bold = runs[1].bold
    small = nib.load(bold).get_fdata(dtype=np.float32)[:5]
    nib.save(bold_image(small), bold)
    with pytest.raises(ValueError, match=r"run-2_bold\.nii\.gz \(shape \(5, 6, 6\)\) is not on the voxel grid"):
        fmri_stage(runs, full_roi())
    with pytest.raises(ValueError, match="ROI 'empty' has no voxel"):
        fmri_stage(runs[:1], {"empty": nib.Nifti1Image(np.zeros(SHAPE, np.uint8), AFFINE)})


def test_nan_and_constant_voxels_dropped_with_counts(tmp_path, caplog):
    write_bids(tmp_path)
    runs = find_bids_runs(tmp_path, "01")
    for run, (nan_voxel, flat_voxel) in zip(runs, [((0, 0, 0), (1, 1, 1)), ((2, 2, 2), (1, 1, 1))]):
        data = nib.load(run.bold).get_fdata(dtype=np.float32)
        data[nan_voxel + (7,)] = np.nan
        data[flat_voxel] = 500.0
        nib.save(bold_image(data), run.bold)
    with caplog.at_level(logging.WARNING, logger="brainalign.brain.fmri"):
        (ds,) = fmri_stage(runs, full_roi(), method="condition").values()
    assert (ds.attrs["n_dropped_voxels"], ds.attrs["n_dropped_nan_voxels"], ds.attrs["n_dropped_constant_voxels"]) \
        == (3, 2, 1)
    assert "dropped 3 of 216 voxels (2 with NaN, 1 constant in a run)" in caplog.text
    assert ds.sizes["unit"] == 213 and np.isfinite(ds.betas.values).all()
    kept = set(zip(ds.i.values.tolist(), ds.j.values.tolist(), ds.k.values.tolist()))
    assert not kept & {(0, 0, 0), (1, 1, 1), (2, 2, 2)}
    with pytest.raises(ValueError, match="ROI 'flat': all 1 voxels hold NaN or are constant"):
        flat = np.zeros(SHAPE, np.uint8)
        flat[1, 1, 1] = 1
        fmri_stage(runs, {"flat": nib.Nifti1Image(flat, AFFINE)})


def test_fmriprep_run_through_stage(tmp_path):
    raw, deriv = write_fmriprep(tmp_path, spike_at=30)
    runs = find_fmriprep_runs(deriv, raw, "01", space="MNI")
    (ds,) = fmri_stage(runs, {"all": field_of_view_mask(runs[0].bold)},
                       confounds={"strategy": ["motion", "scrub"], "scrub": 0}).values()
    assert ds.attrs["n_voxels_outside_brain_mask"] == 36 and ds.sizes["unit"] == 180  # slab i=0 outside
    assert ds.attrs["n_censored_volumes"] == 1
    assert ds.i.values.min() == 1
    with pytest.warns(UserWarning, match="both model slow drifts"):
        fmri_stage(runs, {"all": field_of_view_mask(runs[0].bold)}, method="condition",
                   confounds={"strategy": ["motion", "high_pass"]})


def test_run_label_must_be_unique(tmp_path):
    write_bids(tmp_path, n_runs=1)
    (run,) = find_bids_runs(tmp_path, "01")
    with pytest.raises(ValueError, match=r"repeated: \['task-demo_run-1'\]"):
        fmri_stage([run, run], full_roi())
    with pytest.raises(ValueError, match="non-empty sequence of brainalign.brain.bids.Run"):
        fmri_stage([str(run.bold)], full_roi())
    assert isinstance(run, Run)
