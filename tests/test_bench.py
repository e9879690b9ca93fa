"""The benchmarks in ``bench/`` still run: each at its ``--quick`` size prints one JSON object with
the machine facts, and its peer comparison agrees numerically (times are not checked here; the
benchmarks are for measuring, at full size, by hand).

``bench_extract.py`` is left out: even its quick size takes minutes on two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(name: str) -> dict:
    out = subprocess.run([sys.executable, str(BENCH / f"bench_{name}.py"), "--quick"], cwd=BENCH,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    machine = result["machine"]
    assert machine["gemm_float32_gflops"] > 0 and machine["blas"] and "OPENBLAS_CORETYPE" in machine["env"]
    return result


def test_bench_ridge_agrees_with_himalaya():
    agreement = run_bench("ridge")["targets"]["agreement"]
    # float32 near-ties between neighbouring alphas may pick either: most, not all, are identical
    assert agreement["alphas_identical_fraction"] > 0.95
    assert agreement["prediction_max_relative_difference"] < 1e-3


def test_bench_rsa_agrees_with_rsatoolbox():
    result = run_bench("rsa")
    for kind in ("correlation", "euclidean"):
        assert result["rdm"][kind]["max_abs_diff"] < 1e-5
    for section in ("compare", "permutation"):
        for entry in result[section].values():
            assert entry["max_abs_diff"] < 1e-8


def test_bench_similarity_agrees_with_direct_formulas():
    ratios = run_bench("similarity")["ratios"]
    assert ratios and all(r["abs_value_difference"] < 1e-6 for r in ratios.values())


def test_bench_fmri_glm_agrees_with_nilearn():
    result = run_bench("fmri_glm")
    assert all(result[method]["max_rel_diff"] < 1e-4 for method in ("lsa", "lss"))


def test_bench_betas_reads_every_session():
    runs = run_bench("betas")["runs"]
    assert [r["trials"] for r in runs] == [750 * r["sessions"] for r in runs]
    assert all(r["peak_rss_mib"] > 0 for r in runs)


def test_bench_manifest_covers_every_file_of_the_store():
    result = run_bench("manifest")["manifest"]
    # 2,000 x 4,000 float32: 2 row chunks x 4 unit chunks (1,024 units), and the array's zarr.json
    assert result["files"] == 9 and 0 < result["bytes_on_disk"] <= result["nbytes"] + 4096


def test_bench_study_runs_an_nsd_shaped_study_through_snakemake(tmp_path):
    """The study benchmark's code path at a tiny size (400 stimuli x 3 repeats, CNN only): every
    job has a benchmark file and each ROI's driving layer is recovered by encoding."""
    out = subprocess.run([sys.executable, str(BENCH / "bench_study.py"), "--quick", "--workdir", str(tmp_path)],
                         cwd=BENCH, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    run, = json.loads(out.stdout)["runs"].values()
    assert sorted(run["jobs"]) == ["encoding/nsd_sub-01_cnn", "roi_rdms/nsd_sub-01", "rsa/nsd_sub-01_cnn"]
    assert all(job["seconds"] > 0 and job["max_rss_mb"] > 0 for job in run["jobs"].values())
    assert all(roi["encoding_recovered"] for roi in run["recovery"].values()), run["recovery"]
