"""Stage ``rsa``: representational similarity of every layer of one model with every ROI.

For each ROI, the trial betas are averaged per stimulus and turned into an RDM (``rdm``:
correlation distance ``1 - r`` by default; Mahalanobis and crossnobis distances, z-scored units,
squared scores and the ceiling's pooling are settings of :mod:`._rsa_settings`), or its
precomputed RDM is read (a ``modality: rdm`` dataset); each layer's features give an RDM over the same
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
from ..stimuli import stimulus_coords
from ._align import layer_rows
from ._rsa_settings import (brain_rdm_description, layer_rdm, roi_rdm, score_rdms, settings_attrs,
                            too_few_units)

log = logging.getLogger(__name__)


def run(spec: dict, *, brain, features, out, seed: int) -> None:
    """RSA of every ROI of ``brain`` against every layer of ``features``; write ``out``."""
    labels = {k: spec[k] for k in ("dataset", "subject", "model") if k in spec}
    rois, skipped = [], {}
    brain_rdms, order = [], None
    for roi in store.group_names(brain):
        ds = store.open_dataset(brain, group=roi)
        reason = too_few_units(ds, spec)
        if reason:
            skipped[roi] = reason
            log.warning("ROI %r left out of RSA: %s", roi, skipped[roi])
            continue
        rois.append(roi)
        precomputed = "rdm" in ds
        ids, rdm = roi_rdm(ds, spec, where=f"{brain} ROI {roi!r}")
        if order is None:
            order = ids
        elif not np.array_equal(order, ids):
            raise ValueError(f"{brain}: ROI {roi!r} holds other stimuli than ROI {rois[0]!r}")
        brain_rdms.append(rdm)
    if not rois:
        raise ValueError(f"{brain}: no ROI can be compared by RSA: {skipped}")
    layers = store.layer_names(features)
    model_rdms = np.stack([layer_rdm(layer_rows(features, layer, order), spec) for layer in layers])
    scores, boots, drawn = [], [], None
    for roi, data_rdm in zip(rois, brain_rdms):
        score, boot, drawn = score_rdms(model_rdms, data_rdm, spec, seed)  # same seed: same stimuli drawn per ROI
        scores.append(score)
        boots.append(boot)
        log.info("%s %s: %s", "/".join(labels.values()), roi,
                 ", ".join(f"{l}={s:.3f}" for l, s in zip(layers, score)))
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
        attrs={**labels, "rdm": spec["rdm"], "comparator": spec["comparator"], "skipped_rois": json.dumps(skipped),
               **settings_attrs(spec)})
    ds["score"].attrs["description"] = f"{spec['comparator']} correlation of the ROI's and the layer's RDMs"
    ds["bootstrap_stimuli"].attrs["description"] = "stimulus indices drawn by each bootstrap sample"
    ds["brain_rdm"].attrs["description"] = brain_rdm_description(spec, precomputed)
    store.write_dataset(out, ds, stage="rsa", params=spec, inputs=[brain, features], seed=seed)
