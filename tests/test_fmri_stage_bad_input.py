"""Bad input through the fMRI stage (``brainalign.stages.fmri.run``, as the rule calls it) on a
copy of the Haxby OpenFMRI tree (symbolic links to ../shared/data, with one file changed per
case): each is a clear error naming the file and value at fault, and leaves no store behind; a
mask on another grid is resampled with a warning and recorded in the store."""

from __future__ import annotations

import os
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainalign import store
from brainalign.stages import fmri, stimuli

CATEGORIES = ["bottle", "cat", "chair", "face", "house", "scissors", "scrambledpix", "shoe"]
SPEC = {"stimuli": "categories", "subjects": ["001"], "task": "task001", "layout": "openfmri",
        "bold": "bold_1slice", "rois": {"slice": {"field_of_view": True}},
        "glm": {"method": "condition", "stimulus_column": "trial_type", "hrf_model": "glover",
                "drift_model": "cosine", "high_pass": 0.01, "noise_model": "ar1", "drop_unknown": False},
        "confounds": {"motion_file": True}}


@pytest.fixture(scope="module")
def categories(tmp_path_factory):
    path = tmp_path_factory.mktemp("stimuli") / "categories.zarr"
    stimuli.run({"kind": "words", "items": CATEGORIES}, out=path, seed=0)
    return path


@pytest.fixture
def dataset(tmp_path, shared_data):
    """A writable copy of the tree: folders copied, files linked (replace a link to change a file)."""
    source = shared_data / "haxby2001_sub001"
    root = tmp_path / "haxby"
    shutil.copytree(source, root, copy_function=os.symlink)
    return root


def run_stage(root, out, categories, spec=SPEC):
    fmri.run(spec, bids=root, subject="001", stimuli=categories, out=out, seed=0)


def replace(link, write):
    link.unlink()
    write(link)


def assert_stage_fails(root, tmp_path, categories, match):
    """The stage raises ``ValueError`` matching ``match`` and leaves no store, complete or not."""
    with pytest.raises(ValueError, match=match):
        run_stage(root, tmp_path / "brain.zarr", categories)
    assert not (tmp_path / "brain.zarr").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".brain")]  # no temporary sibling


def test_missing_events_file(dataset, tmp_path, categories):
    events = dataset / "sub001" / "BOLD" / "task001_run003" / "bold_events.tsv"
    events.unlink()
    assert_stage_fails(dataset, tmp_path, categories,
                       r"missing events file for .*task001_run003/bold_1slice\.nii\.gz: "
                       r".*task001_run003/bold_events\.tsv")


def test_events_without_the_stimulus_column(dataset, tmp_path, categories):
    events = dataset / "sub001" / "BOLD" / "task001_run002" / "bold_events.tsv"
    table = pd.read_csv(events, sep="\t").rename(columns={"trial_type": "category"})
    replace(events, lambda p: table.to_csv(p, sep="\t", index=False))
    assert_stage_fails(dataset, tmp_path, categories,
                       r"events file .*task001_run002/bold_events\.tsv has no column "
                       r"'trial_type' \(columns: \['onset', 'duration', 'category'\]\)")


def test_tr_of_the_header_disagrees_with_the_scan_key(dataset, tmp_path, categories):
    replace(dataset / "scan_key.txt", lambda p: p.write_text("TR 2.0\n"))
    assert_stage_fails(dataset, tmp_path, categories,
                       r"repetition time 2\.0 s from .*scan_key\.txt disagrees with 2\.5 s in "
                       r"the header of .*task001_run001/bold_1slice\.nii\.gz")


def test_run_with_fewer_volumes_than_its_events_need(dataset, tmp_path, categories):
    bold = dataset / "sub001" / "BOLD" / "task001_run005" / "bold_1slice.nii.gz"
    img = nib.load(bold)
    short = nib.Nifti1Image(np.asanyarray(img.dataobj)[..., :100], img.affine, img.header)
    replace(bold, lambda p: nib.save(short, p))
    last = pd.read_csv(bold.with_name("bold_events.tsv"), sep="\t").eval("onset + duration").max()
    assert_stage_fails(dataset, tmp_path, categories,
                       rf"task001_run005/bold_1slice\.nii\.gz has 100 volumes \(250 s at TR 2\.5 s\) "
                       rf"but events in .*task001_run005/bold_events\.tsv run until {last:g} s")


def test_mask_on_another_grid_is_resampled_with_a_warning_and_recorded(shared_data, tmp_path, categories):
    """The 25 mm gray-matter mask on the 1-slice data (3.1 x 3.75 x 3.75 mm): resampled, not refused."""
    gray = shared_data / "haxby2001_sub001" / "sub001" / "masks" / "25mm" / "gray.nii.gz"
    spec = {**SPEC, "rois": {"gray": {"mask": str(gray)}}}
    with pytest.warns(UserWarning, match=r"ROI 'gray' was resampled \(nearest neighbour\) from its own grid "
                                         r"\(shape \(6, 10, 10\), voxel size \[25\.0, 25\.0, 25\.0\] mm\) to the data "
                                         r"grid \(shape \(40, 20, 1\)"):
        run_stage(shared_data / "haxby2001_sub001", tmp_path / "brain.zarr", categories, spec)
    ds = store.open_dataset(tmp_path / "brain.zarr", group="gray")
    assert ds.attrs["roi_resampled"] and "voxel size [25.0, 25.0, 25.0] mm" in ds.attrs["roi_resampling"]
    assert ds.attrs["n_voxels_roi"] == 216 and store.read_provenance(tmp_path / "brain.zarr")["params"] == spec


def test_field_of_view_key_is_validated(shared_data, monkeypatch):
    """``field_of_view`` must be true; ``{shared_data}`` in a dataset path is the shared folder."""
    from brainalign.config import ConfigError, validate_config
    from study_runner import PROJECT

    config = {"seed": 0, "stimuli": {"categories": {"kind": "words", "items": CATEGORIES}},
              "models": {"r": {"source": "random", "input": "text", "layers": ["e"], "n_units": 4}},
              "datasets": {"slice": {**SPEC, "path": "{shared_data}/haxby2001_sub001",
                                     "rois": {"slice": {"field_of_view": False}}}}}
    with pytest.raises(ConfigError, match=r"key 'datasets.slice.rois.slice.field_of_view': True was expected"):
        validate_config(config, PROJECT / "config" / "schema.yaml")
    config["datasets"]["slice"]["rois"]["slice"]["field_of_view"] = True
    monkeypatch.setenv("BRAINALIGN_SHARED_DATA", str(shared_data))
    resolved = validate_config(config, PROJECT / "config" / "schema.yaml")["datasets"]["slice"]
    assert resolved["path"] == f"{shared_data}/haxby2001_sub001"
