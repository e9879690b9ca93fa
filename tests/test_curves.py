"""Sample-size curves (issue 16): the ``curves`` stage, its table, figure and config section.

References: linear CKA from its Gram-matrix definition in float64 (Kornblith et al. 2019) and the
full-sample value it must converge to; RSA from scipy's correlation distance of the subset's
stimulus means and scipy's Spearman correlation; encoding from the ``encoding`` stage run on a
brain store that holds only the subset's trials.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from brainalign import store
from brainalign.config import ConfigError, validate_config
from brainalign.metrics.sample_size import draw_subsets, sub_rdm, subset_rows
from brainalign.plan import StudyPlan
from brainalign.stages import curves, curves_figure, curves_summarize, encoding
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

PROJECT = Path(__file__).resolve().parents[1]
CKA = {"metrics": ["cka_linear", "cka_linear_unbiased"]}
N = 192
SIZES = [8, 16, 32, 64, 128, N]


def _features(path: Path, ids, layers: dict) -> Path:
    groups = {name: xr.Dataset({"features": (("stimulus", "unit"), x.astype(np.float32))},
                               coords={"stimulus_id": ("stimulus", ids)}) for name, x in layers.items()}
    store.write_tree(path, groups, stage="features", params={}, seed=0, root=xr.Dataset(attrs={"layers": list(groups)}))
    return path


def _ids(n):
    return np.array([f"s{i:03d}" for i in range(n)])


def _cka_curve(tmp_path, X, Y, name, *, sizes=SIZES, subsets=20, seed=3):
    ids = _ids(len(X))
    features = {"a": _features(tmp_path / f"{name}_a.zarr", ids, {"l": X}),
                "b": _features(tmp_path / f"{name}_b.zarr", ids, {"l": Y})}
    spec = {"n_stimuli": sizes, "subsets": subsets, "n_bootstrap": 0, "ci": 0.95, "settings": CKA, "stimuli": "set"}
    out = tmp_path / f"{name}.zarr"
    curves.run(spec, method="similarity", features=features, out=out, seed=seed)
    return store.open_dataset(out).load()


def _by_metric(ds, metric):
    e = int(np.flatnonzero(ds.metric.values == metric)[0])
    return ds.score.values[:, :, e], float(ds.full.values[e])


def ref_linear_cka(X, Y):
    """Biased linear CKA from the centred Gram matrices, float64."""
    K, L = (np.asarray(A, np.float64) @ np.asarray(A, np.float64).T for A in (X, Y))
    H = np.eye(len(K)) - 1.0 / len(K)
    K, L = H @ K @ H, H @ L @ H
    return float(np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L)))


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((N, 24))
    return X, X @ rng.standard_normal((24, 16)) + 2.0 * rng.standard_normal((N, 16)), rng.standard_normal((N, 24))


def test_linear_cka_curve_converges_to_the_full_sample_value(tmp_path, pair):
    """Correlated pair: every subset of all N stimuli gives the full value (1e-12); the mean
    absolute deviation from it over 20 subsets falls at every doubling of n; at n = 128 of 192 the
    mean over subsets is within 0.02 of the full value (measured: 0.002)."""
    X, Y, _ = pair
    ds = _cka_curve(tmp_path, X, Y, "correlated")
    scores, full = _by_metric(ds, "cka_linear")
    assert full == pytest.approx(ref_linear_cka(X, Y), abs=1e-5)  # float32 features
    np.testing.assert_allclose(scores[-1], full, rtol=0, atol=1e-12)
    deviation = np.abs(scores - full).mean(axis=1)
    assert np.all(np.diff(deviation[:-1]) < 0), deviation
    assert abs(scores[SIZES.index(128)].mean() - full) < 0.02


def test_biased_cka_is_inflated_at_small_n_and_unbiased_is_not(tmp_path, pair):
    """Independent pair: the biased estimator's mean over subsets is far above its full-sample value
    at small n (every subset above it at n <= 32: the full value below the band), while the unbiased
    estimator's full-sample value lies inside its band at every n."""
    X, _, Z = pair
    ds = _cka_curve(tmp_path, X, Z, "independent")
    biased, biased_full = _by_metric(ds, "cka_linear")
    unbiased, unbiased_full = _by_metric(ds, "cka_linear_unbiased")
    small = [SIZES.index(n) for n in (8, 16, 32)]
    assert np.all(biased[small].min(axis=1) > biased_full)
    assert biased[0].mean() - biased_full > 0.3  # measured: 0.53 at n = 8 against 0.11
    low, high = np.quantile(unbiased, [0.025, 0.975], axis=1)
    assert np.all((low <= unbiased_full) & (unbiased_full <= high)), (low, unbiased_full, high)
    assert abs(unbiased[0].mean() - unbiased_full) < 0.1 * (biased[0].mean() - biased_full)


def test_subsets_are_stored_reproducible_and_keyed_on_n(tmp_path, pair):
    """The stored subsets are those drawn from the seed; a point recomputed from its stored subset
    equals the stored score (Gram-matrix CKA, 1e-5); adding a size leaves the others' subsets and
    scores unchanged; another seed draws other subsets."""
    X, Y, _ = pair
    ds = _cka_curve(tmp_path, X, Y, "first", sizes=[16, 32], subsets=3)
    drawn = ds.subset_stimuli.values
    np.testing.assert_array_equal(drawn, draw_subsets(N, [16, 32], 3, seed=3))
    rows = subset_rows(drawn[1, 2])
    assert len(rows) == 32 and np.all(np.diff(rows) > 0) and np.all(drawn[0, :, 16:] == -1)
    assert ds.stimulus_id.values[rows][0] == f"s{rows[0]:03d}"
    scores, _ = _by_metric(ds, "cka_linear")
    assert scores[1, 2] == pytest.approx(ref_linear_cka(X[rows], Y[rows]), abs=1e-5)
    again = _cka_curve(tmp_path, X, Y, "more", sizes=[8, 16, 32], subsets=3)
    np.testing.assert_array_equal(again.subset_stimuli.values[1:, :, :32], drawn)
    np.testing.assert_array_equal(again.score.values[1:], ds.score.values)
    other = _cka_curve(tmp_path, X, Y, "other", sizes=[16, 32], subsets=3, seed=4)
    assert not np.array_equal(other.subset_stimuli.values, drawn)


def test_size_above_the_stimuli_is_named(tmp_path, pair):
    X, Y, _ = pair
    with pytest.raises(ValueError, match=r"n_stimuli \[256\] not in \[1, 192\]"):
        _cka_curve(tmp_path, X, Y, "big", sizes=[16, 256], subsets=1)


# -------------------------------------------------------------------- brain methods
def _brain(tmp_path, rng, n_stimuli=24, repeats=2, runs=4, units=(12, 9)):
    ids = _ids(n_stimuli)
    feats = {"l0": rng.standard_normal((n_stimuli, 6)), "l1": rng.standard_normal((n_stimuli, 5))}
    features = _features(tmp_path / "features.zarr", ids, feats)
    stim = np.concatenate([rng.permutation(n_stimuli) for _ in range(repeats)])
    run = np.arange(len(stim)) * runs // len(stim)
    coords = {"stimulus_id": ("trial", ids[stim]), "run": ("trial", [f"r{r}" for r in run])}
    rois = {}
    for k, u in enumerate(units):
        betas = (feats["l0"] @ rng.standard_normal((6, u)))[stim] + rng.standard_normal((len(stim), u))
        rois[f"roi{k}"] = xr.Dataset({"betas": (("trial", "unit"), betas.astype(np.float32))}, coords=coords)
    store.write_tree(tmp_path / "brain.zarr", rois, stage="fmri", params={}, seed=0)
    return tmp_path / "brain.zarr", features


RSA = {"rdm": "correlation", "comparator": "spearman", "n_bootstrap": 10}
ENCODING = {"alphas": [0.1, 10.0, 1000.0], "inner_folds": 2, "backend": "numpy", "target_batch_size": 4096}


@pytest.fixture(scope="module")
def brain_curves(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("brain_curves")
    brain, features = _brain(tmp, np.random.default_rng(5))
    out = {}
    for method, settings in (("rsa", RSA), ("encoding", ENCODING)):
        spec = {"n_stimuli": [8, 16], "subsets": 2, "n_bootstrap": 15, "ci": 0.9, "settings": settings,
                "dataset": "d", "subject": "01"}
        out[method] = tmp / f"{method}.zarr"
        curves.run(spec, method=method, features={"m": features}, brain=brain, out=out[method], seed=2)
    return tmp, brain, features, out


def test_rsa_curve_point_equals_scipy_on_the_subset(brain_curves):
    """Spearman of the correlation-distance RDMs of the subset's stimulus means (scipy), 1e-10."""
    _, brain, features, out = brain_curves
    ds = store.open_dataset(out["rsa"]).load()
    assert ds.score_bootstrap.shape == (2, 2, 15, 4) and np.isfinite(ds.score_bootstrap.values).all()
    rows = subset_rows(ds.subset_stimuli.values[0, 1])
    ids = ds.stimulus_id.values[rows]
    layer = store.open_dataset(features, group="l1")
    model_rdm = pdist(layer.features.values[[int(s[1:]) for s in ids]].astype(np.float64), "correlation")
    roi = store.open_dataset(brain, group="roi1").load()
    means = np.stack([roi.betas.values[roi.stimulus_id.values == s].astype(np.float64).mean(axis=0) for s in ids])
    expected = spearmanr(model_rdm, pdist(means, "correlation")).statistic
    e = int(np.flatnonzero((ds.roi.values == "roi1") & (ds.layer.values == "l1"))[0])
    assert ds.score.values[0, 1, e] == pytest.approx(expected, abs=1e-10)


def test_encoding_curve_point_equals_the_stage_on_the_subset(brain_curves):
    """The encoding stage on a brain store of the subset's trials gives the same scores (1e-6)."""
    tmp, brain, features, out = brain_curves
    ds = store.open_dataset(out["encoding"]).load()
    assert ds.score_bootstrap.shape == (2, 2, 15, 8)
    ids = ds.stimulus_id.values[subset_rows(ds.subset_stimuli.values[1, 0])]
    rois = {}
    for roi in store.group_names(brain):
        full = store.open_dataset(brain, group=roi).load()
        rois[roi] = full.isel(trial=np.isin(full.stimulus_id.values, ids))
    store.write_tree(tmp / "sub_brain.zarr", rois, stage="fmri", params={}, seed=0)
    encoding.run(ENCODING, brain=tmp / "sub_brain.zarr", features=features, out=tmp / "sub_enc.zarr", seed=0)
    for roi in rois:
        enc = store.open_dataset(tmp / "sub_enc.zarr", group=roi).load()
        for metric, var in (("pearson_r", "r"), ("r2", "r2")):
            for layer in ("l0", "l1"):
                e = int(np.flatnonzero((ds.roi.values == roi) & (ds.metric.values == metric)
                                       & (ds.layer.values == layer))[0])
                expected = float(enc[var].sel(layer=layer).mean("fold").mean("unit"))
                assert ds.score.values[1, 0, e] == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_table_and_figure(brain_curves):
    tmp, _, _, out = brain_curves
    csv = tmp / "curves.csv"
    curves_summarize.run({}, curves=list(out.values()), out=csv, seed=0)
    import pandas as pd

    table = pd.read_csv(csv)
    assert len(table) == (4 + 8) * 2 and set(table.method) == {"rsa", "encoding"}
    rsa = table[(table.method == "rsa") & (table.roi == "roi0") & (table.layer == "l0")]
    ds = store.open_dataset(out["rsa"]).load()
    e = int(np.flatnonzero((ds.roi.values == "roi0") & (ds.layer.values == "l0"))[0])
    np.testing.assert_allclose(rsa.score, ds.score.values[:, :, e].mean(axis=1), rtol=1e-5)
    pooled = ds.score_bootstrap.values[0, :, :, e].ravel()
    assert rsa.ci_low.iloc[0] == pytest.approx(np.quantile(pooled, 0.05), rel=1e-5)
    assert (rsa.n_total == 24).all() and (rsa.subsets == 2).all() and (rsa.n_bootstrap == 15).all()
    png = tmp / "figures" / "rsa.png"
    curves_figure.run({}, curve=out["rsa"], out=png, seed=0)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -------------------------------------------------------------------------- config
def test_config_section_defaults_errors_and_plan(shared_data, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_SHARED_DATA", str(shared_data))
    study = yaml.safe_load((PROJECT / "config" / "config.yaml").read_text())
    # the builtin models only (no pretrained model's module tree to build), every ROI driven by one
    study["models"] = {m: study["models"][m] for m in ("cnn", "mlp")}
    study["datasets"] = {"sim": study["datasets"]["sim"]}
    for roi in study["datasets"]["sim"]["simulate"]["rois"].values():
        roi.update(model="cnn", layer="conv1")
    study["curves"] = {"n_stimuli": [16, 32], "methods": ["similarity", "rsa"]}
    cfg = validate_config(copy.deepcopy(study), PROJECT / "config" / "schema.yaml")
    assert cfg["curves"] == {"n_stimuli": [16, 32], "methods": ["similarity", "rsa"], "subsets": 5,
                             "seed": study["seed"], "n_bootstrap": 100, "ci": 0.95}
    plan = StudyPlan(cfg)
    assert plan.curve_stores()[0] == "results/curves/similarity/shapes.zarr"
    assert "results/curves/rsa/sim/sub-01/cnn.zarr" in plan.curve_stores()
    assert not any("/encoding/" in p for p in plan.curve_stores())
    assert "results/figures/curves/rsa/sim/sub-02/mlp.png" in plan.curve_outputs()
    for edit, message in (({"n_stimuli": [2]}, "curves.n_stimuli.0"), ({"n_stimuli": [8], "subset": 3},
                                                                        "unknown key 'curves.subset'")):
        with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
            validate_config({**copy.deepcopy(study), "curves": edit}, PROJECT / "config" / "schema.yaml")


def test_sub_rdm_is_the_rdm_of_the_rows():
    X = np.random.default_rng(0).standard_normal((9, 4))
    rows = np.array([0, 3, 4, 8])
    np.testing.assert_allclose(sub_rdm(pdist(X), rows, 9), pdist(X[rows]), rtol=1e-14)


def test_subset_that_cannot_be_cross_validated_is_nan_and_named(tmp_path):
    """Stimuli 0-11 shown in runs r0, r1 only, 12-23 in r2, r3 only: a subset of 4 from one half
    leaves one training run in each outer fold, too few for 2 inner folds; its scores are NaN and
    the store names it, the other subsets are scored."""
    rng = np.random.default_rng(8)
    ids = _ids(24)
    x = rng.standard_normal((24, 5))
    features = _features(tmp_path / "features.zarr", ids, {"l0": x})
    stim = np.concatenate([rng.permutation(12), rng.permutation(12), 12 + rng.permutation(12), 12 + rng.permutation(12)])
    coords = {"stimulus_id": ("trial", ids[stim]), "run": ("trial", np.repeat(["r0", "r1", "r2", "r3"], 12))}
    betas = (x @ rng.standard_normal((5, 7)))[stim] + rng.standard_normal((48, 7))
    roi = xr.Dataset({"betas": (("trial", "unit"), betas.astype(np.float32))}, coords=coords)
    store.write_tree(tmp_path / "brain.zarr", {"roi": roi}, stage="fmri", params={}, seed=0)
    spec = {"n_stimuli": [4], "subsets": 20, "n_bootstrap": 0, "ci": 0.95, "settings": ENCODING}
    curves.run(spec, method="encoding", features={"m": features}, brain=tmp_path / "brain.zarr",
               out=tmp_path / "curve.zarr", seed=3)  # seed 3: 2 of the 20 subsets in one half
    ds = store.open_dataset(tmp_path / "curve.zarr").load()
    failed = json.loads(ds.attrs["failed_subsets"])
    halves = [len(set(subset_rows(r) // 12)) == 1 for r in ds.subset_stimuli.values[0]]
    assert sorted(failed) == sorted(f"n=4 subset={s}" for s, one in enumerate(halves) if one) and failed
    assert np.isnan(ds.score.values[0, halves]).all() and np.isfinite(ds.score.values[0, ~np.array(halves)]).all()
