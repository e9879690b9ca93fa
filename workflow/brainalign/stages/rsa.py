"""Stage ``rsa``: representational similarity of every layer of one model with every ROI.

For each ROI, the trial betas are averaged per stimulus (one sparse product per block of units,
:func:`._align.stimulus_means`; with ``subset``, only the trials whose trial coordinate
``subset.column`` equals ``subset.value``, e.g. NSD's shared images) and turned into an RDM
(``rdm``: correlation distance ``1 - r`` by default; Mahalanobis and crossnobis distances, z-scored
units, squared scores and the ceiling's pooling are settings of :mod:`._rsa_settings`), or its
precomputed RDM is read (a ``modality: rdm`` dataset); each layer's features give an RDM over the
same stimuli in the same order (an ROI with fewer units than the distance needs, e.g. fewer than
3 voxels for the correlation distance, which is +-1 for any two 2-voxel patterns and undefined
for 1 voxel, is left out: logged, and named with the reason in the ``skipped_rois`` attribute);
the two are compared (``comparator``: Spearman by default), and a bootstrap over stimuli
(self-pairs of duplicated stimuli left out) gives ``n_bootstrap`` samples of every score. The
store keeps the scores ``score`` (roi, layer), every bootstrap sample ``score_bootstrap`` (roi,
bootstrap, layer) with the stimuli each sample drew (``bootstrap_stimuli``), and the RDMs
themselves (condensed, scipy's pair order); the stimulus set's coordinates (category, ...) label
``stimulus`` as in the features store. The variables lie on different dimensions (pairs, draws,
stimuli), and ``Dataset.to_dataframe`` broadcasts over all of them: select the scores first,
``ds[["score", "score_bootstrap"]].to_dataframe()`` (roi x bootstrap x layer rows).

Memory does not hold every RDM at once: each RDM is written to a scratch file next to the output
as soon as it is computed and streamed into the store at the end. Spearman (up to 65,536
stimuli) is scored and bootstrapped by :mod:`brainalign.metrics.rank_bootstrap` (each RDM sorted
once, every sample re-ranked by counting; equal to :func:`brainalign.metrics.rsa.rsa_scores`);
the other comparators (and precomputed, Mahalanobis or crossnobis RDMs' whitened comparators) by
:func:`._rsa_settings.score_rdms` on the RDMs in memory.

With ``noise`` in ``spec`` (a ``noise`` dataset, :mod:`brainalign.sweeps`), Gaussian noise of the
stated SNR is added to every layer's features or to the betas as they are read, before stimuli
are selected or averaged (:mod:`brainalign.added_noise`; not to a precomputed RDM, an error).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from .. import store
from ..added_noise import noise_for
from ..metrics.rank_bootstrap import MAX_CONDITIONS, SortedPairs, bootstrap_spearman
from ..metrics.rsa_large import condensed_rdm, pair_blocks
from ..stimuli import stimulus_coords
from ._align import UnitReader, layer_rows, return_large_blocks, stimulus_means, trial_mask
from ._rsa_settings import (brain_rdm_description, layer_rdm, roi_rdm, score_rdms, settings_attrs,
                            too_few_units, unit_patterns)

log = logging.getLogger(__name__)
PAIR_BLOCK = 4 * 2**20  # pair coordinates written this many at a time


class RdmSpill:
    """Condensed RDMs kept in ``.npy`` files of a scratch directory, read back one at a time."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.paths: dict[str, list[Path]] = {"brain": [], "model": []}

    def add(self, kind: str, rdm: np.ndarray) -> None:
        path = self.directory / f"{kind}-{len(self.paths[kind])}.npy"
        np.save(path, rdm)
        self.paths[kind].append(path)

    def load(self, kind: str, index: int) -> np.ndarray:
        return np.load(self.paths[kind][index])

    def rows(self, kind: str):
        """``(row, rdm)`` blocks for :func:`brainalign.store.write_dataset`'s ``streamed``."""
        for k in range(len(self.paths[kind])):
            yield k, self.load(kind, k)[None]


def brain_rdms(brain, spec: dict, spill: RdmSpill):
    """Spill the RDM of every ROI with enough units; return (ROIs, skipped ROIs, stimulus order,
    whether the RDMs were precomputed). Pattern distances stream the betas (stimulus means per
    block of units); precomputed RDMs and the noise-normalised distances (Mahalanobis,
    crossnobis: :func:`._rsa_settings.roi_rdm`) read the ROI whole."""
    rois, skipped, order, precomputed = [], {}, None, False
    for roi in store.group_names(brain):
        ds = store.open_dataset(brain, group=roi)
        where = f"{brain} ROI {roi!r}"
        reason = too_few_units(ds, spec)
        if reason:
            skipped[roi] = reason
            log.warning("ROI %r left out of RSA: %s", roi, skipped[roi])
            continue
        noise = noise_for(spec, "betas", f"{spec.get('subject', '')}/{roi}")
        if "rdm" in ds:
            if noise is not None:
                raise ValueError(f"{where}: noise with target 'betas' needs betas, and this ROI holds a "
                                 "precomputed RDM")
            if spec.get("subset"):
                raise ValueError(f"{where}: rsa.subset selects trials, and a precomputed RDM has none")
            precomputed = True
            ids, rdm = roi_rdm(ds, spec, where=where)
        else:
            keep = trial_mask(ds, spec.get("subset"), where=where)
            trials = None if keep is None else np.flatnonzero(keep)
            if spec["rdm"] in ("mahalanobis", "crossnobis"):
                if noise is not None:
                    ds = ds.assign(betas=(ds.betas.dims, noise(ds.betas.values)))
                ids, rdm = roi_rdm(ds if trials is None else ds.isel(trial=trials), spec, where=where)
            else:
                ids, means = stimulus_means(UnitReader(brain, roi, trials=trials, noise=noise),
                                            ds.stimulus_id.values if trials is None else ds.stimulus_id.values[trials])
                rdm = condensed_rdm(unit_patterns(means, spec), spec["rdm"])
        if order is None:
            order = ids
        elif not np.array_equal(order, ids):
            raise ValueError(f"{brain}: ROI {roi!r} holds other stimuli than ROI {rois[0]!r}")
        rois.append(roi)
        spill.add("brain", rdm)
    if not rois:
        raise ValueError(f"{brain}: no ROI can be compared by RSA: {skipped}")
    return rois, skipped, order, precomputed


def bootstrap_draws(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """The stimuli each bootstrap sample draws, as :func:`brainalign.metrics.rsa.rsa_scores` draws them."""
    boot_seed, _ = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(boot_seed).integers(0, n, size=(n_bootstrap, n))


def spearman_by_counting(spill: RdmSpill, n: int, n_bootstrap: int, seed: int):
    """Scores (roi, layer), bootstrap samples (roi, bootstrap, layer) and the draws, each RDM
    sorted once (:mod:`brainalign.metrics.rank_bootstrap`)."""
    sort = {kind: [SortedPairs(path) for path in spill.paths[kind]] for kind in ("model", "brain")}
    drawn = bootstrap_draws(n, n_bootstrap, seed)
    counts = np.stack([np.bincount(d, minlength=n) for d in drawn]) if n_bootstrap else np.zeros((0, n), int)
    everything = np.ones((1, n), dtype=np.int64)
    scores = bootstrap_spearman(sort["model"], sort["brain"], everything)[0]
    boots = bootstrap_spearman(sort["model"], sort["brain"], counts).transpose(1, 0, 2)
    return scores, boots, drawn


def scores_in_memory(spill: RdmSpill, spec: dict, seed: int):
    """Scores, bootstrap samples and draws by :func:`._rsa_settings.score_rdms` (every comparator
    and setting), the layers' RDMs in memory."""
    models = np.stack([spill.load("model", k) for k in range(len(spill.paths["model"]))])
    scores, boots, drawn = [], [], None
    for k in range(len(spill.paths["brain"])):
        score, boot, drawn = score_rdms(models, spill.load("brain", k), spec, seed)  # same seed: same draws per ROI
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
        spill = RdmSpill(Path(scratch))
        rois, skipped, order, precomputed = brain_rdms(brain, spec, spill)
        layers = store.layer_names(features)
        for layer in layers:
            noise = noise_for(spec, "features", f"{spec.get('model', '')}/{layer}")
            spill.add("model", layer_rdm(layer_rows(features, layer, order, noise), spec))
        n = len(order)
        if spec["comparator"] == "spearman" and spec["n_bootstrap"] and 3 <= n <= MAX_CONDITIONS:
            scores, boots, drawn = spearman_by_counting(spill, n, spec["n_bootstrap"], seed)
            power = 2 if spec.get("squared") else 1
            scores, boots = scores ** power, boots ** power
        else:
            scores, boots, drawn = scores_in_memory(spill, spec, seed)
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
            "brain_rdm": (("roi", "pair"), (len(rois), n_pairs), np.float64, spill.rows("brain"),
                          {**pairs, "description": brain_rdm_description(spec, precomputed)}),
            "model_rdm": (("layer", "pair"), (len(layers), n_pairs), np.float64, spill.rows("model"), pairs),
            "pair_i": (("pair",), (n_pairs,), np.int64, ((s, i) for s, i, _ in pair_blocks(n, PAIR_BLOCK)), {}),
            "pair_j": (("pair",), (n_pairs,), np.int64, ((s, j) for s, _, j in pair_blocks(n, PAIR_BLOCK)), {}),
        }
        store.write_dataset(out, ds, stage="rsa", params=spec, inputs=[brain, features], seed=seed,
                            streamed=streamed)
