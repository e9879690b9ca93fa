"""The fMRI stage on real data: Haxby et al. (2001) subject 1 (OpenFMRI layout, 12 runs).

Condition betas (one per category per run) are decoded leave-one-run-out into the 8 object
categories (chance 1/8). The reference figure for block-averaged 1-slice patterns is about
75 %; the GLM betas reach 64 % (logistic regression) with the default settings.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from brainalign.brain.fmri import fmri_stage
from brainalign.brain.openfmri import find_openfmri_runs, openfmri_masks, read_scan_tr
from brainalign.brain.rois import field_of_view_mask

CATEGORIES = ["bottle", "cat", "chair", "face", "house", "scissors", "scrambledpix", "shoe"]


@pytest.fixture(scope="module")
def haxby(shared_data):
    return shared_data / "haxby2001_sub001"


def decode(ds, classifier) -> float:
    """Leave-one-run-out accuracy of standardised condition betas."""
    model = make_pipeline(StandardScaler(), classifier)
    return float(cross_val_score(model, ds.betas.values, ds.stimulus_id.values, groups=ds.run.values,
                                 cv=LeaveOneGroupOut()).mean())


def test_openfmri_runs(haxby):
    runs = find_openfmri_runs(haxby, bold="bold_1slice")
    assert [r.label for r in runs] == [f"task001_run{r:03d}" for r in range(1, 13)]
    assert read_scan_tr(haxby) == (2.5, haxby / "scan_key.txt")
    assert all(r.tr == 2.5 and r.motion.name == "bold_moest.txt" for r in runs)
    assert [r.label for r in find_openfmri_runs(haxby, runs=[3, 1])] == ["task001_run001", "task001_run003"]
    assert sorted(openfmri_masks(haxby)) == ["brain", "gray", "hoc", "vt", "white"]
    with pytest.raises(ValueError, match=r"missing BOLD image: .*task001_run001/bold_2mm\.nii\.gz"):
        find_openfmri_runs(haxby, bold="bold_2mm")
    with pytest.raises(ValueError, match="no runs of task002"):
        find_openfmri_runs(haxby, task="task002")


def test_one_slice_condition_betas_decode_categories(haxby):
    """8-way leave-one-run-out decoding of 1-slice condition betas: 0.635 (logistic regression),
    asserted above 0.5. The slice's 270 all-zero voxels are dropped and counted. The 25 mm gray
    matter mask, resampled onto the slice's grid, warns and says so in its attributes."""
    runs = find_openfmri_runs(haxby, bold="bold_1slice")
    rois = {"slice": field_of_view_mask(runs[0].bold), "gray": openfmri_masks(haxby)["gray"]}
    with pytest.warns(UserWarning, match="ROI 'gray' was resampled"):
        out = fmri_stage(runs, rois, method="condition", stimulus_column="trial_type", known_stimuli=CATEGORIES)
    ds = out["slice"]
    assert ds.sizes == {"trial": 96, "unit": 530}
    assert ds.attrs["n_dropped_voxels"] == ds.attrs["n_dropped_constant_voxels"] == 270
    assert not ds.attrs["roi_resampled"]
    gray = out["gray"].attrs
    assert gray["roi_resampled"] and "voxel size [25.0, 25.0, 25.0] mm" in gray["roi_resampling"]
    assert sorted(set(ds.stimulus_id.values)) == CATEGORIES
    accuracy = decode(ds, LogisticRegression(max_iter=2000))
    assert accuracy > 0.5, accuracy


def test_25mm_masks(haxby):
    """The 25 mm 'vt' mask holds a single voxel, too little to decode 8 categories, so decoding is
    tested on the 129-voxel brain mask: 0.281 with a linear SVM (chance 0.125), asserted above
    0.21, which 96 guesses at chance would reach with probability below 1 %."""
    runs = find_openfmri_runs(haxby, bold="bold_25mm")
    masks = openfmri_masks(haxby)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the masks are on the data grid: no resampling
        out = fmri_stage(runs, {"vt": masks["vt"], "brain": masks["brain"]}, method="condition",
                         stimulus_column="trial_type", known_stimuli=CATEGORIES)
    vt = out["vt"]
    assert vt.sizes == {"trial": 96, "unit": 1}
    np.testing.assert_array_equal(np.c_[vt.i, vt.j, vt.k], [[4, 3, 4]])
    np.testing.assert_array_equal(np.c_[vt.x, vt.y, vt.z], [[-37.5, -37.5, -12.5]])
    assert out["brain"].sizes["unit"] == 129 and out["brain"].attrs["n_dropped_voxels"] == 0
    accuracy = decode(out["brain"], LinearSVC())
    assert accuracy > 0.21, accuracy
    np.testing.assert_array_equal(out["brain"].stimulus_id.values, vt.stimulus_id.values)
