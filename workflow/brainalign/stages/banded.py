"""Stage ``banded``: banded ridge over several feature spaces and variance partitioning, per ROI.

A banded model ``encoding.banded.<name>`` lists feature spaces (``model``, ``layer``; two layers,
or layers of two models). For each ROI of a subject's brain store, the trial betas are predicted
from all of them together (each scaled as in :func:`._align.scaled_features`), one penalty per
space chosen per voxel from ``encoding.alphas``^m by cross-validation grouped by run, outer folds
leaving one run out (:func:`brainalign.metrics.variance_partition.banded_encoding`). The store
has one group per ROI: ``r``, ``r2`` (fold, unit) of the joint model; ``split_r2``,
``unique_r2``, ``best_alpha`` (band, fold, unit); ``shared_r2`` (fold, unit) with two bands.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from .. import store
from ..metrics.variance_partition import banded_encoding
from ._align import rows_for, scaled_features
from .encoding import UNIT_COORDS, load_rois

log = logging.getLogger(__name__)


def run(spec: dict, *, brain, features: dict, out, seed: int) -> None:
    """Banded encoding of every ROI of ``brain`` from the bands of ``spec`` (``features``:
    ``model`` -> features store); write ``out``."""
    bands = [f"{b['model']}/{b['layer']}" for b in spec["bands"]]
    rois = load_rois(brain, None)
    layers = [store.open_dataset(features[b["model"]], group=b["layer"]) for b in spec["bands"]]
    scaled = [scaled_features(feats.features.values) for feats in layers]  # read and scaled once, for every ROI
    groups = {}
    for roi, (ds, _) in rois.items():
        Xs = [x[rows_for(ds.stimulus_id.values, feats, where=str(features[band["model"]]))]
              for x, feats, band in zip(scaled, layers, spec["bands"])]
        res = banded_encoding(Xs, ds.betas.values, groups=ds.run.values.astype(str), alphas=spec["alphas"],
                              inner_cv=spec["inner_folds"])
        data = {"r": (("fold", "unit"), res["r"]), "r2": (("fold", "unit"), res["r2"]),
                "split_r2": (("band", "fold", "unit"), res["split_r2"]),
                "unique_r2": (("band", "fold", "unit"), res["unique_r2"]),
                "best_alpha": (("band", "fold", "unit"), res["best_alphas"])}
        if "shared_r2" in res:
            data["shared_r2"] = (("fold", "unit"), res["shared_r2"])
        coords = {"band": bands, **{c: ("unit", ds[c].values) for c in UNIT_COORDS if c in ds.variables}}
        groups[roi] = xr.Dataset({k: (dims, np.asarray(v, np.float32)) for k, (dims, v) in data.items()},
                                 coords=coords)
        groups[roi]["unique_r2"].attrs["description"] = "held-out R² of all bands minus R² of all bands but this one"
        log.info("%s %s: joint R² %.3f, unique %s", spec.get("name"), roi, np.nanmean(res["r2"]),
                 ", ".join(f"{b}={u:.3f}" for b, u in zip(bands, np.nanmean(res["unique_r2"], axis=(1, 2)))))
    labels = {k: spec[k] for k in ("dataset", "subject", "name") if k in spec}
    store.write_tree(out, groups, stage="banded", params=spec, inputs=[brain, *features.values()], seed=seed,
                     root=xr.Dataset(attrs=labels))
