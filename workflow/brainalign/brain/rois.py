"""Regions of interest: binary masks, labelled atlases and spheres, on the data's voxel grid.

An ROI is a 3D image whose non-zero, finite voxels are inside. A mask defined on another grid
than the data's is resampled to it by nearest-neighbour interpolation, with a warning (the
result is only as good as the two images' alignment in world space; nothing is registered).
Voxels are kept as indices ``(i, j, k)`` on the data grid and as world coordinates
``(x, y, z) = A[:3, :3] @ (i, j, k) + A[:3, 3]`` in mm, with ``A`` the data's affine.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.image import resample_to_img

from ..errors import reading

__all__ = [
    "atlas_masks",
    "field_of_view_mask",
    "load_mask",
    "mask_on_grid",
    "read_label_table",
    "same_grid",
    "sphere_mask",
    "voxel_coordinates",
]

log = logging.getLogger(__name__)


def _image(img, name: str) -> nib.spatialimages.SpatialImage:
    if isinstance(img, (str, Path)):
        if not Path(img).is_file():
            raise ValueError(f"{name}: image file {img} does not exist")
        with reading(img, "a NIfTI image", "give a NIfTI file (.nii or .nii.gz)", label=name):
            return nib.load(img)
    if not isinstance(img, nib.spatialimages.SpatialImage):
        raise TypeError(f"{name} must be an image path or a nibabel image, got {type(img).__name__}")
    return img


def _grid(reference) -> tuple[tuple[int, int, int], np.ndarray]:
    img = _image(reference, "reference")
    return tuple(int(n) for n in img.shape[:3]), img.affine


def same_grid(a, b) -> bool:
    """Whether two images share the 3D shape and (to 1e-4 mm) the affine."""
    (shape_a, affine_a), (shape_b, affine_b) = _grid(a), _grid(b)
    return shape_a == shape_b and np.allclose(affine_a, affine_b, atol=1e-4)


def load_mask(mask, name: str = "mask") -> nib.Nifti1Image:
    """A binary (uint8) 3D mask from a path or image: voxels with a finite non-zero value."""
    img = _image(mask, name)
    with reading(mask if isinstance(mask, (str, Path)) else "the image", "a NIfTI image",
                 "the file is truncated or damaged: copy it again", label=name):
        data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{name}: a mask must be a 3D image, got shape {data.shape}")
    inside = np.isfinite(data) & (data != 0)
    return nib.Nifti1Image(inside.astype(np.uint8), img.affine)


def read_label_table(path: str | Path) -> dict[int, str]:
    """Label value -> name from a TSV with columns ``index`` and ``name`` (BIDS ``dseg.tsv``)."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t")
    if not {"index", "name"} <= set(table.columns):
        raise ValueError(f"label table {path} needs columns 'index' and 'name', has {list(table.columns)}")
    return {int(i): str(n) for i, n in zip(table["index"], table["name"])}


def atlas_masks(atlas, labels) -> dict[str, nib.Nifti1Image]:
    """One binary mask per atlas label, on the atlas's grid.

    ``labels`` names the labels: a mapping value -> name, a label table path (see
    :func:`read_label_table`), or a sequence whose entry ``v`` names label value ``v`` (entry 0
    names the background, as nilearn's atlas fetchers return them). Label 0 is background and
    never an ROI. Named labels absent from the image are left out with a warning (none present
    is an error), two labels with one name are an error, and labels in the image without a
    name are left out (logged).
    """
    img = _image(atlas, "atlas")
    values = np.asanyarray(img.dataobj)
    if values.ndim != 3:
        raise ValueError(f"atlas must be a 3D label image, got shape {values.shape}")
    if isinstance(labels, (str, Path)):
        names = read_label_table(labels)
    elif isinstance(labels, Mapping):
        names = {int(v): str(n) for v, n in labels.items()}
    elif isinstance(labels, Sequence):
        names = {v: str(n) for v, n in enumerate(labels)}
    else:
        raise TypeError(f"atlas labels must be a mapping, a sequence or a path, got {type(labels).__name__}")
    names.pop(0, None)
    present = set(np.unique(values[np.isfinite(values)]).astype(int).tolist()) - {0}
    absent = sorted(v for v in names if v not in present)
    if absent:
        warnings.warn(f"atlas labels {[(v, names[v]) for v in absent]} do not occur in the atlas image and are "
                      "left out", UserWarning, stacklevel=2)
    if len(absent) == len(names):
        raise ValueError(f"none of the named atlas labels {sorted(names)} occurs in the atlas image")
    duplicated = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if duplicated:
        raise ValueError(f"atlas label names {duplicated} are used for more than one label value")
    unnamed = sorted(present - set(names))
    if unnamed:
        log.info("atlas label values without a name are not ROIs: %s", unnamed)
    return {names[v]: nib.Nifti1Image((values == v).astype(np.uint8), img.affine) for v in sorted(names)
            if v in present}


def sphere_mask(center_mm: Sequence[float], radius_mm: float, reference) -> nib.Nifti1Image:
    """Voxels of the reference grid whose centres lie within ``radius_mm`` of ``center_mm``.

    Raises ``ValueError`` when no voxel centre is that close.
    """
    center = np.asarray(center_mm, dtype=float)
    if center.shape != (3,) or not np.isfinite(center).all():
        raise ValueError(f"sphere centre must be three finite mm coordinates, got {center_mm!r}")
    if not radius_mm > 0:
        raise ValueError(f"sphere radius must be positive (mm), got {radius_mm!r}")
    shape, affine = _grid(reference)
    ijk = np.indices(shape).reshape(3, -1).T
    xyz = nib.affines.apply_affine(affine, ijk)
    inside = (np.linalg.norm(xyz - center, axis=1) <= radius_mm).reshape(shape)
    if not inside.any():
        raise ValueError(f"sphere of radius {radius_mm} mm at {center.tolist()} mm contains no voxel centre "
                         f"of the data grid (shape {shape})")
    return nib.Nifti1Image(inside.astype(np.uint8), affine)


def field_of_view_mask(reference) -> nib.Nifti1Image:
    """Every voxel of the reference grid (the whole field of view)."""
    shape, affine = _grid(reference)
    return nib.Nifti1Image(np.ones(shape, np.uint8), affine)


def mask_on_grid(mask, reference, *, name: str) -> tuple[np.ndarray, str]:
    """Boolean mask (shape of the reference grid) and a resampling note (``""`` if none).

    A mask on another grid is resampled to the reference by nearest-neighbour interpolation;
    this warns (``UserWarning``) and the returned note says from which grid.
    """
    img = load_mask(mask, name=f"ROI {name!r}")
    shape, affine = _grid(reference)
    if same_grid(img, reference):
        return np.asanyarray(img.dataobj).astype(bool), ""
    zooms = np.sqrt((img.affine[:3, :3] ** 2).sum(0)).round(3).tolist()
    target_zooms = np.sqrt((affine[:3, :3] ** 2).sum(0)).round(3).tolist()
    note = (f"ROI {name!r} was resampled (nearest neighbour) from its own grid (shape {img.shape}, voxel "
            f"size {zooms} mm) to the data grid (shape {shape}, voxel size {target_zooms} mm)")
    warnings.warn(note, UserWarning, stacklevel=2)
    target = nib.Nifti1Image(np.zeros(shape, np.uint8), affine)
    resampled = resample_to_img(img, target, interpolation="nearest", force_resample=True, copy_header=True)
    return np.asanyarray(resampled.dataobj) > 0.5, note


def voxel_coordinates(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n, 3) int and world coordinates (n, 3) mm of a boolean mask's voxels, C order."""
    ijk = np.argwhere(mask)
    return ijk.astype(np.int64), nib.affines.apply_affine(affine, ijk)
