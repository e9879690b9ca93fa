"""Shared helpers for the benchmarks in ``bench/``: machine facts, GEMM rate, timing, peak memory.

Every benchmark prints one JSON object with a ``machine`` entry from :func:`machine_info`, so
that rates from different runs are only compared under the same BLAS settings.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info


def gemm_gflops(n: int = 2048, dtype=np.float32, repeats: int = 3) -> float:
    """Best measured rate of one ``n x n @ n x n`` matrix product, in GFLOP/s (``2 n^3`` flops)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    a @ b  # warm up the BLAS threads
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def machine_info() -> dict:
    """CPU count, BLAS libraries and thread counts (threadpoolctl), the relevant environment
    variables, and the measured float32 GEMM rate."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "blas": [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                 for d in threadpool_info()],
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS",
                                               "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "gemm_float32_gflops": round(gemm_gflops(), 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def run_isolated(code: str, timeout: float = 3600) -> dict:
    """Run a Python snippet in a fresh interpreter; it must print one JSON line last.

    Peak memory of that child (``VmHWM`` of ``/proc/self/status``, in MiB) is added as
    ``peak_rss_mib``, so every workload's memory is measured on its own. (``ru_maxrss`` would not
    do: Linux carries the parent's high-water mark over fork and exec.)
    """
    wrapper = (code + "\nimport json as _j\n"
               "_hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
               "print(_j.dumps({'peak_rss_mib': int(_hwm.split()[1]) / 1024}))\n")
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True,
                         timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr[-4000:]}")
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    result = lines[-2]
    result.update(lines[-1])
    return result


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (``VmHWM``), in MiB."""
    with open("/proc/self/status") as status:
        return int(next(l for l in status if l.startswith("VmHWM")).split()[1]) / 1024
