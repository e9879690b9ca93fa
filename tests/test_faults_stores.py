"""Faults that used to lose data or give silent wrong results (issue 17), and what already held.

Each probe edits a config, damages a store or kills a stage as a careless user would, and checks
that no finished store is lost and no wrong number is written without a word. The study-level
probes share one small study (the test study cut to the CNN, one subject, one ROI), run once and
copied by each test that damages it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml
from study_runner import TEST_CONFIG, planned_jobs, snakemake

from brainalign import store
from brainalign.config import ConfigError, validate_config
from brainalign.errors import InputError
from brainalign.models import extract_features
from brainalign.models.cifar_resnet import CifarResNet, load_weights

SCHEMA = TEST_CONFIG.parent / "schema.yaml"
FEATURES = "features/shapes/cnn.zarr"
ENCODING = "encoding/sim/sub-01/cnn.zarr"
RSA = "rsa/sim/sub-01/cnn.zarr"


def _test_config() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())


def _small_config() -> dict:
    """config/test.yaml with the CNN only, one subject of the fMRI dataset, one ROI, no MEG."""
    cfg = _test_config()
    del cfg["stimuli"]["yellow_shapes"], cfg["datasets"]["meg"]
    cfg["models"] = {"cnn": cfg["models"]["cnn"]}
    sim = cfg["datasets"]["sim"]
    sim["subjects"] = ["01"]
    sim["simulate"]["rois"] = {"visual": sim["simulate"]["rois"]["visual"]}
    cfg["rsa"]["n_bootstrap"] = 10
    return cfg


def _write_config(cfg: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def small_study(tmp_path_factory, shared_data) -> tuple[Path, Path]:
    """(config file, results folder) of a finished small study (read-only: copy to damage)."""
    root = tmp_path_factory.mktemp("faults")
    config = _write_config(_small_config(), root / "small.yaml")
    results = root / "results"
    snakemake(str(results / ENCODING), str(results / RSA), results=results, configfile=config)
    return config, results


@pytest.fixture
def study_copy(small_study, tmp_path) -> tuple[Path, Path]:
    config, results = small_study
    copied = tmp_path / "results"
    shutil.copytree(results, copied)
    return config, copied


def _chunk_file(array: Path) -> Path:
    """The first chunk file of a Zarr array folder."""
    return min(p for p in (array / "c").rglob("*") if p.is_file())


# ----------------------------------------------------------------- config edits
def _validate(edit) -> dict:
    cfg = _test_config()
    edit(cfg)
    return validate_config(cfg, SCHEMA)


def test_unknown_layer_fails_validation_naming_it_and_the_valid_names():
    with pytest.raises(ConfigError, match=r"models\.cnn\.layers.*'conv9'.*available: conv1, conv1\.0"):
        _validate(lambda c: c["models"]["cnn"].update(layers=["conv1", "conv9", "fc"]))
    with pytest.raises(ConfigError, match=r"models\.minilm\.layers.*'encoder\.layer\.9'"):
        _validate(lambda c: c["models"]["minilm"].update(layers=["encoder.layer.9"]))


def test_glob_layers_are_accepted_where_a_simulated_roi_names_a_layer_they_select():
    _validate(lambda c: c["models"]["cnn"].update(layers=["conv*", "fc"]))
    _validate(lambda c: c["models"]["cnn"].update(layers=["conv*"]))
    with pytest.raises(ConfigError, match=r"datasets\.sim\.simulate\.rois\.visual\.layer"):
        _validate(lambda c: c["models"]["cnn"].update(layers=["conv3", "fc"]))


def test_torchvision_weights_name_is_not_taken_for_a_file():
    tv = {"source": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1", "input": "image",
          "layers": ["layer1"]}
    cfg = _validate(lambda c: c["models"].update(tv=tv))
    assert cfg["models"]["tv"]["weights"] == "IMAGENET1K_V1"


@pytest.mark.parametrize("edit, key", [
    (lambda c: c["encoding"].update(inner_folds=50), r"encoding\.inner_folds' is 50.*3 training runs"),
    (lambda c: c["rsa"].update(n_bootstrap=0), r"rsa\.n_bootstrap' is 0"),
    (lambda c: c["rsa"].update(n_bootstrap=1), r"rsa\.n_bootstrap' is 1"),
    (lambda c: c["time_resolved"].update(outer_folds=1000), r"time_resolved\.outer_folds' is 1000.*48 stimuli"),
    (lambda c: c["time_resolved"].update(outer_folds=24, latency_window=[0.5, 0.0]),
     r"time_resolved\.latency_window"),
    (lambda c: c["stimuli"]["shapes"].update(image_size=20000), r"stimuli\.shapes\.image_size.*GiB of memory"),
    (lambda c: c["datasets"]["sim"]["simulate"].update(grid=[100000, 100000, 100000]),
     r"datasets\.sim\.simulate\.grid.*GiB of memory"),
])
def test_values_that_cannot_run_fail_validation_naming_the_key(edit, key):
    with pytest.raises(ConfigError, match=key):
        _validate(edit)


def test_the_default_and_test_studies_still_validate():
    validate_config(yaml.safe_load((TEST_CONFIG.parent / "config.yaml").read_text()), SCHEMA)
    validate_config(_test_config(), SCHEMA)


def test_bad_layer_edit_keeps_the_finished_features_store(study_copy):
    config, results = study_copy
    before = store.content_hash(results / FEATURES)
    bad = _small_config()
    bad["models"]["cnn"]["layers"] = ["conv1", "conv9", "fc"]
    out = snakemake(str(results / FEATURES), results=results, check=False,
                    configfile=_write_config(bad, results.parent / "bad.yaml"))
    assert out.returncode != 0 and "conv9" in out.stdout + out.stderr
    assert store.content_hash(results / FEATURES) == before


def test_failed_stage_restores_the_previous_store_and_reruns_next_time(study_copy):
    config, results = study_copy
    before = store.content_hash(results / FEATURES)
    stimuli = results / "stimuli" / "shapes.zarr"
    kept = results.parent / "kept_stimuli.zarr"
    shutil.copytree(stimuli, kept)
    _chunk_file(stimuli / "image").unlink()  # the features job now fails
    out = snakemake(str(results / FEATURES), "--forcerun", "features", results=results,
                    configfile=config, check=False)
    assert out.returncode != 0
    assert "Restored previous version" in out.stdout + out.stderr
    assert store.content_hash(results / FEATURES) == before
    shutil.rmtree(stimuli)
    shutil.copytree(kept, stimuli)
    dry = snakemake(str(results / FEATURES), "-n", results=results, configfile=config)
    assert planned_jobs(dry.stdout).get("features") == 1  # the restored store is not taken as new
    assert "reason: Forced execution" in dry.stdout  # marked incomplete: rerun-incomplete forces it
    # a run killed while the job ran would leave Snakemake's copy of the store behind
    backup = Path(__file__).parents[1] / ".snakemake" / "backups" / str(results / FEATURES).lstrip("/")
    shutil.copytree(results / FEATURES, backup)
    conv1 = store.open_dataset(results / FEATURES, group="conv1").features.values
    snakemake(str(results / FEATURES), results=results, configfile=config)
    assert not backup.exists()
    np.testing.assert_array_equal(store.open_dataset(results / FEATURES, group="conv1").features.values, conv1)


# ------------------------------------------------------------- damaged stores
def _tree(tmp_path, name="a.zarr", value=1.0, inputs=()):
    ds = xr.Dataset({"x": (("stimulus", "unit"), np.full((6, 4), value, np.float32))},
                    coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(6)])})
    return store.write_tree(tmp_path / name, {"g": ds}, stage="t", params={}, inputs=inputs)


def test_deleted_or_truncated_chunk_is_an_error_naming_the_store(tmp_path):
    path = _tree(tmp_path)
    np.testing.assert_array_equal(store.open_dataset(path, group="g").x.values, 1.0)
    chunk = path / "g" / "x" / "c" / "0" / "0"
    data = chunk.read_bytes()
    chunk.write_bytes(data[:-3])
    with pytest.raises(store.StoreError, match=rf"damaged store {path}: file g/x/c/0/0 has .* delete"):
        store.open_dataset(path, group="g")
    chunk.unlink()
    with pytest.raises(store.StoreError, match=rf"damaged store {path}: file g/x/c/0/0 is missing"):
        store.open_tree(path)
    with pytest.raises(store.StoreError, match="damaged store"):
        store.content_hash(path)  # a stage that records it as an input refuses it too
    chunk.write_bytes(data)
    store.open_dataset(path, group="g")


def test_full_check_finds_a_chunk_changed_in_place(tmp_path):
    path = _tree(tmp_path)
    chunk = path / "g" / "x" / "c" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(store.StoreError, match="changed since it was written"):
        store.verify_store(path, checksums=True)


def test_store_without_manifest_is_refused(tmp_path):
    path = _tree(tmp_path)
    (path / "manifest.json").unlink()
    with pytest.raises(store.StoreError, match="has no manifest.json"):
        store.open_dataset(path, group="g")


def test_stale_input_is_an_error_naming_the_store(tmp_path):
    a = _tree(tmp_path, "a.zarr")
    b = _tree(tmp_path, "b.zarr", inputs=[a])
    store.open_dataset(b, group="g")
    _tree(tmp_path, "a.zarr", value=2.0)  # a rewritten with other data; b not recomputed
    with pytest.raises(store.StoreError, match=rf"stale store {b}: its input {a} has changed"):
        store.open_dataset(b, group="g")
    _tree(tmp_path, "a.zarr", value=1.0)  # the same data again: b is current
    store.open_dataset(b, group="g")


def test_streamed_float_arrays_are_filled_with_nan(tmp_path):
    s = store.StreamingStore(tmp_path / "f.zarr", stage="t", params={}, n_rows=4)
    s.create("g", "x", ("stimulus", "unit"), (4, 3), "float32")
    s.create("g", "n", ("stimulus",), (4,), "int32")
    meta = json.loads((tmp_path / "f.zarr.partial" / "g" / "x" / "zarr.json").read_text())
    assert meta["fill_value"] == "NaN"
    assert json.loads((tmp_path / "f.zarr.partial" / "g" / "n" / "zarr.json").read_text())["fill_value"] == 0


def test_forced_encoding_on_a_store_with_a_deleted_chunk_fails_naming_it(study_copy):
    config, results = study_copy
    _chunk_file(results / FEATURES / "conv1" / "features").unlink()
    assert "Nothing to be done" in snakemake(str(results / ENCODING), "-n", results=results,
                                             configfile=config).stdout
    out = snakemake(str(results / ENCODING), "--forcerun", "encoding", results=results,
                    configfile=config, check=False)
    assert out.returncode != 0
    log = (results / "logs" / "encoding" / "sim_sub-01_cnn.log").read_text()
    assert f"damaged store {results / FEATURES}" in log and "delete" in log


# ------------------------------------------------------------ killed extraction
@pytest.fixture
def stimuli(tmp_path):
    rng = np.random.default_rng(0)
    ds = xr.Dataset({"image": (("stimulus", "y", "x", "channel"),
                               rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8))},
                    coords={"stimulus_id": ("stimulus", [f"img{i:02d}" for i in range(12)])})
    return store.open_dataset(store.write_dataset(tmp_path / "stimuli.zarr", ds, stage="stimuli", params={}))


SPEC = {"source": "builtin", "name": "small_cnn", "seed": 3, "layers": ["conv1", "fc"], "batch_size": 3}


def _extract(stimuli, out, **kwargs):
    return extract_features(SPEC, stimuli, out, params=SPEC, inputs=[], block_bytes=0, **kwargs)


def _kill_at(rows):
    def on_commit(done):
        if done == rows:
            raise KeyboardInterrupt("killed")
    return on_commit


def test_killed_extraction_resumes_and_two_runs_are_identical(tmp_path, stimuli):
    whole = _extract(stimuli, tmp_path / "whole.zarr")
    again = _extract(stimuli, tmp_path / "again.zarr")
    assert store.content_hash(whole) == store.content_hash(again)  # determinism
    with pytest.raises(KeyboardInterrupt):
        _extract(stimuli, tmp_path / "resumed.zarr", on_commit=_kill_at(6))
    seen = []
    resumed = _extract(stimuli, tmp_path / "resumed.zarr", on_commit=seen.append)
    assert seen == [9, 12]  # went on from row 6
    assert store.content_hash(resumed) == store.content_hash(whole)


def test_damaged_partial_store_is_extracted_again_not_published_with_holes(tmp_path, stimuli):
    whole = _extract(stimuli, tmp_path / "whole.zarr")
    with pytest.raises(KeyboardInterrupt):
        _extract(stimuli, tmp_path / "resumed.zarr", on_commit=_kill_at(9))
    partial = tmp_path / "resumed.zarr.partial"
    (partial / "conv1" / "features" / "c" / "1" / "0").unlink()  # rows 3-5 of conv1
    seen = []
    with pytest.warns(UserWarning, match=rf"damaged store {partial}: file conv1/features/c/1/0 is missing"):
        resumed = _extract(stimuli, tmp_path / "resumed.zarr", on_commit=seen.append)
    assert seen == [3, 6, 9, 12]  # every row extracted again
    for layer in SPEC["layers"]:
        a = store.open_dataset(whole, group=layer).features.values
        b = store.open_dataset(resumed, group=layer).features.values
        assert np.isfinite(b).all() and (np.abs(b).sum(axis=1) > 0).all()
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ what already held
def test_python_tags_in_a_config_are_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(TEST_CONFIG.read_text() + f'\nevil: !!python/object/apply:os.system ["touch {marker}"]\n')
    out = snakemake("-n", results=tmp_path / "results", configfile=config, check=False)
    assert out.returncode != 0 and not marker.exists()


class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path(_Boom.marker),))


def test_weights_are_loaded_without_running_pickled_code(tmp_path):
    _Boom.marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.th"
    torch.save({"state_dict": {}, "x": _Boom()}, path)
    with pytest.raises(InputError, match="cannot be read as PyTorch weights .*UnpicklingError"):
        load_weights(CifarResNet(20), path)
    assert not (tmp_path / "pwned").exists()


def test_snakemake_refuses_a_second_run_on_locked_outputs(study_copy):
    config, results = study_copy
    locks = Path(__file__).parents[1] / ".snakemake" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = locks / "999.output.lock"
    lock.write_text(str(results / FEATURES) + "\n")
    try:
        out = snakemake(str(results / FEATURES), "--forcerun", "features", results=results,
                        configfile=config, check=False)
    finally:
        lock.unlink()
    assert out.returncode != 0 and "cannot be locked" in out.stdout + out.stderr
    assert (results / FEATURES / "zarr.json").is_file()  # untouched
