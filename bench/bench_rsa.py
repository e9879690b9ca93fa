"""Benchmark brainalign's RSA against rsatoolbox on the same data, in the same run.

Workloads (float32 input, fixed seeds):

1. RDMs of ``n_conditions x n_channels`` patterns (1000 x 5000): correlation distance, and
   rsatoolbox's "euclidean" (squared distance / n_channels; ours: ``sqeuclidean / c``).
   GFLOP/s counts the Gram product as a dense GEMM would, ``2 n^2 c`` flops (numpy runs
   ``X @ X.T`` as a symmetric rank-k update, half of those), next to the machine's GEMM rate.
2. Comparison of ``n_models`` (100) model RDMs with one data RDM: Spearman and tau-a.
3. A ``n_permutations`` (1000) stimulus-label permutation test, Spearman, ``n_perm_models``
   (10) model RDMs. rsatoolbox has no permutation test: its loop is ``permute_rdms`` of the
   data RDM then ``compare``.

An rsatoolbox workload that would take too long runs on a documented subset (models or
permutations) and its time is extrapolated linearly; the JSON says so. ``workload_total`` sums
the parts on each side (the whole of workload (b) of issue 3). Prints one JSON object.

Usage: ``python bench/bench_rsa.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from _common import machine_info, peak_rss_mib
from rsatoolbox.data import Dataset
from rsatoolbox.rdm import RDMs, calc_rdm
from rsatoolbox.rdm import compare as rsa_compare
from rsatoolbox.rdm.rdms import permute_rdms

from brainalign.metrics.rsa import (compare, compute_rdm, n_conditions_from_pairs,
                                    permutation_test)
from brainalign.metrics.rsa_compare import n_workers


def timed(fn, repeats: int = 1):
    """(best wall time in s, last result) over ``repeats`` calls."""
    best, result = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def entry(ours_s: float, theirs_s: float, **extra) -> dict:
    return {"ours_s": round(ours_s, 4), "rsatoolbox_s": round(theirs_s, 4),
            "speedup": round(theirs_s / ours_s, 1), **extra}


def bench_rdms(patterns: np.ndarray, gemm_gflops: float, repeats: int) -> dict:
    n, c = patterns.shape
    dataset = Dataset(patterns)
    flops = 2 * n * n * c
    out = {}
    for name, ours_fn, theirs_method in (
            ("correlation", lambda: compute_rdm(patterns, "correlation"), "correlation"),
            ("euclidean", lambda: compute_rdm(patterns, "sqeuclidean") / c, "euclidean")):
        t_ours, ours = timed(ours_fn, repeats)
        t_theirs, theirs = timed(lambda: calc_rdm(dataset, method=theirs_method), repeats)
        out[name] = entry(t_ours, t_theirs, gflops_gemm_equivalent=round(flops / t_ours / 1e9, 1),
                          fraction_of_gemm_rate=round(flops / t_ours / 1e9 / gemm_gflops, 2),
                          max_abs_diff=float(np.abs(ours - theirs.get_vectors()[0]).max()))
    return out


def bench_compare(models: np.ndarray, data: np.ndarray, tau_subset: int) -> dict:
    out = {}
    t_ours, ours = timed(lambda: compare(models, data, "spearman"))
    t_theirs, theirs = timed(lambda: rsa_compare(models, data, "spearman"))
    out["spearman"] = entry(t_ours, t_theirs, n_models=len(models),
                            max_abs_diff=float(np.abs(ours - theirs[:, 0]).max()))
    t_ours, ours = timed(lambda: compare(models, data, "tau_a"))
    t_sub, theirs = timed(lambda: rsa_compare(models[:tau_subset], data, "tau-a"))
    out["tau_a"] = entry(t_ours, t_sub * len(models) / tau_subset, n_models=len(models),
                         rsatoolbox_measured_models=tau_subset,
                         rsatoolbox_extrapolated=tau_subset < len(models),
                         max_abs_diff=float(np.abs(ours[:tau_subset] - theirs[:, 0]).max()))
    return out


def bench_permutation(models: np.ndarray, data: np.ndarray, n_permutations: int,
                      subset: int) -> dict:
    n = n_conditions_from_pairs(data.size)
    t_ours, ours = timed(lambda: permutation_test(models, data, "spearman",
                                                  n_permutations=n_permutations, seed=0))
    perms = np.random.default_rng(0).permuted(np.tile(np.arange(n), (n_permutations, 1)), axis=1)
    data_rdm = RDMs(data[None].astype(np.float64))

    def rsatoolbox_loop():
        return np.array([rsa_compare(models, permute_rdms(data_rdm, perm), "spearman")[:, 0]
                         for perm in perms[:subset]])

    t_sub, theirs = timed(rsatoolbox_loop)
    return {"spearman": entry(t_ours, t_sub * n_permutations / subset, n_models=len(models),
                              n_permutations=n_permutations,
                              rsatoolbox_measured_permutations=subset,
                              rsatoolbox_extrapolated=subset < n_permutations,
                              max_abs_diff=float(np.abs(ours.null[:subset] - theirs).max()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        size = dict(n_conditions=200, n_channels=1000, n_models=10, tau_subset=5,
                    n_permutations=50, n_perm_models=5, perm_subset=5, repeats=2)
    else:
        size = dict(n_conditions=1000, n_channels=5000, n_models=100, tau_subset=10,
                    n_permutations=1000, n_perm_models=10, perm_subset=10, repeats=2)
    machine = machine_info()
    rng = np.random.default_rng(0)
    n, c = size["n_conditions"], size["n_channels"]
    patterns = rng.standard_normal((n, c)).astype(np.float32)
    data = compute_rdm(patterns, "correlation")
    p = data.size
    models = (data + rng.standard_normal((size["n_models"], p)).astype(np.float32)
              * data.std()).astype(np.float32)
    compare(models[:1, :3], data[:3], "tau_a")  # load the compiled kernel before timing

    load_start = os.getloadavg()[0]
    result = {
        "benchmark": "rsa",
        "quick": args.quick,
        "sizes": size,
        "n_pairs": p,
        "dtype": "float32",
        "threads_for_sorting": n_workers(None),
        "notes": "ours: brainalign.metrics.rsa; rsatoolbox 0.3 on the same arrays. Times are "
                 "wall seconds (best of `repeats` for RDMs, one run otherwise). "
                 "rsatoolbox_extrapolated: its time was measured on the stated subset and "
                 "scaled linearly to the full workload.",
        "machine": machine,
        "rdm": bench_rdms(patterns, machine["gemm_float32_gflops"], size["repeats"]),
        "compare": bench_compare(models, data, size["tau_subset"]),
        "permutation": bench_permutation(models[:size["n_perm_models"]], data,
                                         size["n_permutations"], size["perm_subset"]),
    }
    parts = [v for key in ("rdm", "compare", "permutation") for v in result[key].values()]
    ours, theirs = sum(v["ours_s"] for v in parts), sum(v["rsatoolbox_s"] for v in parts)
    result["workload_total"] = entry(ours, theirs, parts=len(parts))
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    # other processes on the machine slow both sides; the ratios are from the same run
    result["load_average_1min"] = {"start": load_start, "end": os.getloadavg()[0]}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
