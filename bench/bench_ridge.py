"""Benchmark: brainalign RidgeCV vs himalaya RidgeCV (numpy backend) on the same data and folds.

Workload (float32, seed 0): 2000 train + 500 test stimuli, 2048 features, 20,000 voxels,
10 alphas, 5 contiguous folds passed to both libraries as the same explicit split list;
each library fits (CV over alphas, one alpha per voxel, refit) and predicts the test set.
Then brainalign alone at 100,000 voxels (himalaya's refit would hold a (10, 2048, 100000)
float32 array, 8 GiB, so it is left out). Each run is a fresh interpreter
(``run_isolated``), so its peak RSS is its own (data included; ``data_only`` is the baseline
of generating the data and nothing else).

Both libraries choose alphas by the same score (mean validation R²; himalaya's
``score_func=r2_score``), so the chosen alphas and test predictions are compared too.
himalaya runs with its defaults otherwise (no target batching).

Dominant flops (eigendecompositions and SVDs not counted; A alphas, t targets, p features,
fold f with n_f training and v_f validation rows, n training rows, m test rows):

* brainalign (kernel form, since p > n_f):
  ``sum_f [4 n_f² p + 2 v_f p n_f + 2 A v_f n_f² + 2 A v_f n_f t] + 4 n² p + 2 n² t + 2 p n t + 2 m p t``
  (kernel and Xc^T U, validation projection, stacked operator, CV predictions; refit kernel
  and Xc^T U, U^T Y, coefficients; test prediction).
* himalaya: ``sum_f [2 A p r_f n_f + 2 A v_f p n_f + 2 A v_f n_f t] + 2 A' p n² + 2 A' p n t + 2 m p t``
  with ``r_f = min(n_f, p)`` and ``A'`` the number of distinct chosen alphas (it refits
  every chosen alpha for every target).

Usage: ``python bench/bench_ridge.py [--quick]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from _common import machine_info, run_isolated

FULL = dict(n_train=2000, n_test=500, n_features=2048, n_targets=20_000, n_folds=5,
            big_targets=100_000)
QUICK = dict(n_train=400, n_test=100, n_features=512, n_targets=2000, n_folds=5,
             big_targets=10_000)
ALPHAS = np.logspace(-1, 8, 10).tolist()
SEED = 0

DATA_CODE = """
import json, time, numpy as np
from sklearn.model_selection import KFold

def make_data(n_train, n_test, n_features, n_targets, seed, block=5000):
    '''Features with a power-law spectrum; voxels = features @ random weights x a voxel
    gain from 0 to 1 (so the best alpha varies across voxels) + unit noise. float32.'''
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    X = rng.standard_normal((n, n_features), dtype=np.float32)
    X *= (np.arange(1, n_features + 1, dtype=np.float32) ** -0.5)
    Y = np.empty((n, n_targets), dtype=np.float32)
    for start in range(0, n_targets, block):
        stop = min(start + block, n_targets)
        W = rng.standard_normal((n_features, stop - start), dtype=np.float32)
        W *= rng.random(stop - start, dtype=np.float32) ** 2
        np.matmul(X, W, out=Y[:, start:stop])
        Y[:, start:stop] += rng.standard_normal((n, stop - start), dtype=np.float32)
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]

P = json.loads({params!r})
X, Y, X_test, Y_test = make_data(P["n_train"], P["n_test"], P["n_features"], P["n_targets"],
                                 P["seed"])
splits = list(KFold(P["n_folds"]).split(X))
alphas = np.asarray(P["alphas"], dtype=np.float32)
"""

OURS_CODE = """
from brainalign.metrics.ridge import RidgeCV
t0 = time.perf_counter()
model = RidgeCV(alphas=alphas, cv=splits, backend="numpy").fit(X, Y)
prediction = model.predict(X_test)
seconds = time.perf_counter() - t0
best = model.best_alphas_
"""

HIMALAYA_CODE = """
import warnings
from himalaya.backend import set_backend
from himalaya.ridge import RidgeCV
from himalaya.scoring import r2_score
set_backend("numpy")
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    model = RidgeCV(alphas=alphas, cv=splits, fit_intercept=True,
                    solver_params=dict(score_func=r2_score)).fit(X, Y)
prediction = model.predict(X_test)
seconds = time.perf_counter() - t0
best = np.asarray(model.best_alphas_)
"""

REPORT_CODE = """
if P["save_to"]:
    np.save(P["save_to"] + "_alphas.npy", best)
    np.save(P["save_to"] + "_prediction.npy", prediction)
print(json.dumps({{"seconds": seconds,
                  "distinct_alphas": int(len(np.unique(np.round(np.log10(best), 3)))),
                  "test_r2_median": float(np.median(1 - ((Y_test - prediction) ** 2).sum(0)
                                          / ((Y_test - Y_test.mean(0)) ** 2).sum(0)))}}))
"""


def flops_ours(n_train, n_test, n_features, n_targets, n_folds, n_alphas):
    total = 0
    for train, val in _fold_sizes(n_train, n_folds):
        total += (4 * train**2 * n_features + 2 * val * n_features * train
                  + 2 * n_alphas * val * train**2 + 2 * n_alphas * val * train * n_targets)
    total += (4 * n_train**2 * n_features + 2 * n_train**2 * n_targets
              + 2 * n_features * n_train * n_targets + 2 * n_test * n_features * n_targets)
    return total


def flops_himalaya(n_train, n_test, n_features, n_targets, n_folds, n_alphas, n_used):
    total = 0
    for train, val in _fold_sizes(n_train, n_folds):
        rank = min(train, n_features)
        total += (2 * n_alphas * n_features * rank * train
                  + 2 * n_alphas * val * n_features * train
                  + 2 * n_alphas * val * train * n_targets)
    total += (2 * n_used * n_features * n_train**2 + 2 * n_used * n_features * n_train * n_targets
              + 2 * n_test * n_features * n_targets)
    return total


def _fold_sizes(n, k):
    val_sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    return [(n - v, v) for v in val_sizes]


def run(library: str, sizes: dict, n_targets: int, save_to: str | None) -> dict:
    params = dict(sizes, n_targets=n_targets, seed=SEED, alphas=ALPHAS, save_to=save_to)
    code = DATA_CODE.format(params=json.dumps(params))
    if library == "data_only":
        code += "\nprint(json.dumps({}))\n"
    else:
        code += (OURS_CODE if library == "brainalign" else HIMALAYA_CODE)
        code += REPORT_CODE.format()
    result = run_isolated(code)
    result["peak_rss_mib"] = round(result["peak_rss_mib"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke-test sizes")
    quick = parser.parse_args().quick
    sizes = dict(QUICK if quick else FULL)
    big_targets = sizes.pop("big_targets")
    machine = machine_info()
    gemm = machine["gemm_float32_gflops"]
    shape = dict(sizes, n_alphas=len(ALPHAS))

    with tempfile.TemporaryDirectory() as tmp:
        data_only = run("data_only", sizes, sizes["n_targets"], None)
        ours = run("brainalign", sizes, sizes["n_targets"], str(Path(tmp) / "ours"))
        peer = run("himalaya", sizes, sizes["n_targets"], str(Path(tmp) / "himalaya"))
        alphas_ours, alphas_peer = (np.load(Path(tmp) / f"{name}_alphas.npy")
                                    for name in ("ours", "himalaya"))
        pred_ours, pred_peer = (np.load(Path(tmp) / f"{name}_prediction.npy")
                                for name in ("ours", "himalaya"))
    agreement = {
        "alphas_identical_fraction": float(np.mean(np.isclose(alphas_ours, alphas_peer,
                                                              rtol=1e-5))),
        "prediction_max_relative_difference": float(np.abs(pred_ours - pred_peer).max()
                                                    / np.abs(pred_peer).max()),
    }
    ours["flops"] = flops_ours(**shape)
    peer["flops"] = flops_himalaya(**shape, n_used=peer["distinct_alphas"])
    for result in (ours, peer):
        result["gflops_per_s"] = round(result["flops"] / result["seconds"] / 1e9, 1)
        result["fraction_of_gemm_rate"] = round(result["gflops_per_s"] / gemm, 3)

    big_sizes = dict(sizes, n_targets=big_targets)
    big_data = run("data_only", big_sizes, big_targets, None)
    big = run("brainalign", big_sizes, big_targets, None)
    big["flops"] = flops_ours(**dict(shape, n_targets=big_targets))
    big["gflops_per_s"] = round(big["flops"] / big["seconds"] / 1e9, 1)
    big["fraction_of_gemm_rate"] = round(big["gflops_per_s"] / gemm, 3)

    print(json.dumps({
        "benchmark": "ridge_cv",
        "quick": quick,
        "workload": dict(shape, dtype="float32", alphas=ALPHAS, seed=SEED,
                         folds="KFold(n_folds), same explicit splits for both"),
        "machine": machine,
        "targets": {
            "data_only": data_only,
            "brainalign": ours,
            "himalaya": peer,
            "speedup_vs_himalaya": round(peer["seconds"] / ours["seconds"], 2),
            "peak_memory_ratio_ours_over_himalaya": round(ours["peak_rss_mib"]
                                                          / peer["peak_rss_mib"], 3),
            "agreement": agreement,
        },
        f"targets_{big_targets}": {
            "data_only": big_data,
            "brainalign": big,
            "peak_rss_under_4_gib": big["peak_rss_mib"] < 4096,
            "himalaya": "not run: its refit holds (n_alphas, n_features, n_targets) float32",
        },
    }, indent=1))


if __name__ == "__main__":
    main()
