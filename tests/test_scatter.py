"""Scattered encoding: units split over jobs (``encoding.unit_jobs``) and gathered give the very
store one unscattered job writes (same content hash: arrays, attributes, provenance), the parts
being whole voxel chunks of the unscattered run."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from brainalign import store
from brainalign.stages import encoding, gather
from study_runner import TEST_CONFIG, planned_jobs, results_hash, snakemake


def _spec(store_path):
    return store.read_provenance(store_path)["params"]


def test_gathered_parts_equal_the_unscattered_store(study, tmp_path, monkeypatch, n_parts=3):
    """In one process (same BLAS threads), with chunks of 16 voxels: the gathered store equals the
    unscattered one bit for bit; both equal the workflow's store (chunks of 1,024, one thread) to
    float32 rounding, which is all that a BLAS whose column rounding depends on the product's
    width (OpenBLAS's Haswell kernels) gives across chunkings."""
    brain = study / "brain" / "sim" / "sub-01.zarr"
    features = study / "features" / "shapes" / "resnet20.zarr"
    workflow_store = study / "encoding" / "sim" / "sub-01" / "resnet20.zarr"  # written by one job
    spec = _spec(workflow_store)
    monkeypatch.setattr(encoding, "UNIT_CHUNK", 16)
    whole = tmp_path / "whole.zarr"
    encoding.run(spec, brain=brain, features=features, out=whole, seed=2024)
    parts = [tmp_path / f"part{k}.zarr" for k in range(n_parts)]
    for k, part in enumerate(parts):
        encoding.run(spec, brain=brain, features=features, out=part, seed=2024, part=f"{k}/{n_parts}")
    gathered = tmp_path / "gathered.zarr"
    gather.run(spec, parts=parts, out=gathered, seed=2024)
    assert store.content_hash(gathered) == store.content_hash(whole)  # arrays, attributes, provenance
    for roi in store.group_names(whole):  # 125 voxels, 8 chunks: parts of 2, 3 and 3 chunks
        sizes = [store.open_dataset(p, group=roi).sizes["unit"] for p in parts]
        assert sizes == [32, 48, 45]
        ours = store.open_dataset(gathered, group=roi).load()
        reference = store.open_dataset(workflow_store, group=roi).load()
        np.testing.assert_array_equal(ours.alpha.values, reference.alpha.values)
        for key in ("r", "r2"):
            np.testing.assert_allclose(ours[key].values, reference[key].values, rtol=1e-4, atol=1e-5)


def test_unit_range_covers_every_unit_once():
    for n_units, n in [(125, 3), (10, 10), (3, 5), (100_000, 64), (5000, 3)]:
        ranges = [encoding.unit_range(f"{k}/{n}", n_units) for k in range(n)]
        units = np.concatenate([np.arange(n_units)[r] for r in ranges])
        np.testing.assert_array_equal(units, np.arange(n_units))
        assert all(r.start % encoding.UNIT_CHUNK == 0 for r in ranges if r.start < r.stop)  # whole chunks
    assert encoding.unit_range("1/3", 5000) == slice(1024, 3072)
    with pytest.raises(ValueError, match="'3/3'"):
        encoding.unit_range("3/3", 10)


def test_gather_refuses_parts_of_other_runs(study, tmp_path):
    brain = study / "brain" / "sim" / "sub-01.zarr"
    spec = _spec(study / "encoding" / "sim" / "sub-01" / "resnet20.zarr")
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    encoding.run(spec, brain=brain, features=study / "features" / "shapes" / "resnet20.zarr", out=a, seed=1,
                 part="0/2")
    encoding.run(spec, brain=brain, features=study / "features" / "shapes" / "mlp.zarr", out=b, seed=1,
                 part="1/2")
    with pytest.raises(ValueError, match=f"{b} was computed from other inputs"):
        gather.run(spec, parts=[a, b], out=tmp_path / "g.zarr", seed=1)
    with pytest.raises(ValueError, match="not a part of a scattered encoding"):
        gather.run(spec, parts=[study / "encoding" / "sim" / "sub-01" / "cnn.zarr"], out=tmp_path / "g.zarr", seed=1)
    assert not (tmp_path / "g.zarr").exists()


def test_unit_jobs_scatters_encoding_and_nothing_else(tmp_path, shared_data):
    default_out = snakemake("-n", "-p", results=tmp_path / "results").stdout
    default = planned_jobs(default_out)
    assert "encoding_part" not in default and default["encoding"] == 8
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["encoding"]["unit_jobs"] = 4
    (tmp_path / "scattered.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    scattered_out = snakemake("-n", "-p", results=tmp_path / "results", configfile=tmp_path / "scattered.yaml").stdout
    scattered = planned_jobs(scattered_out)
    assert scattered == {**default, "encoding_part": 8 * 4}
    # the MEG jobs read the encoding section too; their commands (and so their params) are unchanged

    def meg_commands(out):
        return sorted(line for line in out.splitlines() if "brainalign meg_align" in line)
    assert meg_commands(default_out) and meg_commands(scattered_out) == meg_commands(default_out)


def test_scattered_workflow_gathers_the_local_store(study, tmp_path):
    """Through Snakemake: `encoding_part` jobs and the gathering `encoding` job, on a copy of the
    study's upstream stores (mtimes kept, so only the encoding runs). The ROIs' 125 voxels are one
    chunk, so part 0 holds them all and part 1 none (the split itself: the test above)."""
    results = tmp_path / "results"
    for folder in ("stimuli", "features", "bids", "brain", "manifests"):  # manifests: the external files read
        shutil.copytree(study / folder, results / folder)
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["encoding"]["unit_jobs"] = 2
    (tmp_path / "scattered.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    target = Path("encoding", "sim", "sub-01", "resnet20.zarr")
    out = snakemake(str(results / target), results=results, configfile=tmp_path / "scattered.yaml")
    assert planned_jobs(out.stdout + out.stderr) == {"encoding_part": 2, "encoding": 1}
    assert results_hash(results / target, results) == results_hash(study / target, study)
    assert not list(results.glob("encoding/sim/sub-01/*.parts/*"))  # the parts were temporary
