"""The MEG/EEG stages as the rules run them (``brainalign meg ...``): real evoked responses from
shared/data read through the config and the command line, bad input failing with a clear message
and no store, and the time-resolved stages on a small simulated study."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import mne
import numpy as np
import pytest
import xarray as xr
import yaml
from brainalign import store
from brainalign.config import validate_config
from brainalign.stages import meg, meg_align, simulate_meg

PROJECT = Path(__file__).resolve().parents[1]
SCHEMA = PROJECT / "config" / "schema.yaml"
CONDITIONS = {"Left Auditory": "aud_l", "Right Auditory": "aud_r", "Left visual": "vis_l", "Right visual": "vis_r"}


def resolved_dataset(shared_data, monkeypatch, **dataset):
    """A ``datasets.<name>`` entry resolved by validate_config inside the test study config."""
    monkeypatch.setenv("BRAINALIGN_SHARED_DATA", str(shared_data))
    config = yaml.safe_load((PROJECT / "config" / "test.yaml").read_text())
    config["datasets"]["evoked"] = {"modality": "meg", "stimuli": "shapes", "subjects": ["sample"], "task": "x",
                                    **dataset}
    return validate_config(config, SCHEMA)["datasets"]["evoked"]


def cli(stage, spec, *args):
    return subprocess.run([sys.executable, "-m", "brainalign.cli", stage, "--spec", json.dumps(spec), "--seed", "7",
                           *map(str, args)], capture_output=True, text=True, check=False)


@pytest.fixture
def evoked_spec(shared_data, monkeypatch):
    return resolved_dataset(shared_data, monkeypatch, path="{shared_data}/mne_evoked", files=["test-ave.fif.gz"],
                            stimulus_table=CONDITIONS)


def test_real_evoked_responses_through_the_command_line(evoked_spec, shared_data, tmp_path):
    """README of shared/data: 204 grad, 102 mag, 60 EEG data channels; 421 samples at 600.615 Hz
    from -0.2 to 0.5 s; four conditions."""
    out = tmp_path / "sub-sample.zarr"
    done = cli("meg", evoked_spec, "--recordings", evoked_spec["path"], "--subject", "sample", "--out", out)
    assert done.returncode == 0, done.stderr
    ds = store.open_dataset(out)
    assert ds["data"].dims == ("stimulus", "unit", "time") and ds.sizes == {"stimulus": 4, "unit": 366, "time": 421}
    assert Counter(ds["ch_type"].values.tolist()) == {"grad": 204, "mag": 102, "eeg": 60}
    assert list(ds["stimulus_id"].values) == sorted(CONDITIONS.values())
    evoked = mne.read_evokeds(shared_data / "mne_evoked" / "test-ave.fif.gz", condition="Left visual",
                              baseline=(None, 0), verbose="error")
    np.testing.assert_allclose(ds["time"].values, evoked.times, atol=1e-9)
    assert list(ds["ch_name"].values) == [evoked.ch_names[i] for i in mne.pick_types(evoked.info, meg=True, eeg=True)]
    eeg = ds["data"].sel(stimulus=2).values[ds["ch_type"].values == "eeg"]  # vis_l, µV
    np.testing.assert_allclose(eeg, evoked.copy().pick("eeg").data * 1e6, rtol=1e-4, atol=1e-3)
    assert json.loads(ds.attrs["units"]) == {"eeg": "µV", "grad": "fT/cm", "mag": "fT"}
    prov = store.read_provenance(out)
    assert prov["stage"] == "meg" and prov["seed"] == 7 and prov["params"] == json.loads(json.dumps(evoked_spec))
    assert list(prov["inputs"]) == [str(shared_data / "mne_evoked" / "test-ave.fif.gz")]


def test_events_matching_no_stimulus_through_the_command_line(evoked_spec, tmp_path):
    """An unknown event fails the stage naming it, leaving no store; with drop_unknown the decision
    is logged and stored."""
    spec = {**evoked_spec, "stimulus_table": {k: v for k, v in CONDITIONS.items() if k != "Right visual"}}
    out = tmp_path / "sub-sample.zarr"
    failed = cli("meg", spec, "--recordings", spec["path"], "--subject", "sample", "--out", out)
    assert failed.returncode != 0 and "'Right visual' x1" in failed.stderr and "brainalign meg: error:" in failed.stderr
    assert not out.exists() and not list(tmp_path.glob(".*"))
    done = cli("meg", {**spec, "drop_unknown": True}, "--recordings", spec["path"], "--subject", "sample",
               "--out", out)
    assert done.returncode == 0, done.stderr
    assert "dropping 1 events that match no known stimulus" in done.stderr
    ds = store.open_dataset(out)
    assert ds.attrs["n_dropped_unknown_events"] == 1 and ds.attrs["dropped_unknown_events"] == ["Right visual"]
    assert ds.sizes["stimulus"] == 3


def test_missing_files_are_named(evoked_spec, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"files pattern 'sub-sample_\*.fif' matches no recording"):
        meg.run({**evoked_spec, "files": ["sub-{subject}_*.fif"]}, recordings=evoked_spec["path"], subject="sample",
                out=tmp_path / "x.zarr", seed=0)


# --------------------------------------------------------------------------- a small simulated study
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Stimulus and features stores of 30 stimuli, one subject simulated by the stage from an early
    (random ReLU layer) and a late (two layers deeper) representation."""
    root = tmp_path_factory.mktemp("meg_pipeline")
    rng = np.random.default_rng(0)
    ids = np.array([f"s{i:02d}" for i in range(30)])
    early = np.maximum(rng.standard_normal((30, 12)) @ rng.standard_normal((12, 40)), 0)
    late = np.maximum(np.maximum(early @ rng.standard_normal((40, 40)), 0) @ rng.standard_normal((40, 40)), 0)
    stimuli = store.write_dataset(root / "stimuli.zarr", xr.Dataset(coords={"stimulus_id": ("stimulus", ids)}),
                                  stage="stimuli", params={})
    layers = {"early": early, "late": late}
    feats = store.write_tree(root / "net.zarr", {name: xr.Dataset({"features": (("stimulus", "unit"), x)},
                                                                  coords={"stimulus_id": ("stimulus", ids)})
                                                 for name, x in layers.items()},
                             stage="features", params={}, root=xr.Dataset(attrs={"layers": list(layers)}))
    spec = {"subjects": ["01"], "drop_unknown": False, "average": True, "events": {},
            "simulate_meg": {"layers": {"a": {"model": "net", "layer": "early", "latency": 0.1},
                                        "b": {"model": "net", "layer": "late", "latency": 0.25}},
                             "runs": 2, "repeats": 1, "montage": "biosemi32", "sfreq": 200.0, "snr": 1.5,
                             "width": 0.03, "white_fraction": 0.5, "noise_length": 0.05, "noise_timescale": 0.05,
                             "common_amplitude": 1.0, "line_freq": None, "line_amplitude": 0.0, "amplitude": 5e-6,
                             "trial_interval": 0.6, "jitter": 0.1},
            "preprocessing": {"tmin": -0.1, "tmax": 0.4, "baseline": [None, 0.0]}}
    simulate_meg.run(spec, stimuli=stimuli, features={"net": feats}, subject="01", out=root / "raw", seed=3)
    return root, spec, stimuli, feats


def test_simulated_runs_look_like_a_recording(simulated):
    root, *_ = simulated
    assert sorted(p.name for p in (root / "raw").iterdir()) == ["run-1_raw.fif", "run-2_raw.fif",
                                                                "stimulus_table.tsv", "truth.json"]
    raw = mne.io.read_raw_fif(root / "raw" / "run-1_raw.fif", verbose="error")
    assert raw.get_channel_types().count("eeg") == 32 and raw.info["sfreq"] == 200.0
    assert len(mne.find_events(raw, verbose="error")) == 30
    assert raw.get_montage() is not None


def test_all_epochs_rejected_fails_without_a_store(simulated):
    root, spec, stimuli, _ = simulated
    bad = {**spec, "preprocessing": {**spec["preprocessing"], "reject": {"eeg": 1e-9}}}
    with pytest.raises(ValueError, match=r"all 60 epochs were dropped or rejected: .* 60 above reject"):
        meg.run(bad, recordings=root / "raw", subject="01", out=root / "rejected.zarr", seed=0, stimuli=stimuli)
    assert not (root / "rejected.zarr").exists()


def test_epoch_window_outside_the_recording_fails(simulated):
    root, spec, stimuli, _ = simulated
    bad = {**spec, "preprocessing": {**spec["preprocessing"], "tmax": 100.0}}
    with pytest.raises(ValueError, match=r"no epoch window \[-0.1, 100.0\] s"):
        meg.run(bad, recordings=root / "raw", subject="01", out=root / "outside.zarr", seed=0, stimuli=stimuli)


def test_time_resolved_stages_find_each_layer_at_its_latency(simulated):
    root, spec, stimuli, feats = simulated
    brain = root / "brain.zarr"
    meg.run(spec, recordings=root / "raw", subject="01", out=brain, seed=0, stimuli=stimuli)
    ds = store.open_dataset(brain)
    assert ds.sizes == {"stimulus": 30, "unit": 32, "time": 101} and (ds["n_trials"] == 2).all()
    assert ds.attrs["n_rejected"] == 0 and ds.attrs["runs"] == ["run-1_raw", "run-2_raw"]
    spec = {"n_bootstrap": 30, "window": 1, "latency_window": [0.0, 0.4], "ci": 0.95, "dataset": "d",
            "subject": "01", "model": "net", "rdm": "correlation", "comparator": "spearman",
            "alphas": [1.0, 10.0, 100.0, 1000.0], "inner_folds": 3, "backend": "numpy", "target_batch_size": 4096,
            "outer_folds": 5}
    meg_align.run(spec, brain=brain, features=feats, out=root / "align.zarr", seed=1)
    assert store.read_provenance(root / "align.zarr")["stage"] == "meg_align"
    for method in ("rsa", "encoding"):
        result = store.open_dataset(root / "align.zarr", group=method)
        assert result["score"].dims == ("layer", "time") and result.sizes["bootstrap"] == 30
        latency = result["peak_latency"].to_series()
        assert abs(latency["early"] - 0.1) <= 0.02 and abs(latency["late"] - 0.25) <= 0.02, (method, latency)
        assert (result["peak_latency_ci_low"] <= result["peak_latency"]).all()
        assert (result["peak_latency"] <= result["peak_latency_ci_high"]).all()
        assert result.score.sel(layer="early", time=0.1) > result.score.sel(layer="late", time=0.1)
        assert result.score.sel(layer="late", time=0.25) > result.score.sel(layer="early", time=0.25)
    enc = store.open_dataset(root / "align.zarr", group="encoding")
    assert enc["r"].dims == ("layer", "fold", "unit", "time") and enc.sizes["fold"] == 5
    np.testing.assert_allclose(enc["score"], enc["r"].mean(("fold", "unit")), rtol=1e-5, atol=1e-6)
