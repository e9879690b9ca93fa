"""Encoding models (brainalign.metrics.ridge / banded / backend) against independent references.

References: himalaya's RidgeCV and BandedRidgeCV (numpy backend, same folds, R² scoring),
scikit-learn's RidgeCV (closed-form leave-one-out, alpha_per_target), closed-form identities
(one band = plain ridge; equal band alphas = ridge on the concatenation; the R² split sums to
the joint R²), invariances (solver, backend, target batching, test-set values) and recovery
of known signal in simulated data. Tolerances are stated at each assertion.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from himalaya.ridge import BandedRidgeCV as HimalayaBandedRidgeCV
from himalaya.ridge import RidgeCV as HimalayaRidgeCV
from himalaya.scoring import r2_score as himalaya_r2
from himalaya.scoring import r2_score_split as himalaya_r2_split
from sklearn.linear_model import RidgeCV as SklearnRidgeCV
from sklearn.model_selection import GroupKFold, KFold

from brainalign.metrics import ridge as ridge_module
from brainalign.metrics.backend import get_backend
from brainalign.metrics.banded import BandedRidgeCV, r2_score_split
from brainalign.metrics.ridge import (RidgeCV, cross_validated_encoding,
                                      normalise_by_noise_ceiling)

ALPHAS = np.logspace(-2, 6, 9)
RTOL = 1e-5  # relative agreement required with peer libraries and between variants


def simulate(n_samples, n_features, n_targets, seed, noise=2.0, offset=3.0):
    """Correlated features with a non-zero mean; targets with signal strengths from ~0 to
    strong, so that different targets prefer different alphas."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((n_features, n_features)) / np.sqrt(n_features)
    X = rng.standard_normal((n_samples, n_features)) @ mixing + offset
    weights = rng.standard_normal((n_features, n_targets)) * rng.random(n_targets) ** 3
    Y = X @ weights + noise * rng.standard_normal((n_samples, n_targets)) - offset
    return X, Y


def relative_error(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def fit_himalaya(X, Y, splits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its advice to use kernel ridge if p > n
        return HimalayaRidgeCV(alphas=ALPHAS, cv=splits, fit_intercept=True,
                               solver_params=dict(score_func=himalaya_r2)).fit(X, Y)


# ---------------------------------------------------------------- RidgeCV vs peer libraries
@pytest.mark.parametrize("n_features", [25, 150], ids=["primal", "dual"])
def test_ridgecv_matches_himalaya(n_features):
    X, Y = simulate(90, n_features, 30, seed=0)
    X_test, _ = simulate(20, n_features, 30, seed=1)
    groups = np.repeat(np.arange(6), 15)
    splits = list(GroupKFold(n_splits=3).split(X, groups=groups))
    ours = RidgeCV(alphas=ALPHAS, cv=splits, dtype=np.float64).fit(X, Y)
    peer = fit_himalaya(X, Y, splits)
    # himalaya stores alphas as exp(log(alpha)): equal up to float64 rounding (1e-12).
    np.testing.assert_allclose(ours.best_alphas_, peer.best_alphas_, rtol=1e-12)
    assert len(np.unique(ours.best_alphas_)) >= 3  # the comparison exercises several alphas
    assert relative_error(ours.predict(X_test), peer.predict(X_test)) < RTOL


@pytest.mark.parametrize("n_features", [25, 150], ids=["primal", "dual"])
def test_loo_matches_sklearn_alpha_per_target(n_features):
    X, Y = simulate(80, n_features, 30, seed=2)
    X_test, _ = simulate(20, n_features, 30, seed=3)
    ours = RidgeCV(alphas=ALPHAS, cv="loo", dtype=np.float64).fit(X, Y)
    peer = SklearnRidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X, Y)
    np.testing.assert_array_equal(ours.best_alphas_, peer.alpha_)
    assert len(np.unique(ours.best_alphas_)) >= 3
    assert relative_error(ours.predict(X_test), peer.predict(X_test)) < RTOL


def test_loo_closed_form_equals_refitting():
    """The hat-matrix LOO residuals equal refitting without each sample (1e-8 relative)."""
    X, Y = simulate(25, 6, 3, seed=4)
    alphas = np.array([0.1, 10.0])
    closed = RidgeCV(alphas=alphas, cv="loo", dtype=np.float64).fit(X, Y).cv_scores_
    press = np.zeros((2, 3))
    for i in range(25):
        keep = np.arange(25) != i
        for a, alpha in enumerate(alphas):
            fit = RidgeCV(alphas=[alpha], cv=2, dtype=np.float64).fit(X[keep], Y[keep])
            press[a] += (Y[i] - fit.predict(X[i:i + 1])[0]) ** 2
    refit = 1 - press / ((Y - Y.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(closed, refit, rtol=1e-8)


# ---------------------------------------------------------------- invariances
@pytest.mark.parametrize("cv", [4, "loo"])
def test_primal_and_dual_solvers_agree(cv):
    X, Y = simulate(60, 40, 20, seed=5)
    svd = RidgeCV(alphas=ALPHAS, cv=cv, solver="svd", dtype=np.float64).fit(X, Y)
    eigh = RidgeCV(alphas=ALPHAS, cv=cv, solver="eigh", dtype=np.float64).fit(X, Y)
    np.testing.assert_array_equal(svd.best_alphas_, eigh.best_alphas_)
    np.testing.assert_allclose(eigh.cv_scores_, svd.cv_scores_, rtol=RTOL, atol=1e-9)
    assert relative_error(eigh.predict(X), svd.predict(X)) < RTOL


@pytest.mark.parametrize("dtype,n_features", [(np.float64, 90), (np.float32, 30)])
def test_numpy_and_torch_backends_agree(dtype, n_features):
    # float32 with p < n: near-interpolating small alphas (p > n) make float32 LOO scores
    # of neighbouring alphas tie to within rounding, so the choice could flip.
    X, Y = simulate(70, n_features, 25, seed=6)
    fits = {name: RidgeCV(alphas=ALPHAS, cv=5, backend=name, dtype=dtype).fit(X, Y)
            for name in ("numpy", "torch")}
    np.testing.assert_array_equal(fits["numpy"].best_alphas_, fits["torch"].best_alphas_)
    # float64: 1e-5 relative as required; float32 rounding in the two LAPACKs: 1e-4.
    tolerance = RTOL if dtype == np.float64 else 1e-4
    assert relative_error(fits["torch"].coef_, fits["numpy"].coef_) < tolerance
    assert relative_error(fits["torch"].predict(X), fits["numpy"].predict(X)) < tolerance
    encodings = {name: cross_validated_encoding(X, Y, backend=name, dtype=dtype, outer_cv=3,
                                                inner_cv="loo")
                 for name in ("numpy", "torch")}
    np.testing.assert_array_equal(encodings["numpy"]["alpha"], encodings["torch"]["alpha"])
    np.testing.assert_allclose(encodings["torch"]["r"], encodings["numpy"]["r"],
                               rtol=tolerance, atol=tolerance)


def test_backend_decompositions_agree():
    a = np.random.default_rng(7).standard_normal((30, 12))
    numpy_backend, torch_backend = get_backend("numpy"), get_backend("torch")
    s_numpy = numpy_backend.svd(a)[1]
    s_torch = torch_backend.to_numpy(torch_backend.svd(torch_backend.asarray(a))[1])
    np.testing.assert_allclose(s_torch, s_numpy, rtol=RTOL)
    w_numpy = numpy_backend.eigh(a @ a.T)[0]
    w_torch = torch_backend.to_numpy(torch_backend.eigh(torch_backend.asarray(a @ a.T))[0])
    np.testing.assert_allclose(w_torch, w_numpy, rtol=RTOL, atol=1e-9)
    assert np.all(np.diff(w_numpy) <= 0)  # descending, as the solver expects


@pytest.mark.parametrize("cv", [3, "loo"])
def test_target_batching_does_not_change_results(cv):
    X, Y = simulate(50, 30, 23, seed=8)
    whole = RidgeCV(alphas=ALPHAS, cv=cv, dtype=np.float64, target_batch_size=1000).fit(X, Y)
    batched = RidgeCV(alphas=ALPHAS, cv=cv, dtype=np.float64, target_batch_size=4).fit(X, Y)
    np.testing.assert_array_equal(whole.best_alphas_, batched.best_alphas_)
    np.testing.assert_allclose(batched.cv_scores_, whole.cv_scores_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(batched.coef_, whole.coef_, rtol=1e-12, atol=1e-12)


def test_single_target_and_float32_inputs():
    X, Y = simulate(60, 10, 1, seed=9)
    model = RidgeCV(alphas=ALPHAS).fit(X.astype(np.float32), Y[:, 0].astype(np.float32))
    assert model.coef_.dtype == np.float32 and model.coef_.shape == (10, 1)
    reference = RidgeCV(alphas=ALPHAS, dtype=np.float64).fit(X, Y)
    assert model.best_alphas_[0] == reference.best_alphas_[0]
    assert relative_error(model.predict(X), reference.predict(X)) < 1e-4  # float32 rounding


# ---------------------------------------------------------------- banded ridge
def banded_data(seed, n_samples=90):
    rng = np.random.default_rng(seed)
    X1 = rng.standard_normal((n_samples, 15)) + 1
    X2 = rng.standard_normal((n_samples, 25))
    Y = (X1 @ rng.standard_normal((15, 12)) + 0.3 * X2 @ rng.standard_normal((25, 12))
         + 2 * rng.standard_normal((n_samples, 12)))
    return X1, X2, Y


def test_banded_matches_himalaya():
    X1, X2, Y = banded_data(seed=10)
    splits = list(KFold(4).split(X1))
    alphas = np.logspace(-1, 4, 6)
    gammas = np.array([[0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.99, 0.01], [0.01, 0.99]])
    # himalaya's candidates: per-band alpha_i = alpha / gamma_i for every gamma and alpha.
    candidates = np.array([[a / g[0], a / g[1]] for g in gammas for a in alphas])
    ours = BandedRidgeCV(alphas=candidates, cv=splits, dtype=np.float64).fit([X1, X2], Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        peer = HimalayaBandedRidgeCV(
            groups="input", fit_intercept=True, cv=splits,
            solver_params=dict(alphas=alphas, n_iter=gammas, score_func=himalaya_r2,
                               progress_bar=False)).fit([X1, X2], Y)
    np.testing.assert_allclose(ours.best_alphas_, np.exp(-peer.deltas_), rtol=1e-12)
    assert len(np.unique(ours.best_alphas_[1] / ours.best_alphas_[0])) >= 2
    assert relative_error(ours.predict([X1, X2]), peer.predict([X1, X2])) < RTOL


def test_banded_with_one_band_is_ridgecv():
    X1, _, Y = banded_data(seed=11)
    banded = BandedRidgeCV(alphas=ALPHAS, cv=3, dtype=np.float64).fit([X1], Y)
    plain = RidgeCV(alphas=ALPHAS, cv=3, dtype=np.float64).fit(X1, Y)
    np.testing.assert_array_equal(banded.best_alphas_[0], plain.best_alphas_)
    np.testing.assert_allclose(banded.coef_, plain.coef_, rtol=1e-10, atol=1e-12)


def test_banded_with_equal_alphas_is_ridge_on_concatenation():
    X1, X2, Y = banded_data(seed=12)
    equal = np.c_[ALPHAS, ALPHAS]
    banded = BandedRidgeCV(alphas=equal, cv=3, dtype=np.float64).fit([X1, X2], Y)
    plain = RidgeCV(alphas=ALPHAS, cv=3, dtype=np.float64).fit(np.hstack([X1, X2]), Y)
    np.testing.assert_array_equal(banded.best_alphas_[0], plain.best_alphas_)
    np.testing.assert_allclose(banded.coef_, plain.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(banded.intercept_, plain.intercept_, rtol=1e-10, atol=1e-12)


def test_banded_recovers_the_band_with_signal():
    rng = np.random.default_rng(13)
    n = 300
    signal, distractor = rng.standard_normal((n, 10)), rng.standard_normal((n, 40))
    Y = signal @ rng.standard_normal((10, 20)) + rng.standard_normal((n, 20))
    train, test = slice(0, 200), slice(200, None)
    model = BandedRidgeCV(alphas=np.logspace(-1, 5, 7), cv=4).fit(
        [signal[train], distractor[train]], Y[train])
    # The noise band is penalised harder than the signal band for every target.
    assert np.all(model.best_alphas_[1] > model.best_alphas_[0])
    split = model.score_split([signal[test], distractor[test]], Y[test])
    assert split[0].mean() > 0.7          # held-out R² share of the signal band
    assert abs(split[1].mean()) < 0.02    # the distractor explains ~nothing


def test_r2_split_matches_himalaya_and_sums_to_joint_r2():
    rng = np.random.default_rng(14)
    Y = rng.standard_normal((40, 5))
    parts = 0.5 * Y[None] + rng.standard_normal((3, 40, 5))
    ours = r2_score_split(Y, parts)
    centred_parts = parts - parts.mean(1, keepdims=True)
    np.testing.assert_allclose(ours, himalaya_r2_split(Y - Y.mean(0), centred_parts),
                               rtol=1e-10)
    joint = centred_parts.sum(0)
    y = Y - Y.mean(0)
    np.testing.assert_allclose(ours.sum(0), 1 - ((y - joint) ** 2).sum(0) / (y ** 2).sum(0),
                               rtol=1e-10)


# ---------------------------------------------------------------- nested encoding
def test_encoding_recovers_signal_and_not_noise():
    rng = np.random.default_rng(15)
    X = rng.standard_normal((240, 20)).astype(np.float32)
    groups = np.repeat(np.arange(4), 60)
    signal = X @ rng.standard_normal((20, 50)) + 0.5 * rng.standard_normal((240, 50))
    noise = rng.standard_normal((240, 50))
    found = cross_validated_encoding(X, signal, groups=groups, inner_cv=3)
    null = cross_validated_encoding(X, noise, groups=groups, inner_cv=3)
    assert found["r"].shape == (4, 50) and found["alpha"].shape == (4, 50)
    assert found["r"].min() > 0.8 and found["r2"].min() > 0.6
    # Noise: |mean r| over 200 fold-target scores of ~N(0, 1/sqrt(60)) is below 0.05.
    assert abs(null["r"].mean()) < 0.05 and null["r2"].mean() < 0.01


def test_encoding_folds_respect_groups(monkeypatch):
    X, Y = simulate(120, 10, 8, seed=16)
    groups = np.repeat(np.random.default_rng(16).permutation(6), 20)
    inner_splits_seen = []
    real_cv_r2 = ridge_module.cv_r2

    def recording_cv_r2(X_, Y_, alphas, splits, **kwargs):
        inner_splits_seen.append(splits)
        return real_cv_r2(X_, Y_, alphas, splits, **kwargs)

    monkeypatch.setattr(ridge_module, "cv_r2", recording_cv_r2)
    result = cross_validated_encoding(X, Y, groups=groups, inner_cv=3)
    # Outer folds: leave one run out, so each run is one whole test fold.
    assert len(inner_splits_seen) == 6
    for g in np.unique(groups):
        assert len(np.unique(result["fold"][groups == g])) == 1
    for i, splits in enumerate(inner_splits_seen):
        test = set(np.flatnonzero(result["fold"] == i))
        assert len(splits) == 3
        for train, val in splits:
            assert not set(groups[train]) & set(groups[val])       # inner folds grouped
            assert set(train) | set(val) == set(range(120)) - test  # training part only


def test_encoding_alpha_choice_ignores_test_responses():
    """No leakage: redrawing the responses of outer test fold 0 leaves its alphas unchanged."""
    X, Y = simulate(120, 10, 8, seed=19)
    groups = np.repeat(np.arange(4), 30)
    before = cross_validated_encoding(X, Y, groups=groups, inner_cv=3, dtype=np.float64)
    Y_redrawn = Y.copy()
    in_fold_0 = before["fold"] == 0
    Y_redrawn[in_fold_0] = np.random.default_rng(0).standard_normal((in_fold_0.sum(), 8))
    after = cross_validated_encoding(X, Y_redrawn, groups=groups, inner_cv=3, dtype=np.float64)
    np.testing.assert_array_equal(after["alpha"][0], before["alpha"][0])
    assert not np.allclose(after["r"][0], before["r"][0])  # the test scores did see them


# ---------------------------------------------------------------- noise ceiling
def test_noise_ceiling_normalisation():
    rng = np.random.default_rng(17)
    signal = rng.standard_normal(200_000)
    measured = signal + 0.8 * rng.standard_normal(200_000)
    ceiling = np.corrcoef(signal, measured)[0, 1]
    perfect_r2 = 1 - ((measured - signal) ** 2).sum() / ((measured - measured.mean()) ** 2).sum()
    # The perfect model reaches r = ceiling exactly and R² = ceiling² up to sampling (1e-2).
    assert normalise_by_noise_ceiling(ceiling, ceiling, kind="r") == pytest.approx(1.0)
    assert normalise_by_noise_ceiling(perfect_r2, ceiling, kind="r2") == pytest.approx(1, abs=1e-2)
    out = normalise_by_noise_ceiling(np.array([[0.2, 0.3, 0.1]]), np.array([0.5, 0.0, np.nan]),
                                     kind="r2")
    np.testing.assert_allclose(out, [[0.8, np.nan, np.nan]])
    with pytest.raises(ValueError, match="kind"):
        normalise_by_noise_ceiling(0.2, 0.5, kind="corr")


# ---------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_clear_errors():
    X, Y = simulate(40, 5, 3, seed=18)
    with pytest.raises(ValueError, match="Y has 39 rows"):
        RidgeCV().fit(X, Y[:-1])
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN.*row 3, column 2"):
        RidgeCV().fit(X_nan, Y)
    with pytest.raises(ValueError, match="alphas must be finite and > 0"):
        RidgeCV(alphas=[1.0, 0.0]).fit(X, Y)
    with pytest.raises(ValueError, match="alphas must be finite and > 0"):
        BandedRidgeCV(alphas=[-1.0]).fit([X, X], Y)
    with pytest.raises(ValueError, match="cv=5 folds needs at least 5 distinct groups, got 3"):
        RidgeCV(cv=5).fit(X, Y, groups=np.repeat([0, 1, 2], [10, 15, 15]))
    with pytest.raises(ValueError, match="groups .* in both train and test"):
        RidgeCV(cv=[(np.arange(20), np.arange(20, 40))]).fit(X, Y, groups=np.arange(40) % 4)
    with pytest.raises(ValueError, match="cv='loo'.*groups"):
        RidgeCV(cv="loo").fit(X, Y, groups=np.arange(40) % 4)
    with pytest.raises(ValueError, match="solver must be one of"):
        RidgeCV(solver="qr").fit(X, Y)
    with pytest.raises(ValueError, match="backend must be one of"):
        RidgeCV(backend="jax").fit(X, Y)
    with pytest.raises(ValueError, match="target_batch_size must be a positive int"):
        RidgeCV(target_batch_size=0).fit(X, Y)
    with pytest.raises(ValueError, match="same number of samples"):
        BandedRidgeCV().fit([X, X[:-1]], Y)
    with pytest.raises(ValueError, match="X has 4 features"):
        RidgeCV(cv=2).fit(X, Y).predict(X[:, :4])
