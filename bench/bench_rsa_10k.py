"""The RSA stage at NSD size on its own: 10,000 stimuli (50 M pairs; or N_STIMULI), 4 ROIs x 4,000
voxels, 3 layers of 384 features, Spearman, ``n_bootstrap`` samples (argument; the study uses 200).

Synthetic stores (one trial per stimulus: RSA reads only the stimulus means) are written once
under ``/tmp/bench_rsa_<N_STIMULI>``; then, as the workflow runs them, the subject's ``roi_rdms``
job (the ROIs' RDMs) and the RSA job run in this process, and each one's wall time, CPU time and
peak RSS (``VmHWM``, reset before each) are printed as JSON (the RSA job's at the top level,
``roi_rdms`` nested), with the machine's BLAS settings and GEMM rate.

Usage: ``python bench/bench_rsa_10k.py N_BOOTSTRAP [N_STIMULI]``
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from _common import machine_info
from brainalign import store
from brainalign.stages import roi_rdms, rsa

N = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
WORK = Path(f"/tmp/bench_rsa_{N}")


def write_stores(rng) -> None:
    ids = np.array([f"img{i:05d}" for i in range(N)])
    layers = {f"l{k}": xr.Dataset({"features": (("stimulus", "unit"), rng.standard_normal((N, 384)).astype(np.float32))},
                                  coords={"stimulus_id": ("stimulus", ids)}) for k in range(3)}
    store.write_tree(WORK / "features.zarr", layers, stage="features", params={}, seed=0,
                     root=xr.Dataset(attrs={"layers": list(layers)}))
    rois = {}
    for r in range(4):
        signal = layers["l0"].features.values @ rng.standard_normal((384, 4000)).astype(np.float32)
        betas = signal + 3 * rng.standard_normal(signal.shape, dtype=np.float32)
        rois[f"roi{r}"] = xr.Dataset({"betas": (("trial", "unit"), betas)},
                                     coords={"stimulus_id": ("trial", ids),
                                             "run": ("trial", (np.arange(N) * 40 // N).astype(str))})
    store.write_tree(WORK / "brain.zarr", rois, stage="fmri", params={}, seed=0)


def _peak_mib() -> float:
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024


def _timed(stage) -> dict:
    """Wall time, CPU time and peak RSS (``VmHWM``, reset before) of ``stage()``."""
    Path("/proc/self/clear_refs").write_text("5")
    t, c = time.time(), time.process_time()
    stage()
    return {"wall_s": round(time.time() - t, 1), "cpu_s": round(time.process_time() - c, 1),
            "peak_rss_mib": round(_peak_mib())}


def main() -> None:
    n_bootstrap = int(sys.argv[1])
    setup = not (WORK / "brain.zarr").exists()
    if setup:
        write_stores(np.random.default_rng(0))
    for name in ("rois.zarr", "rsa.zarr"):
        shutil.rmtree(WORK / name, ignore_errors=True)
    spec = {"rdm": "correlation", "comparator": "spearman", "n_bootstrap": n_bootstrap}
    rois = _timed(lambda: roi_rdms.run(spec, brain=WORK / "brain.zarr", out=WORK / "rois.zarr", seed=1))
    job = _timed(lambda: rsa.run(spec, brain=WORK / "rois.zarr", features=WORK / "features.zarr",
                                 out=WORK / "rsa.zarr", seed=1))
    print(json.dumps({"n_stimuli": N, "n_bootstrap": n_bootstrap, **job, "roi_rdms": rois,
                      "load_average": os.getloadavg(), "machine": machine_info()}))


if __name__ == "__main__":
    main()
