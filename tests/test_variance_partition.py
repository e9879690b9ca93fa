"""Banded encoding and variance partitioning against himalaya on the same data and folds.

For each held-out run, himalaya's ``BandedRidgeCV`` (the joint model, the same explicit
candidates) and ``RidgeCV`` (each band alone) are fitted on the training runs with the same
inner leave-one-run-out splits; their held-out R² give the joint score, the unique variance
``R²(1, 2) - R²(other band)`` and the shared ``R²(1) + R²(2) - R²(1, 2)``, which ours must match
(relative error 1e-5 of the largest value, as the other himalaya comparisons). A band without
signal has unique variance near 0 and the band with it most of the joint R².
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("himalaya")
from himalaya.ridge import BandedRidgeCV as HimalayaBandedRidgeCV  # noqa: E402
from himalaya.ridge import RidgeCV as HimalayaRidgeCV  # noqa: E402
from himalaya.scoring import r2_score as himalaya_r2  # noqa: E402
from sklearn.model_selection import LeaveOneGroupOut  # noqa: E402

from brainalign.metrics.variance_partition import banded_encoding  # noqa: E402

ALPHAS = np.logspace(-1, 4, 6)
GAMMAS = np.array([[0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.99, 0.01], [0.01, 0.99]])


def _data(seed, n=120, weight_2=0.5):
    rng = np.random.default_rng(seed)
    X1, X2 = rng.standard_normal((n, 10)) + 1, rng.standard_normal((n, 15))
    Y = X1 @ rng.standard_normal((10, 8)) + weight_2 * X2 @ rng.standard_normal((15, 8)) + rng.standard_normal((n, 8))
    return X1, X2, Y, np.repeat(np.arange(4), n // 4)


def _r2(y, p):
    return 1 - ((y - p) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


def test_banded_encoding_and_partition_match_himalaya():
    X1, X2, Y, groups = _data(0)
    candidates = np.array([[a / g[0], a / g[1]] for g in GAMMAS for a in ALPHAS])
    ours = banded_encoding([X1, X2], Y, groups=groups, alphas=ALPHAS, inner_cv="logo", candidates=candidates)
    for f, (train, test) in enumerate(LeaveOneGroupOut().split(X1, groups=groups)):
        inner = list(LeaveOneGroupOut().split(train, groups=groups[train]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            joint = HimalayaBandedRidgeCV(groups="input", fit_intercept=True, cv=inner, solver_params=dict(
                alphas=ALPHAS, n_iter=GAMMAS, score_func=himalaya_r2, progress_bar=False)).fit(
                [X1[train], X2[train]], Y[train])
            alone = [HimalayaRidgeCV(alphas=ALPHAS, cv=inner, fit_intercept=True,
                                     solver_params=dict(score_func=himalaya_r2)).fit(X[train], Y[train])
                     for X in (X1, X2)]
        r2_joint = _r2(Y[test], joint.predict([X1[test], X2[test]]))
        r2_alone = [_r2(Y[test], m.predict(X[test])) for m, X in zip(alone, (X1, X2))]
        expected = {"r2": r2_joint, "unique_r2": np.stack([r2_joint - r2_alone[1], r2_joint - r2_alone[0]]),
                    "shared_r2": r2_alone[0] + r2_alone[1] - r2_joint}
        for key, value in expected.items():
            got = ours[key][:, f] if key == "unique_r2" else ours[key][f]
            np.testing.assert_allclose(got, value, rtol=0, atol=1e-5 * np.abs(value).max(), err_msg=key)
        np.testing.assert_allclose(ours["best_alphas"][:, f], np.exp(-joint.deltas_), rtol=1e-12)
    np.testing.assert_allclose(ours["split_r2"].sum(0), ours["r2"], atol=0.05)  # shares add up (up to offsets)


def test_a_band_without_signal_has_no_unique_variance():
    X1, X2, Y, groups = _data(1, n=200, weight_2=0.0)
    out = banded_encoding([X1, X2], Y, groups=groups, alphas=ALPHAS, inner_cv=3)
    assert abs(out["unique_r2"][1].mean()) < 0.02 and out["unique_r2"][0].mean() > 0.5
    assert out["r2"].mean() > 0.8 and out["fold"].min() == 0
    with pytest.raises(ValueError, match="at least 2 feature spaces"):
        banded_encoding([X1], Y, groups=groups, alphas=ALPHAS)


# ------------------------------------------------------------------------------ the stage and its config
def test_banded_stage_writes_the_partition(tmp_path):
    import xarray as xr

    from brainalign import store
    from brainalign.stages import banded as banded_stage
    from brainalign.stages import features as features_stage
    from brainalign.stages import stimuli
    from brainalign.stages._align import scaled_features

    ids = [f"w{i:02d}" for i in range(40)]
    stimuli.run({"kind": "words", "items": ids}, out=tmp_path / "s.zarr", seed=0)
    paths = {}
    for name, seed in (("a", 1), ("b", 2)):
        spec = {"source": "random", "input": "text", "layers": ["emb"], "n_units": 6, "seed": seed}
        features_stage.run(spec, stimuli=tmp_path / "s.zarr", out=tmp_path / f"{name}.zarr", seed=0)
        paths[name] = tmp_path / f"{name}.zarr"
    rng = np.random.default_rng(0)
    trials = np.r_[ids, ids]  # every stimulus twice, in 4 runs
    Xs = [scaled_features(store.open_dataset(p, group="emb").features.values)[np.r_[0:40, 0:40]]
          for p in paths.values()]
    betas = Xs[0] @ rng.standard_normal((6, 5)) + 0.5 * rng.standard_normal((80, 5))
    runs = np.repeat(["1", "2", "3", "4"], 20)
    store.write_tree(tmp_path / "brain.zarr", {"v1": xr.Dataset(
        {"betas": (("trial", "unit"), betas.astype(np.float32))},
        coords={"stimulus_id": ("trial", trials), "run": ("trial", runs)})}, stage="fmri", params={}, seed=0)
    spec = {"bands": [{"model": "a", "layer": "emb"}, {"model": "b", "layer": "emb"}], "alphas": list(ALPHAS),
            "inner_folds": 3, "dataset": "d", "subject": "01", "name": "ab"}
    banded_stage.run(spec, brain=tmp_path / "brain.zarr", features=paths, out=tmp_path / "out.zarr", seed=0)
    ds = store.open_dataset(tmp_path / "out.zarr", group="v1")
    expected = banded_encoding(Xs, betas.astype(np.float32), groups=runs, alphas=ALPHAS, inner_cv=3)
    assert list(ds.band.values) == ["a/emb", "b/emb"]
    for key in ("r2", "unique_r2", "shared_r2", "split_r2"):
        np.testing.assert_allclose(ds[key].values, expected[key], rtol=1e-5, atol=1e-6)
    assert ds.unique_r2.values[0].mean() > ds.unique_r2.values[1].mean()  # band a drives the voxels


def test_banded_config_is_checked_and_planned():
    from brainalign.config import ConfigError, validate_config
    from brainalign.plan import StudyPlan
    from study_runner import PROJECT
    import yaml

    cfg = yaml.safe_load((PROJECT / "config" / "test.yaml").read_text())
    cfg["encoding"]["banded"] = {"two": [{"model": "cnn", "layer": "conv1"}, {"model": "resnet20", "layer": "layer3"}]}
    resolved = validate_config(cfg, PROJECT / "config" / "schema.yaml")
    assert StudyPlan(resolved).banded_stores() == [f"results/banded/sim/sub-{s}/two.zarr" for s in ("01", "02")]
    cfg["encoding"]["banded"]["two"][1]["layer"] = "nope"
    with pytest.raises(ConfigError, match=r"key 'encoding\.banded\.two\.1\.layer' is 'nope'"):
        validate_config(cfg, PROJECT / "config" / "schema.yaml")
