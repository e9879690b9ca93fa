"""Stage ``meg_align``: time-resolved RSA and encoding of every layer of one model with one
subject's MEG/EEG, written as one store with two groups, ``rsa`` and ``encoding``.

RSA (:func:`rsa_over_time`). The brain RDM over stimuli (``rdm`` of the per-stimulus responses of
all channels, within windows of ``window`` samples) is compared at every time with each layer's
RDM (``comparator``) by :func:`brainalign.metrics.time_resolved.time_resolved_rsa`, with
``n_bootstrap`` bootstrap samples over stimuli (the same draws at every time).

Encoding (:func:`encoding_over_time`). Each channel at each time point is a target
(:func:`brainalign.metrics.time_resolved.time_resolved_encoding`): the per-stimulus responses are
predicted from the layer's features (scaled as in :func:`._align.scaled_features`), with
``outer_folds`` random folds of stimuli (seeded) held out in turn and each target's alpha chosen
by ``inner_folds``-fold CV within the training stimuli. The score of layer ``l`` at time ``t`` is
the mean held-out Pearson r over folds ``f`` and channels ``c``,

    score[l, t] = (1 / (F C)) sum_f sum_c r[l, f, c, t];

its bootstrap band resamples the channels (``n_bootstrap`` draws of C channels with replacement,
the same draws for every layer and time), and gives a peak latency per draw.

Both groups hold ``score`` (layer, time), ``score_ci_low``/``score_ci_high`` (layer, time),
``bootstrap_score`` (bootstrap, layer, time), ``peak_latency`` (layer, s) searched in
``latency_window``, its percentile interval ``peak_latency_ci_low``/``peak_latency_ci_high``, and
``peak_score`` (:func:`brainalign.metrics.time_resolved.time_course_summary`); ``encoding`` also
``r`` (layer, fold, unit, time). One job computes both, so the brain and feature stores are read
once and one process start serves both analyses.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from .. import store
from ..metrics.rdm import compute_rdm
from ..metrics.time_resolved import time_course_summary, time_resolved_encoding, time_resolved_rsa
from ..stimuli import stimulus_coords
from ._align import layer_rows, scaled_features, stimulus_time_courses

log = logging.getLogger(__name__)


def rsa_over_time(ds: xr.Dataset, features: dict[str, np.ndarray], spec: dict, seed: int) -> xr.Dataset:
    """Time-resolved RSA of ``ds`` (stimulus, unit, time) against each layer's features (rows in
    the order of ``ds.stimulus_id``); see the module docstring."""
    model_rdms = np.stack([compute_rdm(x, spec["rdm"]) for x in features.values()])
    result = time_resolved_rsa(ds["data"].values, ds["time"].values, model_rdms, layers=list(features),
                               rdm_method=spec["rdm"], compare_method=spec["comparator"], window=spec["window"],
                               n_bootstrap=spec["n_bootstrap"], ci=spec["ci"],
                               latency_window=spec["latency_window"], seed=seed)
    result["score"].attrs["description"] = (f"{spec['comparator']} correlation of the layer's RDM with the "
                                            f"{spec['rdm']} RDM of the sensor patterns at each time")
    return result.assign_attrs(method="rsa", metric=spec["comparator"])


def encoding_over_time(ds: xr.Dataset, features: dict[str, np.ndarray], spec: dict, seed: int) -> xr.Dataset:
    """Time-resolved encoding of ``ds`` (stimulus, unit, time) from each layer's features; see the
    module docstring."""
    times, n_units = ds["time"].values, ds.sizes["unit"]
    rng = np.random.default_rng(seed)
    folds = rng.permutation(ds.sizes["stimulus"]) % spec["outer_folds"]
    r = np.stack([time_resolved_encoding(scaled_features(x), ds["data"].values, times=times, groups=folds,
                                         alphas=spec["alphas"], inner_cv=spec["inner_folds"],
                                         backend=spec["backend"], target_batch_size=spec["target_batch_size"]
                                         )["r"].values for x in features.values()])  # (layer, fold, unit, time)
    if np.isnan(r).all():  # no store of NaNs that looks complete
        raise ValueError(f"time-resolved encoding: every score is NaN ({ds.sizes['stimulus']} stimuli in "
                         f"time_resolved.outer_folds {spec['outer_folds']} folds: too few per fold?)")
    per_unit = np.nanmean(r, axis=1)  # (layer, unit, time)
    draws = rng.integers(0, n_units, size=(spec["n_bootstrap"], n_units))
    boot = np.stack([np.nanmean(per_unit[:, d], axis=1) for d in draws]) if spec["n_bootstrap"] else None
    data = time_course_summary(np.nanmean(per_unit, axis=1), times, boot, ci=spec["ci"],
                               latency_window=spec["latency_window"])
    if boot is not None:
        data["bootstrap_units"] = (("bootstrap", "draw"), draws)
    result = xr.Dataset({**data, "r": (("layer", "fold", "unit", "time"), r.astype(np.float32))},
                        coords={"layer": list(features), "time": times, "ch_name": ("unit", ds.ch_name.values),
                                "ch_type": ("unit", ds.ch_type.values), "fold_of_stimulus": ("stimulus", folds)},
                        attrs={"method": "encoding", "metric": "pearson_r", "ci": spec["ci"],
                               "n_bootstrap": spec["n_bootstrap"], "latency_window": spec["latency_window"]})
    result["score"].attrs["description"] = "mean over channels and held-out folds of Pearson r at each time"
    return result


def run(spec: dict, *, brain, features, out, seed: int) -> None:
    """Time-resolved RSA and encoding of ``brain`` against every layer of ``features``; write ``out``."""
    labels = {k: spec[k] for k in ("dataset", "subject", "model") if k in spec}
    ds = stimulus_time_courses(brain)
    ids = ds.stimulus_id.values.astype(str)
    layers = {layer: layer_rows(features, layer, ids) for layer in store.layer_names(features)}
    groups = {"rsa": rsa_over_time(ds, layers, spec, seed), "encoding": encoding_over_time(ds, layers, spec, seed)}
    coords = {"stimulus_id": ("stimulus", ids),
              **stimulus_coords(store.open_dataset(features, group=next(iter(layers))), ids)}
    for method, result in groups.items():
        result["time"].attrs["units"] = "s"
        groups[method] = result.assign_coords(coords).assign_attrs(**labels)
        for layer in layers:
            log.info("%s %s %s: peak %s = %.3f at %.0f ms", "/".join(labels.values()), method, layer,
                     result.attrs["metric"], result.peak_score.sel(layer=layer),
                     1e3 * result.peak_latency.sel(layer=layer))
    store.write_tree(out, groups, stage="meg_align", params=spec, inputs=[brain, features], seed=seed,
                     root=xr.Dataset(attrs=labels))
