"""Models without a network (sources ``table`` and ``random``), their spec and config keys, and
the decoding stage's statistics and config keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from brainalign import store
from brainalign.config import ConfigError, validate_config
from brainalign.models.spec import validate_spec
from brainalign.models.table import fixed_features
from brainalign.stages import decode, features, stimuli, summarize
from study_runner import PROJECT

IDS = ["cat", "face", "house"]
TABLE = {"source": "table", "input": "text", "layers": ["animacy"], "columns": ["animate", "inanimate"],
         "values": {"cat": [1, 0], "face": [1, 0], "house": [0, 1]}}
RANDOM = {"source": "random", "input": "text", "layers": ["embedding"], "n_units": 16, "seed": 3}


def test_table_features_follow_the_stimulus_order():
    groups, attrs = fixed_features(validate_spec(TABLE), ["house", "cat", "face"])
    ds = groups["animacy"]
    np.testing.assert_array_equal(ds.features.values, [[0, 1], [1, 0], [1, 0]])
    assert list(ds.unit_name.values) == ["animate", "inanimate"] and attrs["layers"] == ["animacy"]


@pytest.mark.parametrize("change, message", [
    ({"values": {"cat": [1, 0], "face": [1, 0]}}, r"stimuli \['house'\] of the stimulus set have no row"),
    ({"values": {**TABLE["values"], "dog": [1, 0]}}, r"rows \['dog'\] name no stimulus of the stimulus set"),
    ({"values": {**TABLE["values"], "face": [1]}}, r"key 'values\.face': \[1\] must be 2 finite numbers \(one per "
                                                    r"entry of 'columns'\)"),
    ({"layers": ["a", "b"]}, r"key 'layers': a table model has one layer"),
])
def test_table_errors_name_the_stimulus_or_key(change, message):
    with pytest.raises(ValueError, match=message):
        fixed_features(validate_spec({**TABLE, **change}), IDS)


def test_spec_keys_are_checked_per_source():
    with pytest.raises(ValueError, match=r"model spec key 'n_units' does not apply to source 'table'"):
        validate_spec({**TABLE, "n_units": 3})
    with pytest.raises(ValueError, match=r"'n_units' is a required property"):
        validate_spec({k: v for k, v in RANDOM.items() if k != "n_units"})
    with pytest.raises(ValueError, match=r"model spec key 'values.cat.0': 'yes' is not of type 'number'"):
        validate_spec({**TABLE, "values": {"cat": ["yes", 0]}})


def test_random_features_are_seeded_per_stimulus():
    """A stimulus keeps its vector whatever the set and order; another seed gives other vectors."""
    a = fixed_features(validate_spec(RANDOM), IDS)[0]["embedding"].features.values
    b = fixed_features(validate_spec(RANDOM), ["house", "dog", "cat"])[0]["embedding"].features.values
    np.testing.assert_array_equal(a[[2, 0]], b[[0, 2]])
    c = fixed_features(validate_spec({**RANDOM, "seed": 4}), IDS)[0]["embedding"].features.values
    assert a.shape == (3, 16) and a.dtype == np.float32 and not np.allclose(a, c)
    # N(0, 1): 48 draws, mean within 4 standard errors of 0, s.d. within 30 % of 1
    assert abs(a.mean()) < 4 / np.sqrt(48) and 0.7 < a.std() < 1.3


def test_features_stage_writes_a_table_store(tmp_path):
    stimuli.run({"kind": "words", "items": IDS}, out=tmp_path / "s.zarr", seed=0)
    features.run(TABLE, stimuli=tmp_path / "s.zarr", out=tmp_path / "f.zarr", seed=0)
    assert store.layer_names(tmp_path / "f.zarr") == ["animacy"]
    assert store.read_provenance(tmp_path / "f.zarr")["stage"] == "features"
    ds = store.open_dataset(tmp_path / "f.zarr", group="animacy")
    assert list(ds.stimulus_id.values) == IDS and ds.features.dims == ("stimulus", "unit")


# ------------------------------------------------------------------------------ decoding
@pytest.mark.parametrize("k, n, chance", [(61, 96, 1 / 8), (0, 20, 0.5), (20, 20, 0.25), (7, 40, 0.1)])
def test_binomial_summary_is_clopper_pearson(k, n, chance):
    """Clopper-Pearson bounds as Beta quantiles (0 and 1 at the edges); the p-value as the binomial
    upper tail; the chance range as binomial quantiles."""
    s = decode.binomial_summary(k, n, chance)
    low = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    high = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    np.testing.assert_allclose([s["accuracy"], s["ci_low"], s["ci_high"]], [k / n, low, high], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(s["p_value"], stats.binom.sf(k - 1, n, chance), rtol=1e-6)
    assert stats.binom.cdf(s["chance_low"] * n, n, chance) >= 0.025 > stats.binom.cdf(s["chance_low"] * n - 1, n, chance)


def test_decode_roi_on_separable_data_and_one_run():
    rng = np.random.default_rng(0)
    labels = np.tile(["a", "b", "c", "d"], 6)
    runs = np.repeat(np.arange(6), 4).astype(str)
    centres = rng.normal(0, 1, (4, 20))
    X = centres[np.searchsorted(["a", "b", "c", "d"], labels)] + rng.normal(0, 0.1, (24, 20))
    spec = {"classifier": "logistic_regression", "C": 1.0, "standardize": True}
    assert (decode.decode_roi(X, labels, runs, spec, seed=0) == labels).all()
    with pytest.raises(ValueError, match=r"needs at least 2 runs, got \['0'\]"):
        decode.decode_roi(X, labels, np.full(24, "0"), spec, seed=0)


def test_decoding_config_keys_are_validated_and_defaulted():
    config = {"seed": 1, "stimuli": {"w": {"kind": "words", "items": ["a", "b"]}},
              "models": {"r": RANDOM}, "datasets": {"d": {"stimuli": "w", "subjects": ["01"], "task": "t",
                                                           "simulate": {"rois": {"x": {"model": "r", "layer": "embedding"}}}}}}
    schema = PROJECT / "config" / "schema.yaml"
    assert "decoding" not in validate_config(dict(config), schema)
    assert validate_config({**config, "decoding": {"C": 0.5}}, schema)["decoding"] == {
        "classifier": "logistic_regression", "C": 0.5, "standardize": True}
    with pytest.raises(ConfigError, match=r"unknown key 'decoding.classifer' \(allowed here: C, classifier, standardize\)"):
        validate_config({**config, "decoding": {"classifer": "svm"}}, schema)
    with pytest.raises(ConfigError, match=r"key 'models.r.source' is 'tabel'"):
        validate_config({**config, "models": {"r": {**RANDOM, "source": "tabel"}}}, schema)


def test_loading_a_table_model_as_a_network_is_a_clear_error():
    from brainalign.models import load_model

    with pytest.raises(ValueError, match=r"model source 'table' has no network"):
        load_model(TABLE)


def test_recovery_table_leaves_decoding_rows_out():
    """A decoding accuracy above every layer's score ranks no layer: recovery is by encoding only."""
    rows = [dict(dataset="d", subject="01", roi="v", model="m", layer=layer, method="encoding", metric="pearson_r",
                 score=score) for layer, score in (("a", 0.5), ("b", 0.3))]
    rows.append(dict(dataset="d", subject="01", roi="v", model="logistic_regression", layer="betas",
                     method="decoding", metric="accuracy", score=0.9))
    recovery = summarize.recovery_table(pd.DataFrame(rows), {"d": {"simulate": {"rois": {"v": {"model": "m",
                                                                                                "layer": "a"}}}}})
    assert list(recovery.method) == ["encoding"] and list(recovery.best_layer) == ["a"]
    assert recovery.recovered.all() and recovery.margin[0] == pytest.approx(0.5 - 0.3)
