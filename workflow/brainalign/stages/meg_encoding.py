"""Stage ``meg_encoding``: time-resolved ridge encoding of every layer of one model, one subject.

Each channel at each time point is a target (:func:`brainalign.metrics.time_resolved.time_resolved_encoding`):
the per-stimulus responses are predicted from the layer's features (scaled as in
:func:`._align.scaled_features`), with ``time_resolved.outer_folds`` random folds of stimuli
(seeded) held out in turn and each target's alpha chosen by ``encoding.inner_folds``-fold CV
within the training stimuli. The score time course of a layer is the mean held-out Pearson r
over folds and channels,

    score[l, t] = (1 / (F C)) sum_f sum_c r[l, f, c, t];

its bootstrap band resamples the channels (``rsa.n_bootstrap`` draws of C channels with
replacement, the same draws for every layer and time), and gives a peak latency per draw.
The store holds ``r`` (layer, fold, unit, time), ``score`` and the same summary variables as
``meg_rsa`` (:func:`brainalign.metrics.time_resolved.time_course_summary`).
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from .. import store
from ..metrics.time_resolved import time_course_summary, time_resolved_encoding
from ._align import rows_for, scaled_features, stimulus_time_courses

log = logging.getLogger(__name__)


def run(spec: dict, *, brain, features, out, seed: int) -> None:
    """Time-resolved encoding of ``brain`` from every layer of ``features``; write ``out``."""
    labels = {k: spec[k] for k in ("dataset", "subject", "model") if k in spec}
    ds = stimulus_time_courses(brain)
    ids, times = ds.stimulus_id.values.astype(str), ds["time"].values
    n_stimuli, n_units = ds.sizes["stimulus"], ds.sizes["unit"]
    rng = np.random.default_rng(seed)
    folds = rng.permutation(n_stimuli) % spec["outer_folds"]
    layers = store.layer_names(features)
    r = []
    for layer in layers:
        feats = store.open_dataset(features, group=layer)
        X = scaled_features(feats.features.values[rows_for(ids, feats, where=str(features))])
        res = time_resolved_encoding(X, ds["data"].values, times=times, groups=folds, alphas=spec["alphas"],
                                     inner_cv=spec["inner_folds"], backend=spec["backend"],
                                     target_batch_size=spec["target_batch_size"])
        r.append(res["r"].values)
    r = np.stack(r)  # (layer, fold, unit, time)
    per_unit = np.nanmean(r, axis=1)  # (layer, unit, time)
    draws = rng.integers(0, n_units, size=(spec["n_bootstrap"], n_units))
    boot = np.stack([np.nanmean(per_unit[:, d], axis=1) for d in draws]) if spec["n_bootstrap"] else None
    data = time_course_summary(np.nanmean(per_unit, axis=1), times, boot, ci=spec["ci"],
                               latency_window=spec["latency_window"])
    if boot is not None:
        data["bootstrap_units"] = (("bootstrap", "draw"), draws)
    result = xr.Dataset({**data, "r": (("layer", "fold", "unit", "time"), r.astype(np.float32))},
                        coords={"layer": layers, "time": times, "ch_name": ("unit", ds.ch_name.values),
                                "ch_type": ("unit", ds.ch_type.values), "stimulus_id": ("stimulus", ids),
                                "fold_of_stimulus": ("stimulus", folds)},
                        attrs={**labels, "method": "encoding", "metric": "pearson_r", "ci": spec["ci"],
                               "n_bootstrap": spec["n_bootstrap"], "latency_window": spec["latency_window"]})
    result["score"].attrs["description"] = "mean over channels and held-out folds of Pearson r at each time"
    result["time"].attrs["units"] = "s"
    for layer in layers:
        log.info("%s %s: peak r = %.3f at %.0f ms", "/".join(labels.values()), layer,
                 result.peak_score.sel(layer=layer), 1e3 * result.peak_latency.sel(layer=layer))
    store.write_dataset(out, result, stage="meg_encoding", params=spec, inputs=[brain, features], seed=seed)
