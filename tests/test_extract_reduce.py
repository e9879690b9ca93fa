"""Unit reduction: sparse random projection (JL property, determinism) and PCA (vs sklearn)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.decomposition import PCA as SkPCA

from brainalign.models import extract_features
from brainalign.models.reduce import PCA, SparseRandomProjection, fit_subset, sparse_random_matrix
from brainalign.store import open_dataset, open_tree


def _pairwise_sq(x):
    sq = (x**2).sum(1)
    d = sq[:, None] + sq[None, :] - 2 * x @ x.T
    return d[np.triu_indices(len(x), 1)]


def test_srp_matrix_entries_density_and_scale():
    d, k = 4096, 50
    r = sparse_random_matrix(d, k, seed=0).toarray()
    s = np.sqrt(d)
    assert set(np.unique(r)) == {-np.sqrt(s / k), 0.0, np.sqrt(s / k)}
    # nnz ~ Binomial(d k, 1/s): mean d k / s = 3200, sd ~ 56; 5 sd tolerance
    assert abs(np.count_nonzero(r) - d * k / s) < 5 * np.sqrt(d * k / s)
    # E[R_ij^2] = 1 / k, so sum R_ij^2 ~ d, with the same relative spread as nnz
    assert abs((r**2).sum() / d - 1) < 5 / np.sqrt(d * k / s)
    # +1 and -1 equally likely
    assert abs((r > 0).sum() - (r < 0).sum()) < 5 * np.sqrt(np.count_nonzero(r))


def test_srp_is_deterministic_from_the_seed():
    a = sparse_random_matrix(500, 20, seed=3)
    b = sparse_random_matrix(500, 20, seed=3)
    c = sparse_random_matrix(500, 20, seed=4)
    assert (a != b).nnz == 0
    assert (a != c).nnz > 0


@pytest.mark.parametrize("seed", range(5))
def test_srp_preserves_pairwise_distances_within_the_jl_bound(seed):
    n, d, eps = 20, 3000, 0.3
    # Johnson-Lindenstrauss (Dasgupta & Gupta): k >= 4 ln n / (eps^2/2 - eps^3/3) keeps every
    # squared distance within (1 +- eps) with probability >= 1 - 1/n
    k = int(np.ceil(4 * np.log(n) / (eps**2 / 2 - eps**3 / 3)))
    x = np.random.default_rng(100 + seed).standard_normal((n, d))
    y = SparseRandomProjection(k, seed).fit(d).transform(x)
    ratio = _pairwise_sq(y.astype(np.float64)) / _pairwise_sq(x)
    assert np.all((ratio > 1 - eps) & (ratio < 1 + eps))


def test_srp_preserves_squared_distances_on_average():
    # E ||(u - v) R||^2 = ||u - v||^2. One ratio has sd ~ sqrt(2 / k) = 0.08; one seed's mean
    # over the pairs of 10 points ~ 0.08 / sqrt(10) = 0.026; over 40 seeds ~ 0.004.
    # Tolerance 0.015 (about 3.5 sd).
    n, d, k = 10, 2000, 300
    means = []
    for seed in range(40):
        x = np.random.default_rng(1000 + seed).standard_normal((n, d))
        y = SparseRandomProjection(k, seed).fit(d).transform(x).astype(np.float64)
        means.append((_pairwise_sq(y) / _pairwise_sq(x)).mean())
    assert abs(np.mean(means) - 1) < 0.015


def test_pca_equals_sklearn_up_to_sign():
    rng = np.random.default_rng(0)
    x_fit = rng.standard_normal((30, 12)) @ rng.standard_normal((12, 12))
    x_new = rng.standard_normal((7, 12))
    ours = PCA(5).fit(x_fit)
    ref = SkPCA(n_components=5, svd_solver="full").fit(x_fit)
    signs = np.sign((ours.components * ref.components_).sum(1))
    np.testing.assert_allclose(ours.components, ref.components_ * signs[:, None], atol=1e-10)
    np.testing.assert_allclose(ours.transform(x_new), ref.transform(x_new) * signs, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(ours.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-10)
    # the sign rule: each component's largest-magnitude loading is positive
    assert np.all(ours.components[np.arange(5), np.abs(ours.components).argmax(1)] > 0)


def test_pca_needs_enough_fitting_rows():
    with pytest.raises(ValueError, match="'reduce.n_components'.*at most 4"):
        PCA(5).fit(np.zeros((4, 10)))


def test_fit_subset_is_seeded_sorted_and_without_replacement():
    a = fit_subset(100, 10, seed=1)
    assert np.array_equal(a, fit_subset(100, 10, seed=1))
    assert not np.array_equal(a, fit_subset(100, 10, seed=2))
    assert len(np.unique(a)) == 10 and np.all(np.diff(a) > 0)
    assert np.array_equal(fit_subset(5, None, seed=0), np.arange(5))
    assert np.array_equal(fit_subset(5, 9, seed=0), np.arange(5))


# ------------------------------------------------------------------------ in extraction
@pytest.fixture
def stimuli():
    images = np.random.default_rng(0).integers(0, 256, (14, 32, 32, 3), dtype=np.uint8)
    return xr.Dataset({"image": (("stimulus", "y", "x", "channel"), images)},
                      coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(14)])})


SPEC = {"source": "builtin", "name": "small_cnn", "layers": ["conv2", "fc"], "batch_size": 4}


def _features(tmp_path, spec, stimuli, name, seed=0):
    path = extract_features(spec, stimuli, tmp_path / name, params={"spec": spec}, inputs=[],
                            seed=seed)
    return path, {layer: open_dataset(path, group=layer).features.values
                  for layer in spec["layers"]}


def test_srp_in_extraction_equals_projecting_the_full_features(tmp_path, stimuli):
    _, full = _features(tmp_path, SPEC, stimuli, "full.zarr")
    spec = {**SPEC, "reduce": {"method": "srp", "n_components": 16}}
    path, reduced = _features(tmp_path, spec, stimuli, "srp.zarr", seed=7)
    r = sparse_random_matrix(full["conv2"].shape[1], 16, seed=7)  # the run's seed
    np.testing.assert_allclose(reduced["conv2"], full["conv2"] @ r.toarray(), rtol=1e-5,
                               atol=1e-5 * np.abs(full["conv2"]).max())
    np.testing.assert_array_equal(reduced["fc"], full["fc"])  # 10 units <= k: kept as is
    tree = open_tree(path)
    assert tree["conv2"].attrs["reduction"]["method"] == "srp"
    assert tree["conv2"].attrs["reduction"]["seed"] == 7
    assert tree["conv2"].attrs["n_units_pooled"] == full["conv2"].shape[1]
    assert tree["fc"].attrs["reduction"] is None
    assert tree.attrs["reduce"] == {"method": "srp", "n_components": 16, "seed": 7}
    _, again = _features(tmp_path, spec, stimuli, "srp2.zarr", seed=7)
    np.testing.assert_array_equal(again["conv2"], reduced["conv2"])


def test_pca_in_extraction_equals_sklearn_fitted_on_the_subset(tmp_path, stimuli):
    _, full = _features(tmp_path, SPEC, stimuli, "full.zarr")
    spec = {**SPEC, "reduce": {"method": "pca", "n_components": 5, "fit_on": 10, "seed": 2}}
    path, reduced = _features(tmp_path, spec, stimuli, "pca.zarr")
    subset = fit_subset(14, 10, seed=2)
    for layer in ("conv2", "fc"):
        ref = SkPCA(n_components=5, svd_solver="full").fit(full[layer][subset])
        expected = ref.transform(full[layer])
        signs = np.sign((reduced[layer] * expected).sum(0))
        np.testing.assert_allclose(reduced[layer], expected * signs, rtol=1e-4,
                                   atol=1e-4 * np.abs(expected).max())
        attrs = open_tree(path)[layer].attrs["reduction"]
        assert attrs["method"] == "pca" and attrs["n_fit"] == 10
        np.testing.assert_allclose(attrs["explained_variance_ratio"],
                                   ref.explained_variance_ratio_, rtol=1e-4)
