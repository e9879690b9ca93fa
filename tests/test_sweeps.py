"""Sweeps (brainalign.sweeps): derived datasets' names, values and paths; the added-noise
transform (brainalign.added_noise): its SNR against the closed form, and its determinism."""

import copy
from pathlib import Path

import numpy as np
import pytest

from brainalign.added_noise import add_noise, noise_for
from brainalign.config import ConfigError, validate_config
from brainalign.plan import StudyPlan

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
STUDY = {
    "seed": 3,
    "stimuli": {"shapes": {"kind": "shapes", "image_size": 32, "colours": ["red"], "sizes": ["large"]}},
    "models": {"cnn": {"source": "builtin", "name": "small_cnn", "seed": 1, "input": "image",
                       "layers": ["conv1", "fc"]}},
    "datasets": {"sim": {"stimuli": "shapes", "subjects": ["01", "02"], "task": "shapes",
                         "simulate": {"snr": 1.0, "rois": {"v1": {"model": "cnn", "layer": "conv1"}}}}},
}


def _config(**dataset_keys) -> dict:
    cfg = copy.deepcopy(STUDY)
    cfg["datasets"]["sim"].update(dataset_keys)
    return validate_config(cfg, SCHEMA)


def test_sweep_grid_expands_into_named_datasets():
    cfg = _config(sweep={"snr": [0.5, 1, 2, 4], "repeats": [1, 2]})
    names = list(cfg["datasets"])
    assert names == [f"sim~snr-{s}~repeats-{r}" for s in (0.5, 1, 2, 4) for r in (1, 2)]  # the base is not run
    point = cfg["datasets"]["sim~snr-0.5~repeats-2"]
    assert (point["simulate"]["snr"], point["simulate"]["repeats"]) == (0.5, 2)
    assert point["simulate"]["runs"] == 4 and "sweep" not in point  # defaults filled; the list is not carried
    assert point["derived_from"] == {"dataset": "sim", "values": {"snr": 0.5, "repeats": 2}}
    plan = StudyPlan(cfg)
    assert plan.sweeps() == {"sim": {n: cfg["datasets"][n]["derived_from"]["values"] for n in names}}
    assert plan.brain_store("sim~snr-1~repeats-1", "01").endswith("/brain/sim~snr-1~repeats-1/sub-01.zarr")
    assert plan.sweep_outputs() == ["results/sweep.csv", "results/figures/sweep_sim.png"]
    # one value more: new datasets, every other entry (so every other job's params) unchanged
    more = _config(sweep={"snr": [0.5, 1, 2, 4, 8], "repeats": [1, 2]})
    assert set(more["datasets"]) - set(names) == {"sim~snr-8~repeats-1", "sim~snr-8~repeats-2"}
    assert all(more["datasets"][n] == cfg["datasets"][n] for n in names)


def test_noise_datasets_share_the_base_brain_store():
    cfg = _config(noise={"target": "betas", "snr": [0.5, 2]})
    assert list(cfg["datasets"]) == ["sim", "sim~betas_snr-0.5", "sim~betas_snr-2"]
    assert "noise" not in cfg["datasets"]["sim"]  # the base, noise-free, keeps its params as values are added
    plan = StudyPlan(cfg)
    assert plan.brain_store("sim~betas_snr-2", "02") == plan.brain_store("sim", "02") == "results/brain/sim/sub-02.zarr"
    assert plan.noise_spec("sim~betas_snr-0.5") == {"noise": {"target": "betas", "snr": 0.5, "seed": 3}}
    assert plan.noise_spec("sim") == {}
    assert plan.dataset_pattern("fmri") == "sim"  # no job writes a noise dataset's brain store
    assert plan.sweeps() == {"sim": {"sim": {"betas_snr": np.inf}, "sim~betas_snr-0.5": {"betas_snr": 0.5},
                                     "sim~betas_snr-2": {"betas_snr": 2}}}
    assert len(plan.result_stores("encoding")) == 3 * 2
    seeded = _config(noise={"target": "features", "snr": [1], "seed": 11})
    assert seeded["datasets"]["sim~features_snr-1"]["noise"] == {"target": "features", "snr": 1, "seed": 11}


@pytest.mark.parametrize("keys, message", [
    ({"sweep": {"snr": [1]}, "noise": {"target": "betas", "snr": [1]}}, "'datasets.sim.sweep': give sweep or noise"),
    ({"sweep": {"snr": [1, 1.0]}}, "'datasets.sim.sweep.snr'"),
    ({"sweep": {"snr": [-1]}}, "'datasets.sim.sweep.snr.0'"),
    ({"sweep": {"runs": [1]}}, "unknown key 'datasets.sim.sweep.runs'"),
    ({"noise": {"target": "voxels", "snr": [1]}}, "'datasets.sim.noise.target'"),
])
def test_bad_sweeps_name_the_key(keys, message):
    with pytest.raises(ConfigError, match=message):
        _config(**keys)


def test_sweep_needs_a_simulated_fmri_dataset():
    cfg = copy.deepcopy(STUDY)
    spec = cfg["datasets"]["sim"]
    del spec["simulate"]
    spec["sweep"] = {"snr": [1]}
    with pytest.raises(ConfigError, match="'datasets.sim.sweep' applies to simulated datasets only"):
        validate_config(cfg, SCHEMA)
    cfg["datasets"]["sim"] = {"stimuli": "shapes", "subjects": ["01"], "task": "shapes", "modality": "meg",
                              "noise": {"target": "betas", "snr": [1]}}
    with pytest.raises(ConfigError, match="'datasets.sim.noise' applies to fMRI datasets only"):
        validate_config(cfg, SCHEMA)


def _data(n_rows=20000, n_units=40, seed=0):
    rng = np.random.default_rng(seed)  # units of different scales and means, non-Gaussian
    return (rng.exponential(size=(n_rows, n_units)) * rng.uniform(0.1, 10, n_units) + rng.normal(0, 5, n_units))


def test_added_noise_has_the_stated_snr():
    """sd(X_u) / sd(noise_u) = snr per unit. With n = 20000 rows the sample s.d. of the Gaussian
    noise has relative standard error 1 / sqrt(2 n) = 0.5 %: every unit within 2.5 % (5 s.e.),
    the mean over 40 units within 0.5 % (about 6 s.e. of that mean), the noise's mean within 5 s.e."""
    x = _data()
    for snr in (0.25, 3.0):
        noise = add_noise(x, snr, seed=1, key="m/l") - x
        ratio = x.std(axis=0) / noise.std(axis=0)
        np.testing.assert_allclose(ratio, snr, rtol=0.025)
        assert abs(ratio.mean() / snr - 1) < 0.005
        assert np.all(np.abs(noise.mean(axis=0)) < 5 * x.std(axis=0) / snr / np.sqrt(len(x)))


def test_added_noise_is_deterministic_and_blockwise():
    x = _data(n_rows=300, n_units=50).astype(np.float32)
    x[:, 7] = 2.0  # a constant unit gets no noise
    whole = add_noise(x, 0.5, seed=4, key="sub/roi")
    assert whole.dtype == np.float32
    np.testing.assert_array_equal(whole, add_noise(x, 0.5, seed=4, key="sub/roi"))
    np.testing.assert_array_equal(whole[:, 7], x[:, 7])
    blocks = np.hstack([add_noise(x[:, a:b], 0.5, seed=4, key="sub/roi", start=a) for a, b in ((0, 13), (13, 50))])
    np.testing.assert_array_equal(blocks, whole)  # however the units are split into blocks or jobs
    assert not np.allclose(add_noise(x, 0.5, seed=5, key="sub/roi"), whole)
    assert not np.allclose(add_noise(x, 0.5, seed=4, key="sub/other"), whole)
    # the same draws at every SNR of a sweep: noise * snr is one array
    np.testing.assert_allclose((whole - x) * 0.5, (add_noise(x, 2.0, seed=4, key="sub/roi") - x) * 2.0,
                               rtol=1e-4, atol=1e-4 * np.abs(x).max())
    transform = noise_for({"noise": {"target": "betas", "snr": 0.5, "seed": 4}}, "betas", "sub/roi")
    np.testing.assert_array_equal(transform(x[:, 13:], 13), whole[:, 13:])
    assert noise_for({"noise": {"target": "betas", "snr": 0.5, "seed": 4}}, "features", "m/l") is None
    assert noise_for({}, "betas", "sub/roi") is None
