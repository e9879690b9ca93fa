"""Stage ``encoding``: cross-validated ridge encoding of every layer of one model, per ROI.

For each ROI of a brain store and each layer of a features store, the trial betas ``Y``
(trial, unit) are predicted from the features of each trial's stimulus (scaled as in
:func:`._align.scaled_features`) by :func:`brainalign.metrics.ridge.cross_validated_encoding`:
outer folds leave one run out, each voxel's alpha is chosen by cross-validation grouped by run
within the training runs, and held-out runs are scored by Pearson r and R² per voxel. Every
fold, voxel and layer is stored: ``r``, ``r2``, ``alpha`` (layer, fold, unit) in one group per ROI.

With ``part="k/n"`` only units ``[k * u // n, (k + 1) * u // n)`` of each ROI of ``u`` units are
encoded (a ROI with none in that part is left out); :mod:`.gather` joins the ``n`` parts into the
store the unsplit run writes. Voxels are fitted independently (each one's alpha, fit and scores
use its own column of ``Y`` only), so the parts hold exactly the unsplit run's values.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from .. import store
from ..metrics.ridge import cross_validated_encoding
from ._align import rows_for, scaled_features

log = logging.getLogger(__name__)
# per-unit labels carried over from the brain store (the voxel's noise ceiling among them)
UNIT_COORDS = ("i", "j", "k", "x", "y", "z", "ch_name", "ch_type", "noise_ceiling")


def encode_layer(X: np.ndarray, brain: xr.Dataset, spec: dict) -> dict:
    """Nested cross-validated scores of one layer's trial features ``X`` for one ROI."""
    return cross_validated_encoding(
        X, np.asarray(brain.betas.values, dtype=np.float32), groups=brain.run.values.astype(str),
        alphas=spec["alphas"], inner_cv=spec["inner_folds"], backend=spec["backend"],
        target_batch_size=spec["target_batch_size"])


def roi_scores(brain: xr.Dataset, results: dict[str, dict]) -> xr.Dataset:
    """Stack the per-layer results of one ROI as ``r``, ``r2``, ``alpha`` (layer, fold, unit)."""
    runs = brain.run.values.astype(str)
    first = next(iter(results.values()))
    test_runs = [runs[first["fold"] == f][0] for f in range(first["r"].shape[0])]
    data = {key: (("layer", "fold", "unit"), np.stack([res[key] for res in results.values()]).astype(np.float32))
            for key in ("r", "r2", "alpha")}
    coords = {"layer": list(results), "test_run": ("fold", test_runs),
              **{c: ("unit", brain[c].values, brain[c].attrs)  # values only: no storage encoding
                 for c in UNIT_COORDS if c in brain.variables}}
    ds = xr.Dataset(data, coords=coords)
    ds["r"].attrs["description"] = "Pearson r between held-out betas and predictions, per run left out"
    ds["r2"].attrs["description"] = "R² = 1 - SS_res / SS_tot on the held-out run (negative: worse than its mean)"
    ds["alpha"].attrs["description"] = "ridge penalty chosen by cross-validation within the training runs"
    return ds


def unit_range(part: str, n_units: int) -> slice:
    """Units of part ``"k/n"`` (k = 0 .. n-1) of ``n_units``: ``[k * n_units // n, (k+1) * n_units // n)``."""
    k, sep, n = part.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise ValueError(f"part must be 'k/n' with 0 <= k < n, got {part!r}")
    k, n = int(k), int(n)
    return slice(k * n_units // n, (k + 1) * n_units // n)


def load_rois(brain, part: str | None) -> dict[str, xr.Dataset]:
    """Every ROI of a brain store (only the units of ``part``, if given; empty parts dropped)."""
    rois = {}
    for roi in store.group_names(brain):
        ds = store.open_dataset(brain, group=roi)
        if part is not None:
            ds = ds.isel(unit=unit_range(part, ds.sizes["unit"]))
        if ds.sizes["unit"]:
            rois[roi] = ds.load()
    return rois


def run(spec: dict, *, brain, features, out, seed: int, part: str | None = None) -> None:
    """Encode every ROI of ``brain`` (units of ``part`` only, if given) from every layer of
    ``features``; write ``out``."""
    labels = {k: spec[k] for k in ("dataset", "subject", "model") if k in spec}
    rois = load_rois(brain, part)
    results = {roi: {} for roi in rois}
    for layer in store.layer_names(features):  # each layer is read once, then used for every ROI
        feats = store.open_dataset(features, group=layer)
        scaled = scaled_features(feats.features.values)
        for roi, ds in rois.items():
            res = encode_layer(scaled[rows_for(ds.stimulus_id.values, feats, where=str(features))], ds, spec)
            results[roi][layer] = res
            log.info("%s %s %s: mean r = %.3f", "/".join(labels.values()), roi, layer, np.nanmean(res["r"]))
    groups = {roi: roi_scores(rois[roi], results[roi]) for roi in rois}
    params = spec if part is None else {**spec, "part": part}
    store.write_tree(out, groups, stage="encoding", params=params, inputs=[brain, features], seed=seed,
                     root=xr.Dataset(attrs=labels))
