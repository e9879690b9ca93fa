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
# 32 stimuli, two subjects, two 27-voxel ROIs driven by the first and last layers of a random CNN
TINY = {
    "seed": 7,
    "stimuli": {"shapes": {"kind": "shapes", "image_size": 32, "colours": ["red", "green"], "sizes": ["large"]}},
    "models": {"cnn": {"source": "builtin", "name": "small_cnn", "seed": 1, "input": "image",
                       "layers": ["conv1", "conv3", "fc"], "pooling": "none"}},
    "datasets": {"sim": {
        "stimuli": "shapes", "subjects": ["01", "02"], "task": "shapes",
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
    """Measured: recovery rate (2 subjects x 2 ROIs x 2 methods) 3/8 at SNR 0.05, 8/8 at SNR 4; the
    generating layers' score, mean over ROIs, methods and subjects, 0.012 and 0.912."""
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
    assert planned_jobs(out.stdout) == {"simulate": 1, "fmri": 2, "encoding": 2, "roi_rdms": 2, "rsa": 2,
                                        "summarize": 1, "sweep": 1}
    jobs = [line for line in (out.stdout + out.stderr).splitlines() if line.strip().startswith("wildcards:")]
    assert all("dataset=sim~snr-1" in line for line in jobs) and len(jobs) == 1 + 2 + 2 + 2 + 2


def test_noise_reaches_the_stages(swept, tmp_path):
    """Noise added at SNR 0.3 lowers the generating layers' RSA scores (betas; measured on subject
    01: object/fc 0.984 -> 0.202, visual/conv1 0.937 -> 0.123) and every layer's encoding r in the
    visual ROI (features: 0.796, 0.774, 0.651 -> 0.626, 0.517, 0.187); at an SNR of 1e6 RSA gives
    the noise-free scores (Spearman within 1e-5: a few swapped near-tied pairs move it by ~1e-7)."""
    results = swept[1]
    brain, features = results / "brain/sim~snr-4/sub-01.zarr", results / "features/shapes/cnn.zarr"
    rsa_spec = store.read_provenance(results / "rsa/sim~snr-4/sub-01/cnn.zarr")["params"]
    clean = store.open_dataset(results / "rsa/sim~snr-4/sub-01/cnn.zarr").score
    scores = {}
    for snr in (1e6, 0.3):
        rsa.run({**rsa_spec, "noise": {"target": "betas", "snr": snr, "seed": 1}}, brain=brain, features=features,
                out=tmp_path / f"rsa_{snr}.zarr", seed=7)
        scores[snr] = store.open_dataset(tmp_path / f"rsa_{snr}.zarr").score
    np.testing.assert_allclose(scores[1e6].values, clean.values, atol=1e-5)
    for roi, layer in (("visual", "conv1"), ("object", "fc")):
        assert scores[0.3].sel(roi=roi, layer=layer) < clean.sel(roi=roi, layer=layer) - 0.5
    enc_spec = store.read_provenance(results / "encoding/sim~snr-4/sub-01/cnn.zarr")["params"]
    encoding.run({**enc_spec, "noise": {"target": "features", "snr": 0.3, "seed": 1}}, brain=brain,
                 features=features, out=tmp_path / "enc.zarr", seed=7)
    noisy = store.open_dataset(tmp_path / "enc.zarr", group="visual").r.mean(("fold", "unit")).values
    plain = store.open_dataset(results / "encoding/sim~snr-4/sub-01/cnn.zarr", group="visual").r.mean(
        ("fold", "unit")).values
    assert np.all(noisy < plain - 0.1)
