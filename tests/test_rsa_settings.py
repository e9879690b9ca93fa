"""RSA settings (``rsa`` config section) against their references.

* noise precision (shrinkage towards the diagonal or the identity) and the Mahalanobis and
  crossnobis RDMs built on it: rsatoolbox (``cov_from_unbalanced``, ``calc_rdm``), 1e-8
  relative to the largest entry;
* ``standardize`` and ``ceiling_pooling: mean`` with ``squared``: Net2Brain's definitions
  written out here (z-scored units with the population s.d., then ``1 - corrcoef``; ceilings
  ``mean_s spearman(D_s, mean_t D_t)^2`` over all / the other subjects), 1e-12;
* whitened comparators: rsatoolbox's ``corr_cov`` / ``cosine_cov``, 1e-8;
* the RSA stage with each setting on a small brain store equals the same computation done
  directly (1e-10), and the defaults leave the store's scores as they were.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.data import Dataset  # noqa: E402
from rsatoolbox.data.noise import cov_from_unbalanced  # noqa: E402
from rsatoolbox.rdm import RDMs, calc_rdm  # noqa: E402
from rsatoolbox.rdm import compare as rsa_compare  # noqa: E402

from brainalign import store  # noqa: E402
from brainalign.metrics.noise_precision import (  # noqa: E402
    mahalanobis_rdm, noise_precision, standardize_units)
from brainalign.metrics.rdm import compute_rdm  # noqa: E402
from brainalign.metrics.rsa import compare, crossnobis_rdm  # noqa: E402
from brainalign.models.spec import validate_spec  # noqa: E402
from brainalign.models.table import fixed_features  # noqa: E402
from brainalign.stages import _rsa_settings as settings  # noqa: E402
from brainalign.stages import features as features_stage  # noqa: E402
from brainalign.stages import rsa as rsa_stage  # noqa: E402
from brainalign.stages import stimuli  # noqa: E402


def close_to_scale(actual, expected, rel=1e-8):
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rel * np.abs(expected).max())


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def _trials(rng, n_cond=8, n_runs=3, n_chan=10, reps=1):
    """Betas of every condition in every run (``reps`` times), correlated noise across channels."""
    signal = rng.standard_normal((n_cond, n_chan))
    mix = rng.standard_normal((n_chan, n_chan)) / np.sqrt(n_chan) + np.eye(n_chan)
    rows, runs, conds = [], [], []
    for r in range(n_runs):
        for _ in range(reps):
            for i in rng.permutation(n_cond):
                rows.append(signal[i] + 0.7 * rng.standard_normal(n_chan) @ mix)
                runs.append(r)
                conds.append(f"c{i}")
    return np.array(rows), np.array(runs), np.array(conds)


# ------------------------------------------------------------------------------ noise and distances
@pytest.mark.parametrize("method", ["shrinkage_diag", "shrinkage_eye"])
def test_noise_precision_matches_rsatoolbox(rng, method):
    x, runs, conds = _trials(rng)
    expected = np.linalg.inv(cov_from_unbalanced(Dataset(x, obs_descriptors={"cond": conds}), "cond", method=method))
    close_to_scale(noise_precision(x, conds, method), expected)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # inside rsatoolbox
def test_mahalanobis_and_crossnobis_with_noise_precision_match_rsatoolbox(rng):
    x, runs, conds = _trials(rng)
    precision = noise_precision(x, conds)
    ds = Dataset(x, obs_descriptors={"cond": conds, "run": runs})
    ids = np.unique(conds)
    means = np.stack([x[conds == c].mean(axis=0) for c in ids])
    expected = calc_rdm(ds, method="mahalanobis", descriptor="cond", noise=precision).get_vectors()[0]
    close_to_scale(mahalanobis_rdm(means, precision), expected)
    expected = calc_rdm(ds, method="crossnobis", descriptor="cond", cv_descriptor="run",
                        noise=precision).get_vectors()[0]
    close_to_scale(crossnobis_rdm(x, runs, conds, precision=precision), expected)
    # the stage's ROI RDM: stimuli in sorted order, the same numbers
    group = xr.Dataset({"betas": (("trial", "unit"), x)},
                       coords={"stimulus_id": ("trial", conds), "run": ("trial", runs.astype(str))})
    order, rdm = settings.roi_rdm(group, {"rdm": "crossnobis"})
    assert list(order) == list(ids)
    close_to_scale(rdm, expected)


def test_crossnobis_over_repeats_and_its_errors(rng):
    x, runs, conds = _trials(rng, n_runs=1, reps=3)  # one run: only repeats can cross-validate
    group = xr.Dataset({"betas": (("trial", "unit"), x)},
                       coords={"stimulus_id": ("trial", conds), "run": ("trial", runs.astype(str))})
    order, rdm = settings.roi_rdm(group, {"rdm": "crossnobis", "crossnobis_partition": "repeat"})
    expected = crossnobis_rdm(x, settings.repeat_index(conds), conds, precision=noise_precision(x, conds))
    np.testing.assert_array_equal(rdm, expected)
    with pytest.raises(ValueError, match=r"roi: crossnobis over runs: runs: crossnobis needs at least 2 runs .*"
                                         r"crossnobis_partition: repeat"):
        settings.roi_rdm(group, {"rdm": "crossnobis"}, where="roi")
    with pytest.raises(ValueError, match=r"roi: crossnobis_partition 'repeat' needs every stimulus shown equally"):
        settings.roi_rdm(group.isel(trial=slice(0, -1)), {"rdm": "crossnobis", "crossnobis_partition": "repeat"},
                         where="roi")
    with pytest.raises(ValueError, match=r"degree\(s\) of freedom for the residuals"):
        noise_precision(x[:8], conds[:8])


def test_standardize_is_net2brains_zscored_correlation_rdm(rng):
    feats = rng.standard_normal((15, 40)) * rng.uniform(0.1, 10, 40) + rng.uniform(-5, 5, 40)
    feats[:, 3] = 2.0  # a constant unit: 0 after z-scoring
    z = np.zeros_like(feats)
    varying = feats.std(axis=0) > 0
    z[:, varying] = (feats[:, varying] - feats[:, varying].mean(0)) / feats[:, varying].std(0)
    expected = squareform(1 - np.corrcoef(z), checks=False)
    np.testing.assert_allclose(settings.layer_rdm(feats, {"rdm": "correlation", "standardize": True}), expected,
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(standardize_units(feats.astype(np.float32)), z, rtol=0, atol=1e-5)
    assert not np.allclose(settings.layer_rdm(feats, {"rdm": "correlation"}), expected)


def test_net2brain_ceiling_mean_pooling_squared(rng):
    subjects = rng.random((5, 45)) + 0.8 * rng.random(45)
    lower, upper = settings.subject_ceilings(subjects, {"comparator": "spearman", "ceiling_pooling": "mean",
                                                        "squared": True})
    mean_all = subjects.mean(axis=0)
    np.testing.assert_allclose(upper, [spearmanr(s, mean_all)[0] ** 2 for s in subjects], rtol=1e-12)
    others = [np.delete(subjects, s, 0).mean(0) for s in range(5)]
    np.testing.assert_allclose(lower, [spearmanr(s, o)[0] ** 2 for s, o in zip(subjects, others)], rtol=1e-12)
    # the default (rsatoolbox: mean of ranks) differs
    assert not np.allclose(settings.subject_ceilings(subjects, {"comparator": "spearman"})[0], np.sqrt(lower))


@pytest.mark.parametrize("method, name", [("whitened_pearson", "corr_cov"), ("whitened_cosine", "cosine_cov")])
def test_whitened_comparators_score_without_stimulus_bootstrap(rng, method, name):
    models, data = rng.random((3, 36)), rng.random(36)
    score, boot, drawn = settings.score_rdms(models, data, {"comparator": method, "n_bootstrap": 5}, seed=0)
    expected = rsa_compare(RDMs(models), RDMs(data[None]), method=name)[:, 0]
    np.testing.assert_allclose(score, expected, rtol=1e-8)
    assert boot.shape == (0, 3) and drawn.shape == (0, 9)


# ------------------------------------------------------------------------------ the stage
RANDOM = {"source": "random", "input": "text", "layers": ["embedding"], "n_units": 12, "seed": 2}


def _stores(tmp_path, rng):
    x, runs, conds = _trials(rng, n_cond=10, n_runs=3, n_chan=9)
    brain = tmp_path / "brain.zarr"
    store.write_tree(brain, {"v1": xr.Dataset({"betas": (("trial", "unit"), x)},
                                              coords={"stimulus_id": ("trial", conds),
                                                      "run": ("trial", runs.astype(str))})},
                     stage="fmri", params={}, seed=0)
    stimuli.run({"kind": "words", "items": np.unique(conds).tolist()}, out=tmp_path / "s.zarr", seed=0)
    features_stage.run(RANDOM, stimuli=tmp_path / "s.zarr", out=tmp_path / "features.zarr", seed=0)
    feats = fixed_features(validate_spec(RANDOM), np.unique(conds).tolist())[0]["embedding"].features.values
    return brain, tmp_path / "features.zarr", x, conds, feats


@pytest.mark.parametrize("extra", [{}, {"rdm": "mahalanobis"}, {"rdm": "crossnobis"},
                                   {"standardize": True, "squared": True}, {"comparator": "whitened_pearson"}])
def test_rsa_stage_applies_each_setting(tmp_path, rng, extra):
    brain, features, x, conds, feats = _stores(tmp_path, rng)
    spec = {"rdm": "correlation", "comparator": "spearman", "n_bootstrap": 4, **extra}
    rsa_stage.run(spec, brain=brain, features=features, out=tmp_path / "rsa.zarr", seed=1)
    ds = store.open_dataset(tmp_path / "rsa.zarr")
    group = store.open_dataset(brain, group="v1")
    order, brain_rdm = settings.roi_rdm(group, spec)
    rows = [list(np.unique(conds)).index(s) for s in order]
    model = settings.layer_rdm(feats[rows], spec)
    expected = compare(model, brain_rdm, spec["comparator"]) ** (2 if spec.get("squared") else 1)
    np.testing.assert_allclose(ds.score.values[0, 0], expected, rtol=1e-10)
    assert ds.brain_rdm.attrs["description"] == settings.brain_rdm_description(spec, False)
    assert ds.attrs["metric"] == settings.metric_name(spec) and ds.sizes["bootstrap"] == (
        0 if spec["comparator"].startswith("whitened") else 4)
    if not extra:  # the defaults: the correlation RDM of stimulus means, as before the settings
        means = np.stack([x[conds == s].mean(0) for s in order])
        np.testing.assert_allclose(ds.brain_rdm.values[0], compute_rdm(means, "correlation"), rtol=1e-12)


def test_meg_studies_refuse_distances_time_resolved_rsa_lacks():
    import yaml

    from brainalign.config import ConfigError, validate_config
    from study_runner import PROJECT

    cfg = yaml.safe_load((PROJECT / "config" / "test.yaml").read_text())
    cfg["rsa"]["rdm"] = "mahalanobis"
    with pytest.raises(ConfigError, match=r"key 'rsa\.rdm' is 'mahalanobis', which time-resolved RSA of the MEG/EEG"):
        validate_config(cfg, PROJECT / "config" / "schema.yaml")
    del cfg["datasets"]["meg"]
    assert validate_config(cfg, PROJECT / "config" / "schema.yaml")["rsa"]["rdm"] == "mahalanobis"
