"""Store layout a user meets in a notebook: RSA stores and scores.zarr whose bootstrap samples are
a data variable (``score_bootstrap``, not a coordinate named like its dimension), provenance
attributes that are native JSON values, and a simulated brain store that records no confound
strategy it never applied."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from brainalign import store
from brainalign.brain.bids import find_bids_runs
from brainalign.brain.simulate import simulate_bids
from brainalign.stages import rsa, summarize

SPEC = {"rdm": "correlation", "comparator": "spearman", "n_bootstrap": 7, "dataset": "d", "subject": "01",
        "model": "m"}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _rsa_store(tmp_path, rng, n_stimuli=12):
    ids = np.array([f"s{i:02d}" for i in range(n_stimuli)])
    feats = {f"layer{k}": rng.standard_normal((n_stimuli, 5)).astype(np.float32) for k in range(2)}
    layers = {n: xr.Dataset({"features": (("stimulus", "unit"), x)}, coords={"stimulus_id": ("stimulus", ids)})
              for n, x in feats.items()}
    store.write_tree(tmp_path / "features.zarr", layers, stage="features", params={}, seed=0,
                     root=xr.Dataset(attrs={"layers": list(layers)}))
    trials = np.repeat(np.arange(n_stimuli), 2)
    rois = {"big": xr.Dataset({"betas": (("trial", "unit"), rng.standard_normal((len(trials), 6)).astype(np.float32))},
                              coords={"stimulus_id": ("trial", ids[trials])}),
            "tiny": xr.Dataset({"betas": (("trial", "unit"), rng.standard_normal((len(trials), 1)).astype(np.float32))},
                               coords={"stimulus_id": ("trial", ids[trials])})}
    store.write_tree(tmp_path / "brain.zarr", rois, stage="fmri", params={"x": (1, 2)}, seed=0)
    out = tmp_path / "rsa.zarr"
    rsa.run(SPEC, brain=tmp_path / "brain.zarr", features=tmp_path / "features.zarr", out=out, seed=3)
    return out


def test_rsa_store_bootstrap_is_a_data_variable_and_scores_frame_is_small(tmp_path, rng):
    out = _rsa_store(tmp_path, rng)
    ds = xr.open_zarr(out)
    assert "score_bootstrap" in ds.data_vars and "bootstrap" not in ds.variables
    assert ds.score_bootstrap.dims == ("roi", "bootstrap", "layer")
    frame = ds[["score", "score_bootstrap"]].to_dataframe()
    assert frame.shape == (1 * 7 * 2, 2)  # roi x bootstrap x layer rows: the tiny ROI is skipped
    assert sorted(frame.index.names) == ["bootstrap", "layer", "roi"]
    np.testing.assert_array_equal(frame.score_bootstrap.to_xarray().transpose(*ds.score_bootstrap.dims).values,
                                  ds.score_bootstrap.values)
    assert ds.score.to_dataframe().shape == (2, 1)
    # the summary store reads the renamed variable: one entry per (roi, layer), its samples kept
    entries = summarize.rsa_entries(out, {("d", "01", "big"): (np.nan, np.nan)})
    scores = summarize.scores_dataset(entries)
    assert "score_bootstrap" in scores.data_vars and "bootstrap" not in scores.variables
    np.testing.assert_array_equal(scores.score_bootstrap.values, ds.score_bootstrap.values[0].T)
    table = summarize.summary_table(scores)
    assert len(table) == 2 and isinstance(table, pd.DataFrame)


def test_provenance_and_structured_attributes_are_native_json_values(tmp_path, rng):
    out = _rsa_store(tmp_path, rng)
    attrs = dict(zarr.open_group(str(out), mode="r").attrs)
    assert isinstance(attrs["params"], dict) and isinstance(attrs["inputs"], dict)
    assert attrs["params"] == SPEC and sorted(attrs["inputs"]) == sorted(
        str(tmp_path / n) for n in ("brain.zarr", "features.zarr"))
    assert attrs["skipped_rois"] == {"tiny": "1 voxel(s): the correlation distance needs at least 3"}
    assert store.read_provenance(out)["params"] == SPEC
    # a tuple in the params is stored as the JSON list it reads back as
    assert store.read_provenance(tmp_path / "brain.zarr")["params"] == {"x": [1, 2]}


def test_simulated_brain_store_records_no_confounds(tmp_path, rng):
    """The simulated BIDS runs have neither fMRIPrep confounds nor motion tables, so the default
    confound options (fMRIPrep ``motion`` + ``wm_csf``, ``motion_file``) never act."""
    from brainalign.stages import fmri

    ids = [f"s{i}" for i in range(8)]
    bids = simulate_bids(tmp_path / "bids", stimulus_ids=ids, generators={"a": rng.standard_normal((8, 3))},
                         subjects=["01"], task="t", n_runs=2, n_repeats=2, tr=2.0, trial_interval=4.0,
                         stimulus_duration=1.0, jitter=0.0, snr=2.0, grid=[4, 4, 4], roi_size=2, voxel_size=3.0,
                         seed=1)
    assert all(r.confounds is None and r.motion is None for r in find_bids_runs(bids, "01"))
    spec = {"task": "t", "simulate": {"rois": {"a": {}}},
            "glm": {"method": "condition", "stimulus_column": "stimulus_id", "drop_unknown": False}}
    (tmp_path / "ids.json").write_text(json.dumps(ids))
    out = tmp_path / "brain.zarr"
    fmri.run(spec, bids=bids, subject="01", stimuli=tmp_path / "ids.json", out=out, seed=0)
    attrs = store.open_dataset(out, group="a").attrs
    assert "confounds" not in attrs and "n_censored_volumes" not in attrs
    assert attrs["method"] == "condition" and attrs["runs"] == ["task-t_run-1", "task-t_run-2"]
    # the subject's underlay for brain maps: the mean of the first run's first volumes (nibabel)
    first = nib.load(find_bids_runs(bids, "01")[0].bold).get_fdata()[..., :fmri.MEAN_VOLUMES].mean(axis=3)
    root = store.open_dataset(out)
    assert root.mean_image.dims == ("grid_i", "grid_j", "grid_k") and list(root.mean_image.shape) == root.attrs["grid_shape"]
    np.testing.assert_allclose(root.mean_image.values, first, rtol=1e-5)
