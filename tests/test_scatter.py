"""Scattered encoding: units split over jobs (``encoding.unit_jobs``) and gathered give the very
store one unscattered job writes (same content hash: arrays, attributes, provenance)."""

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


def test_gathered_parts_equal_the_unscattered_store(study, tmp_path, n_parts=3):
    brain = study / "brain" / "sim" / "sub-01.zarr"
    features = study / "features" / "shapes" / "resnet20.zarr"
    whole = study / "encoding" / "sim" / "sub-01" / "resnet20.zarr"  # written by one job
    spec = _spec(whole)
    parts = [tmp_path / f"part{k}.zarr" for k in range(n_parts)]
    for k, part in enumerate(parts):
        encoding.run(spec, brain=brain, features=features, out=part, seed=2024, part=f"{k}/{n_parts}")
    gathered = tmp_path / "gathered.zarr"
    gather.run(spec, parts=parts, out=gathered, seed=2024)
    assert store.content_hash(gathered) == store.content_hash(whole)  # arrays, attributes, provenance
    for roi in store.group_names(whole):  # 125 voxels: parts of 41, 42, 42
        sizes = [store.open_dataset(p, group=roi).sizes["unit"] for p in parts]
        assert sizes == [41, 42, 42]


def test_unit_range_covers_every_unit_once():
    for n_units, n in [(125, 3), (10, 10), (3, 5), (100_000, 64)]:
        units = np.concatenate([np.arange(n_units)[encoding.unit_range(f"{k}/{n}", n_units)] for k in range(n)])
        np.testing.assert_array_equal(units, np.arange(n_units))
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
    study's upstream stores (mtimes kept, so only the encoding runs)."""
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
