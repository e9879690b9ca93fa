"""Linear probes (brainalign.metrics.probe) and the probe stage (brainalign.stages.probe).

References: scikit-learn's LogisticRegression fitted on the full (scaled) features, the same
splits; GridSearchCV for the choice of C in each outer fold; a direct loop for the n-shot draws.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

from brainalign import store
from brainalign.config import ConfigError, validate_config
from brainalign.errors import InputError
from brainalign.metrics.probe import (cv_accuracy, fit_predict, gram, nshot_accuracy, nshot_draws,
                                      span_coordinates)
from brainalign.stages import features as features_stage
from brainalign.stages import probe as probe_stage
from brainalign.stages import stimuli as stimuli_stage
from brainalign.stages.summarize import probe_rows


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The references fit small problems, which BLAS threads only slow down on a busy machine."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _labelled(n_per_class=15, n_classes=3, p=20, signal=1.0, seed=0):
    """Features with a class-mean signal of s.d. ``signal`` plus unit noise, unequal unit scales."""
    rng = np.random.default_rng(seed)
    y = np.repeat([f"c{k}" for k in range(n_classes)], n_per_class)
    means = rng.normal(0, signal, (n_classes, p))
    X = means[np.searchsorted(np.unique(y), y)] + rng.normal(size=(len(y), p))
    return X * rng.uniform(0.5, 5.0, p) + rng.normal(0, 3, p), y


def _scaled(X):
    sd = X.std(0)
    return X / np.where(sd == 0, 1, sd)


def test_span_coordinates_reproduce_the_centred_gram_blocks():
    X, _ = _labelled(p=200)
    rng = np.random.default_rng(1)
    train, test = np.sort(rng.permutation(45)[:30]), np.sort(rng.permutation(45)[30:])
    z_train, z_test = span_coordinates(gram(X), train, test)
    Xs = _scaled(X)
    centred_train, centred_test = Xs[train] - Xs[train].mean(0), Xs[test] - Xs[train].mean(0)
    scale = np.abs(centred_train @ centred_train.T).max()
    np.testing.assert_allclose(z_train @ z_train.T, centred_train @ centred_train.T, atol=1e-9 * scale)
    np.testing.assert_allclose(z_test @ z_train.T, centred_test @ centred_train.T, atol=1e-9 * scale)
    assert z_train.shape[1] == len(train) - 1  # centring removes one dimension of the span


@pytest.mark.parametrize("p", [10, 300])  # fewer and more units than training stimuli
@pytest.mark.parametrize("C", [0.01, 1.0])
def test_probe_predicts_as_sklearn_on_the_full_features(p, C):
    X, y = _labelled(p=p, signal=0.4, seed=p)
    rng = np.random.default_rng(2)
    order = rng.permutation(len(y))
    train, test = order[:30], order[30:]
    ours = fit_predict(gram(X), y, train, test, C)
    reference = LogisticRegression(C=C, tol=1e-8, max_iter=20000).fit(_scaled(X)[train], y[train])
    assert (ours == reference.predict(_scaled(X)[test])).all()


def test_cv_matches_gridsearch_on_the_same_splits():
    X, y = _labelled(n_per_class=16, p=12, signal=0.5, seed=3)
    Cs = [0.01, 0.1, 1.0]
    result = cv_accuracy(X, y, Cs=Cs, outer=4, inner=3, seed=7)
    Xs = _scaled(X)
    predicted, chosen = np.empty_like(y), []
    for f, (train, test) in enumerate(StratifiedKFold(4, shuffle=True, random_state=7).split(Xs, y)):
        assert (np.unique(y[test], return_counts=True)[1] == 4).all()  # stratified: 4 of each class per fold
        search = GridSearchCV(LogisticRegression(tol=1e-8, max_iter=20000), {"C": Cs},
                              cv=StratifiedKFold(3, shuffle=True, random_state=7 + 1 + f)).fit(Xs[train], y[train])
        np.testing.assert_allclose(result["inner_accuracy"][f], search.cv_results_["mean_test_score"], atol=1e-12)
        chosen.append(search.best_params_["C"])
        predicted[test] = search.predict(Xs[test])
    np.testing.assert_array_equal(result["C"], chosen)
    np.testing.assert_array_equal(result["predicted"], predicted)
    assert result["accuracy"] == pytest.approx(np.mean(predicted == y), abs=1e-15)


def test_nshot_draws_and_accuracy_against_a_direct_loop():
    X, y = _labelled(n_per_class=8, p=30, signal=0.8, seed=4)
    draws = nshot_draws(y, 2, 6, seed=11)
    assert draws.shape == (6, 6)
    for train in draws:
        assert len(set(train)) == 6 and (np.unique(y[train], return_counts=True)[1] == 2).all()
    assert len({tuple(d) for d in draws}) > 1
    np.testing.assert_array_equal(draws, nshot_draws(y, 2, 6, seed=11))  # seeded
    accuracy = nshot_accuracy(X, y, n=2, n_draws=6, C=0.5, seed=11)
    Xs = _scaled(X)
    for a, train in zip(accuracy, draws):
        test = np.setdiff1d(np.arange(len(y)), train)
        model = LogisticRegression(C=0.5, tol=1e-8, max_iter=20000).fit(Xs[train], y[train])
        assert a == np.mean(model.predict(Xs[test]) == y[test])


def test_chance_on_shuffled_labels_and_perfect_on_separable_classes():
    X, y = _labelled(n_per_class=30, n_classes=4, p=50, signal=0.0, seed=5)
    shuffled = np.random.default_rng(0).permutation(y)
    assert abs(cv_accuracy(X, shuffled, Cs=[0.01, 1.0], outer=5, inner=3)["accuracy"] - 0.25) < 0.13  # 3 s.e.
    assert abs(nshot_accuracy(X, shuffled, n=5, n_draws=20, C=1.0).mean() - 0.25) < 0.06
    separable, ys = _labelled(n_per_class=10, n_classes=4, p=50, signal=10.0, seed=6)
    assert cv_accuracy(separable, ys, Cs=[0.1, 1.0], outer=5, inner=3)["accuracy"] == 1.0
    assert (nshot_accuracy(separable, ys, n=1, n_draws=10, C=1.0) == 1.0).all()


def test_bad_class_counts_are_errors_naming_the_class():
    y = np.array(["a"] * 5 + ["b"] * 2)
    with pytest.raises(ValueError, match="class 'b' has 2"):
        nshot_draws(y, 2, 3, seed=0)
    with pytest.raises(ValueError, match="fewer than the 3 folds"):
        cv_accuracy(np.ones((7, 2)), y, Cs=[1.0], outer=3)


@pytest.fixture(scope="module")
def labelled_set(tmp_path_factory):
    """A rendered shapes set (4 shapes x 3 colours x 4 positions = 48 images) and a table model whose
    features carry the shape (plus noise), as stores."""
    root = tmp_path_factory.mktemp("probe")
    spec = {"kind": "shapes", "image_size": 8, "sizes": ["large"]}
    stimuli_stage.run(spec, out=root / "stimuli.zarr", seed=0)
    ds = store.open_dataset(root / "stimuli.zarr")
    rng = np.random.default_rng(0)
    codes = {s: rng.normal(0, 2, 6) for s in np.unique(ds.shape.values)}
    values = {i: list(codes[s] + rng.normal(size=6)) for i, s in zip(ds.stimulus_id.values, ds.shape.values)}
    model = {"source": "table", "input": "image", "layers": ["table"], "values": values}
    features_stage.run(model, stimuli=root / "stimuli.zarr", out=root / "features.zarr", seed=0)
    return root


def test_probe_stage_store_and_summary_rows(labelled_set):
    spec = {"label": "shape", "dataset": "shapes", "model": "tab", "Cs": [0.1, 1.0], "outer_folds": 4,
            "inner_folds": 3, "shots": [1, 3], "n_draws": 5, "fewshot_C": 1.0, "standardize": True, "ci": 0.9}
    out = labelled_set / "probe.zarr"
    probe_stage.run(spec, features=labelled_set / "features.zarr", stimuli=labelled_set / "stimuli.zarr", out=out,
                    seed=3)
    root, group = store.open_dataset(out), store.open_dataset(out, group="table")
    X = store.open_dataset(labelled_set / "features.zarr", group="table").features.values
    labels = root.label.values
    direct = cv_accuracy(X, labels, Cs=[0.1, 1.0], outer=4, inner=3, seed=3)
    assert float(root.accuracy[0]) == direct["accuracy"] > 0.8
    np.testing.assert_array_equal(group.predicted.values, direct["predicted"])
    one_shot = nshot_accuracy(X, labels, n=1, n_draws=5, C=1.0, seed=3 + 1)
    np.testing.assert_array_equal(group.fewshot.sel(shot=1).values, one_shot)
    assert float(root.fewshot_low[0, 0]) == pytest.approx(np.percentile(one_shot, 5))
    assert root.attrs["chance"] == 0.25 and root.attrs["label_column"] == "shape"
    rows = pd.DataFrame(probe_rows(out))
    assert list(rows.metric) == ["probe_accuracy", "fewshot_accuracy_n1", "fewshot_accuracy_n3"]
    assert (rows.method == "probe").all() and (rows.subject == "model").all() and (rows.roi == "").all()
    assert (rows.dataset == "shapes").all() and rows.score.iloc[1] == pytest.approx(one_shot.mean())
    with pytest.raises(InputError, match="no label column 'category'.*'shape'"):
        probe_stage.run({**spec, "label": "category"}, features=labelled_set / "features.zarr",
                        stimuli=labelled_set / "stimuli.zarr", out=labelled_set / "bad.zarr", seed=3)
    assert not (labelled_set / "bad.zarr").exists()


def test_probe_config_defaults_tags_and_a_bad_label_set(shared_data, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_SHARED_DATA", str(shared_data))
    project = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((project / "config" / "config.yaml").read_text())
    resolved = validate_config(copy.deepcopy(cfg), project / "config" / "schema.yaml")
    assert resolved["probe"]["labels"] == {"shapes": "shape"} and resolved["probe"]["fewshot_C"] == 1.0
    assert resolved["models"]["resnet20"]["tags"]["objective"] == "supervised"
    cfg["probe"]["labels"] = {"nope": "shape"}
    with pytest.raises(ConfigError, match="'probe.labels' names stimulus set.*'nope'"):
        validate_config(cfg, project / "config" / "schema.yaml")
