"""Similarity across stimulus sets and against probe behaviour (brainalign.metrics.similarity_sets,
brainalign.metrics.alignment_fewshot, brainalign.stages.probe_compare).

References: numpy/scipy correlations over the model pairs computed directly, a brute-force loop over
every permutation for the Mantel p-value, and a known quadratic for the alignment fit.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from brainalign import store
from brainalign.metrics.alignment_fewshot import alignment_vs_fewshot, fit_quadratic
from brainalign.metrics.similarity_sets import consistency_matrix, similarity_gap, tag_consistency
from brainalign.stages import features as features_stage
from brainalign.stages import probe_compare
from brainalign.stages import similarity as similarity_stage
from brainalign.stages import stimuli as stimuli_stage


def _matrices(m=5, n_sets=3, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(size=(m, m))
    out = []
    for _ in range(n_sets):
        noisy = base + 0.3 * rng.uniform(size=(m, m))
        out.append(noisy)  # not symmetric: symmetrised by the functions
    return out


def test_consistency_matrix_against_direct_correlations():
    mats = _matrices()
    upper = np.triu_indices(5, k=1)
    sym = [(m + m.T) / 2 for m in mats]
    for method in ("pearson", "spearman"):
        R = consistency_matrix(mats, method)
        assert R.shape == (3, 3) and np.allclose(np.diag(R), 1) and np.allclose(R, R.T)
        for i, j in itertools.combinations(range(3), 2):
            x, y = sym[i][upper], sym[j][upper]
            ref = stats.spearmanr(x, y).statistic if method == "spearman" else stats.pearsonr(x, y).statistic
            assert R[i, j] == pytest.approx(ref, abs=1e-12)


def test_tag_consistency_within_and_between_groups():
    mats = _matrices(m=6)
    tags = ["a", "a", "a", "b", "b", None]  # the untagged model is left out
    rows = {r["group"]: r for r in tag_consistency(mats, tags)}
    assert set(rows) == {"within a", "within b", "between"}
    assert rows["within a"]["n_pairs"] == 3 and rows["between"]["n_pairs"] == 6 and rows["within b"]["n_pairs"] == 1
    assert np.isnan(rows["within b"]["consistency"])  # 1 pair: no correlation
    sym = [(m + m.T) / 2 for m in mats]
    pairs = ([0, 0, 1], [1, 2, 2])
    expected = np.mean([np.corrcoef(sym[i][pairs], sym[j][pairs])[0, 1] for i, j in itertools.combinations(range(3), 2)])
    assert rows["within a"]["consistency"] == pytest.approx(expected, abs=1e-12)


def test_similarity_gap_exact_permutation_p_against_brute_force():
    rng = np.random.default_rng(1)
    m = 5
    accuracy = rng.uniform(size=m)
    gap = np.abs(accuracy[:, None] - accuracy[None, :])
    matrix = 1 - gap + 0.2 * rng.uniform(size=(m, m))  # similar models behave alike
    result = similarity_gap(matrix, accuracy, n_permutations=1000)
    upper = np.triu_indices(m, k=1)
    sym = (matrix + matrix.T) / 2
    rho = stats.spearmanr(sym[upper], gap[upper]).statistic
    assert result["exact"] and result["n_permutations"] == math.factorial(m)
    assert result["rho"] == pytest.approx(rho, abs=1e-12) and rho < -0.5
    null = [stats.spearmanr(sym[upper], np.abs(accuracy[list(p)][:, None] - accuracy[list(p)][None, :])[upper]).statistic
            for p in itertools.permutations(range(m))]
    assert result["p_value"] == pytest.approx(np.mean(np.abs(null) >= abs(rho) - 1e-12), abs=1e-12)
    sampled = similarity_gap(matrix, accuracy, n_permutations=50, seed=3)
    assert not sampled["exact"] and sampled["n_permutations"] == 50
    assert 1 / 51 <= sampled["p_value"] <= 1


def test_quadratic_fit_recovers_a_known_u_shape_with_a_covering_band():
    rng = np.random.default_rng(2)
    x = np.linspace(0.3, 0.7, 12)
    truth = np.array([2.0, -6.0, 6.0])  # vertex at 0.5
    y = truth[0] + truth[1] * x + truth[2] * x**2
    np.testing.assert_allclose(fit_quadratic(x, y), truth, atol=1e-8)
    noisy = y + rng.normal(0, 0.003, len(x))
    models = [f"m{i}" for i in range(len(x))]
    fit = alignment_vs_fewshot(pd.DataFrame({"model": models, "alignment": x}),
                               pd.DataFrame({"model": models[::-1], "fewshot": noisy[::-1]}),  # merged by model
                               n_bootstrap=300, seed=0)
    assert fit["vertex"] == pytest.approx(0.5, abs=0.03) and fit["coef"][2] > 0 and fit["r2"] > 0.8
    curve = truth[0] + truth[1] * fit["grid"] + truth[2] * fit["grid"] ** 2
    inside = (fit["band_low"] <= curve) & (curve <= fit["band_high"])
    assert inside.mean() > 0.9 and fit["n_bootstrap"] + fit["n_degenerate"] == 300
    assert (fit["band_low"] <= fit["fit"]).all() and (fit["fit"] <= fit["band_high"]).all()
    with pytest.raises(ValueError, match="at least 4 models"):
        alignment_vs_fewshot(pd.DataFrame({"model": models[:3], "alignment": x[:3]}),
                             pd.DataFrame({"model": models[:3], "fewshot": y[:3]}))


@pytest.fixture(scope="module")
def compare_inputs(tmp_path_factory):
    """Two similarity stores (4 random models with 2 layers each on two word sets) and probe stores."""
    root = tmp_path_factory.mktemp("compare")
    similarity = {}
    models = ["m0", "m1", "m2", "m3"]
    for s in ("set1", "set2"):
        stimuli_stage.run({"kind": "words", "items": [f"{s}w{i}" for i in range(12)]}, out=root / f"{s}.zarr", seed=0)
        paths = {}
        for k, model in enumerate(models):
            spec = {"source": "random", "input": "text", "layers": ["emb"], "n_units": 3 + 2 * k, "seed": k}
            features_stage.run(spec, stimuli=root / f"{s}.zarr", out=root / f"{s}_{model}.zarr", seed=0)
            paths[model] = root / f"{s}_{model}.zarr"
        similarity_stage.run({"metrics": ["cka_linear"]}, features=paths, out=root / f"sim_{s}.zarr", seed=0)
        similarity[s] = root / f"sim_{s}.zarr"
    probes = []
    for k, model in enumerate(models):
        ds = xr.Dataset({"accuracy": ("layer", [0.3, 0.4 + 0.1 * k]),
                         "fewshot_mean": (("layer", "shot"), [[0.3], [0.3 + 0.1 * k]])},
                        coords={"layer": ["l0", "emb"], "shot": [1]}, attrs={"dataset": "set1", "model": model})
        store.write_tree(root / f"probe_{model}.zarr", {}, stage="probe", params={}, root=ds)
        probes.append(root / f"probe_{model}.zarr")
    summary = pd.DataFrame({"dataset": "things", "subject": "model", "roi": "", "model": models, "layer": "emb",
                            "method": "behaviour", "metric": "odd_one_out_cosine", "score": [0.5, 0.4, 0.45, 0.6]})
    summary.to_csv(root / "summary.csv", index=False)
    return root, similarity, probes


def test_probe_compare_stage_tables_and_figures(compare_inputs):
    root, similarity, probes = compare_inputs
    spec = {"tags": {"m0": {"objective": "x"}, "m1": {"objective": "x"}, "m2": {"objective": "x"},
                     "m3": {"objective": "y"}}, "n_permutations": 100, "n_bootstrap": 50}
    figures = {f"{k}_figure": root / f"{k}.png" for k in ("consistency", "gap", "alignment")}
    probe_compare.run(spec, similarity=similarity, probe=probes, summary=root / "summary.csv", out=root / "out",
                      seed=0, **figures)
    consistency = pd.read_csv(root / "out" / "consistency.csv")
    sims = {s: store.open_dataset(p).similarity.sel(metric="cka_linear").values for s, p in similarity.items()}
    direct = consistency_matrix([sims["set1"], sims["set2"]])[0, 1]  # one layer per model: the last
    row = consistency[(consistency.set_a == "set1") & (consistency.set_b == "set2")]
    assert row.consistency.iloc[0] == pytest.approx(direct, abs=1e-6) and row.n_models.iloc[0] == 4
    tags = pd.read_csv(root / "out" / "tag_consistency.csv", keep_default_na=False)
    assert set(tags.group) == {"within x", "between"} and list(tags.tag.unique()) == ["objective"]
    stats_table = pd.read_csv(root / "out" / "similarity_gap_stats.csv")
    accuracy = np.array([0.4, 0.5, 0.6, 0.7])  # the last layer's
    expected = similarity_gap(sims["set1"], accuracy, n_permutations=100)
    assert stats_table.rho.iloc[0] == pytest.approx(expected["rho"], abs=1e-6) and bool(stats_table.exact.iloc[0])
    fits = pd.read_csv(root / "out" / "alignment_fewshot.csv", keep_default_na=False)
    direct_fit = fit_quadratic([0.5, 0.4, 0.45, 0.6], [0.3, 0.4, 0.5, 0.6])
    assert fits.n_models.iloc[0] == 4 and fits.b2.iloc[0] == pytest.approx(direct_fit[2], rel=1e-5)
    assert all(p.stat().st_size > 5000 for p in figures.values())
    fits, bands = probe_compare.alignment_table(None, probe_compare.read_probes(probes), spec, seed=0)
    assert "no behaviour datasets" in fits.reason.iloc[0] and bands.empty
