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

from brainalign import store
from study_runner import TEST_CONFIG, planned_jobs, snakemake

PROJECT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_every_store_is_written_with_provenance(study):
    stores = sorted(study.rglob("*.zarr"))
    # stimuli, features (4 models x 2 stimulus sets), brain, encoding+rsa, similarity, scores
    assert len(stores) == 2 + 4 * 2 + 2 + 2 * 4 * 2 + 2 + 1
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
                                        "figure_brain_map": 1, "figure_model_similarity": 2, "all": 1}
    outputs = [line.split("output:")[1].strip() for line in out.stdout.splitlines() if "output:" in line]
    rerun = [o for o in outputs if "/encoding/" in o or "/rsa/" in o or "/features/" in o]
    assert len(rerun) == 6 and all(o.endswith("mlp.zarr") for o in rerun)


def test_killed_run_resumes_to_the_same_numbers(study, tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"), "--directory",
         str(PROJECT), "--configfile", str(TEST_CONFIG), "--config", f"results_dir={results}", "--cores", "2"],
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
    """A stage runs by hand on the same paths and gives the same store (determinism)."""
    prov = store.read_provenance(study / "rsa" / "sim" / "sub-01" / "cnn.zarr")
    out = tmp_path / "rsa.zarr"
    subprocess.run([sys.executable, "-m", "brainalign.cli", "rsa", "--spec", json.dumps(prov["params"]),
                    "--seed", "2024",
                    "--brain", str(study / "brain" / "sim" / "sub-01.zarr"),
                    "--features", str(study / "features" / "shapes" / "cnn.zarr"), "--out", str(out)],
                   check=True, capture_output=True)
    a = store.open_dataset(study / "rsa" / "sim" / "sub-01" / "cnn.zarr")
    b = store.open_dataset(out)
    np.testing.assert_array_equal(a.score.values, b.score.values)
    np.testing.assert_array_equal(a.bootstrap.values, b.bootstrap.values)
    assert store.content_hash(out) == store.content_hash(study / "rsa" / "sim" / "sub-01" / "cnn.zarr")
