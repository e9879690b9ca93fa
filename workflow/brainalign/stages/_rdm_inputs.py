"""The RDMs the RSA stage compares: each ROI's (precomputed, or from its betas) and each layer's.

A ROI group of a brain store holds either single-trial ``betas`` (trial, unit), averaged per
stimulus and turned into an RDM with the ``rdm`` distance, or a precomputed ``rdm`` (pair) over
its ``stimulus_id`` (a ``modality: rdm`` dataset, :mod:`brainalign.stages.rdms`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..metrics.rsa import compute_rdm
from ._align import stimulus_means

MIN_UNITS = {"correlation": 3}  # fewest units for which an RDM distance is informative; 1 otherwise


def too_few_units(ds: xr.Dataset, spec: dict) -> str | None:
    """Why a ROI cannot give an RDM with the ``rdm`` distance (None if it can): an ROI with fewer
    units than the distance needs, e.g. fewer than 3 voxels for the correlation distance, which
    is +-1 for any two 2-voxel patterns and undefined for 1 voxel. A precomputed RDM always can."""
    if "rdm" in ds:
        return None
    need = MIN_UNITS.get(spec["rdm"], 1)
    if ds.sizes["unit"] < need:
        return f"{ds.sizes['unit']} voxel(s): the {spec['rdm']} distance needs at least {need}"
    return None


def roi_rdm(ds: xr.Dataset, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """(stimulus ids, condensed RDM) of one ROI group of a brain store (module docstring)."""
    if "rdm" in ds:
        return ds.stimulus_id.values.astype(str), ds.rdm.values
    ids, means = stimulus_means(ds.betas.values, ds.stimulus_id.values)
    return ids, compute_rdm(means, spec["rdm"])
