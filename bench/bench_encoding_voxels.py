"""Encoding's exact peak memory across voxel counts, on the stores ``bench_study.py`` wrote.

Snakemake's ``benchmark:`` files sample a job's memory now and then, so a job of a few seconds can
show a peak tens of MB off (the CNN and ResNet-20 encodings have the same layer widths and differ
by 30 MB there). Here every encoding job of every size in ``--workdir`` (``s<stimuli>_v<voxels>``)
is run again on its own, in a fresh interpreter with one BLAS thread (as Snakemake runs it), and
its peak resident memory is read from ``VmHWM`` (exact). The result: wall and CPU time and peak
memory per (size, model), and for each stimulus count run at several voxel counts, each model's
peak at the most voxels over its peak at the fewest (the bar of issue 12: within 1.10).

Usage::

    python bench/bench_study.py --sizes 0.25x0.25,0.25x1 --workdir DIR
    python bench/bench_encoding_voxels.py --workdir DIR [--out bench/results/encoding_voxels_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
from pathlib import Path

from _common import machine_info, run_isolated

from brainalign import store

JOB = """
import json, os, time
from threadpoolctl import threadpool_limits
threadpool_limits(1)
from brainalign import store
from brainalign.stages import encoding
done = {done!r}
spec = store.read_provenance(done)["params"]
t0, c0 = time.perf_counter(), os.times()
encoding.run(spec, brain={brain!r}, features={features!r}, out={out!r}, seed=0)
c1 = os.times()
print(json.dumps({{"wall_s": round(time.perf_counter() - t0, 2),
                  "cpu_s": round(c1.user + c1.system - c0.user - c0.system, 2)}}))
"""


def sizes(workdir: Path) -> dict[tuple[int, int], Path]:
    """The ``s<stimuli>_v<voxels>`` results folders of a bench_study work folder."""
    found = {}
    for path in workdir.iterdir():
        match = re.fullmatch(r"s(\d+)_v(\d+)", path.name)
        if match and (path / "encoding").is_dir():
            found[int(match[1]), int(match[2])] = path
    return dict(sorted(found.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs = {}
    for (n, v), results in sizes(args.workdir).items():
        for done in sorted((results / "encoding" / "nsd" / "sub-01").glob("*.zarr")):
            model = done.stem
            inputs = list(store.read_provenance(done)["inputs"])
            brain = next(p for p in inputs if "/brain/" in p)
            features = next(p for p in inputs if "/features/" in p)
            out = args.workdir / f"rerun_{n}_{v}_{model}.zarr"
            result = run_isolated(JOB.format(done=str(done), brain=brain, features=features, out=str(out)))
            shutil.rmtree(out)
            runs[f"{n}x{v}/{model}"] = {"stimuli": n, "voxels": v, "model": model, **result}
    ratios = {}
    for n in sorted({r["stimuli"] for r in runs.values()}):
        at_n = [r for r in runs.values() if r["stimuli"] == n]
        voxels = sorted({r["voxels"] for r in at_n})
        if len(voxels) < 2:
            continue
        for model in sorted({r["model"] for r in at_n}):
            low, high = (runs[f"{n}x{v}/{model}"]["peak_rss_mib"] for v in (voxels[0], voxels[-1]))
            ratios[f"{n}/{model}"] = {"voxels": [voxels[0], voxels[-1]], "peak_rss_mib": [round(low), round(high)],
                                      "ratio": round(high / low, 3)}
    result = {"machine": machine_info(), "date": dt.date.today().isoformat(), "runs": runs,
              "peak_ratio_most_over_fewest_voxels": ratios}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
