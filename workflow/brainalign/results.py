"""Result stores as the arrays that summaries, figures and notebooks read."""

from __future__ import annotations

import numpy as np
import xarray as xr


def square_rdms(ds: xr.Dataset, var: str) -> xr.DataArray:
    """A condensed RDM variable of an RSA store (``brain_rdm`` or ``model_rdm``) as square
    matrices with dims (..., ``stimulus_id``, ``other``), zero on the diagonal."""
    ids = ds.stimulus_id.values.astype(str)
    condensed = ds[var]
    lead = [d for d in condensed.dims if d != "pair"]
    square = np.zeros(condensed.shape[:-1] + (len(ids), len(ids)))
    i, j = ds.pair_i.values, ds.pair_j.values
    square[..., i, j] = condensed.values
    square[..., j, i] = condensed.values
    return xr.DataArray(square, dims=lead + ["stimulus_id", "other"],
                        coords={**{d: condensed[d].values for d in lead}, "stimulus_id": ids, "other": ids})
