"""The simulated study: responses, design and the BIDS dataset it writes."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainalign.brain.simulate import roi_responses, simulate_bids, trial_schedule


def test_roi_responses_keep_the_layers_correlation_geometry_exactly():
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((40, 5)) @ rng.standard_normal((5, 300))
    features = np.maximum(latent + 0.5 * rng.standard_normal((40, 300)), 0) + rng.random((40, 1)) * 3
    resp = roi_responses(features, 60, np.random.default_rng(1))
    assert resp.shape == (40, 60) and resp.std() == pytest.approx(1.0)
    # closed form: the cosine between response patterns is the Pearson r between feature patterns
    unit = resp / np.linalg.norm(resp, axis=1, keepdims=True)
    np.testing.assert_allclose(unit @ unit.T, np.corrcoef(features), atol=1e-10)
    # and responses are a linear map of the features (exact least-squares fit)
    centred = features - features.mean(axis=1, keepdims=True)
    mix, *_ = np.linalg.lstsq(centred, resp, rcond=None)
    np.testing.assert_allclose(centred @ mix, resp, atol=1e-8)
    with pytest.raises(ValueError, match="constant"):
        roi_responses(np.ones((5, 3)), 4, rng)


def test_trial_schedule_gives_each_run_its_own_stimuli_repeated():
    runs = trial_schedule(10, 4, 2, np.random.default_rng(0))
    assert len(runs) == 4
    seen = [set(run) for run in runs]
    assert all(a.isdisjoint(b) for i, a in enumerate(seen) for b in seen[i + 1:])
    assert np.all(np.bincount(np.concatenate(runs), minlength=10) == 2)
    with pytest.raises(ValueError, match="cannot be split"):
        trial_schedule(3, 4, 2, np.random.default_rng(0))


def test_simulated_bids_dataset(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(12)]
    out = simulate_bids(tmp_path / "bids", stimulus_ids=ids,
                        generators={"a": rng.random((12, 50)), "b": rng.random((12, 20))},
                        subjects=["01", "02"], task="t", n_runs=2, n_repeats=2, tr=2.0,
                        trial_interval=4.0, stimulus_duration=1.0, jitter=0.0, snr=2.0,
                        grid=(9, 5, 5), roi_size=3, voxel_size=3.0, seed=0,
                        truth={"a": {"model": "m", "layer": "l1"}})
    assert json.loads((out / "task-t_bold.json").read_text())["RepetitionTime"] == 2.0
    img = nib.load(out / "sub-01/func/sub-01_task-t_run-1_bold.nii.gz")
    assert img.shape[:3] == (9, 5, 5) and img.header.get_zooms()[3] == 2.0
    events = pd.read_csv(out / "sub-01/func/sub-01_task-t_run-1_events.tsv", sep="\t")
    assert events.stimulus_id.value_counts().eq(2).all() and events.onset.iloc[-1] + 20 <= img.shape[3] * 2.0
    masks = {n: nib.load(out / f"derivatives/rois/roi-{n}_mask.nii.gz").get_fdata() > 0 for n in "ab"}
    assert masks["a"].sum() == 27 and not np.any(masks["a"] & masks["b"])
    # signal lives in the ROIs: their time series vary more than voxels outside every ROI
    data = img.get_fdata()
    inside, outside = data[masks["a"]].std(axis=1).mean(), data[~(masks["a"] | masks["b"])].std(axis=1).mean()
    assert inside > 1.5 * outside
    truth = json.loads((out / "derivatives/simulation/truth.json").read_text())
    assert truth["truth"]["a"]["layer"] == "l1"
