"""ROIs: masks, atlases, spheres, resampling to the data grid, voxel coordinates."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainalign.brain.rois import (
    atlas_masks,
    field_of_view_mask,
    load_mask,
    mask_on_grid,
    read_label_table,
    same_grid,
    sphere_mask,
    voxel_coordinates,
)


def grid(shape=(8, 8, 8), voxel=2.0, origin=(-8.0, -8.0, -8.0)):
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = origin
    return nib.Nifti1Image(np.zeros(shape, np.float32), affine)


def test_load_mask_is_finite_nonzero():
    data = np.array([0.0, 1.0, -2.0, np.nan, np.inf, 0.5]).reshape(1, 2, 3)
    mask = load_mask(nib.Nifti1Image(data, np.eye(4)))
    np.testing.assert_array_equal(mask.get_fdata().ravel(), [0, 1, 1, 0, 0, 1])
    with pytest.raises(ValueError, match="must be a 3D image"):
        load_mask(nib.Nifti1Image(np.ones((2, 2, 2, 3)), np.eye(4)))
    with pytest.raises(ValueError, match="does not exist"):
        load_mask("/nonexistent/mask.nii.gz")


def test_sphere_holds_the_lattice_points_of_the_ball():
    """Closed form: on an isotropic 2 mm grid a 4 mm sphere centred on a voxel holds the integer
    points with i^2 + j^2 + k^2 <= 4, of which there are 33."""
    ref = grid()
    mask = sphere_mask([0.0, 0.0, 0.0], 4.0, ref).get_fdata().astype(bool)
    assert mask.sum() == 33
    ijk, xyz = voxel_coordinates(mask, ref.affine)
    assert np.linalg.norm(xyz, axis=1).max() <= 4.0
    np.testing.assert_array_equal(ijk.mean(0), [4, 4, 4])  # the sphere is centred on voxel (4, 4, 4)
    with pytest.raises(ValueError, match="contains no voxel centre"):
        sphere_mask([100.0, 0.0, 0.0], 3.0, ref)
    with pytest.raises(ValueError, match="radius must be positive"):
        sphere_mask([0.0, 0.0, 0.0], 0.0, ref)


def test_voxel_coordinates_follow_the_affine():
    affine = np.array([[-3.0, 0, 0, 90], [0, 3.5, 0, -120], [0, 0, 4.0, -60], [0, 0, 0, 1]])
    mask = np.zeros((4, 5, 6), bool)
    mask[3, 0, 5] = mask[1, 4, 2] = True
    ijk, xyz = voxel_coordinates(mask, affine)
    np.testing.assert_array_equal(ijk, [[1, 4, 2], [3, 0, 5]])  # C order
    np.testing.assert_allclose(xyz, [[87.0, -106.0, -52.0], [81.0, -120.0, -40.0]])


def test_atlas_masks_from_table_list_and_mapping(tmp_path):
    labels = np.zeros((4, 4, 4), np.int16)
    labels[:2] = 1
    labels[2:, :2] = 3
    labels[3, 3, 3] = 7  # a label without a name
    atlas = nib.Nifti1Image(labels, np.eye(4))
    pd.DataFrame({"index": [1, 3], "name": ["left", "right"]}).to_csv(tmp_path / "dseg.tsv", sep="\t", index=False)
    from_table = atlas_masks(atlas, tmp_path / "dseg.tsv")
    assert list(from_table) == ["left", "right"]
    assert from_table["left"].get_fdata().sum() == 32 and from_table["right"].get_fdata().sum() == 16
    with pytest.warns(UserWarning, match=r"\[\(2, 'unused'\)\] do not occur in the atlas image"):
        from_list = atlas_masks(atlas, ["Background", "left", "unused", "right"])
    assert list(from_list) == ["left", "right"] and from_list["right"].get_fdata().sum() == 16
    assert list(atlas_masks(atlas, {3: "right"})) == ["right"]
    with pytest.raises(ValueError, match=r"none of the named atlas labels \[5\] occurs"), \
            pytest.warns(UserWarning, match="do not occur"):
        atlas_masks(atlas, {5: "nowhere"})
    with pytest.raises(ValueError, match=r"\['same'\] are used for more than one"):
        atlas_masks(atlas, {1: "same", 3: "same"})
    (tmp_path / "bad.tsv").write_text("value\tlabel\n1\tx\n")
    with pytest.raises(ValueError, match="needs columns 'index' and 'name'"):
        read_label_table(tmp_path / "bad.tsv")


def test_atlas_on_real_labels(shared_data):
    """The Haxby 25 mm 'hoc' image holds integer labels: each mask counts that label's voxels."""
    path = shared_data / "haxby2001_sub001" / "sub001" / "masks" / "25mm" / "hoc.nii.gz"
    values = nib.load(path).get_fdata()
    masks = atlas_masks(path, {1: "a", 22: "b", 44: "c"})
    assert {n: int(m.get_fdata().sum()) for n, m in masks.items()} == {
        n: int((values == v).sum()) for v, n in [(1, "a"), (22, "b"), (44, "c")]}


def test_same_grid_needs_no_resampling():
    ref = grid()
    mask = sphere_mask([0, 0, 0], 3.0, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inside, note = mask_on_grid(mask, ref, name="s")
    assert note == "" and inside.sum() == mask.get_fdata().sum()
    assert same_grid(ref, field_of_view_mask(ref)) and field_of_view_mask(ref).get_fdata().all()


def test_mask_on_another_grid_is_resampled_nearest_with_a_warning():
    """Reference: each fine voxel takes the value of the coarse voxel whose centre is nearest,
    found by rounding the fine voxel centre mapped through the inverse coarse affine."""
    rng = np.random.default_rng(0)
    coarse_affine = np.diag([4.0, 4.0, 4.0, 1.0])
    coarse_affine[:3, 3] = [-8.0, -8.0, -8.0]
    coarse_values = rng.random((5, 5, 5)) > 0.5
    coarse = nib.Nifti1Image(coarse_values.astype(np.uint8), coarse_affine)
    fine = grid(shape=(8, 8, 8), voxel=2.0, origin=(-7.0, -7.0, -7.0))  # centres never tie
    with pytest.warns(UserWarning, match=r"ROI 'blob' was resampled \(nearest neighbour\) .*voxel size "
                                         r"\[4\.0, 4\.0, 4\.0\] mm.*voxel size \[2\.0, 2\.0, 2\.0\] mm"):
        inside, note = mask_on_grid(coarse, fine, name="blob")
    assert "resampled" in note and inside.shape == (8, 8, 8)
    fine_ijk = np.indices((8, 8, 8)).reshape(3, -1).T
    coarse_ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(coarse_affine) @ fine.affine, fine_ijk)).astype(int)
    expected = coarse_values[tuple(coarse_ijk.T)].reshape(8, 8, 8)
    np.testing.assert_array_equal(inside, expected)
