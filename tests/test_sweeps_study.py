"""A tiny simulated study swept over the SNR, through Snakemake (one run for the module): the
sweep's table and figure, recovery rising with SNR, a value added to the list running only its
own jobs, and noise added to features and betas as the RSA and encoding stages read them."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from brainalign import store
from brainalign.figures.sweep import plot_sweep
from brainalign.stages import encoding, rsa
from study_runner import planned_jobs, snakemake

SNR = [0.05, 4]
# 32 stimuli, one subject, two 27-voxel ROIs driven by the first and last layers of a random CNN
TINY = {
    "seed": 7,
    "stimuli": {"shapes": {"kind": "shapes", "image_size": 32, "colours": ["red", "green"], "sizes": ["large"]}},
    "models": {"cnn": {"source": "builtin", "name": "small_cnn", "seed": 1, "input": "image",
                       "layers": ["conv1", "conv3", "fc"], "pooling": "none"}},
    "datasets": {"sim": {
        "stimuli": "shapes", "subjects": ["01"], "task": "shapes",
        "simulate": {"runs": 4, "repeats": 1, "grid": [9, 5, 5], "roi_size": 3,
                     "rois": {"visual": {"model": "cnn", "layer": "conv1"}, "object": {"model": "cnn", "layer": "fc"}}},
        "sweep": {"snr": SNR}}},
    "encoding": {"alphas": [1.0, 100.0, 10000.0], "inner_folds": 2},
    "rsa": {"n_bootstrap": 20},
    "inference": {"n_bootstrap": 50, "n_permutations": 100},
}


def _write(cfg, path):
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """(config folder, results folder) of one run of the tiny study up to ``sweep.csv``."""
    folder = tmp_path_factory.mktemp("sweep")
    results = folder / "results"
    snakemake(str(results / "sweep.csv"), results=results, configfile=_write(TINY, folder / "tiny.yaml"))
    return folder, results


def test_recovery_rate_rises_with_snr(swept, tmp_path):
    """Measured: recovery rate (1 subject x 2 ROIs x 2 methods) 0.25 at SNR 0.05, 1.0 at SNR 4; the
    generating layers' mean score 0.01 and 0.89."""
    table = pd.read_csv(swept[1] / "sweep.csv")
    assert sorted(table.dataset.unique()) == ["sim~snr-0.05", "sim~snr-4"]
    assert set(table.sweep) == {"sim"}
    rates = table[table.metric == "recovery_rate"].groupby("snr").score.mean()
    generating = table[table.generating & (table.metric != "recovery_rate")].groupby("snr").score.mean()
    assert rates[4] == 1.0 and rates[0.05] < rates[4]
    assert generating[0.05] < 0.2 < 0.8 < generating[4]
    assert len(table[table.metric == "recovery_rate"]) == 2 * 2 * 2  # points x ROIs x methods
    plot_sweep(table, tmp_path / "sweep.png", sweep="sim")
    assert (tmp_path / "sweep.png").stat().st_size > 10_000


def test_added_value_runs_only_its_jobs(swept):
    folder, results = swept
    cfg = copy.deepcopy(TINY)
    cfg["datasets"]["sim"]["sweep"]["snr"] = [*SNR, 1]
    out = snakemake("-n", str(results / "sweep.csv"), results=results, configfile=_write(cfg, folder / "more.yaml"))
    assert planned_jobs(out.stdout) == {"simulate": 1, "fmri": 1, "encoding": 1, "rsa": 1, "summarize": 1,
                                        "sweep": 1}
    jobs = [line for line in (out.stdout + out.stderr).splitlines() if line.strip().startswith("wildcards:")]
    assert all("dataset=sim~snr-1" in line for line in jobs) and len(jobs) == 4


def test_noise_reaches_the_stages(swept, tmp_path):
    """Added noise lowers the generating layer's RSA score (betas) and encoding score (features);
    at an SNR of 1e6 RSA gives the noise-free scores (Spearman within 1e-6)."""
    results = swept[1]
    brain, features = results / "brain/sim~snr-4/sub-01.zarr", results / "features/shapes/cnn.zarr"
    rsa_spec = store.read_provenance(results / "rsa/sim~snr-4/sub-01/cnn.zarr")["params"]
    clean = store.open_dataset(results / "rsa/sim~snr-4/sub-01/cnn.zarr").score
    scores = {}
    for snr in (1e6, 0.2):
        rsa.run({**rsa_spec, "noise": {"target": "betas", "snr": snr, "seed": 1}}, brain=brain, features=features,
                out=tmp_path / f"rsa_{snr}.zarr", seed=7)
        scores[snr] = store.open_dataset(tmp_path / f"rsa_{snr}.zarr").score
    np.testing.assert_allclose(scores[1e6].values, clean.values, atol=1e-6)
    for roi, layer in (("visual", "conv1"), ("object", "fc")):
        assert scores[0.2].sel(roi=roi, layer=layer) < clean.sel(roi=roi, layer=layer) - 0.2
    enc_spec = store.read_provenance(results / "encoding/sim~snr-4/sub-01/cnn.zarr")["params"]
    encoding.run({**enc_spec, "noise": {"target": "features", "snr": 0.2, "seed": 1}}, brain=brain,
                 features=features, out=tmp_path / "enc.zarr", seed=7)
    for roi, layer in (("visual", 0), ("object", 2)):
        noisy = store.open_dataset(tmp_path / "enc.zarr", group=roi).r.isel(layer=layer).mean().item()
        plain = store.open_dataset(results / "encoding/sim~snr-4/sub-01/cnn.zarr", group=roi).r.isel(
            layer=layer).mean().item()
        assert noisy < plain - 0.2
