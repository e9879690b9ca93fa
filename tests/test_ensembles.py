"""Trained ensembles: the min-norm read-out, the noise, checkpoints, determinism, the stores, and
the shape of Umar & Laio (2026) in the one-hidden-layer linear case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from brainalign import store
from brainalign.config import ConfigError, validate_config
from brainalign.ensemble_config import member_spec
from brainalign.ensemble_task import split
from brainalign.models import trained
from brainalign.models.training import fit_gd, fit_min_norm, noisy_targets
from brainalign.stages import ensembles, ensembles_summary, features, stimuli, train
from tolerance import assert_close_float32

ROOT = Path(__file__).resolve().parents[1]
SEED = 2026
LINEAR = {"name": "linear", "stimuli": "shapes16", "architecture": "linear1",
          "task": {"teacher": {"model": "teacher", "layer": "fc1"}}, "solver": "min_norm", "n_test": 32,
          "epochs": 1, "lr": 1e-3, "weight_decay": 0.0, "image_size": 16, "device": "cpu",
          "metrics": ["cka_linear", "procrustes", "mutual_knn"]}


@pytest.fixture(scope="module")
def task_stores(tmp_path_factory):
    """128 shapes at 16 x 16 pixels and the teacher's features (a random MLP's fc1) on them."""
    root = tmp_path_factory.mktemp("ensembles")
    stimuli.run({"kind": "shapes", "image_size": 16, "colours": ["red", "green", "blue", "yellow"]},
                out=root / "shapes16.zarr", seed=SEED)
    features.run({"source": "builtin", "name": "mlp", "seed": 2, "image_size": 16, "input": "image",
                  "layers": ["fc1"]}, stimuli=root / "shapes16.zarr", out=root / "teacher.zarr", seed=SEED)
    return root


def _linear_outputs(stimulus_set, teacher, probe, snr, n_train, seeds, width=16):
    """Read-out (output layer) of each linear member on the probe images, and its test error."""
    outputs, errors = {}, []
    for seed in seeds:
        checkpoint = train.train_member({**LINEAR, "snr": snr, "n_train": n_train, "width": width, "seed": seed},
                                        stimulus_set, teacher, SEED)
        with torch.no_grad():
            outputs[seed] = trained.from_checkpoint(checkpoint)(probe).double().numpy()
        errors.append(checkpoint["member"]["test_error"])
    return outputs, float(np.median(errors))


def test_linear_ensembles_reproduce_the_snr_and_interpolation_threshold_shape(task_stores):
    """Umar & Laio (2026): alignment among members rises with the SNR and dips at the interpolation
    threshold (n_train = width + 1 for the min-norm read-out of 16 hidden units) against smaller and
    larger training sets; the test error peaks there."""
    stimulus_set = store.open_dataset(task_stores / "shapes16.zarr").load()
    test, _ = split(128, 32, SEED)
    probe = trained.transform(16)(stimulus_set.image.values[test]).args[0]
    snrs, sizes = (0.25, 1.0, 4.0), (8, 17, 64)
    cka = np.zeros((len(snrs), len(sizes)))
    error = np.zeros_like(cka)
    for i, snr in enumerate(snrs):
        for j, n in enumerate(sizes):
            outputs, error[i, j] = _linear_outputs(stimulus_set, task_stores / "teacher.zarr", probe, snr, n,
                                                   seeds=range(4))
            cka[i, j] = ensembles.pair_alignment(outputs, "cka_linear")[1].mean()
    print("linear CKA (rows snr 0.25, 1, 4; columns n_train 8, 17, 64):\n", cka.round(3))
    print("median test error:\n", error.round(2))
    assert np.all(np.diff(cka[:, [0, 2]], axis=0) > 0.02)  # rises with the SNR away from the threshold
    assert np.all(cka[:, 1] < 0.6 * np.minimum(cka[:, 0], cka[:, 2]))  # dips at the threshold
    assert np.all(error[:, 1] > 5 * np.maximum(error[:, 0], error[:, 2]))  # the test error peaks there


def test_min_norm_readout_is_the_pseudoinverse_solution_and_the_limit_of_gradient_descent():
    """Reference 1: ``pinv([H 1]) Y`` (numpy's pinv, another SVD route than lstsq). Reference 2: plain
    gradient descent on the read-out from zero, in float64, run to convergence."""
    net = trained.build("linear1", width=9, image_size=2, n_outputs=3, seed=4)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.uniform(-1, 1, (6, 3, 2, 2)), dtype=torch.float32)
    y = torch.as_tensor(rng.normal(size=(6, 3)), dtype=torch.float32)
    loss = fit_min_norm(net, x, y)
    coef = np.vstack([net.output.weight.detach().numpy().T, net.output.bias.detach().numpy()])
    with torch.no_grad():
        design = np.hstack([net.hidden(net.flatten(x)).double().numpy(), np.ones((6, 1))])
    assert_close_float32(coef, np.linalg.pinv(design) @ y.double().numpy(), ulps=256)
    assert loss < 1e-10  # 6 stimuli < 10 read-out parameters per output: interpolated
    w = np.zeros_like(coef)
    step = 1.0 / np.linalg.norm(design, 2) ** 2
    for _ in range(20000):
        w -= step * design.T @ (design @ w - y.double().numpy())
    assert_close_float32(coef, w, ulps=256)


def test_full_batch_adam_matches_torch_optim_adam():
    """Reference: ``torch.optim.Adam`` with the same learning rate and weight decay, step by step."""
    rng = np.random.default_rng(2)
    x = torch.as_tensor(rng.uniform(-1, 1, (10, 3, 8, 8)), dtype=torch.float32)
    y = torch.as_tensor(rng.normal(size=(10, 4)), dtype=torch.float32)
    ours, theirs = (trained.build("mlp", width=8, image_size=8, n_outputs=4, seed=3) for _ in range(2))
    fit_gd(ours, x, y, epochs=25, lr=0.01, weight_decay=0.05, seed=0)
    optimiser = torch.optim.Adam(theirs.parameters(), lr=0.01, weight_decay=0.05)
    for _ in range(25):
        optimiser.zero_grad()
        torch.mean((theirs(x) - y) ** 2).backward()
        optimiser.step()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        assert_close_float32(a.detach().numpy(), b.detach().numpy(), ulps=1024), name


def test_target_noise_has_the_stated_snr():
    rng = np.random.default_rng(1)
    targets = rng.normal(3.0, 2.5, size=(100_000, 2))
    noisy = noisy_targets(targets, 4.0, rng.standard_normal(targets.shape))
    assert np.std(noisy - targets) == pytest.approx(np.std(targets) / 4.0, rel=0.01)


def test_member_checkpoint_loads_weights_only_and_training_is_deterministic(task_stores, tmp_path):
    spec = {**LINEAR, "architecture": "mlp", "task": {"column": "shape"}, "solver": "gd", "epochs": 15,
            "snr": 2.0, "n_train": 24, "width": 8}
    paths = {}
    for run_name, seed in (("a", 0), ("b", 0), ("c", 1)):
        paths[run_name] = tmp_path / f"{run_name}.pt"
        train.run({**spec, "seed": seed}, stimuli=task_stores / "shapes16.zarr", out=paths[run_name],
                  features=tmp_path / f"{run_name}.zarr", seed=SEED)
    a, b, c = (torch.load(paths[k], weights_only=True) for k in "abc")
    assert a["member"]["seed"] == 0 and a["member"]["task"] == "classification"
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert not all(torch.equal(a["state_dict"][k], c["state_dict"][k]) for k in a["state_dict"])
    for layer in trained.LAYERS["mlp"]:
        fa = store.open_dataset(tmp_path / "a.zarr", group=layer).features.values
        assert fa.shape[0] == 32
        np.testing.assert_array_equal(fa, store.open_dataset(tmp_path / "b.zarr", group=layer).features.values)


def test_small_cnn_member_trains_deterministically(task_stores):
    stimulus_set = store.open_dataset(task_stores / "shapes16.zarr").load()
    spec = {**LINEAR, "architecture": "small_cnn", "task": {"column": "colour"}, "solver": "gd", "epochs": 5,
            "snr": 2.0, "n_train": 24, "width": 8, "seed": 0}
    a, b = (train.train_member(spec, stimulus_set, None, SEED) for _ in range(2))
    assert set(a["state_dict"]) >= {"conv1.0.weight", "conv3.0.weight", "fc.weight"}
    assert a["state_dict"]["fc.weight"].shape == (4, 8 * 2 * 2)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_ensemble_store_table_and_figure(task_stores, tmp_path):
    members = []
    for snr, n_train, seed in np.ndindex(2, 1, 3):
        spec = member_spec(LINEAR, (1.0, 4.0)[snr], 40, 16, seed)
        stem = tmp_path / f"m{snr}{n_train}{seed}"
        train.run(spec, stimuli=task_stores / "shapes16.zarr", teacher=task_stores / "teacher.zarr",
                  out=stem.with_suffix(".pt"), features=stem.with_suffix(".zarr"), seed=SEED)
        members.append(stem.with_suffix(".zarr"))
    ensembles.run(LINEAR, members=members, out=tmp_path / "linear.zarr", seed=SEED)
    ds = store.open_dataset(tmp_path / "linear.zarr")
    assert dict(ds.alignment.sizes) == {"snr": 2, "n_train": 1, "width": 1, "layer": 2, "metric": 3, "pair": 3}
    assert not np.isnan(ds.alignment.values).any()
    # one value recomputed from the member stores and checkpoints
    stem = tmp_path / "m100"
    first = store.open_dataset(stem.with_suffix(".zarr"), group="output").features.values.astype(float)
    second = store.open_dataset(tmp_path / "m102.zarr", group="output").features.values.astype(float)
    from brainalign.metrics.cka import linear_cka
    value = ds.alignment.sel(snr=4.0, n_train=40, width=16, layer="output", metric="cka_linear").values[1]
    assert value == pytest.approx(linear_cka(first, second), rel=1e-12)
    assert ds.test_error.sel(snr=4.0, n_train=40, width=16, seed=0) == pytest.approx(
        torch.load(stem.with_suffix(".pt"), weights_only=True)["member"]["test_error"])
    ensembles_summary.run({}, ensembles={"linear": tmp_path / "linear.zarr"}, out=tmp_path, seed=SEED)
    table = pd.read_csv(tmp_path / "ensembles.csv")
    assert len(table) == 2 * 2 * 3
    row = table.query("layer == 'output' and metric == 'procrustes' and snr == 1").iloc[0]
    expected = ds.alignment.sel(snr=1.0, n_train=40, width=16, layer="output", metric="procrustes").values
    assert row.alignment_mean == pytest.approx(expected.mean(), rel=1e-5)
    assert row.kind == "distance" and row.n_members == 3
    assert (tmp_path / "figures" / "ensembles.png").stat().st_size > 10_000


def _config(**ensemble):
    cfg = yaml.safe_load((ROOT / "config" / "examples" / "ensembles.yaml").read_text())
    cfg["ensembles"] = {"e": {**cfg["ensembles"]["linear"], **ensemble}}
    return cfg


@pytest.mark.parametrize("change, message", [
    ({"architecture": "mlp"}, "'ensembles.e.solver': 'min_norm' needs the architecture linear1"),
    ({"task": {"teacher": {"model": "teacher", "layer": "fc9"}}}, "'ensembles.e.task.teacher.layer'"),
    ({"task": {"teacher": {"model": "nobody", "layer": "fc1"}}}, "'ensembles.e.task.teacher.model'"),
    ({"n_train": [4, 120]}, "'ensembles.e.n_train': n_test 32 + n_train 120 is more than the 128"),
    ({"stimuli": "nowhere"}, "'ensembles.e.stimuli'"),
    ({"seeds": [0]}, "ensembles.e.seeds"),
])
def test_bad_ensemble_configs_name_the_key(change, message):
    with pytest.raises(ConfigError, match=message.replace("+", r"\+")):
        validate_config(_config(**change), ROOT / "config" / "schema.yaml")


def test_example_config_plans_one_training_job_per_member(tmp_path):
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "ensembles_summary", "--configfile",
                          "config/examples/ensembles.yaml", "--config", f"results_dir={tmp_path}",
                          "allow_results_outside=True", "--nolock"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    counts = dict(line.split() for line in out.splitlines() if len(line.split()) == 2 and line.split()[1].isdigit())
    assert counts["train"] == "91" and counts["ensembles"] == "3" and counts["features"] == "1"
