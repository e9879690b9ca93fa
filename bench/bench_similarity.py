"""Benchmark: linear CKA (biased, unbiased) and mutual k-NN between two float32 representations.

Workload (c): X (5000, 4096) and Y (5000, 768), float32, a shared 64-d latent plus noise, seed
0; k = 10 neighbours. ``--quick``: (1000, 512) vs (1000, 128).

Each workload runs in a fresh interpreter (``_common.run_isolated``) that builds the data,
times the call (best of ``--repeats``) and reports its peak RSS; ``data_only`` is the peak RSS
of a child that only builds the data, so ``peak - data_only`` is what the computation added.

Baselines, on the same data in the same run:
* ``naive_*``: the textbook ``n x n`` Gram-matrix formulation (``K = X X^T``, ``L = Y Y^T``
  in float32 BLAS; biased HSIC via double-centred kernels, unbiased HSIC via Song et al. eq. 5)
  and, for mutual k-NN, the Platonic-representation recipe (full cosine matrix, full argsort
  per row, ``n x n`` masks).
* ``repsim_*``: the peer library repsim (C++/Eigen, float64) if it is installed: unbiased CKA
  assembled from its ``hsic(..., "linear", "song")`` matrix (its own ``cka(..., "song")``
  normalises by the biased HSIC, a different quantity), and biased CKA from
  ``cka(..., "linear", "gretton")`` in ``--quick`` only (it forms ``K H L H`` with ``n x n x n``
  products: about 3.75 TFLOP at n = 5000).

GFLOP/s counts the multiply-adds of the matrix products each method performs (``2 m n k`` per
``(m, k) @ (k, n)``), compared with the machine's measured float32 GEMM rate.

Usage: ``python bench/bench_similarity.py [--quick] [--repeats R]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, run_isolated  # noqa: E402

SIZES = {"full": (5000, 4096, 768), "quick": (1000, 512, 128)}
K_NEIGHBOURS = 10
SEED = 0
BLOCK_SIZE = 1024  # brainalign's default block size

DATA = """
import json, time
import numpy as np
rng = np.random.default_rng({seed})
n, p, q = {n}, {p}, {q}
latent = rng.standard_normal((n, 64), dtype=np.float32)
X = latent @ rng.standard_normal((64, p), dtype=np.float32)
X += rng.standard_normal((n, p), dtype=np.float32)
Y = latent @ rng.standard_normal((64, q), dtype=np.float32)
Y += rng.standard_normal((n, q), dtype=np.float32)
del latent
"""

TIMED = """
{setup}
X[:64] @ X[:64].T  # wake the BLAS threads
times = []
for _ in range({repeats}):
    t0 = time.perf_counter()
    value = float({call})
    times.append(time.perf_counter() - t0)
print(json.dumps({{"seconds": min(times), "value": value}}))
"""

NAIVE = """
def _centred_gram(A):
    G = A @ A.T
    return G - G.mean(axis=0) - G.mean(axis=1)[:, None] + G.mean()

def naive_cka(X, Y):
    Kc, Lc = _centred_gram(X), _centred_gram(Y)
    dot = lambda A, B: float(np.einsum("ij,ij->", A, B, dtype=np.float64))
    return dot(Kc, Lc) / np.sqrt(dot(Kc, Kc) * dot(Lc, Lc))

def _hsic_song(K, L):
    n = K.shape[0]
    sum_k, sum_l = K.sum(axis=1, dtype=np.float64), L.sum(axis=1, dtype=np.float64)
    trace = float(np.einsum("ij,ij->", K, L, dtype=np.float64))
    return (trace + sum_k.sum() * sum_l.sum() / ((n - 1) * (n - 2))
            - 2 * sum_k @ sum_l / (n - 2)) / (n * (n - 3))

def naive_cka_unbiased(X, Y):
    K, L = X @ X.T, Y @ Y.T
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    return _hsic_song(K, L) / np.sqrt(_hsic_song(K, K) * _hsic_song(L, L))

def naive_mutual_knn(X, Y, k):
    masks = []
    for A in (X, Y):
        A = A / np.linalg.norm(A, axis=1, keepdims=True)
        S = A @ A.T
        np.fill_diagonal(S, -np.inf)
        mask = np.zeros(S.shape, dtype=np.float32)
        np.put_along_axis(mask, np.argsort(-S, axis=1)[:, :k], 1.0, axis=1)
        masks.append(mask)
    return float(((masks[0] * masks[1]).sum(axis=1) / k).mean())
"""

REPSIM_UNBIASED = """
import repsim
def repsim_cka_unbiased(X, Y):
    H = repsim.hsic([X, Y], "linear", "song")
    return H[0, 1] / np.sqrt(H[0, 0] * H[1, 1])
"""


def blocked_self_flops(n: int, p: int, block: int) -> int:
    """Multiply-adds x2 of brainalign's upper-block-triangle ``||X^T X||_F^2``."""
    m, long_side = min(n, p), max(n, p)
    return sum(2 * long_side * (min(s + block, m) - s) * (m - s) for s in range(0, m, block))


def workloads(n: int, p: int, q: int, quick: bool, repsim: bool) -> dict[str, tuple[str, str, int]]:
    """name -> (setup code, timed expression, flop count)."""
    cross = 2 * n * p * q if p * q <= n * (p + q) else 2 * n * n * (p + q)
    ours_cka = cross + blocked_self_flops(n, p, BLOCK_SIZE) + blocked_self_flops(n, q, BLOCK_SIZE)
    grams = 2 * n * n * (p + q)
    ours = ("from brainalign.metrics.cka import linear_cka\n"
            "from brainalign.metrics.neighbours import mutual_knn")
    jobs = {
        "cka_linear": (ours, "linear_cka(X, Y)", ours_cka),
        "cka_linear_unbiased": (ours, "linear_cka(X, Y, unbiased=True)", ours_cka),
        "mutual_knn": (ours, f"mutual_knn(X, Y, {K_NEIGHBOURS})", grams),
        "naive_cka_linear": (NAIVE, "naive_cka(X, Y)", grams),
        "naive_cka_linear_unbiased": (NAIVE, "naive_cka_unbiased(X, Y)", grams),
        "naive_mutual_knn": (NAIVE, f"naive_mutual_knn(X, Y, {K_NEIGHBOURS})", grams),
    }
    if repsim:
        jobs["repsim_cka_linear_unbiased"] = (REPSIM_UNBIASED, "repsim_cka_unbiased(X, Y)", grams)
        if quick:
            jobs["repsim_cka_linear"] = ("import repsim",
                                         'repsim.cka([X, Y], "linear", "gretton")[0, 1]',
                                         grams + 5 * 6 * n**3)
    return jobs


def repsim_version() -> str | None:
    try:
        return metadata.version("repsim")
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed calls per workload, best kept (default 1, --quick 3)")
    args = parser.parse_args()
    n, p, q = SIZES["quick" if args.quick else "full"]
    repeats = args.repeats or (3 if args.quick else 1)
    data = DATA.format(seed=SEED, n=n, p=p, q=q)
    peer = repsim_version()

    # children first: a child's ru_maxrss starts at this process's peak RSS (kept across
    # fork + exec), so the GEMM measurement's buffers must not be allocated yet
    data_only = run_isolated(data + "\nprint(json.dumps({}))")["peak_rss_mib"]
    jobs = workloads(n, p, q, args.quick, peer is not None)
    timings = {name: run_isolated(TIMED.format(setup=data + setup, repeats=repeats, call=call))
               for name, (setup, call, _) in jobs.items()}
    machine = machine_info()
    gemm = machine["gemm_float32_gflops"]
    results = {}
    for name, (_, _, flops) in jobs.items():
        out = timings[name]
        results[name] = {
            "seconds": round(out["seconds"], 4),
            "peak_rss_mib": round(out["peak_rss_mib"], 1),
            "added_rss_mib": round(out["peak_rss_mib"] - data_only, 1),
            "value": out["value"],
            "gflop": round(flops / 1e9, 2),
            "gflops_per_s": round(flops / 1e9 / out["seconds"], 1),
            "fraction_of_gemm_rate": round(flops / 1e9 / out["seconds"] / gemm, 3),
        }

    ratios = {}
    for metric in ("cka_linear", "cka_linear_unbiased", "mutual_knn"):
        for baseline in ("naive", "repsim"):
            other = results.get(f"{baseline}_{metric}")
            if other is None:
                continue
            ours = results[metric]
            ratios[f"{metric}_vs_{baseline}"] = {
                "speedup": round(other["seconds"] / ours["seconds"], 2),
                "added_memory_ratio": round(other["added_rss_mib"]
                                            / max(ours["added_rss_mib"], 1.0), 2),
                "abs_value_difference": abs(other["value"] - ours["value"]),
            }

    print(json.dumps({
        "benchmark": "similarity",
        "workload": {"n_stimuli": n, "p": p, "q": q, "dtype": "float32", "seed": SEED,
                     "k": K_NEIGHBOURS, "block_size": BLOCK_SIZE, "repeats": repeats,
                     "quick": args.quick},
        "peer": {"repsim": peer or "not installed",
                 "repsim_biased_cka": "run" if (peer and args.quick) else
                 "skipped: O(n^3) K H L H products"},
        "machine": machine,
        "data_only_peak_rss_mib": round(data_only, 1),
        "results": results,
        "ratios": ratios,
    }, indent=1))


if __name__ == "__main__":
    main()
