"""Permutation null of model-model similarity (stimulus correspondence shuffled).

References: each null value equals the metric recomputed on explicitly shuffled rows (exact);
linear CKA's closed form ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` on centred data (1e-12);
the p-values of unrelated representations are roughly uniform and those of related ones minimal;
the null of linear CKA rises with dimensionality (the reason for the null).
"""

from __future__ import annotations

import numpy as np
import pytest

from brainalign import store
from brainalign.metrics.similarity import similarity
from brainalign.metrics.similarity_null import null_p_values, similarity_null, stimulus_permutations
from brainalign.stages import features as features_stage
from brainalign.stages import similarity as similarity_stage
from brainalign.stages import stimuli


def _cka(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def test_null_is_the_metric_on_shuffled_stimuli():
    rng = np.random.default_rng(0)
    reps = {"a": rng.standard_normal((20, 6)), "b": rng.standard_normal((20, 9))}
    perms = stimulus_permutations(20, 5, seed=1)
    null = similarity_null(reps, "cka_linear", perms)
    for p, perm in enumerate(perms):
        assert sorted(perm) == list(range(20))
        np.testing.assert_allclose(null[p, 0, 1], _cka(reps["a"], reps["b"][perm]), rtol=1e-12)
        assert null[p, 1, 0] == similarity(reps["b"], reps["a"][perm], "cka_linear")
    np.testing.assert_array_equal(perms, stimulus_permutations(20, 5, seed=1))


def test_p_values_uniform_for_unrelated_and_minimal_for_related():
    p_null, p_related = [], []
    for s in range(60):
        rng = np.random.default_rng(s)
        x = rng.standard_normal((30, 5))
        y = rng.standard_normal((30, 5))
        perms = stimulus_permutations(30, 99, seed=s)
        for other, out in ((y, p_null), (x @ rng.standard_normal((5, 5)) + 0.1 * y, p_related)):
            obs = similarity(x, other, "cka_linear")
            null = similarity_null({"x": x, "o": other}, "cka_linear", perms)[:, :1, 1:]
            out.append(null_p_values(np.array([[obs]]), null, "cka_linear")[0, 0])
    assert 0.35 < np.mean(p_null) < 0.65 and np.mean(np.array(p_null) <= 0.05) < 0.15
    assert max(p_related) == 0.01  # (1 + 0) / (1 + 99)
    # a distance's p-value counts null values at or below the observed one
    assert null_p_values(np.array([[0.5]]), np.array([[[0.4]], [[0.6]]]), "procrustes")[0, 0] == 2 / 3


def test_cka_null_rises_with_dimensionality():
    rng = np.random.default_rng(3)
    perms = stimulus_permutations(40, 20, seed=0)
    means = [similarity_null({"x": rng.standard_normal((40, d)), "y": rng.standard_normal((40, d))},
                             "cka_linear", perms)[:, 0, 1].mean() for d in (2, 200)]
    assert means[1] > 2 * means[0]


@pytest.mark.parametrize("n_permutations", [0, 9])
def test_similarity_stage_stores_null_and_p_values(tmp_path, n_permutations):
    stimuli.run({"kind": "words", "items": [f"w{i}" for i in range(15)]}, out=tmp_path / "s.zarr", seed=0)
    paths = {}
    for name, seed in (("r1", 1), ("r2", 2)):
        spec = {"source": "random", "input": "text", "layers": ["embedding"], "n_units": 8, "seed": seed}
        features_stage.run(spec, stimuli=tmp_path / "s.zarr", out=tmp_path / f"{name}.zarr", seed=0)
        paths[name] = tmp_path / f"{name}.zarr"
    spec = {"metrics": ["cka_linear", "procrustes"], "n_permutations": n_permutations}
    similarity_stage.run(spec, features=paths, out=tmp_path / "sim.zarr", seed=4)
    ds = store.open_dataset(tmp_path / "sim.zarr")
    if not n_permutations:
        assert "null" not in ds and "p_value" not in ds
        return
    assert ds.null.shape == (2, 9, 2, 2) and ds.p_value.shape == (2, 2, 2)
    reps = {k: store.open_dataset(p, group="embedding").features.values for k, p in paths.items()}
    perms = stimulus_permutations(15, 9, seed=4)
    np.testing.assert_array_equal(ds.null.values[0], similarity_null(reps, "cka_linear", perms))
    assert (ds.p_value.values[:, 0, 0] == 0.1).all()  # a representation against itself: p = 1 / 10
