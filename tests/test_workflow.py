"""The whole default study at test size, through Snakemake: recovery, caching, resumption, bad configs.

One complete run (the session fixture ``study`` of conftest.py) is shared by the tests; each other
scenario works on a copy of its results or on its own results folder. The study config is
``config/test.yaml``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from brainalign import job_resources, store
from study_runner import TEST_CONFIG, planned_jobs, snakemake

PROJECT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_every_store_is_written_with_provenance(study):
    stores = sorted(study.rglob("*.zarr"))
    # stimuli, features (4 models x 2 stimulus sets), fMRI brain, ROI RDMs, encoding+rsa, similarity,
    # scores; MEG brain, time-resolved rsa+encoding (subject x model)
    assert len(stores) == 2 + 4 * 2 + 2 + 2 + 2 * 4 * 2 + 2 + 1 + 2 + 2 * 4
    for path in stores:
        prov = store.read_provenance(path)
        assert prov["brainalign_version"] and prov["stage"] and prov["seed"] == 2024
    brain = xr.open_datatree(study / "brain" / "sim" / "sub-01.zarr", engine="zarr")
    assert sorted(brain.children) == ["language", "object", "visual"]
    betas = brain["visual"].dataset
    assert betas.betas.dims == ("trial", "unit") and {"stimulus_id", "run", "onset", "x", "i"} <= set(betas.coords)
    feats = xr.open_datatree(study / "features" / "shapes" / "cnn.zarr", engine="zarr")
    assert sorted(feats.children) == ["conv1", "conv3", "fc"]
    assert not list(study.rglob("*.partial")) and not list(study.rglob(".*.tmp-*"))


def test_recovery_every_roi_every_subject_both_methods(study):
    recovery = pd.read_csv(study / "recovery.csv", dtype={"subject": str})
    assert len(recovery) == 3 * 2 * 2  # ROIs x subjects x methods
    failed = recovery[~recovery.recovered]
    assert failed.empty, f"generating layer not ranked first:\n{failed.to_string()}"
    assert (recovery.margin > 0).all()


def test_summary_is_tidy_and_complete(study):
    summary = pd.read_csv(study / "summary.csv", dtype={"subject": str})
    # 2 subjects x 3 ROIs x 12 layers x (encoding: r, r2; rsa: spearman)
    assert len(summary) == 2 * 3 * 12 * 3
    assert not summary.duplicated(["dataset", "subject", "roi", "model", "layer", "method", "metric"]).any()
    assert ((summary.ci_low <= summary.score) & (summary.score <= summary.ci_high)).mean() > 0.95
    assert summary.ceiling.notna().all()
    assert (study / "figures" / "score_by_layer.png").stat().st_size > 10_000
    assert xr.open_zarr(study / "scores.zarr").sizes == {"entry": len(summary), "bootstrap": 1000}


def test_complete_run_leaves_nothing_to_do(study):
    out = snakemake("-n", results=study)
    assert "Nothing to be done" in out.stdout + out.stderr


def test_changing_one_model_reruns_only_what_depends_on_it(study, tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["models"]["mlp"]["seed"] = 3
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    out = snakemake("-n", results=study, configfile=changed)
    assert planned_jobs(out.stdout) == {"features": 2, "encoding": 2, "rsa": 2, "similarity": 2,
                                        "summarize": 1, "figure_score_by_layer": 1, "figure_rdms": 1,
                                        "figure_brain_map": 1, "figure_model_similarity": 2,
                                        "meg_align": 2, "meg_summarize": 1, "all": 1}
    outputs = [line.split("output:")[1].strip().removesuffix(" (update)")  # stores are update() outputs
               for line in out.stdout.splitlines() if "output:" in line]
    rerun = [o for o in outputs if "/encoding/" in o or "/rsa/" in o or "/features/" in o]
    assert len(rerun) == 6 and all(o.endswith("mlp.zarr") for o in rerun)


def test_killed_run_resumes_to_the_same_numbers(study, tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"), "--directory",
         str(PROJECT), "--configfile", str(TEST_CONFIG), "--config", f"results_dir={results}",
         "allow_results_outside=True", "--cores", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list((results / "brain").glob("sim/*.zarr")):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up at all: as if the machine died
    proc.wait()
    assert not (results / "summary.csv").exists()
    snakemake("--unlock", results=results)  # what a user does after a crash: the lock was left behind
    snakemake(results=results)
    for name in ("summary.csv", "recovery.csv"):
        a, b = pd.read_csv(study / name), pd.read_csv(results / name)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["models"]["cnn"].pop("layers"), "missing required key 'models.cnn.layers'"),
    (lambda c: c["rsa"].update(n_bootstraps=10), "unknown key 'rsa.n_bootstraps'"),
    (lambda c: c["encoding"].update(inner_folds="3"), "key 'encoding.inner_folds' must be of type integer"),
    (lambda c: c["datasets"].update(real={"stimuli": "shapes", "subjects": ["01"], "task": "t", "path": ".",
                                          "rois": {"v1": {"mask": "no/such/mask.nii.gz"}}}),
     "key 'datasets.real.rois.v1.mask': file no/such/mask.nii.gz does not exist"),
])
def test_bad_config_fails_before_any_job_with_the_key_named(tmp_path, edit, message):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    edit(config)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    results = tmp_path / "results"
    out = snakemake(results=results, configfile=bad, check=False)
    assert out.returncode != 0
    assert message in out.stdout + out.stderr
    assert not results.exists()


def test_stage_can_be_rerun_alone_from_the_command_line(study, tmp_path):
    """A stage runs by hand on the same paths, with the BLAS threads Snakemake gave the job (its
    `threads`), and gives the same store (determinism). The thread count matters: OpenBLAS's
    Haswell kernels round a product's columns differently at 1 and 2 threads."""
    prov = store.read_provenance(study / "rsa" / "sim" / "sub-01" / "cnn.zarr")
    out = tmp_path / "rsa.zarr"
    brain, features = study / "roi_rdms" / "sim" / "sub-01.zarr", study / "features" / "shapes" / "cnn.zarr"
    threads = str(job_resources.rsa_threads(job_resources.rsa_shape(brain, features)))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    subprocess.run([sys.executable, "-m", "brainalign.cli", "rsa", "--spec", json.dumps(prov["params"]),
                    "--seed", "2024", "--brain", str(brain),  # the roi_rdms store, as the workflow runs it
                    "--features", str(features), "--out", str(out)],
                   check=True, capture_output=True, env=env)
    a = store.open_dataset(study / "rsa" / "sim" / "sub-01" / "cnn.zarr")
    b = store.open_dataset(out)
    np.testing.assert_array_equal(a.score.values, b.score.values)
    np.testing.assert_array_equal(a.score_bootstrap.values, b.score_bootstrap.values)
    assert store.content_hash(out) == store.content_hash(study / "rsa" / "sim" / "sub-01" / "cnn.zarr")


# --------------------------------------------------------------------------- the MEG part
def test_meg_latencies_and_layers_recovered(study):
    """Each simulated layer's peak is found within 20 ms of its latency, by both methods in every
    subject, and at that latency it scores above every other layer of every model."""
    recovery = pd.read_csv(study / "meg_recovery.csv", dtype={"subject": str})
    assert len(recovery) == 2 * 2 * 2  # driving layers x subjects x methods
    assert set(zip(recovery.true_model, recovery.true_layer, recovery.true_latency_ms)) == {
        ("cnn", "conv1", 100.0), ("resnet20", "layer3", 300.0)}
    assert (recovery.error_ms == recovery.recovered_latency_ms - recovery.true_latency_ms).all()
    assert (recovery.error_ms.abs() <= 20).all() and recovery.within_20ms.all(), recovery.to_string()
    assert recovery.ranks_first.all() and (recovery.margin > 0).all(), recovery.to_string()
    # the order of the layers in time: the early layer peaks before the late one in every subject and method
    summary = pd.read_csv(study / "meg_summary.csv", dtype={"subject": str}).set_index(
        ["subject", "method", "model", "layer"])
    for subject in ("01", "02"):
        for method in ("rsa", "encoding"):
            early = summary.loc[(subject, method, "cnn", "conv1"), "peak_latency_ms"]
            late = summary.loc[(subject, method, "resnet20", "layer3"), "peak_latency_ms"]
            assert early < late


def test_meg_summary_is_tidy(study):
    summary = pd.read_csv(study / "meg_summary.csv", dtype={"subject": str})
    assert len(summary) == 2 * 12 * 2  # subjects x layers x methods
    assert not summary.duplicated(["dataset", "subject", "model", "layer", "method", "metric"]).any()
    assert set(summary.metric) == {"spearman", "pearson_r"} and (summary.n_bootstrap == 50).all()
    inside = (summary.peak_latency_ci_low_ms <= summary.peak_latency_ms) & \
        (summary.peak_latency_ms <= summary.peak_latency_ci_high_ms)
    assert inside.mean() > 0.9
    assert (summary.peak_score_ci_low <= summary.peak_score_ci_high).all()
    assert (study / "figures" / "meg_timecourse.png").stat().st_size > 10_000


def test_meg_stores_layout_and_provenance(study):
    raw = study / "meg_raw" / "meg" / "sub-01"
    written = sorted(p.name for p in raw.iterdir() if p.name != store.SNAKEMAKE_TIMESTAMP)
    assert written == ["run-1_raw.fif", "stimulus_table.tsv", "truth.json"]
    brain_path = study / "brain" / "meg" / "sub-01.zarr"
    brain = store.open_dataset(brain_path)
    assert brain["data"].dims == ("stimulus", "unit", "time")
    assert brain.sizes == {"stimulus": 48, "unit": 64, "time": 61}  # 64 electrodes, -100..500 ms at 100 Hz
    assert set(brain["ch_type"].values) == {"eeg"} and brain["ch_name"].values[0] == "Fp1"
    np.testing.assert_allclose(brain["time"].values, np.arange(-10, 51) / 100, atol=1e-9)
    assert (brain["n_trials"] == 2).all() and brain.attrs["sfreq"] == 100.0 and brain.attrs["lowpass"] == 40.0
    assert brain.attrs["n_rejected"] == 0 and brain.attrs["n_dropped_outside_recording"] == 0
    prov = store.read_provenance(brain_path)
    assert prov["stage"] == "meg" and prov["params"]["modality"] == "meg"
    assert {str(raw / "run-1_raw.fif"), str(raw / "stimulus_table.tsv")} <= set(prov["inputs"])
    stimuli = store.open_dataset(study / "stimuli" / "shapes.zarr")
    assert sorted(brain["stimulus_id"].values) == sorted(stimuli["stimulus_id"].values)
    path = study / "meg_align" / "meg" / "sub-01" / "resnet20.zarr"
    assert store.group_names(path) == ["encoding", "rsa"]
    for method in ("rsa", "encoding"):
        ds = store.open_dataset(path, group=method)
        assert ds["score"].dims == ("layer", "time") and list(ds["layer"].values) == ["layer1", "layer2", "layer3"]
        np.testing.assert_array_equal(ds["time"].values, brain["time"].values)
        for name in ("score_ci_low", "score_ci_high", "bootstrap_score", "peak_latency", "peak_latency_ci_low",
                     "peak_latency_ci_high", "peak_score"):
            assert name in ds, (method, name)
        assert ds.attrs["method"] == method and ds.attrs["subject"] == "01"
    prov = store.read_provenance(path)
    assert prov["stage"] == "meg_align" and prov["params"]["model"] == "resnet20"
    assert set(prov["inputs"]) == {str(brain_path), str(study / "features" / "shapes" / "resnet20.zarr")}
    encoding = store.open_dataset(study / "meg_align" / "meg" / "sub-01" / "cnn.zarr", group="encoding")
    assert encoding["r"].dims == ("layer", "fold", "unit", "time")
