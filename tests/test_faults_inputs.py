"""Faults and bad inputs from the user's side (issue 17): paths and names, YAML, the results
folder's lock and leftovers, and failures that name the file at fault.

Each test is a probe that failed before the fix: a path with spaces broke every job, a label
``"0 1"`` or ``"../../x"`` was accepted, ``results_dir`` could point anywhere, two runs could share
one results folder, a duplicate key was silently dropped, and a damaged input gave a traceback
that did not name the file.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from brainalign import cli
from brainalign.config import ConfigError, validate_config
from brainalign.results_lock import LOCK_NAME, ResultsLock, ResultsLocked, remove_temporaries
from study_runner import PROJECT, TEST_CONFIG, snakemake

SCHEMA = PROJECT / "config" / "schema.yaml"
HAXBY_CONFIG = PROJECT / "config" / "haxby.yaml"
CATEGORIES = ["bottle", "cat", "chair", "face", "house", "scissors", "scrambledpix", "shoe"]


def _test_config() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())


def _config_error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA)
    return str(err.value)


def _stage(capsys, *argv) -> tuple[int, str]:
    """Exit status and stderr of ``brainalign *argv`` run in this process; an error that is not
    a named input error propagates (after its line), as it would print a traceback."""
    try:
        status = cli.main([str(a) for a in argv])
    except Exception:  # the traceback that follows the line: the line is what is checked
        status = 1
    return status, capsys.readouterr().err


# ------------------------------------------------------------------------------ paths and names
def test_paths_with_spaces_run_end_to_end(tmp_path, shared_data):
    """A real study (Haxby subject 1 at 25 mm) whose results folder, dataset, mask and image
    folder all have spaces in their paths runs through every stage."""
    base = tmp_path / "a study"
    images = base / "image folder"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in CATEGORIES:
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(images / f"{name}.png")
    (base / "shared data").mkdir()
    dataset = base / "shared data" / "haxby sub001"
    dataset.symlink_to(shared_data / "haxby2001_sub001", target_is_directory=True)
    (base / "mask folder").mkdir()
    mask = base / "mask folder" / "brain mask.nii.gz"
    shutil.copy(shared_data / "haxby2001_sub001" / "sub001" / "masks" / "25mm" / "brain.nii.gz", mask)

    cfg = yaml.safe_load(HAXBY_CONFIG.read_text())
    cfg["stimuli"] = {"categories": {"kind": "image_folder", "path": str(images), "image_size": 16}}
    cfg["models"] = {"cnn": {"source": "builtin", "name": "small_cnn", "seed": 1, "input": "image",
                             "layers": ["conv1", "conv3"], "pooling": "spatial_mean"},
                     "random": {"source": "random", "input": "image", "layers": ["embedding"], "n_units": 16,
                                "seed": 7}}
    ds = cfg["datasets"]["vt25mm"]
    ds["path"], ds["rois"] = str(dataset), {"brain": {"mask": str(mask)}}
    cfg["datasets"] = {"vt25mm": ds}
    cfg["rsa"]["n_bootstrap"] = 10
    configfile = base / "study config.yaml"
    configfile.write_text(yaml.safe_dump(cfg))

    results = base / "results dir"
    snakemake(results=results, configfile=configfile)
    summary = pd.read_csv(results / "summary.csv", dtype={"subject": str})
    assert set(zip(summary["model"], summary["method"])) == {
        ("cnn", "encoding"), ("cnn", "rsa"), ("random", "encoding"), ("random", "rsa"),
        ("logistic_regression", "decoding")}
    assert summary["score"].notna().all() and set(summary["subject"]) == {"001"}
    assert sorted(p.name for p in (results / "figures").iterdir()) == [
        "brain_map_vt25mm.png", "model_similarity.png", "rdms_vt25mm.png", "score_by_layer.png"]


@pytest.mark.parametrize("key", ["subjects", "session", "task"])
@pytest.mark.parametrize("label", ["0 1", "../../x", "01-a", "a_b", ""])
def test_bids_labels_are_letters_and_digits(key, label):
    cfg = _test_config()
    cfg["datasets"]["sim"][key] = [label] if key == "subjects" else label
    where = "datasets.sim.subjects.0" if key == "subjects" else f"datasets.sim.{key}"
    message = _config_error(cfg)
    assert f"key '{where}' is {label!r}" in message and "letters and digits only" in message


def test_results_dir_outside_the_working_directory_needs_a_setting(tmp_path, monkeypatch, shared_data):
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)  # the config's relative shared_data no longer leads there: give it whole
    cfg = {**_test_config(), "results_dir": "../../etc", "shared_data": str(shared_data.resolve())}
    message = _config_error(cfg)
    assert "key 'results_dir' is '../../etc'" in message and "allow_results_outside: true" in message
    assert str((work / "../../etc").resolve()) in message
    assert validate_config({**cfg, "allow_results_outside": True}, SCHEMA)["results_dir"] == "../../etc"
    assert "working directory itself" in _config_error({**cfg, "results_dir": "."})
    (work / "elsewhere").symlink_to(tmp_path, target_is_directory=True)  # inside by name only
    assert "outside" in _config_error({**cfg, "results_dir": "elsewhere/results"})
    assert validate_config({**cfg, "results_dir": "results/study"}, SCHEMA)["results_dir"] == "results/study"


# ------------------------------------------------------------------------------ lock and leftovers
def test_results_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        first = ResultsLock(tmp_path)
        first.token["pid"] = holder.pid  # as if that process had taken it
        first.acquire()
        with pytest.raises(ResultsLocked, match=f"in use by another run \\(process {holder.pid} .* delete "):
            ResultsLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    second = ResultsLock(tmp_path)
    second.acquire()  # the holder is gone: its lock is stale
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    second.release()
    assert not (tmp_path / LOCK_NAME).exists()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": "another-host", "pid": 1, "started": "x"}))
    with pytest.raises(ResultsLocked, match="host another-host"):
        ResultsLock(tmp_path).acquire()  # cannot be checked from here: refused


def test_remove_temporaries_keeps_stores_and_partial_stores(tmp_path):
    keep = [tmp_path / "features" / "shapes" / "cnn.zarr", tmp_path / "features" / "shapes" / "mlp.zarr.partial",
            tmp_path / "summary.csv", tmp_path / "features" / "shapes" / "cnn.zarr" / ".x.tmp-0123abcd"]
    gone = [tmp_path / "features" / "shapes" / ".cnn.zarr.tmp-0123abcd", tmp_path / ".summary.tmp-89abcdef.csv",
            tmp_path / "figures" / ".rdms_sim.tmp-01234567.png"]
    for path in keep + gone:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if path.suffix in (".zarr", ".partial") or "zarr.tmp" in path.name else path.write_text("x")
    assert sorted(remove_temporaries(tmp_path)) == sorted(gone)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in gone)


def test_two_runs_from_different_folders_cannot_share_one_results_folder(tmp_path, shared_data):
    """Run A holds the results folder (and removed the leftovers of a killed stage, keeping a
    partial store); run B, started from another folder meanwhile, is refused before any job."""
    results = tmp_path / "shared results"
    leftover = results / "features" / "shapes" / ".cnn.zarr.tmp-0123abcd"
    partial = results / "features" / "shapes" / "minilm.zarr.partial"
    leftover.mkdir(parents=True)
    partial.mkdir()
    env = {**os.environ, "BRAINALIGN_SHARED_DATA": str(shared_data),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def run(folder: str, *targets, **kwargs):
        work = tmp_path / folder
        work.mkdir(exist_ok=True)
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"), "--directory", str(work),
               "--configfile", str(TEST_CONFIG), "--config", f"results_dir={results}", "allow_results_outside=True",
               "--cores", "1", *[str(results / t) for t in targets]]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)

    # run A: 8 jobs of 1-3 s each, one at a time; run B needs about 3 s to reach its first job
    a = run("a", *(f"features/{s}/{m}.zarr" for s in ("shapes", "yellow_shapes") for m in ("cnn", "mlp", "resnet20")))
    deadline = time.time() + 120
    while not (results / LOCK_NAME).exists() and a.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    b = run("b", "features/shapes/minilm.zarr")
    out_b, _ = b.communicate(timeout=300)
    out_a, _ = a.communicate(timeout=600)
    assert a.returncode == 0, out_a[-3000:]
    assert b.returncode != 0 and "is in use by another run" in out_b, out_b[-3000:]
    assert not (results / "features" / "shapes" / "minilm.zarr").exists()
    assert not (results / LOCK_NAME).exists()  # released at the end of run A
    assert not leftover.exists() and partial.is_dir()


# ------------------------------------------------------------------------------ YAML
def test_duplicate_key_in_a_config_file_is_an_error_with_its_line(tmp_path):
    text = TEST_CONFIG.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "rsa:\n  n_bootstrap: 3\n")
    first = 1 + text.splitlines().index("rsa:")
    last = 1 + len(text.splitlines())
    out = snakemake("-n", results=tmp_path / "results", configfile=bad, check=False)
    assert out.returncode != 0
    assert f"config file {bad}, line {last}: duplicate key 'rsa' (first at line {first}" in out.stdout + out.stderr


def test_yaml_syntax_error_is_reported_with_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    line = "  cnn: {layers: [conv1, conv3}"  # the bracket is never closed: '}' comes first
    bad.write_text(f"seed: 1\nmodels:\n{line}\n")
    status, err = _stage(capsys, "check-config", bad)
    assert status == 1
    assert err.startswith(f"brainalign check-config: error: config file {bad}, line 3, column {line.index('}') + 1}: "
                          "YAML syntax error")
    assert "Traceback" not in err
    status, err = _stage(capsys, "check-config", TEST_CONFIG)
    assert status == 0


# ------------------------------------------------------------------------------ named failures
@pytest.fixture(scope="module")
def stimuli_store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stimuli") / "shapes.zarr"
    assert cli.main(["stimuli", "--spec", json.dumps(_test_config()["stimuli"]["shapes"]), "--out", str(out)]) == 0
    return out


def _first_line(err: str) -> str:
    return err.strip().splitlines()[0]


def test_weights_that_are_not_a_torch_file_are_named(tmp_path, capsys, stimuli_store):
    weights = tmp_path / "resnet20.th"
    weights.write_text("not a checkpoint\n")
    spec = {**validate_config(_test_config(), SCHEMA)["models"]["resnet20"], "weights": str(weights)}
    status, err = _stage(capsys, "features", "--spec", json.dumps(spec), "--stimuli", stimuli_store,
                         "--out", tmp_path / "f.zarr")
    assert status == 1
    assert _first_line(err).startswith(f"brainalign features: error: model spec key 'weights': {weights} cannot be "
                                       f"read as PyTorch weights")
    assert "Traceback" not in err and not (tmp_path / "f.zarr").exists()


@pytest.mark.parametrize("content", ["text", "truncated"])
def test_unreadable_images_in_an_image_folder_are_named(tmp_path, capsys, content):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(folder / "a.png")
    bad = folder / "b.png"
    if content == "text":
        bad.write_text("this is not an image\n")
    else:
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(bad)
        bad.write_bytes(bad.read_bytes()[:2000])
    spec = {"kind": "image_folder", "path": str(folder), "image_size": 16}
    status, err = _stage(capsys, "stimuli", "--spec", json.dumps(spec), "--out", tmp_path / "s.zarr")
    assert status == 1
    assert _first_line(err).startswith(f"brainalign stimuli: error: stimuli image_folder: {bad} cannot be read as an "
                                       f"image")


@pytest.mark.parametrize("content", ["text", "truncated"])
def test_a_mask_that_is_not_nifti_is_named(tmp_path, capsys, shared_data, content):
    mask = tmp_path / "vt.nii.gz"
    source = shared_data / "haxby2001_sub001" / "sub001" / "masks" / "25mm" / "vt.nii.gz"
    mask.write_bytes(b"not a NIfTI image\n" if content == "text" else source.read_bytes()[:200])
    cfg = yaml.safe_load(HAXBY_CONFIG.read_text())
    cfg["shared_data"] = str(shared_data)
    spec = copy.deepcopy(validate_config(cfg, SCHEMA)["datasets"]["vt25mm"])
    spec["rois"] = {"vt": {"mask": str(mask)}}
    words = tmp_path / "words.zarr"
    assert cli.main(["stimuli", "--spec", json.dumps(cfg["stimuli"]["categories"]), "--out", str(words)]) == 0
    status, err = _stage(capsys, "fmri", "--spec", json.dumps(spec), "--bids", spec["path"], "--subject", "001",
                         "--stimuli", words, "--out", tmp_path / "b.zarr")
    assert status == 1
    assert _first_line(err).startswith(
        f"brainalign fmri: error: key 'rois.vt.mask': {mask} cannot be read as a NIfTI image")


def _damaged_copy(stimuli_store: Path, tmp_path: Path, what: str) -> Path:
    """A copy of the store with its largest image chunk truncated (``chunk``) or overwritten by as
    many other bytes (``corrupt``: the manifest's sizes still match, decompression fails), or its
    root ``zarr.json`` truncated (``metadata``)."""
    damaged = tmp_path / "damaged.zarr"
    shutil.copytree(stimuli_store, damaged)
    target = (damaged / "zarr.json" if what == "metadata" else
              max((p for p in (damaged / "image").rglob("*") if p.is_file() and p.name != "zarr.json"),
                  key=lambda p: p.stat().st_size))
    size = target.stat().st_size
    target.write_bytes(bytes(size) if what == "corrupt" else target.read_bytes()[: size // 2])
    return damaged


@pytest.mark.parametrize("what, named", [("chunk", "damaged store {store}: file image/"),
                                         ("metadata", "damaged store {store}: its zarr.json is unreadable"),
                                         ("corrupt", "store {store}, array or group 'image' is damaged")])
def test_a_damaged_store_is_named(tmp_path, capsys, stimuli_store, what, named):
    damaged = _damaged_copy(stimuli_store, tmp_path, what)
    spec = validate_config(_test_config(), SCHEMA)["models"]["cnn"]
    status, err = _stage(capsys, "features", "--spec", json.dumps(spec), "--stimuli", damaged,
                         "--out", tmp_path / "f.zarr")
    assert status == 1
    line = _first_line(err)
    assert line.startswith(f"brainalign features: error: {named.format(store=damaged)}"), err[-2000:]
    assert "delete" in line and "rerun" in line  # says what to do


def test_damaged_store_metadata_is_named_when_a_job_is_sized(tmp_path):
    """Job resources are computed from the input stores' metadata: a truncated ``zarr.json``
    is an error naming the store, not a JSONDecodeError from a resource function."""
    results = tmp_path / "results"
    snakemake(str(results / "stimuli" / "shapes.zarr"), results=results)
    meta = results / "stimuli" / "shapes.zarr" / "zarr.json"
    meta.write_bytes(meta.read_bytes()[:100])
    out = snakemake(str(results / "features" / "shapes" / "cnn.zarr"), results=results, check=False)
    assert out.returncode != 0
    assert f"store {results / 'stimuli' / 'shapes.zarr'} is damaged" in out.stdout + out.stderr
