"""Stage ``meg_rsa``: time-resolved RSA of every layer of one model with one subject's MEG/EEG.

The brain RDM over stimuli (``rsa.rdm`` of the per-stimulus responses of all channels, within
windows of ``time_resolved.window`` samples) is compared at every time with each layer's RDM
(``rsa.comparator``) by :func:`brainalign.metrics.time_resolved.time_resolved_rsa`, with
``rsa.n_bootstrap`` bootstrap samples over stimuli (the same draws at every time). The store holds
``score`` (layer, time), ``score_ci_low``/``score_ci_high`` (layer, time), ``bootstrap_score``
(bootstrap, layer, time), ``peak_latency`` (layer, s) searched in ``time_resolved.latency_window``,
its percentile interval ``peak_latency_ci_low``/``peak_latency_ci_high`` and ``peak_score``.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import store
from ..metrics.rdm import compute_rdm
from ..metrics.time_resolved import time_resolved_rsa
from ._align import rows_for, stimulus_time_courses

log = logging.getLogger(__name__)


def run(spec: dict, *, brain, features, out, seed: int) -> None:
    """Time-resolved RSA of ``brain`` against every layer of ``features``; write ``out``."""
    labels = {k: spec[k] for k in ("dataset", "subject", "model") if k in spec}
    ds = stimulus_time_courses(brain)
    ids = ds.stimulus_id.values.astype(str)
    layers = store.layer_names(features)
    model_rdms = []
    for layer in layers:
        feats = store.open_dataset(features, group=layer)
        model_rdms.append(compute_rdm(feats.features.values[rows_for(ids, feats, where=str(features))], spec["rdm"]))
    result = time_resolved_rsa(ds["data"].values, ds["time"].values, np.stack(model_rdms), layers=layers,
                               rdm_method=spec["rdm"], compare_method=spec["comparator"], window=spec["window"],
                               n_bootstrap=spec["n_bootstrap"], ci=spec["ci"],
                               latency_window=spec["latency_window"], seed=seed)
    for layer in layers:
        log.info("%s %s: peak %s = %.3f at %.0f ms", "/".join(labels.values()), layer, spec["comparator"],
                 result.peak_score.sel(layer=layer), 1e3 * result.peak_latency.sel(layer=layer))
    result = result.assign_coords(stimulus_id=("stimulus", ids)).assign_attrs(**labels, method="rsa",
                                                                              metric=spec["comparator"])
    result["score"].attrs["description"] = (f"{spec['comparator']} correlation of the layer's RDM with the "
                                            f"{spec['rdm']} RDM of the sensor patterns at each time")
    result["time"].attrs["units"] = "s"
    store.write_dataset(out, result, stage="meg_rsa", params=spec, inputs=[brain, features], seed=seed)
