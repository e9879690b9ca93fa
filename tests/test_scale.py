"""NSD-scale encoding and RSA (issue 12): the new outer splits against sklearn and direct
computation, the block-moment ridge against the trial-level solver, one decomposition shared by
ROIs and voxel chunks, streamed voxels equal to in-memory ones, and the counting bootstrap equal
to re-ranking every sample."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.model_selection import GroupKFold

from brainalign import schema, store
from brainalign.metrics.cv_splits import make_splits, outer_splits
from brainalign.metrics.rank_bootstrap import SortedPairs, bootstrap_spearman
from brainalign.metrics.rdm import compute_rdm
from brainalign.metrics.ridge import cross_validated_encoding
from brainalign.metrics.ridge_moments import FeatureMoments, MomentFold, TargetMoments
from brainalign.metrics.rsa_stats import compare_resampled
from brainalign.stages import _align, encoding, roi_rdms, rsa
from brainalign.metrics import rsa_large

ALPHAS = np.logspace(-1, 5, 7)


@pytest.fixture
def rng():
    return np.random.default_rng(12)


# ------------------------------------------------------------------------------- splits
def test_group_kfold_and_held_out_splits_match_direct_construction(rng):
    groups = np.repeat([f"s{i:02d}" for i in range(10)], rng.integers(5, 15, 10))
    ours = outer_splits("group_kfold", groups, folds=4)
    reference = list(GroupKFold(4).split(np.zeros((len(groups), 1)), groups=groups))
    assert all(np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(ours, reference))
    test = rng.random(len(groups)) < 0.2
    (train, held), = outer_splits("held_out", groups, test=test)
    assert np.array_equal(held, np.flatnonzero(test)) and np.array_equal(train, np.flatnonzero(~test))
    with pytest.raises(ValueError, match="both sides"):
        outer_splits("held_out", groups, test=np.zeros(len(groups), bool))


# ------------------------------------------------------------------------ moment ridge
def _regression(rng, n=300, p=12, t=40, n_groups=6):
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, t)) * rng.uniform(0, 1, t) + rng.standard_normal((n, t)) * 3
    groups = rng.permutation(np.repeat(np.arange(n_groups), n // n_groups))
    return X, Y, groups


def test_moment_ridge_equals_trial_level_nested_cv(rng):
    """Alphas chosen by inner GroupKFold, held-out predictions and the held-out r and R² computed
    from the test blocks' moments equal the trial-level solver's (float64 both; to 1e-8 relative)."""
    X, Y, groups = _regression(rng)
    Y[:, 0] = 2.5  # a constant target: NaN r and R² on every test fold
    reference = cross_validated_encoding(X, Y, groups=groups, alphas=ALPHAS, outer_cv="logo",
                                         inner_cv=3, dtype=np.float64)
    features = FeatureMoments(X, groups, 6)
    targets = TargetMoments(X, Y, groups, 6)
    for f, (train, test) in enumerate(make_splits("logo", len(groups), groups)):
        inner = [(np.unique(groups[train][a]), np.unique(groups[train][b]))
                 for a, b in make_splits(3, len(train), groups[train])]
        fold = MomentFold(features, np.unique(groups[train]), inner, np.unique(groups[test]))
        alpha = fold.best_alphas(targets, ALPHAS)
        np.testing.assert_array_equal(alpha, reference["alpha"][f])
        prediction = fold.predict(targets, alpha, X[test])
        r = [np.corrcoef(prediction[:, j], Y[test, j])[0, 1] for j in range(1, Y.shape[1])]
        np.testing.assert_allclose(r, reference["r"][f, 1:], rtol=1e-8, atol=1e-10)
        r_moments, r2_moments = fold.test.scores(targets, alpha)
        assert np.isnan(r_moments[0]) and np.isnan(r2_moments[0]) and np.isnan(reference["r"][f, 0])
        np.testing.assert_allclose(r_moments, reference["r"][f], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(r2_moments, reference["r2"][f], rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------- encoding stage
def _stores(tmp_path, rng, n_stimuli=60, repeats=3, n_sessions=6, units=(70, 50), p=(8, 5)):
    ids = np.array([f"s{i:03d}" for i in range(n_stimuli)])
    feats = {f"layer{k}": rng.standard_normal((n_stimuli, w)).astype(np.float32) for k, w in enumerate(p)}
    layers = {name: xr.Dataset({"features": (("stimulus", "unit"), x)}, coords={"stimulus_id": ("stimulus", ids)})
              for name, x in feats.items()}
    store.write_tree(tmp_path / "features.zarr", layers, stage="features", params={}, seed=0,
                     root=xr.Dataset(attrs={"layers": list(layers)}))
    stim = rng.permutation(np.repeat(np.arange(n_stimuli), repeats))
    session = np.arange(len(stim)) * n_sessions // len(stim)
    coords = {"stimulus_id": ("trial", ids[stim]), "run": ("trial", [f"r{s}" for s in session]),
              "session": ("trial", [f"ses{s // 2}" for s in session]), "shared": ("trial", stim < n_stimuli // 5)}
    rois = {}
    for r, u in enumerate(units):
        signal = feats["layer0"] @ rng.standard_normal((p[0], u))
        betas = signal[stim] + rng.standard_normal((len(stim), u)) * 2
        rois[f"roi{r}"] = xr.Dataset({"betas": (("trial", "unit"), betas.astype(np.float32))}, coords=coords)
    store.write_tree(tmp_path / "brain.zarr", rois, stage="fmri", params={}, seed=0)
    return tmp_path / "brain.zarr", tmp_path / "features.zarr"


SPEC = {"alphas": list(ALPHAS), "inner_folds": 2, "backend": "numpy", "target_batch_size": 4096}


def _encode(tmp_path, brain, features, spec, name):
    out = tmp_path / f"{name}.zarr"
    encoding.run(spec, brain=brain, features=features, out=out, seed=0)
    return {roi: store.open_dataset(out, group=roi).load() for roi in store.group_names(out)}


@pytest.mark.parametrize("split", [
    {"outer_split": "group_kfold", "outer_folds": 3, "group_by": "session"},
    {"outer_split": "held_out", "test_subset": {"column": "shared", "value": True}},
    {"outer_split": "held_out", "test_subset": {"column": "shared", "value": True}, "test_trials": "average"},
])
def test_moment_path_equals_trial_level_path_in_the_stage(tmp_path, rng, monkeypatch, split):
    """The stage's two solvers (float64 moments for narrow layers, float32 trial-level otherwise)
    choose the same alphas and agree to float32 rounding of the trial-level fit."""
    brain, features = _stores(tmp_path, rng)
    spec = {**SPEC, **split}
    monkeypatch.setattr(encoding, "MOMENT_MIN_TRIALS", 0)
    moments = _encode(tmp_path, brain, features, spec, "moments")
    monkeypatch.setattr(encoding, "MOMENT_MAX_FEATURES", 0)
    trials = _encode(tmp_path, brain, features, spec, "trials")
    for roi in moments:
        np.testing.assert_array_equal(moments[roi].alpha.values, trials[roi].alpha.values)
        np.testing.assert_allclose(moments[roi].r.values, trials[roi].r.values, atol=1e-4)
        np.testing.assert_allclose(moments[roi].r2.values, trials[roi].r2.values, atol=1e-4)


def test_held_out_average_scores_stimulus_means(tmp_path, rng, monkeypatch):
    """``test_trials: average``: r is computed on each test stimulus's mean over its trials."""
    brain, features = _stores(tmp_path, rng)
    monkeypatch.setattr(encoding, "MOMENT_MIN_TRIALS", 0)
    spec = {**SPEC, "outer_split": "held_out", "test_subset": {"column": "shared", "value": True}}
    each = _encode(tmp_path, brain, features, {**spec, "test_trials": "each"}, "each")
    mean = _encode(tmp_path, brain, features, {**spec, "test_trials": "average"}, "mean")
    ds = store.open_dataset(brain, group="roi0").load()
    feats = store.open_dataset(features, group="layer0").load()
    test = ds.shared.values
    X = _align.scaled_features(feats.features.values)
    rows = _align.rows_for(ds.stimulus_id.values, feats, where="features")
    train = ~test
    alpha = each["roi0"].alpha.values[0, 0, 0]  # the same alpha is chosen on the training trials
    assert alpha == mean["roi0"].alpha.values[0, 0, 0]
    Xt, Yt = X[rows][train].astype(np.float64), ds.betas.values[train, 0].astype(np.float64)
    xm, ym = Xt.mean(0), Yt.mean()
    b = np.linalg.solve((Xt - xm).T @ (Xt - xm) + alpha * np.eye(X.shape[1]), (Xt - xm).T @ (Yt - ym))
    ids = ds.stimulus_id.values[test]
    unique = list(dict.fromkeys(ids))
    y_mean = np.array([ds.betas.values[test, 0][ids == s].mean() for s in unique])
    x_mean = X[_align.rows_for(np.array(unique), feats, where="features")].astype(np.float64)
    r = np.corrcoef((x_mean - xm) @ b + ym, y_mean)[0, 1]
    assert mean["roi0"].r.values[0, 0, 0] == pytest.approx(r, abs=1e-5)
    assert each["roi0"].r.values[0, 0, 0] != pytest.approx(r, abs=1e-3)


def test_shared_decomposition_and_voxel_chunks_do_not_change_scores(tmp_path, rng, monkeypatch):
    """Every ROI and voxel chunk shares one decomposition per fold: scores equal those of each
    ROI encoded alone (a store per ROI), and streaming 16 voxels at a time equals all at once."""
    brain, features = _stores(tmp_path, rng)
    monkeypatch.setattr(encoding, "MOMENT_MIN_TRIALS", 0)
    spec = {**SPEC, "outer_split": "group_kfold", "outer_folds": 3}
    together = _encode(tmp_path, brain, features, spec, "together")
    monkeypatch.setattr(encoding, "UNIT_CHUNK", 16)
    chunked = _encode(tmp_path, brain, features, spec, "chunked")
    for roi in ("roi0", "roi1"):
        alone_brain = tmp_path / f"{roi}.zarr"
        store.write_tree(alone_brain, {roi: store.open_dataset(brain, group=roi).load()}, stage="fmri",
                         params={}, seed=0)
        alone = _encode(tmp_path, alone_brain, features, spec, f"alone_{roi}")
        for other in (alone[roi], chunked[roi]):
            np.testing.assert_array_equal(together[roi].alpha.values, other.alpha.values)
            np.testing.assert_allclose(together[roi].r.values, other.r.values, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------------- RSA
def test_stimulus_means_equal_accumulating_each_trial(rng):
    ids = rng.integers(0, 30, 200).astype(str)
    betas = rng.standard_normal((200, 1500)).astype(np.float32)
    order, means = _align.stimulus_means(betas, ids)
    first = {s: i for i, s in reversed(list(enumerate(ids)))}
    assert list(order) == sorted(set(ids), key=first.get)
    reference = np.array([betas[ids == s].astype(np.float64).mean(0) for s in order])
    np.testing.assert_allclose(means, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ties, regions", [(False, {}), (True, {}),
                                           (True, {"region_bits": 4, "stream_bytes": 5 * 8 * 100})])
def test_counting_bootstrap_equals_reranking_every_sample(rng, ties, regions):
    """bootstrap_spearman (ranks by counting) equals compare_resampled (weighted re-ranking of each
    sample, itself tested against rsatoolbox) to 1e-12, ties and repeated draws included; also with
    the 780 pairs cut into regions of 16 and the drawn pairs' streams held 100 at a time (groups of
    regions, several walks per sample)."""
    n = 40
    z = rng.standard_normal((n, 5))
    models = np.stack([compute_rdm(z + rng.standard_normal((n, 5)) * s, dtype=np.float64) for s in (0.5, 2)])
    data = np.stack([compute_rdm(z + rng.standard_normal((n, 5)), dtype=np.float64) for _ in range(3)])
    if ties:
        models, data = np.round(models, 1), np.round(data, 1)
    samples = rng.integers(0, n, (25, n))
    samples[0, :] = samples[0, 0]  # one condition only: NaN
    counts = np.stack([np.bincount(s, minlength=n) for s in samples])
    ours = bootstrap_spearman([SortedPairs(m) for m in models], [SortedPairs(d) for d in data], counts, n_jobs=2,
                              **regions)
    reference = np.stack([compare_resampled(models, d, samples) for d in data], axis=1)
    assert np.isnan(ours[0]).all() and np.isnan(reference[0]).all()
    np.testing.assert_allclose(ours[1:], reference[1:], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["distinct", "rounded", "close", "close_short", "constant", "float32", "signed"])
def test_sorted_pairs_order_and_ties_equal_a_stable_argsort(rng, kind):
    """SortedPairs' order equals numpy's stable argsort, and a tie group starts exactly where the
    sorted value changes: for distinct values, heavy ties, values closer than the packed sort
    key's leading bits resolve (one long run and many short ones, sorted by the whole key), one
    value only, float32, and negative values with -0.0."""
    n = 300
    values = {"distinct": lambda: rng.uniform(0.7, 1.3, n * (n - 1) // 2),
              "rounded": lambda: np.round(rng.uniform(0, 1, n * (n - 1) // 2), 2),
              "close": lambda: np.where(rng.random(n * (n - 1) // 2) < 0.01, 1e300,
                                        0.5 + rng.integers(0, 1000, n * (n - 1) // 2) * 2.0**-53),
              "close_short": lambda: np.where(rng.random(n * (n - 1) // 2) < 0.01, 1e300,
                                              0.5 + rng.integers(0, 10000, n * (n - 1) // 2) * 1e-6
                                              + rng.integers(0, 4, n * (n - 1) // 2) * 2.0**-53),
              "constant": lambda: np.full(n * (n - 1) // 2, 0.5),
              "float32": lambda: rng.standard_normal(n * (n - 1) // 2).astype(np.float32),
              "signed": lambda: np.where(rng.random(n * (n - 1) // 2) < 0.1, -0.0,
                                         rng.standard_normal(n * (n - 1) // 2))}[kind]()
    pairs = SortedPairs(values)
    order = np.argsort(values, kind="stable")
    i, j = np.triu_indices(n, 1)
    np.testing.assert_array_equal(pairs.first, i[order])
    np.testing.assert_array_equal(pairs.second, j[order])
    ordered = values[order]
    expected = np.concatenate([[True], ordered[1:] != ordered[:-1], [True]])  # the last: past the end
    bits = np.unpackbits(pairs.starts.view(np.uint8), bitorder="little")[:values.size + 1].astype(bool)
    np.testing.assert_array_equal(bits, expected)


def test_row_block_rdm_equals_compute_rdm(rng, monkeypatch):
    monkeypatch.setattr(rsa_large, "SMALL", 10)
    x = rng.standard_normal((300, 20))
    for method in ("correlation", "cosine", "euclidean", "sqeuclidean"):
        np.testing.assert_allclose(rsa_large.condensed_rdm(x, method, block_rows=64),
                                   compute_rdm(x, method, dtype=np.float64), rtol=1e-12, atol=1e-12)
    i, j = np.triu_indices(300, 1)
    blocks = list(rsa_large.pair_blocks(300, 1000))
    assert np.array_equal(np.concatenate([b[1] for b in blocks]), i)
    assert np.array_equal(np.concatenate([b[2] for b in blocks]), j)


def test_rsa_stage_counting_path_equals_in_memory_path_and_subset(tmp_path, rng, monkeypatch):
    brain, features = _stores(tmp_path, rng, units=(30, 20))
    spec = {"rdm": "correlation", "comparator": "spearman", "n_bootstrap": 15}
    rsa.run(spec, brain=brain, features=features, out=tmp_path / "fast.zarr", seed=3)
    fast = store.open_dataset(tmp_path / "fast.zarr").load()
    ref = rsa.scores_in_memory(*_spill(tmp_path, brain, features, spec), spec, 3)
    np.testing.assert_allclose(fast.score.values, ref[0], atol=1e-12)
    np.testing.assert_allclose(fast.score_bootstrap.values, ref[1], atol=1e-12)
    np.testing.assert_array_equal(fast.bootstrap_stimuli.values, ref[2])
    i, j = np.triu_indices(60, 1)
    assert np.array_equal(fast.pair_i.values, i) and np.array_equal(fast.pair_j.values, j)
    subset = {**spec, "subset": {"column": "shared", "value": True}}
    rsa.run(subset, brain=brain, features=features, out=tmp_path / "subset.zarr", seed=3)
    small = store.open_dataset(tmp_path / "subset.zarr").load()
    assert small.sizes["stimulus"] == 12 and set(small.stimulus_id.values) == {f"s{k:03d}" for k in range(12)}
    with pytest.raises(ValueError, match="no trial coordinate 'nope'"):
        rsa.run({**spec, "subset": {"column": "nope", "value": True}}, brain=brain, features=features,
                out=tmp_path / "bad.zarr", seed=3)


def test_rsa_on_a_subjects_roi_rdms_store_equals_rsa_on_its_brain_store(tmp_path, rng):
    """The workflow's path (ROI RDMs computed once per subject, ``roi_rdms``) writes the same RSA
    store as the stage on the brain store, and a ``roi_rdms`` store made with other settings is
    refused, naming them."""
    brain, features = _stores(tmp_path, rng, units=(30, 2))  # the 2-voxel ROI is left out
    spec = {"rdm": "correlation", "comparator": "spearman", "n_bootstrap": 12, "subject": "01"}
    roi_rdms.run(spec, brain=brain, out=tmp_path / "rois.zarr", seed=3)
    assert roi_rdms.is_roi_rdms(tmp_path / "rois.zarr") and not roi_rdms.is_roi_rdms(brain)
    rsa.run({**spec, "model": "m"}, brain=brain, features=features, out=tmp_path / "direct.zarr", seed=3)
    rsa.run({**spec, "model": "m"}, brain=tmp_path / "rois.zarr", features=features, out=tmp_path / "shared.zarr",
            seed=3)
    direct, shared = (store.open_dataset(tmp_path / f"{k}.zarr").load() for k in ("direct", "shared"))
    assert list(shared.roi.values) == ["roi0"] and "roi1" in shared.attrs["skipped_rois"]
    for name in ("score", "score_bootstrap", "bootstrap_stimuli", "brain_rdm", "model_rdm", "pair_i", "pair_j"):
        np.testing.assert_array_equal(shared[name].values, direct[name].values, err_msg=name)
    assert shared.brain_rdm.attrs == direct.brain_rdm.attrs
    assert shared.attrs["skipped_rois"] == direct.attrs["skipped_rois"]
    with pytest.raises(ValueError, match=r"rdm = 'correlation' there, 'euclidean' here"):
        rsa.run({**spec, "rdm": "euclidean"}, brain=tmp_path / "rois.zarr", features=features,
                out=tmp_path / "other.zarr", seed=3)
    assert not (tmp_path / "other.zarr").exists()


def test_every_rsa_setting_is_either_an_rdm_setting_or_a_scoring_setting():
    """A new key of the rsa section must be classified: an RDM setting left out of
    ``roi_rdms.RDM_KEYS`` would let an RSA job read ROI RDMs made with another value."""
    keys = set(schema.node("rsa")["properties"]) | {"dataset", "subject", "model", "noise"}
    assert keys == set(roi_rdms.RDM_KEYS) | set(roi_rdms.SCORING_KEYS)
    assert not set(roi_rdms.RDM_KEYS) & set(roi_rdms.SCORING_KEYS)


def _spill(tmp_path, brain, features, spec):
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    rois, models = roi_rdms.RdmSpill(spill_dir, "brain"), roi_rdms.RdmSpill(spill_dir, "model")
    _, _, order, _ = roi_rdms.brain_rdms(brain, spec, rois)
    for layer in store.layer_names(features):
        models.add(rsa_large.condensed_rdm(_align.layer_rows(features, layer, order), spec["rdm"]))
    return models, rois
