"""Stage ``rsa``: representational similarity of every layer of one model with every ROI.

``brain`` is either the subject's ``roi_rdms`` store (:mod:`.roi_rdms`: its ROIs' RDMs, computed
once for all models; the workflow passes that) or a brain store, whose ROIs' RDMs are then
computed here the same way: the trial betas averaged per stimulus (with ``subset``, only the
trials whose trial coordinate ``subset.column`` equals ``subset.value``, e.g. NSD's shared
images) and turned into an RDM (``rdm``: correlation distance ``1 - r`` by default; Mahalanobis
and crossnobis distances, z-scored units, squared scores and the ceiling's pooling are settings of
:mod:`._rsa_settings`), or a precomputed RDM read (a ``modality: rdm`` dataset); an ROI with too
few units for the distance (e.g. fewer than 3 voxels for the correlation distance, which is +-1
for any two 2-voxel patterns and undefined for 1 voxel) is left out, logged, and named with the
reason in the ``skipped_rois`` attribute. Each layer's features give an RDM over the same
stimuli in the same order; the two are compared (``comparator``: Spearman by default), and a
bootstrap over stimuli (self-pairs of duplicated stimuli left out) gives ``n_bootstrap`` samples
of every score. The store keeps the scores ``score`` (roi, layer), every bootstrap sample
``score_bootstrap`` (roi, bootstrap, layer) with the stimuli each sample drew
(``bootstrap_stimuli``), and the RDMs themselves (condensed, scipy's pair order); the stimulus
set's coordinates (category, ...) label ``stimulus`` as in the features store. The variables lie
on different dimensions (pairs, draws, stimuli), and ``Dataset.to_dataframe`` broadcasts over all
of them: select the scores first, ``ds[["score", "score_bootstrap"]].to_dataframe()`` (roi x
bootstrap x layer rows).

Memory does not hold every RDM at once: each layer's RDM is written to a scratch file next to the
output as soon as it is computed, and every RDM is streamed into the store at the end. Spearman
(up to 65,536 stimuli) is scored and bootstrapped by :mod:`brainalign.metrics.rank_bootstrap`
(each RDM sorted once, every sample re-ranked by counting; equal to
:func:`brainalign.metrics.rsa.rsa_scores`); the other comparators (and precomputed, Mahalanobis
or crossnobis RDMs' whitened comparators) by :func:`._rsa_settings.score_rdms` on the RDMs in
memory.

With ``noise`` in ``spec`` (a ``noise`` dataset, :mod:`brainalign.sweeps`), Gaussian noise of the
stated SNR is added to every layer's features, or to the betas as they are read for the ROIs'
RDMs, before stimuli are selected or averaged (:mod:`brainalign.added_noise`; not to a
precomputed RDM, an error). A ``roi_rdms`` store made with other settings than ``spec`` (the
model aside) is refused (:func:`.roi_rdms.check_spec`).
"""

from __future__ import annotations

import logging
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr

from .. import store
from ..added_noise import noise_for
from ..metrics.rank_bootstrap import STREAM_BYTES, SortedPairs, bootstrap_spearman
from ..stimuli import stimulus_coords
from . import roi_rdms
from ._align import layer_rows, return_large_blocks
from ._rsa_settings import brain_rdm_description, counts_ranks, layer_rdm, score_rdms, settings_attrs

log = logging.getLogger(__name__)


def bootstrap_draws(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """The stimuli each bootstrap sample draws, as :func:`brainalign.metrics.rsa.rsa_scores` draws them."""
    boot_seed, _ = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(boot_seed).integers(0, n, size=(n_bootstrap, n))


def spearman_by_counting(models: roi_rdms.RdmSpill, rois, n: int, n_bootstrap: int, seed: int):
    """Scores (roi, layer), bootstrap samples (roi, bootstrap, layer) and the draws, each RDM
    sorted once (:mod:`brainalign.metrics.rank_bootstrap`); ``models`` and ``rois`` hold the RDMs
    (:class:`.roi_rdms.RdmSpill`, :class:`.roi_rdms.StoredRdms`).

    The streams hold the most drawn pairs any sample has (``d (d - 1) / 2`` for ``d`` distinct
    stimuli drawn, about ``0.4 P``), at most :data:`~brainalign.metrics.rank_bootstrap.STREAM_BYTES`;
    the full scores, every pair drawn, take their regions in groups of that size (3 groups at
    10,000 stimuli either way), so no stream is larger than a sample needs."""
    sort = {kind: [SortedPairs(partial(rdms.load, k)) for k in range(len(rdms))]
            for kind, rdms in (("model", models), ("brain", rois))}
    drawn = bootstrap_draws(n, n_bootstrap, seed)
    counts = np.stack([np.bincount(d, minlength=n) for d in drawn]) if n_bootstrap else np.zeros((0, n), int)
    distinct = np.count_nonzero(counts, axis=1)
    most_pairs = int((distinct * (distinct - 1) // 2).max()) if n_bootstrap else n * (n - 1) // 2
    stream_bytes = min(STREAM_BYTES, 8 * (len(models) + len(rois)) * max(most_pairs, 1))
    everything = np.ones((1, n), dtype=np.int64)
    scores = bootstrap_spearman(sort["model"], sort["brain"], everything, stream_bytes=stream_bytes)[0]
    boots = bootstrap_spearman(sort["model"], sort["brain"], counts, stream_bytes=stream_bytes).transpose(1, 0, 2)
    return scores, boots, drawn


def scores_in_memory(models: roi_rdms.RdmSpill, rois, spec: dict, seed: int):
    """Scores, bootstrap samples and draws by :func:`._rsa_settings.score_rdms` (every comparator
    and setting), the layers' RDMs in memory."""
    layer_rdms = np.stack([models.load(k) for k in range(len(models))])
    scores, boots, drawn = [], [], None
    for k in range(len(rois)):
        score, boot, drawn = score_rdms(layer_rdms, rois.load(k), spec, seed)  # same seed: same draws per ROI
        scores.append(score)
        boots.append(boot)
    return np.array(scores), np.array(boots), drawn


def run(spec: dict, *, brain, features, out, seed: int) -> None:
    """RSA of every ROI of ``brain`` against every layer of ``features``; write ``out``."""
    labels = {k: spec[k] for k in ("dataset", "subject", "model") if k in spec}
    return_large_blocks()  # peak memory: the data, not the allocator's cache
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.rdms-") as scratch:
        if roi_rdms.is_roi_rdms(brain):
            roi_rdms.check_spec(brain, spec)
            brain_side = roi_rdms.StoredRdms(brain)
            rois, skipped, order, precomputed = (brain_side.rois, brain_side.skipped, brain_side.order,
                                                 brain_side.precomputed)
        else:
            brain_side = roi_rdms.RdmSpill(Path(scratch), "brain")
            rois, skipped, order, precomputed = roi_rdms.brain_rdms(brain, spec, brain_side)
        models = roi_rdms.RdmSpill(Path(scratch), "model")
        layers = store.layer_names(features)
        for layer in layers:
            noise = noise_for(spec, "features", f"{spec.get('model', '')}/{layer}")
            models.add(layer_rdm(layer_rows(features, layer, order, noise), spec))
        n = len(order)
        if counts_ranks(spec, n):
            scores, boots, drawn = spearman_by_counting(models, brain_side, n, spec["n_bootstrap"], seed)
            power = 2 if spec.get("squared") else 1
            scores, boots = scores ** power, boots ** power
        else:
            scores, boots, drawn = scores_in_memory(models, brain_side, spec, seed)
        for roi, row in zip(rois, scores):
            log.info("%s %s: %s", "/".join(labels.values()), roi,
                     ", ".join(f"{l}={s:.3f}" for l, s in zip(layers, row)))
        n_pairs = n * (n - 1) // 2
        ds = xr.Dataset(
            {"score": (("roi", "layer"), scores),
             "score_bootstrap": (("roi", "bootstrap", "layer"), boots),
             "bootstrap_stimuli": (("bootstrap", "draw"), drawn)},
            coords={"roi": rois, "layer": layers, "stimulus_id": ("stimulus", order),
                    **stimulus_coords(store.open_dataset(features, group=layers[0]), order)},
            attrs={**labels, "rdm": spec["rdm"], "comparator": spec["comparator"],
                   "skipped_rois": skipped, **settings_attrs(spec)})
        ds["score"].attrs["description"] = f"{spec['comparator']} correlation of the ROI's and the layer's RDMs"
        ds["bootstrap_stimuli"].attrs["description"] = "stimulus indices drawn by each bootstrap sample"
        pairs = {"coordinates": "pair_i pair_j"}
        streamed = {
            "brain_rdm": (("roi", "pair"), (len(rois), n_pairs), np.float64, brain_side.rows(),
                          {**pairs, "description": brain_rdm_description(spec, precomputed)}),
            "model_rdm": (("layer", "pair"), (len(layers), n_pairs), np.float64, models.rows(), pairs),
            **roi_rdms.pair_coordinates(n),
        }
        store.write_dataset(out, ds, stage="rsa", params=spec, inputs=[brain, features], seed=seed,
                            streamed=streamed)
