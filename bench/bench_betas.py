"""Peak memory of the betas stage (``layout: betas``) against the number of sessions.

Workload (fixed seed): NSD-format sessions (``betas_sessionNN.hdf5``, dataset ``betas``, int16
``(750, K, J, I)``, percent signal change x 300) on a ``grid`` (default 32 x 32 x 24) voxel grid,
a label volume with 4 ROIs covering ``roi_voxels`` voxels, 500 stimuli each shown several times,
noise ceilings computed from the repeats (the costliest path). The stage
(:func:`brainalign.brain.betas.write_betas_store`) runs in a fresh interpreter for 8 and for 32
sessions (the first n of the same files); each reports its peak resident memory (``VmHWM``), its
time, and what holding every session at once would take (``all_betas_mib``: trials x ROI voxels x
4 bytes) next to one session's (``session_mib``). Bounded memory means the peak does not grow with
``all_betas_mib``. Prints one JSON object.

Usage: ``python bench/bench_betas.py [--sessions 8 32] [--grid 32 32 24] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
from _common import machine_info, run_isolated

TRIALS = 750
N_STIMULI = 500

CHILD = """
import json, logging, time
from pathlib import Path
import pandas as pd
from brainalign.brain.betas import write_betas_store
from brainalign.brain.betas_io import BetasFormat
from brainalign.brain.betas_trials import TrialOptions, betas_files, read_trials
from brainalign.brain.betas_config import label_names
from brainalign.brain.rois import atlas_masks
root = Path({root!r})
fmt = BetasFormat.from_spec({{"preset": "nsd"}})
t0 = time.perf_counter()
files = betas_files("betas_session{{session}}.hdf5", root, "01", fmt, sessions={n})
trials = read_trials(root / "trials.tsv", files, TrialOptions(table="trials.tsv"))
rois = atlas_masks(root / "labels.nii.gz", label_names({{1: "A", 2: "B", 3: "C", 4: "D"}}))
summary = write_betas_store(root / "out_{n}.zarr", files, trials, rois, fmt=fmt, grid=root / "labels.nii.gz",
                            params={{}}, seed=0)
print(json.dumps({{"seconds": round(time.perf_counter() - t0, 2), "trials": len(trials),
                  "roi_voxels": sum(s["voxels"] for s in summary.values())}}))
"""


def write_sessions(root: Path, n_sessions: int, grid, roi_side: int, seed: int = 0) -> None:
    """NSD-format session files, a trial table (every stimulus shown in several sessions) and a
    label volume of 4 ROIs (the 4 quarters of a central box of side ``roi_side``)."""
    rng = np.random.default_rng(seed)
    stimuli = rng.integers(0, N_STIMULI, n_sessions * TRIALS)
    pd.DataFrame({"stimulus_id": [f"s{s:04d}" for s in stimuli],
                  "session": np.repeat(np.arange(1, n_sessions + 1), TRIALS)}).to_csv(
        root / "trials.tsv", sep="\t", index=False)
    patterns = rng.normal(size=(N_STIMULI, *grid[::-1])).astype(np.float32)
    for s in range(n_sessions):
        rows = stimuli[s * TRIALS:(s + 1) * TRIALS]
        data = 300 * (patterns[rows] + rng.normal(size=(TRIALS, *grid[::-1])).astype(np.float32))
        with h5py.File(root / f"betas_session{s + 1:02d}.hdf5", "w") as f:
            f.create_dataset("betas", data=np.clip(data, -32768, 32767).astype(np.int16))
    labels = np.zeros(grid, np.int16)
    lo = [(g - roi_side) // 2 for g in grid]
    box = tuple(slice(a, a + roi_side) for a in lo)
    half = lo[0] + roi_side // 2, lo[1] + roi_side // 2
    labels[box] = 1
    labels[half[0]:lo[0] + roi_side, lo[1]:half[1], box[2]] = 2
    labels[lo[0]:half[0], half[1]:lo[1] + roi_side, box[2]] = 3
    labels[half[0]:lo[0] + roi_side, half[1]:lo[1] + roi_side, box[2]] = 4
    nib.save(nib.Nifti1Image(labels, np.diag([1.8, 1.8, 1.8, 1.0])), root / "labels.nii.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--grid", type=int, nargs=3, default=[32, 32, 24])
    parser.add_argument("--roi-side", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="2 and 4 sessions on a 16 x 16 x 12 grid")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.grid, args.roi_side = [2, 4], [16, 16, 12], 8
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        write_sessions(Path(tmp), max(args.sessions), args.grid, args.roi_side)
        for n in args.sessions:
            run = run_isolated(CHILD.format(root=tmp, n=n))
            run.update(sessions=n, all_betas_mib=round(run["trials"] * run["roi_voxels"] * 4 / 2**20, 1),
                       session_mib=round(TRIALS * run["roi_voxels"] * 4 / 2**20, 1),
                       peak_rss_mib=round(run["peak_rss_mib"], 1))
            results.append(run)
    print(json.dumps({"benchmark": "betas", "grid": args.grid, "trials_per_session": TRIALS,
                      "stimuli": N_STIMULI, "runs": results, "machine": machine_info()}, indent=1))


if __name__ == "__main__":
    main()
