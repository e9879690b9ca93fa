"""Reading precomputed single-trial betas, one file (a session or a run) at a time.

Four formats, each a file of ``n`` trials on one voxel grid:

* ``nifti``: a 4-D NIfTI image ``(i, j, k, trial)`` (THINGS-fMRI ``betas_vol``, BOLD5000
  GLMsingle), read through nibabel;
* ``hdf5``: one dataset of an HDF5 file (NSD ``betas_sessionNN.hdf5``, dataset ``betas``), read
  through h5py; ``axes`` names its axes in file order: NSD's ``(750, 83, 104, 81)`` int16 array
  for the 81 x 104 x 83 ``func1pt8mm`` grid is ``["trial", "k", "j", "i"]``;
* ``npy`` / ``zarr``: a ``(trial, voxel)`` array of data already masked (``.npy``, or a Zarr
  array), whose columns are the voxels of a table with columns ``i, j, k`` (grid indices).

Every value is returned as ``raw * scale`` in float32 (computed in float64): NSD stores percent
signal change x 300 as int16, so its ``scale`` is ``1/300``. :data:`PRESETS` holds the settings
of known datasets (``nsd``).

To write synthetic data in these layouts (benchmarks, tests): a ``nifti`` file is any
``nibabel.Nifti1Image`` of shape ``(I, J, K, n)``; an ``hdf5`` file is ``h5py.File(p, "w")
.create_dataset("betas", data=a)`` with ``a`` of shape ``(n, K, J, I)`` for NSD's axes; an
``npy`` file is ``np.save(p, a)`` with ``a`` of shape ``(n, n_voxels)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

__all__ = ["FORMATS", "PRESETS", "BetasFormat", "read_columns", "read_voxels", "trial_count", "voxel_table",
           "volume_shape"]

FORMATS = ("nifti", "hdf5", "npy", "zarr")
VOLUME_AXES = ("i", "j", "k", "trial")
PRESETS = {
    # NSD (Allen et al. 2022): betas_sessionNN.hdf5, '/betas' int16 (750, 83, 104, 81) in h5py's
    # order for the 81 x 104 x 83 func1pt8mm grid, percent signal change x 300
    "nsd": {"format": "hdf5", "dataset": "betas", "axes": ["trial", "k", "j", "i"], "scale": 1 / 300},
}


@dataclass(frozen=True)
class BetasFormat:
    """How a betas file stores its trials (module docstring)."""

    format: str = "nifti"
    dataset: str = "betas"
    axes: tuple = field(default=VOLUME_AXES)
    scale: float = 1.0

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"betas format {self.format!r} is not one of {list(FORMATS)}")
        if sorted(self.axes) != sorted(VOLUME_AXES):
            raise ValueError(f"betas axes {list(self.axes)} must name each of {list(VOLUME_AXES)} once")
        if not np.isfinite(self.scale) or self.scale == 0:
            raise ValueError(f"betas scale must be a finite non-zero number, got {self.scale!r}")

    @classmethod
    def from_spec(cls, spec: Mapping) -> BetasFormat:
        """From a ``betas`` config section: its ``preset`` (if any), overridden by its own keys."""
        preset = spec.get("preset")
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"betas preset {preset!r} is not one of {sorted(PRESETS)}")
        merged = {**PRESETS.get(preset, {}), **{k: spec[k] for k in ("format", "dataset", "axes", "scale")
                                                 if k in spec}}
        if "axes" in merged:
            merged["axes"] = tuple(merged["axes"])
        return cls(**merged)

    @property
    def volumetric(self) -> bool:
        return self.format in ("nifti", "hdf5")


def _open_error(path: Path, err: Exception) -> ValueError:
    return ValueError(f"betas file {path} cannot be read: {type(err).__name__}: {err}")


def _hdf5_dataset(handle, path: Path, name: str):
    if name not in handle:
        raise ValueError(f"betas file {path} has no HDF5 dataset {name!r} (it has {sorted(handle.keys())})")
    return handle[name]


def _array(path: Path, fmt: BetasFormat):
    """A lazily read ``(trial, voxel)`` array of an ``npy`` file or a Zarr array."""
    if fmt.format == "npy":
        return np.load(path, mmap_mode="r", allow_pickle=False)
    from ..store import open_external_array

    return open_external_array(path)


def _raw_shape(path: Path, fmt: BetasFormat) -> tuple[int, ...]:
    """The file's array shape in file order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"betas file {path} does not exist")
    try:
        if fmt.format == "nifti":
            return tuple(nib.load(path).shape)
        if fmt.format == "hdf5":
            import h5py

            with h5py.File(path, "r") as handle:
                return tuple(_hdf5_dataset(handle, path, fmt.dataset).shape)
        return tuple(_array(path, fmt).shape)
    except ValueError as err:
        if str(path) in str(err):
            raise
        raise _open_error(path, err) from None
    except (OSError, EOFError, nib.filebasedimages.ImageFileError) as err:
        raise _open_error(path, err) from None


def _check_ndim(path: Path, shape: tuple, fmt: BetasFormat) -> None:
    want = 4 if fmt.volumetric else 2
    if len(shape) != want:
        raise ValueError(f"betas file {path}: a {fmt.format} betas array must be {want}-D "
                         f"({'(' + ', '.join(fmt.axes) + ')' if fmt.volumetric else '(trial, voxel)'}), "
                         f"got shape {shape}")


def trial_count(path, fmt: BetasFormat) -> int:
    """Number of trials in one betas file (from its header; no data is read)."""
    shape = _raw_shape(path, fmt)
    _check_ndim(path, shape, fmt)
    return int(shape[fmt.axes.index("trial")] if fmt.volumetric else shape[0])


def volume_shape(path, fmt: BetasFormat) -> tuple[int, int, int]:
    """Grid shape ``(I, J, K)`` of a volumetric betas file."""
    shape = _raw_shape(path, fmt)
    _check_ndim(path, shape, fmt)
    return tuple(int(shape[fmt.axes.index(a)]) for a in "ijk")


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice, slice]:
    corners = np.argwhere(mask)
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(corners.min(0), corners.max(0)))


def read_voxels(path, fmt: BetasFormat, mask: np.ndarray) -> np.ndarray:
    """``(n_trials, n_voxels)`` float32 betas of a volumetric file at the voxels of ``mask``
    (a boolean ``(I, J, K)`` array), in C order of ``(i, j, k)``, times ``fmt.scale``.

    Only the bounding box of the mask is read.
    """
    path = Path(path)
    box = _bounding_box(mask)
    try:
        if fmt.format == "nifti":
            block = np.asanyarray(nib.load(path).dataobj[box + (slice(None),)])
        else:
            import h5py

            where = {"i": box[0], "j": box[1], "k": box[2], "trial": slice(None)}
            with h5py.File(path, "r") as handle:
                raw = _hdf5_dataset(handle, path, fmt.dataset)[tuple(where[a] for a in fmt.axes)]
            block = np.transpose(raw, [fmt.axes.index(a) for a in VOLUME_AXES])
    except (OSError, EOFError) as err:
        raise _open_error(path, err) from None
    return _scaled(block[mask[box]].T, fmt)


def read_columns(path, fmt: BetasFormat, columns: np.ndarray) -> np.ndarray:
    """``(n_trials, len(columns))`` float32 betas of an ``npy``/``zarr`` file, times ``fmt.scale``."""
    path = Path(path)
    try:
        array = _array(path, fmt)
        lo, hi = int(columns.min()), int(columns.max()) + 1
        block = np.asarray(array[:, lo:hi])[:, columns - lo]
    except OSError as err:
        raise _open_error(path, err) from None
    return _scaled(block, fmt)


def _scaled(block: np.ndarray, fmt: BetasFormat) -> np.ndarray:
    if fmt.scale == 1.0:
        return np.ascontiguousarray(block, dtype=np.float32)
    return (np.asarray(block, dtype=np.float64) * fmt.scale).astype(np.float32)


def voxel_table(path) -> np.ndarray:
    """``(n_voxels, 3)`` grid indices ``i, j, k`` of the columns of an ``npy``/``zarr`` betas array,
    from a TSV/CSV table with columns ``i``, ``j``, ``k`` (one row per column, in order)."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t" if path.suffix.lower() in (".tsv", ".txt") else ",")
    missing = [c for c in "ijk" if c not in table.columns]
    if missing:
        raise ValueError(f"voxel table {path} needs columns 'i', 'j', 'k'; missing {missing} "
                         f"(has {list(table.columns)})")
    ijk = table[list("ijk")].to_numpy()
    if not np.issubdtype(ijk.dtype, np.integer) or (ijk < 0).any():
        raise ValueError(f"voxel table {path}: columns i, j, k must hold non-negative integer grid indices")
    if len(np.unique(ijk, axis=0)) != len(ijk):
        raise ValueError(f"voxel table {path}: a voxel (i, j, k) is listed twice")
    return ijk.astype(np.int64)
