"""Stage ``roi_rdms``: the RDM of every ROI of one subject, computed once for all its RSA jobs.

An RSA job compares one model's layers with one subject's ROIs; the ROIs' RDMs do not depend on
the model, so they are computed here once per subject (and RSA setting) instead of once per model.
At NSD size (10,000 stimuli, 30,000 trials x 16,000 voxels) that is about 40 s of reading,
averaging and Gram products (``n^2 U`` flops) saved in every RSA job (README "An NSD-sized subject").

For each ROI the trial betas are averaged per stimulus (one sparse product per block of units,
:func:`._align.stimulus_means`; with ``subset``, only the trials whose trial coordinate
``subset.column`` equals ``subset.value``) and turned into an RDM (``rdm``: correlation distance
``1 - r`` by default; Mahalanobis and crossnobis distances and z-scored units are settings of
:mod:`._rsa_settings`), or its precomputed RDM is read (a ``modality: rdm`` dataset). An ROI with
fewer units than the distance needs (e.g. fewer than 3 voxels for the correlation distance) is
left out: logged, and named with the reason in the ``skipped_rois`` attribute. With ``noise`` in
``spec`` (a ``noise`` dataset), Gaussian noise of the stated SNR is added to the betas as they
are read (:mod:`brainalign.added_noise`).

The store holds ``brain_rdm`` (roi, pair): each ROI's condensed RDM in float64, in scipy's pair
order over ``stimulus_id`` (stimulus, first-seen trial order), with ``pair_i``, ``pair_j`` (pair)
naming the stimuli of each entry; root attributes ``skipped_rois`` and ``precomputed``, and the
RDM settings in its provenance (:data:`RDM_KEYS`; :func:`check_spec`: an RSA job refuses RDMs
made with other settings, and a change of the comparator or of the bootstrap reruns no RDM).
Memory holds one RDM at a time: each is written to a scratch file as soon as it is computed and
streamed into the store at the end.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from .. import store
from ..added_noise import noise_for
from ..metrics.rsa_large import condensed_rdm, pair_blocks
from ._align import UnitReader, return_large_blocks, stimulus_means, trial_mask
from ._rsa_settings import brain_rdm_description, roi_rdm, too_few_units, unit_patterns

log = logging.getLogger(__name__)
STAGE = "roi_rdms"
PAIR_BLOCK = 4 * 2**20  # pair coordinates written this many at a time
# The keys of an RSA spec that the ROIs' RDMs depend on (labels, the rsa section's RDM settings, a
# noise dataset's noise); the others (comparator, n_bootstrap, squared, ceiling_pooling, model)
# only score them. tests/test_scale.py checks that every key of the rsa section is in one list.
RDM_KEYS = ("dataset", "subject", "rdm", "standardize", "noise_shrinkage", "crossnobis_partition", "subset",
            "noise")
SCORING_KEYS = ("model", "comparator", "n_bootstrap", "squared", "ceiling_pooling")


class _RdmRows:
    """Condensed RDMs read one at a time by ``load(index)``; ``len()`` of them."""

    def rows(self):
        """``(row, rdm)`` blocks for :func:`brainalign.store.write_dataset`'s ``streamed``."""
        for k in range(len(self)):
            yield k, self.load(k)[None]


class RdmSpill(_RdmRows):
    """Condensed RDMs kept in ``.npy`` files of a scratch directory, read back one at a time."""

    def __init__(self, directory: Path, kind: str):
        self.directory, self.kind = directory, kind
        self.paths: list[Path] = []

    def __len__(self) -> int:
        return len(self.paths)

    def add(self, rdm: np.ndarray) -> None:
        path = self.directory / f"{self.kind}-{len(self.paths)}.npy"
        np.save(path, rdm)
        self.paths.append(path)

    def load(self, index: int) -> np.ndarray:
        return np.load(self.paths[index])


class StoredRdms(_RdmRows):
    """The ROIs' RDMs of a ``roi_rdms`` store, read one at a time (``load``, ``rows``: as
    :class:`RdmSpill`), with the ``rois``, ``skipped`` ROIs, stimulus ``order`` and whether the
    RDMs were ``precomputed``."""

    def __init__(self, path):
        self.path = Path(path)
        self.ds = store.open_dataset(self.path)
        self.rois = [str(r) for r in self.ds.roi.values]
        self.order = self.ds.stimulus_id.values
        self.skipped = dict(self.ds.attrs.get("skipped_rois", {}))
        self.precomputed = bool(self.ds.attrs.get("precomputed", False))

    def __len__(self) -> int:
        return len(self.rois)

    def load(self, index: int) -> np.ndarray:
        return np.asarray(self.ds.brain_rdm[index].values, dtype=np.float64)


def is_roi_rdms(path) -> bool:
    """Whether ``path`` is a store of this stage (else a brain store: betas or precomputed RDMs)."""
    return store.read_provenance(path)["stage"] == STAGE


def brain_spec(spec: dict) -> dict:
    """The part of an RSA job's spec that its ROIs' RDMs are made with (:data:`RDM_KEYS`), as
    provenance stores it (JSON round trip)."""
    return json.loads(json.dumps({k: v for k, v in spec.items() if k in RDM_KEYS}, sort_keys=True, default=str))


def check_spec(path, spec: dict) -> None:
    """Refuse a ``roi_rdms`` store made with other settings than ``spec`` (an RSA job's)."""
    made = store.read_provenance(path)["params"]
    wanted = brain_spec(spec)
    differ = sorted(k for k in set(made) | set(wanted) if made.get(k) != wanted.get(k))
    if differ:
        raise ValueError(f"{path}: ROI RDMs made with other settings than this RSA job's: "
                         + "; ".join(f"{k} = {made.get(k)!r} there, {wanted.get(k)!r} here" for k in differ)
                         + f" (rerun `brainalign roi_rdms` with this spec, or pass the brain store)")


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
        spill.add(rdm)
    if not rois:
        raise ValueError(f"{brain}: no ROI can be compared by RSA: {skipped}")
    return rois, skipped, order, precomputed


def pair_coordinates(n: int) -> dict:
    """``pair_i``, ``pair_j`` (pair) as ``streamed`` entries of :func:`brainalign.store.write_dataset`."""
    n_pairs = n * (n - 1) // 2
    return {"pair_i": (("pair",), (n_pairs,), np.int64, ((s, i) for s, i, _ in pair_blocks(n, PAIR_BLOCK)), {}),
            "pair_j": (("pair",), (n_pairs,), np.int64, ((s, j) for s, _, j in pair_blocks(n, PAIR_BLOCK)), {})}


def run(spec: dict, *, brain, out, seed: int) -> None:
    """The RDM of every ROI of ``brain`` (one subject) by the RSA settings ``spec``; write ``out``."""
    return_large_blocks()  # peak memory: the data, not the allocator's cache
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.rdms-") as scratch:
        spill = RdmSpill(Path(scratch), "brain")
        rois, skipped, order, precomputed = brain_rdms(brain, spec, spill)
        n = len(order)
        ds = xr.Dataset(coords={"roi": rois, "stimulus_id": ("stimulus", order)},
                        attrs={**{k: spec[k] for k in ("dataset", "subject") if k in spec}, "rdm": spec["rdm"],
                               "skipped_rois": skipped, "precomputed": precomputed})
        streamed = {"brain_rdm": (("roi", "pair"), (len(rois), n * (n - 1) // 2), np.float64, spill.rows(),
                                  {"coordinates": "pair_i pair_j",
                                   "description": brain_rdm_description(spec, precomputed)}),
                    **pair_coordinates(n)}
        store.write_dataset(out, ds, stage=STAGE, params=brain_spec(spec), inputs=[brain], seed=seed,
                            streamed=streamed)
    log.info("%s: RDMs of %d ROIs over %d stimuli%s", out, len(rois), n,
             f" ({len(skipped)} left out: {', '.join(skipped)})" if skipped else "")
