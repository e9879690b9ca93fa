"""Benchmark: what verifying a store costs (``brainalign.manifest``, ``brainalign.store.verify_store``).

Workload: one NSD-sized array, 10,000 stimuli x 16,000 units float32 (640 MB; random normal
values, seed 0, which Zstandard barely compresses: the worst case for reading), written with
``store.write_dataset`` (chunks 1024 x 1024). ``--quick``: 2,000 x 4,000.

Reported, in seconds (best of ``--repeats``):
* ``write``: the whole atomic write, manifest with checksums included; ``manifest_checksums``
  and ``manifest_sizes``: writing the manifest alone with and without SHA-256 of every file;
* ``verify_sizes``: :func:`verify_store` as every open does it (a ``stat`` per file);
  ``verify_checksums``: the full check that re-reads and hashes every file;
* ``content_hash_manifest``: a store's content hash from its manifest (what a stage pays per
  input store for its provenance, and per input store when it checks for staleness);
  ``content_hash_full``: the same store hashed from its bytes (the hash before manifests);
* ``open_verified`` / ``open_unverified``: ``store.open_dataset`` against ``xarray.open_zarr``.

Usage: ``python bench/bench_manifest.py [--quick] [--repeats R]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from _common import machine_info  # noqa: E402

from brainalign import manifest, store  # noqa: E402


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(min(times), 4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, units = (2000, 4000) if args.quick else (10_000, 16_000)
    x = np.random.default_rng(0).standard_normal((n, units), dtype=np.float32)
    ds = xr.Dataset({"betas": (("stimulus", "unit"), x)})
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        path = Path(tmp) / "nsd.zarr"
        t0 = time.perf_counter()
        store.write_dataset(path, ds, stage="bench", params={})
        write = round(time.perf_counter() - t0, 3)
        del x, ds
        entries = manifest.read_manifest(path)
        result = {
            "shape": [n, units], "nbytes": n * units * 4, "files": len(entries),
            "bytes_on_disk": sum(size for size, _ in entries.values()),
            "write": write,
            "manifest_checksums": best(lambda: manifest.write_manifest(path), args.repeats),
            "manifest_sizes": best(lambda: manifest.write_manifest(path, checksums=False), args.repeats),
        }
        manifest.write_manifest(path)
        result["verify_sizes"] = best(lambda: store.verify_store(path), args.repeats)
        result["verify_checksums"] = best(lambda: store.verify_store(path, checksums=True), args.repeats)
        result["content_hash_manifest"] = best(lambda: store.content_hash(path), args.repeats)
        result["open_verified"] = best(lambda: store.open_dataset(path), args.repeats)
        result["open_unverified"] = best(lambda: xr.open_zarr(path, zarr_format=3), args.repeats)
        shutil.move(path / manifest.MANIFEST, Path(tmp) / "kept.json")
        result["content_hash_full"] = best(lambda: store.content_hash(path), args.repeats)
    print(json.dumps({"machine": machine_info(), "manifest": result}))


if __name__ == "__main__":
    main()
