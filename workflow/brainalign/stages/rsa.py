"""Stage ``rsa``: representational similarity of every layer of one model with every ROI.

For each ROI, the trial betas are averaged per stimulus and turned into an RDM (``rdm``:
correlation distance ``1 - r`` by default); each layer's features give an RDM over the same
stimuli in the same order (an ROI with fewer units than the distance needs, e.g. fewer than 3
voxels for the correlation distance, which is +-1 for any two 2-voxel patterns and undefined for
1 voxel, is left out: logged, and named with the reason in the ``skipped_rois`` attribute); the
two are compared (``comparator``: Spearman by default), and a
bootstrap over stimuli (self-pairs of duplicated stimuli left out) gives ``n_bootstrap`` samples
of every score (:func:`brainalign.metrics.rsa.rsa_scores`). The store keeps the scores
``score`` (roi, layer), every bootstrap sample ``bootstrap`` (roi, bootstrap, layer) with the
stimuli each sample drew, and the RDMs themselves (condensed, scipy's pair order); the stimulus
set's coordinates (category, ...) label ``stimulus`` as in the features store.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import xarray as xr

from .. import store
from ..metrics.rdm import pair_indices
from ..metrics.rsa import compute_rdm, rsa_scores
from ..stimuli import stimulus_coords
from ._align import layer_rows, stimulus_means

log = logging.getLogger(__name__)
MIN_UNITS = {"correlation": 3}  # fewest units for which an RDM distance is informative; 1 otherwise


def run(spec: dict, *, brain, features, out, seed: int) -> None:
    """RSA of every ROI of ``brain`` against every layer of ``features``; write ``out``."""
    labels = {k: spec[k] for k in ("dataset", "subject", "model") if k in spec}
    rois, skipped = [], {}
    min_units = MIN_UNITS.get(spec["rdm"], 1)
    brain_rdms, order = [], None
    for roi in store.group_names(brain):
        ds = store.open_dataset(brain, group=roi)
        if ds.sizes["unit"] < min_units:
            skipped[roi] = f"{ds.sizes['unit']} voxel(s): the {spec['rdm']} distance needs at least {min_units}"
            log.warning("ROI %r left out of RSA: %s", roi, skipped[roi])
            continue
        rois.append(roi)
        ids, means = stimulus_means(ds.betas.values, ds.stimulus_id.values)
        if order is None:
            order = ids
        elif not np.array_equal(order, ids):
            raise ValueError(f"{brain}: ROI {roi!r} holds other stimuli than ROI {rois[0]!r}")
        brain_rdms.append(compute_rdm(means, spec["rdm"]))
    if not rois:
        raise ValueError(f"{brain}: no ROI can be compared by RSA: {skipped}")
    layers = store.layer_names(features)
    model_rdms = np.stack([compute_rdm(layer_rows(features, layer, order), spec["rdm"]) for layer in layers])
    scores, boots, drawn = [], [], None
    for roi, data_rdm in zip(rois, brain_rdms):
        res = rsa_scores(model_rdms, data_rdm, spec["comparator"], bootstrap="stimuli",
                         n_bootstrap=spec["n_bootstrap"], seed=seed)
        scores.append(res["score"])
        boots.append(res["bootstrap"])
        drawn = res["bootstrap_samples"]  # the same seed draws the same stimuli for every ROI
        log.info("%s %s: %s", "/".join(labels.values()), roi,
                 ", ".join(f"{l}={s:.3f}" for l, s in zip(layers, res["score"])))
    i, j = pair_indices(len(order))
    ds = xr.Dataset(
        {"score": (("roi", "layer"), np.array(scores)),
         "bootstrap": (("roi", "bootstrap", "layer"), np.array(boots)),
         "bootstrap_stimuli": (("bootstrap", "draw"), drawn),
         "brain_rdm": (("roi", "pair"), np.array(brain_rdms)),
         "model_rdm": (("layer", "pair"), model_rdms)},
        coords={"roi": rois, "layer": layers, "stimulus_id": ("stimulus", order),
                **stimulus_coords(store.open_dataset(features, group=layers[0]), order),
                "pair_i": ("pair", i), "pair_j": ("pair", j)},
        attrs={**labels, "rdm": spec["rdm"], "comparator": spec["comparator"], "skipped_rois": json.dumps(skipped)})
    ds["score"].attrs["description"] = f"{spec['comparator']} correlation of the ROI's and the layer's RDMs"
    ds["bootstrap_stimuli"].attrs["description"] = "stimulus indices drawn by each bootstrap sample"
    ds["brain_rdm"].attrs["description"] = f"{spec['rdm']} distance between stimulus-averaged betas"
    store.write_dataset(out, ds, stage="rsa", params=spec, inputs=[brain, features], seed=seed)
